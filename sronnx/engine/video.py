"""The per-video job: one video file through the run's model, frame by frame
(`sronnx.io.video.transcode_video` demuxes, decodes, encodes and muxes; this module gives it
the model and the output size). `sronnx.engine.batch.process_one` sends every job whose
input is a video here, so every scheduler (local, staged, Ray) treats videos alike.

Which model a video gets, without --model: one for the whole video (switching per frame
would flicker), by `sronnx.engine.choice.classify_video` on its codec and first frame (a
lossy video showing blocking gets the photo model, any other the still-image rule; the
rule and its evidence are in that module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sronnx.engine.choice import ModelChoice, classify_video
from sronnx.engine.planner import OutputOptions
from sronnx.engine.upscaler import Upscaler
from sronnx.imaging import resize_array
from sronnx.io import VideoInfo, transcode_video

__all__ = ["VideoJob", "upscale_video", "video_model"]


@dataclass
class VideoJob:
    """What one video's run did, for its `FileResult`."""

    frames: int = 0
    input_size: tuple[int, int] | None = None
    output_size: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)
    model: str | None = None
    model_reason: str | None = None


def video_model(models: Upscaler | ModelChoice, info: VideoInfo,
                first: np.ndarray) -> tuple[Upscaler, str | None, str | None]:
    """The upscaler for a whole video, with its model's name and the reason (None, None for
    a single Upscaler): `classify_video` on its codec and first frame, through
    `ModelChoice.decide` (--model, --input-kind and the missing JPEG model)."""
    if isinstance(models, Upscaler):
        return models, None, None
    choice = models.decide(lambda: classify_video(first, info.codec, info.lossless))
    return models.upscalers[choice.kind], models.names[choice.kind], choice.reason  # type: ignore[return-value]


def upscale_video(models: Upscaler | ModelChoice, source: Path, output: Path,
                  opts: OutputOptions,
                  on_pixels: Callable[[int], None] | None = None) -> VideoJob:
    """Upscale every frame of the video `source` into `output` (written atomically), at the
    model's scale or the size `opts` asks for, encoded as `opts.video` says. `on_pixels`
    hears of each frame's output pixels as it is written. Raises `sronnx.io.VideoError` for
    a video that cannot be read or written (the frame named), OSError for the output."""
    job = VideoJob()
    scale = models.scale

    def size_of(w: int, h: int) -> tuple[int, int]:
        job.input_size = (w, h)
        job.output_size = opts.output_size((w, h), scale)
        return job.output_size

    def start(info: VideoInfo, first: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        up, job.model, job.model_reason = video_model(models, info, first)
        model_size = (info.width * up.scale, info.height * up.scale)

        def one(frame: np.ndarray) -> np.ndarray:
            out = up.upscale_array(frame)
            return out if job.output_size == model_size else resize_array(out, job.output_size)
        return one

    def frame_done(_: int) -> None:
        if on_pixels is not None and job.output_size is not None:
            on_pixels(job.output_size[0] * job.output_size[1])

    done = transcode_video(source, output, size_of, start, opts.video, frame_done)
    job.frames, job.notes = done.frames, done.notes
    return job
