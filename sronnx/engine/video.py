"""The per-video job: one video file through the run's model, frame by frame
(`sronnx.io.video_segments.transcode_video` demuxes, decodes, encodes and muxes, in
resumable segments; this module gives it the model, the output size and what of the model
changes the output's bytes). `sronnx.engine.batch.process_one` sends every job whose
input is a video here, so every scheduler (local, staged, Ray) treats videos alike.

Which model a video gets, without --model: one for the whole video (switching per frame
would flicker), by `sronnx.engine.choice.classify_video` on its codec and first frame (a
lossy video showing blocking gets the photo model, any other the still-image rule; the
rule and its evidence are in that module).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from sronnx.engine.choice import ModelChoice, classify_video
from sronnx.engine.planner import OutputOptions
from sronnx.engine.upscaler import DEFAULT_TILE, Upscaler
from sronnx.imaging import resize_array
from sronnx.io import VideoInfo, transcode_video
from sronnx.io.video import FrameFunction
from sronnx.io.video_segments import SegmentRunner

__all__ = ["FrameSpec", "Runner", "VideoJob", "frame_function", "frame_upscaler",
           "model_settings", "segment_function", "upscale_video", "video_model"]

# a tile larger than any frame: one model call per frame
_WHOLE = 1 << 30
# float32 feature maps alive at once in a model call (input, output and a residual), for the
# whole-frame memory estimate; channels where the model does not say (its spec)
_LIVE_MAPS = 3
_CHANNELS = 64


@dataclass
class VideoJob:
    """What one video's run did, for its `FileResult`."""

    frames: int = 0
    input_size: tuple[int, int] | None = None
    output_size: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)
    model: str | None = None
    model_reason: str | None = None
    segments: int = 0
    reused: int = 0
    frames_reused: int = 0  # frames of segments an interrupted run had made


def video_model(models: Upscaler | ModelChoice, info: VideoInfo,
                first: np.ndarray) -> tuple[Upscaler, str | None, str | None]:
    """The upscaler for a whole video, with its model's name and the reason (None, None for
    a single Upscaler): `classify_video` on its codec and first frame, through
    `ModelChoice.decide` (--model, --input-kind and the missing JPEG model)."""
    if isinstance(models, Upscaler):
        return models, None, None
    choice = models.decide(lambda: classify_video(first, info.codec, info.lossless))
    return models.upscalers[choice.kind], models.names[choice.kind], choice.reason  # type: ignore[return-value]


def whole_frame_bytes(up: Upscaler, size: tuple[int, int]) -> int:
    """An estimate of what one model call on a whole frame of `size` (width, height, input
    pixels) holds: `_LIVE_MAPS` float32 feature maps of the model's width (its spec's
    `channels`, else `_CHANNELS`) at the input's size."""
    channels = int(up.descriptor.spec.get("channels", _CHANNELS) or _CHANNELS)
    return size[0] * size[1] * channels * 4 * _LIVE_MAPS


def frame_upscaler(up: Upscaler, size: tuple[int, int]) -> Upscaler:
    """The upscaler a video's frames of `size` go through: the same model in one tile the
    size of the frame (one model call, no tile seams to compute twice) when the tiling is
    the default (not asked by --tile), the model takes any size, and the call fits half the
    memory limit for models (`sronnx.runtime.model_memory_limit`; 4 GiB by default: frames
    up to about 1920x1080 at 48 channels); else `up` itself, tile by tile.

    The pixels are those of the tiles: a tile's window carries context beyond the model's
    receptive field and the frame's edges are mirrored alike, so every output pixel sees the
    same input either way (checked on the shipped models in tests/video)."""
    from sronnx.runtime import model_memory_limit

    d = up.descriptor
    default_tile = max(d.tile_hint, DEFAULT_TILE)
    limit = model_memory_limit() or 4 << 30
    if d.fixed_size is not None or up.tile != default_tile or \
            whole_frame_bytes(up, size) > limit // 2:
        return up
    return Upscaler(up.model, tile=_WHOLE, overlap=up.overlap, batch=up.batch,
                    border=up.border, clamp_range=up.clamp_range)


def frame_function(up: Upscaler, model_size: tuple[int, int], output_size: tuple[int, int]
                   ) -> Callable[[np.ndarray], np.ndarray | Callable[[], np.ndarray]]:
    """One frame (RGB uint8 / uint16) -> the upscaled frame at `output_size` (resampled
    from the model's `model_size` where they differ). A frame that is one model call (a
    whole frame) comes back as a function that finishes it (clamp, quantise, resample),
    which `sronnx.io.video_segments` runs in its encoding thread: the calling thread only
    prepares the input and calls the model. Tiled frames come back whole."""
    def sized(out: np.ndarray) -> np.ndarray:
        return out if output_size == model_size else resize_array(out, output_size)

    def one(frame: np.ndarray) -> np.ndarray | Callable[[], np.ndarray]:
        tiles = up.tile_pass(frame)
        if len(tiles) != 1:
            return sized(up.upscale_array(frame))
        batch = tiles.prepare(0)
        y = tiles.run(batch)

        def finish() -> np.ndarray:
            tiles.finish(batch, y)
            return sized(tiles.result())
        return finish
    return one


@lru_cache(maxsize=16)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def model_settings(up: Upscaler, name: str | None, output_size: tuple[int, int]) -> dict:
    """What of the model changes a video's bytes, for its work folder's manifest: the model
    file's name and SHA-256, the tiling, the clamp, the provider, the output size and the
    sronnx version."""
    # the package itself is loaded before any of its modules: read its version from there
    # (an import of `sronnx` here would be an import circle: sronnx -> engine -> video)
    version = getattr(sys.modules.get("sronnx"), "__version__", None)
    path = Path(up.model.info.path)
    st = path.stat()
    return {"model": name or path.name, "model_sha256": _file_sha256(str(path), st.st_mtime_ns,
                                                                     st.st_size),
            "tile": up.tile, "overlap": up.overlap, "border": up.border,
            "clamp": bool(up.clamp_range), "provider": up.provider,
            "output_size": list(output_size), "sronnx": version}


@dataclass(frozen=True)
class FrameSpec:
    """What a worker needs to build a video's frame function itself (`segment_function`),
    the same as the driver's: the model's name, the input and output frame sizes."""

    model: str | None
    input_size: tuple[int, int]
    output_size: tuple[int, int]


def segment_function(models: Upscaler | ModelChoice, spec: FrameSpec
                     ) -> Callable[[np.ndarray], np.ndarray | Callable[[], np.ndarray]]:
    """The frame function for `spec` on a worker's own sessions: the model of that name
    (a `ModelChoice`'s; a single Upscaler is itself), through `frame_upscaler` and
    `frame_function` exactly as `upscale_video` builds it, so every pixel is the same."""
    if isinstance(models, Upscaler):
        up = models
    else:
        kind = next((k for k, n in models.names.items() if n == spec.model), None)
        if kind is None:
            raise ValueError(f"no model {spec.model!r} on this worker")
        up = models.upscalers[kind]
    up = frame_upscaler(up, spec.input_size)
    w, h = spec.input_size
    return frame_function(up, (w * up.scale, h * up.scale), spec.output_size)


# makes the segments elsewhere (Ray's actors): given the frame spec, a SegmentRunner
Runner = Callable[[FrameSpec], SegmentRunner]


def upscale_video(models: Upscaler | ModelChoice, source: Path, output: Path,
                  opts: OutputOptions,
                  on_pixels: Callable[[int], None] | None = None, *,
                  runner: Runner | None = None) -> VideoJob:
    """Upscale every frame of the video `source` into `output` (written atomically, in
    resumable segments: `sronnx.io.video_segments`), at the model's scale or the size `opts`
    asks for, encoded as `opts.video` says; whole frames go to the model where they fit
    (`frame_upscaler`). `on_pixels` hears of each frame's output pixels as it is done.
    `runner(spec)`, when given, makes the segments elsewhere (`--engine ray`: each worker
    builds the same frame function with `segment_function`).
    Raises `sronnx.io.VideoError` for a video that cannot be read or written (the frame
    named), OSError for the output."""
    job = VideoJob()
    scale = models.scale
    chosen: list[Upscaler] = []

    def size_of(w: int, h: int) -> tuple[int, int]:
        job.input_size = (w, h)
        job.output_size = opts.output_size((w, h), scale)
        return job.output_size

    def start(info: VideoInfo, first: np.ndarray) -> FrameFunction:
        up, job.model, job.model_reason = video_model(models, info, first)
        up = frame_upscaler(up, (info.width, info.height))
        chosen.append(up)
        model_size = (info.width * up.scale, info.height * up.scale)
        return frame_function(up, model_size, job.output_size)

    def settings() -> dict:
        return model_settings(chosen[0], job.model, job.output_size)

    told = [0]

    def frame_done(n: int) -> None:  # n: frames done so far (a reused segment's at once)
        if on_pixels is not None and job.output_size is not None and n > told[0]:
            on_pixels((n - told[0]) * job.output_size[0] * job.output_size[1])
            told[0] = n

    make = None if runner is None else (lambda fn: runner(FrameSpec(
        job.model, job.input_size, job.output_size)))
    done = transcode_video(source, output, size_of, start, opts.video, frame_done,
                           settings=settings, runner=make)
    job.frames, job.notes = done.frames, done.notes
    job.segments, job.reused = done.segments, done.reused
    job.frames_reused = done.frames_reused
    return job
