"""`sronnx upscale`'s options as one value (`UpscaleOptions`, one field per option as click
parsed it) with the few facts derived from them alone: every input named, whether the run
reads standard input or writes standard output, what to do with existing outputs, the
output format's canonical name. It imports nothing heavy, so `sronnx upscale --help` stays
light.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sronnx.cli.upscale_common import STDIO

#: --format spellings -> the name the planner knows
_FORMAT_ALIASES = {"jpeg": "jpg", "auto": "same", "tif": "tiff"}


@dataclass(frozen=True)
class UpscaleOptions:
    """The options of one `sronnx upscale` call, as parsed (see each option's --help).

    Sizes are in pixels (`tile`, `tile_overlap`: input pixels; `max_pixels`: input pixels in
    all, None for the reader's default; `max_output_pixels`: output pixels, frames
    included); `outscale` is a factor; `quality` 1..100; `png_compress_level` 0..9.
    """

    inputs: tuple[Path, ...]
    more_inputs: tuple[Path, ...]
    outdir: Path
    model: str | None
    scale: int | None
    outscale: float | None
    width: int | None
    height: int | None
    input_kind: str
    input_range: str | None
    bgr: bool
    provider: str
    tile: int | None
    tile_overlap: int | None
    batch: int
    clamp: bool | None
    fmt: str
    quality: int
    png_compress_level: int
    suffix: str
    strip_metadata: bool
    float_range: str
    recursive: bool
    skip_existing: bool
    overwrite: bool
    max_pixels: int | None
    max_output_pixels: int
    threads: int | None
    workers: int | None
    pipeline: bool
    engine: str
    ray_address: str | None
    quiet: bool
    report: Path | None
    # videos (`sronnx.io.VideoEncoding`): encoder, constant quality, pixel format
    video_codec: str = "libx264"
    crf: int | None = None
    pix_fmt: str | None = None
    segment_seconds: float = 10.0  # resumable segments (`sronnx.io.video_segments`)

    @property
    def all_inputs(self) -> tuple[Path, ...]:
        """INPUTS and then every -i/--input, in the order given."""
        return (*self.inputs, *self.more_inputs)

    @property
    def from_stdin(self) -> bool:
        """Whether an input is `-` (one image read from standard input)."""
        return any(str(p) == STDIO for p in self.all_inputs)

    @property
    def to_stdout(self) -> bool:
        """Whether `-o -` sends the one output to standard output."""
        return str(self.outdir) == STDIO

    @property
    def existing(self) -> str:
        """What to do with outputs that exist: "skip", "overwrite" or "refuse" (the run)."""
        return "skip" if self.skip_existing else "overwrite" if self.overwrite else "refuse"

    @property
    def format(self) -> str:
        """--format in lower case, its aliases resolved: same, png, jpg, webp, gif, tiff or
        bmp."""
        fmt = self.fmt.lower()
        return _FORMAT_ALIASES.get(fmt, fmt)
