"""`sronnx upscale`: upscale files and folders with ONNX Runtime (no torch needed).

A thin layer over sronnx.engine (the plan, the models, the per-file job and its
schedulers): it parses options, decides what to print and the exit code. Nothing here
imports torch or onnx. The command's parts live beside it: upscale_options (the options as
one value), upscale_run (the run: checks, plan, models, files, summary), upscale_common
(exit codes, limits), upscale_report (the --json report, stop signals), upscale_progress,
upscale_messages (what the plan implies), upscale_stdio (the standard streams) and
upscale_ray (--engine ray).
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
from pathlib import Path
from typing import NoReturn

import click

from sronnx.cli import model_options
from sronnx.cli.upscale_common import (
    DEFAULT_MAX_OUTPUT_PIXELS,
    EXIT_FAILED_FILES,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    LEFT_OUT_SHOWN,
    STDIO,
    WHOLE_IMAGE,
    Key,
)
from sronnx.cli.upscale_messages import existing_message, left_out_line, too_large_message
from sronnx.cli.upscale_options import UpscaleOptions
from sronnx.cli.upscale_report import (
    STOPPED,
    Report,
    ReportingCommand,
    fail,
    on_sigterm,
    stop_reason,
)
from sronnx.io import writable_choices, writable_formats
from sronnx.runtime import PROVIDER_CHOICES

__all__ = [  # the command, and the names importable from here before the split
    "DEFAULT_MAX_OUTPUT_PIXELS", "EXIT_FAILED_FILES", "EXIT_INTERRUPTED", "EXIT_TERMINATED",
    "EXIT_USAGE", "LEFT_OUT_SHOWN", "STDIO", "WHOLE_IMAGE", "Key", "existing_message",
    "left_out_line", "too_large_message", "upscale",
]


def _positive(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """-s/--outscale: a finite number above 0."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"{value} is not a positive number", ctx, param)
    return value


class _PathParam(click.Path):
    """click.Path that refuses an empty string, which pathlib would take as "." (the current
    folder): `-o ""` or an input "" from an unset shell variable must not read or write there."""

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> object:
        if isinstance(value, str) and not value:
            self.fail("empty path (an empty string is not the current folder: write . for "
                      "that)", param, ctx)
        return super().convert(value, param, ctx)


def _tile(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """--tile: 0 (no tiling) or at least 8 input pixels."""
    if value is not None and 0 < value < 8:
        raise click.BadParameter(f"{value} is too small: 0 (no tiling) or at least 8", ctx,
                                 param)
    return value



#: what --help says of a format beyond its names
_FORMAT_HINTS = {"PNG": "APNG for animations", "GIF": "a palette per frame",
                 "TIFF": "16-bit and float kept", "HEIF": "12-bit kept", "JXL": "16-bit kept",
                 "PPM": "16-bit kept"}


def _format_help() -> str:
    """The writable formats for --help, from the format table: "png (APNG for animations),
    jpg (or jpeg), ..."."""
    parts = []
    for f in writable_formats():
        if not f.choices:
            continue
        first, *others = f.choices
        extra = [f"or {' or '.join(others)}"] if others else []
        extra += [_FORMAT_HINTS[f.name]] if f.name in _FORMAT_HINTS else []
        parts.append(f"{first} ({': '.join(extra)})" if extra else first)
    return ", ".join(parts)

@click.command(cls=ReportingCommand)
@click.argument("inputs", nargs=-1, required=False, type=_PathParam(path_type=Path))
@click.option("-i", "--input", "more_inputs", multiple=True, type=_PathParam(path_type=Path),
              help="An input file or folder, besides INPUTS (repeatable); - reads one image "
                   "from standard input.")
@click.option("-o", "--output", "outdir", required=True, type=_PathParam(path_type=Path),
              help="Output folder; the inputs' relative layout is kept. For one input file, "
                   "a name with an image or video extension (.png .jpg .webp .avif .mp4 .mkv "
                   "...) that is not an existing folder is the output file itself; - "
                   "writes the one output to standard output (format from --format; 'same' "
                   "is the input file's, PNG for standard input).")
@click.option("-n", "--model", default=None,
              help="A shipped model name (sronnx models lists them) or an .onnx path.")
@click.option("--scale", type=click.IntRange(2, 4), default=None,
              help="Which model: the shipped model made for this factor (2, 3 or 4); with "
                   "--model, the factor that model must have. Alone it is also the output "
                   "size (--scale 3: three times as wide and high); with -s/--outscale, "
                   "--width or --height the model's result is resampled to the size they ask. "
                   "Default: 2, or with -s/--width/--height (and no --model) the smallest "
                   "shipped scale >= the factor asked, at most 4.")
@click.option("-s", "--outscale", type=float, default=None, callback=_positive,
              help="Output size factor, any positive number (1.5, 3.5, 0.5...): the output is "
                   "round(w*F) x round(h*F), the model's result resampled to it (Lanczos up, "
                   "area down; untouched when F is the model's scale). The model is --scale's "
                   "or --model's, else the smallest shipped scale >= F, at most 4 (larger "
                   "factors are resampled from x4).")
@click.option("--width", type=click.IntRange(1), default=None,
              help="Output width in pixels; alone it keeps the aspect ratio, with --height it "
                   "gives that exact size (resampled after the model, as with -s). Without "
                   "--scale and --model the model is chosen as for -s, for the largest factor "
                   "any input needs.")
@click.option("--height", type=click.IntRange(1), default=None,
              help="Output height in pixels (see --width).")
@click.option("--input-kind", type=click.Choice(["auto", "clean", "photo", "jpeg"]),
              default="auto",
              show_default=True,
              help="Without --model: which shipped model each file gets. auto: per file, "
                   "the JPEG model (where the scale has one, else the photo model) for JPEGs "
                   "(quality up to 88), the photo model for noisy images, the clean model for "
                   "the rest (sronnx models shows the rule); clean, photo or jpeg: that "
                   "model for every file.")
@model_options
@click.option("--provider", type=click.Choice(PROVIDER_CHOICES), default="auto",
              show_default=True,
              help="Where the model runs: cpu; cuda, tensorrt, openvino, dml (DirectML) or "
                   "coreml (each refused in one line, exit 2, unless the session really runs "
                   "on it: see the README's provider table for the install each needs); "
                   "auto: CUDA when it really loads, else the CPU.")
@click.option("--tile", type=click.IntRange(0), default=None, callback=_tile,
              help="Largest tile side in input pixels (at least 8); tiles are balanced to "
                   "equal sizes (default: 512, or the model's fixed size). 0: no tiling, the "
                   "whole image in one model call (faster on a GPU with the memory for it; a "
                   "model with a fixed input size still runs in its windows).")
@click.option("--tile-overlap", type=click.IntRange(0), default=None,
              help="Context pixels around each tile (default: from the receptive field).")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True,
              help="Tiles of equal size per model call.")
@click.option("--clamp/--no-clamp", "clamp", default=None,
              help="Clamp each output channel to the range its input neighbourhood holds "
                   "(flat colours exact, no fringes) [default: the model's descriptor: on for "
                   "sronnx's models, off for models made elsewhere, which run as made].")
@click.option("--format", "--ext", "fmt",
              type=click.Choice(["same", "auto", *writable_choices()], case_sensitive=False),
              default="same", show_default=True,
              help="Output format, in any case: the input's own (same, or auto; a format "
                   f"sronnx only reads is written as its nearest kind, e.g. PSD as PNG), or "
                   f"{_format_help()}.")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="JPEG/WebP quality.")
@click.option("--png-compress-level", type=click.IntRange(0, 9), default=1, show_default=True,
              help="zlib level for PNG output: 1 is fast, 9 smallest.")
@click.option("--video-codec", default="libx264", show_default=True, metavar="ENCODER",
              help="Videos: the FFmpeg encoder of the upscaled frames (libx264, libx265, "
                   "libvpx-vp9, libsvtav1, ffv1 for lossless, ...). Audio, subtitles and "
                   "other streams are copied, not re-encoded.")
@click.option("--crf", type=click.IntRange(0, 63), default=None,
              help="Videos: the encoder's constant quality (lower is better; x264/x265 "
                   "0..51, VP9/AV1 0..63). Default 18 (near lossless to the eye).")
@click.option("--pix-fmt", default=None, metavar="FORMAT",
              help="Videos: the pixel format written (e.g. yuv420p, yuv444p, "
                   "yuv420p10le). Default: the input's where the encoder has it, else "
                   "4:2:0 at the input's depth.")
@click.option("--segment-seconds", type=click.FloatRange(0), default=10.0, show_default=True,
              help="Videos: seconds per resumable segment, cut at the next keyframe (0: one "
                   "segment). Finished segments wait in OUTPUT.parts/; a rerun after a crash "
                   "reuses them, and the output is their lossless join.")
@click.option("--suffix", default="", help="Appended to each output file's stem.")
@click.option("--strip-metadata", is_flag=True,
              help="Leave EXIF, XMP and IPTC out of the outputs (ICC profile and DPI stay).")
@click.option("--float-range", type=click.Choice(["refuse", "clip", "scale"]),
              default="refuse", show_default=True,
              help="Float images with values outside [0, 1] (HDR): refuse the file, clip to "
                   "[0, 1], or scale the range to [0, 1] for the model and back.")
@click.option("--recursive", is_flag=True, help="Descend into sub-folders.")
@click.option("--skip-existing", is_flag=True, help="Leave outputs that already exist.")
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
@click.option("--max-pixels", type=click.IntRange(1), default=None,
              help="Largest input accepted, in pixels (decompression-bomb guard; "
                   "default 178956970).")
@click.option("--max-output-pixels", type=click.IntRange(1), default=DEFAULT_MAX_OUTPUT_PIXELS,
              show_default=True,
              help="Largest output accepted, in pixels (width x height, times the frames of an "
                   "animation), checked from the image headers before any work: each output is "
                   "held in memory whole (1 gigapixel is 3 GB as 8-bit RGB, more with 16 bits "
                   "or alpha), so a mistyped size is refused at once (exit 2) instead of "
                   "running out of memory after minutes.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="ONNX Runtime threads per worker [default: the CPUs / --workers].")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Files processed at once [default: on CPUs, one per CPU for two or more "
                   "files; on CUDA, 1 (decoding, inference and encoding still overlap)].")
@click.option("--pipeline/--no-pipeline", default=True, show_default=True,
              help="Overlap decoding, inference and encoding (same outputs either way).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local",
              show_default=True,
              help="local: this process. ray: the same job (planning, per-file path, "
                   "outputs, report) on Ray actors, one ONNX Runtime session each, on a "
                   "local Ray cluster started for the run or one joined with --ray-address; "
                   "needs pip install 'sronnx[cluster]'. With ray, --workers is the number "
                   "of actors [default: one per cluster CPU (per GPU with --provider cuda or "
                   "tensorrt)] "
                   "and --threads the ONNX Runtime threads of each [default: 1 on CPUs].")
@click.option("--ray-address", default=None, metavar="ADDRESS",
              help="With --engine ray: the cluster to join (auto: the one `ray start --head` "
                   "started on this machine, or HOST:PORT); without it a local cluster is "
                   "started for the run and shut down after it.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "report", type=_PathParam(dir_okay=False, path_type=Path),
              default=None,
              help="Write a JSON report with one record per file (at every exit, a run that "
                   "cannot start included); - writes it to standard output, where the image "
                   "does not go (not with -o -).")
def upscale(**params: object) -> None:
    """Upscale INPUTS (image files and/or folders, and -i/--input; - for one image on
    standard input) into OUTPUT.

    Outputs that already exist stop the run before any work (exit 2) unless --skip-existing
    or --overwrite says what to do with them.

    Exit codes: 0 all done, 1 some files failed, 2 nothing to do or cannot start
    (bad arguments, no input found, outputs exist, unusable model or provider), 130 stopped
    with Ctrl-C, 143 stopped with SIGTERM (the --json report has what was done).
    """
    options = UpscaleOptions(**params)  # type: ignore[arg-type]
    try:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread: SIGTERM keeps its handling
        previous = None
    try:
        with contextlib.ExitStack() as cleanup:  # the scratch folder of - and -o -
            _upscale(cleanup, options)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _upscale(cleanup: contextlib.ExitStack, o: UpscaleOptions) -> NoReturn:
    """The run behind `upscale`: check the report's path, then (`sronnx.cli.upscale_run`)
    check the arguments, plan the jobs, load the model(s), refuse up front what cannot work
    (exit 2), run the files, print the summary, write the report and exit with the run's
    code. A stop signal before any file started exits 130 or 143 with its report."""
    rep = Report(o.report)
    if rep.to_stdout and o.to_stdout:
        fail("--json - and -o - would both write to standard output: name a file for the "
             "report (--json report.json)")
    if (problem := rep.check()) is not None:
        fail(problem)  # before any image is processed
    from sronnx.io import relay

    with relay():  # what C libraries print while a file is read goes to that file's notes
        try:
            try:  # onnxruntime loads here: a stop signal now still gets its report and code
                from sronnx.cli import upscale_run
            except ImportError as exc:
                if STOPPED:  # a C extension's initialisation turned the signal into this
                    raise STOPPED[0] from exc
                raise
            ready = upscale_run.prepare(cleanup, o, rep)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM before any file was started
            why, code = stop_reason(exc)
            click.echo(f"error: {why} before any file was processed", err=True)
            if problem := rep.write(code, stopped=why):
                click.echo(f"error: {problem}", err=True)
            sys.exit(code)
        upscale_run.run(o, rep, ready)
