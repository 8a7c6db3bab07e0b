"""Batch upscaling of planned jobs (`sronnx.engine.planner`): the per-file path (read, model,
tiles, resampling to an asked output size, write), per-file faults, results, and progress
in output pixels as tiles finish.

Library code: it returns results and raises; the CLI decides what to print and the exit code.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from sronnx.engine.animation import upscale_animation
from sronnx.engine.choice import ModelChoice
from sronnx.engine.planner import Job, OutputOptions, folder_problem
from sronnx.engine.schedule import Submit, run_staged, run_whole_files
from sronnx.engine.tilepass import ModelInput, TilePass
from sronnx.engine.upscaler import Upscaler
from sronnx.engine.video import Runner, upscale_video
from sronnx.imaging import array_to_pil, pil_to_array, resize_array
from sronnx.io import (
    Animation,
    FloatRangeError,
    FloatSpan,
    ImageReadError,
    Metadata,
    VideoError,
    describe_messages,
    fit_float_range,
    is_video_path,
    merge_identical,
    messages_of,
    name_bytes,
    name_max,
    not_animated_message,
    output_format,
    read_animation,
    read_image,
    restore_float_range,
    write_animation,
    write_image,
    written_as_note,
)


@dataclass
class FileResult:
    input: str
    output: str
    status: str  # done | failed | skipped
    error: str | None = None
    input_size: tuple[int, int] | None = None
    output_size: tuple[int, int] | None = None
    seconds: float = 0.0
    # wall seconds of each stage (decode, infer, encode), for the pipeline's profile
    stages: dict[str, float] = field(default_factory=dict)
    frames: int | None = None  # an animation's frame count; None for a still image
    # the frames the output holds, when fewer (identical consecutive frames merged, an APNG
    # default image left out); None when every frame was written or for a still image
    frames_written: int | None = None
    # a video's frames taken from the segments an interrupted run had made (not redone here)
    frames_reused: int | None = None
    # what was changed or left out on the way (bits, pages, metadata, float range)
    notes: list[str] = field(default_factory=list)
    # with the default-model rule (`sronnx.engine.choice`): the model this file got and why
    model: str | None = None
    model_reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)



@dataclass
class _Work:
    """One file between the pipeline's stages."""

    job: Job
    result: FileResult
    t0: float
    pixels: np.ndarray | None = None
    mode: str | None = None
    fmt: str = "PNG"
    dpi: tuple[float, ...] | None = None
    icc: bytes | None = None
    out: np.ndarray | None = None
    anim: Animation | None = None  # an animation's frames instead of `pixels` / `out`
    meta: Metadata | None = None
    lossless: bool = False  # the input was a lossless WebP
    span: FloatSpan | None = None
    up: Upscaler | None = None  # the model this file runs through
    size: tuple[int, int] | None = None  # (width, height) asked for; None: the model's own
    # the staged layout: the file's tiles, its first batch made ready by the decoding coder,
    # and the batches the coders are finishing (the encode waits for them)
    tiles: TilePass | None = None
    first: ModelInput | None = None
    finishing: list[Future] = field(default_factory=list)


class _OutputFolderError(OSError):
    """An output's folder cannot be made (a file of that name, or above it, is in the way)."""


def _make_output_folder(folder: Path) -> None:
    """mkdir -p for an output's folder; raises _OutputFolderError with a reason that names
    what is in the way."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise _OutputFolderError(folder_problem(folder) or
                                 f"cannot create the output folder {folder}: "
                                 f"{exc.strerror or exc}") from exc


def _fail(work: _Work, exc: BaseException) -> _Work:
    """Turn a per-file failure into its result's reason (the batch goes on)."""
    if isinstance(exc, _OutputFolderError):
        work.result.error = str(exc)
    elif isinstance(exc, ImageReadError):
        work.result.error = f"cannot read image: {exc}"
    elif isinstance(exc, FloatRangeError):
        work.result.error = str(exc)
    elif isinstance(exc, MemoryError):
        work.result.error = "out of memory (try a smaller --tile)"
    elif isinstance(exc, OSError):
        work.result.error = f"cannot write {work.job.output}: {exc.strerror or exc}"
    elif isinstance(exc, ValueError) and _raised_by_sronnx(exc):
        work.result.error = str(exc)  # a message of sronnx's own: no class name before it
    else:
        work.result.error = f"{type(exc).__name__}: {exc}"
    work.pixels = work.out = work.anim = None
    return work


def _raised_by_sronnx(exc: BaseException) -> bool:
    """Whether `exc` was raised by sronnx's own code (its message is written for users), not
    by a library it calls (whose class name then tells what kind of fault it was)."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(tb.tb_frame.f_globals.get("__name__", "")).startswith("sronnx.")


def _output_name_problem(output: Path) -> str | None:
    """Why `output` cannot be made here (a file is where its folder should be, or its name
    is longer than its folder's file system allows), checked before the input is decoded;
    None when it fits."""
    if (problem := folder_problem(output.parent)) is not None:
        return problem
    length, limit = name_bytes(output.name), name_max(output.parent)
    if length > limit:
        return (f"output name too long: {length} bytes where the file system allows {limit} "
                "(choose a shorter --suffix or output name)")
    return None


Models = Upscaler | ModelChoice  # one model for every file, or one chosen per file

# Progress of one file: called with the job and the number of its output pixels (width x
# height, over all frames) just finished; per job the calls add up to the output's pixel
# count once it is written in full. Called from whichever thread runs the model for that file
# (a worker thread when files run in parallel): it must be thread-safe.
PixelCallback = Callable[[Job, int], None]


class _PixelCounter:
    """Turns the model's per-call output pixels (`Upscaler.upscale_array`'s `on_tile`) into
    final output pixels of one job: `model_total` model pixels make `final_total` output
    pixels (they differ when the output is resampled to an asked size); the counts reported
    are whole numbers that add up to exactly `final_total`."""

    def __init__(self, job: Job, callback: PixelCallback, model_total: int,
                 final_total: int) -> None:
        self.job, self.callback = job, callback
        self.model_total, self.final_total = max(model_total, 1), final_total
        self.model_done = self.reported = 0

    def __call__(self, pixels: int) -> None:
        # never called twice at once: a file's batches may finish on several threads, but its
        # TilePass calls `on_tile` under its own lock
        self.model_done = min(self.model_done + pixels, self.model_total)
        now = self.model_done * self.final_total // self.model_total
        if now > self.reported:
            step, self.reported = now - self.reported, now
            self.callback(self.job, step)


def _counter(work: _Work, on_pixels: PixelCallback | None, frames: int,
             size: tuple[int, int]) -> _PixelCounter | None:
    """The tile callback for this file's model run (`size`: the input's, one frame)."""
    if on_pixels is None or work.up is None:
        return None
    s = work.up.scale
    final = work.size or (size[0] * s, size[1] * s)
    return _PixelCounter(work.job, on_pixels, frames * size[0] * size[1] * s * s,
                         frames * final[0] * final[1])


def _pick(models: Models, work: _Work, pixels: np.ndarray | None, fmt: str | None = None,
          jpeg_quality: int | None = None, animated: bool = False,
          lossless: bool = False) -> Upscaler:
    """The upscaler for this file; with a ModelChoice its name and reason go in the result."""
    if isinstance(models, Upscaler):
        return models
    choice = models.choose(pixels, fmt, jpeg_quality, animated, lossless)
    work.result.model = models.names[choice.kind]
    work.result.model_reason = choice.reason
    return models.upscalers[choice.kind]


def _decode(up: Models, job: Job, opts: OutputOptions, existing: str,
            max_pixels: int | None, on_pixels: PixelCallback | None = None,
            video_runner: Runner | None = None) -> _Work:
    """Stage 1: check the output, read and decode the input, choose its model."""
    work = _Work(job, FileResult(str(job.source), str(job.output), "failed", error=job.error),
                 time.perf_counter())
    if job.error is not None:
        return work
    try:  # every check on the output is this file's failure, never the run's
        work.result.error = _output_name_problem(job.output)
        if work.result.error is not None:
            return work
        if job.output.exists():
            if existing == "skip":
                work.result.status = "skipped"
                return work
            if existing == "refuse":
                work.result.error = "output exists (use --overwrite or --skip-existing)"
                return work
    except Exception as exc:  # noqa: BLE001 - e.g. OSError: File name too long
        return _fail(work, exc)
    t = time.perf_counter()
    try:
        if is_video_path(job.source):
            _video(up, work, opts, on_pixels, video_runner)
        else:
            work = _read_input(up, work, opts, max_pixels)
    finally:
        work.result.stages["decode"] = time.perf_counter() - t
    return work


def _video(up: Models, work: _Work, opts: OutputOptions,
           on_pixels: PixelCallback | None, runner: Runner | None = None) -> None:
    """A video, whole (`sronnx.engine.video`: decoded, upscaled and encoded frame by frame);
    its failure, the frame named, becomes the file's result. `runner`: where its segments
    are made (None: here; `--engine ray`: on the actors)."""
    r, job = work.result, work.job
    count = None if on_pixels is None else (lambda px: on_pixels(job, px))
    try:
        _make_output_folder(job.output.parent)
        done = upscale_video(up, job.source, job.output, opts, count, runner=runner)
    except VideoError as exc:
        r.error = f"cannot upscale video: {exc}"
        return
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
        _fail(work, exc)
        return
    r.status, r.frames, r.notes = "done", done.frames, r.notes + done.notes
    r.input_size, r.output_size = done.input_size, done.output_size
    r.model, r.model_reason = done.model, done.model_reason
    r.frames_reused = done.frames_reused or None


def _read_input(up: Models, work: _Work, opts: OutputOptions, max_pixels: int | None) -> _Work:
    """Read and decode the input of `work` (an animation's frames, or a still image as an
    array), choose its model; a failure becomes the file's result. What the readers print
    meanwhile (`sronnx.io.messages_of`) goes into its note or its failure."""
    job = work.job
    printed: list[str] = []
    try:
        with messages_of(job.source) as printed:
            anim = read_animation(job.source, max_pixels)
            decoded = read_image(job.source, max_pixels) if anim is None else None
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
        return _printed(_fail(work, exc), printed)
    _printed(work, printed)
    try:
        if anim is not None:
            return _decode_frames(up, work, anim, opts)
        work.result.input_size = decoded.size
        work.fmt = output_format(decoded.format, opts.format, job.output)
        out_w, out_h = _asked_size(work, opts, decoded.size, up.scale)
        w, h = decoded.size  # DPI by the real factor on each axis
        work.dpi = (decoded.dpi[0] * out_w / w, decoded.dpi[1] * out_h / h) \
            if decoded.dpi else None
        work.icc, work.lossless = decoded.icc_profile, decoded.lossless
        if isinstance(decoded.pixels, Image.Image):
            work.pixels, work.mode = pil_to_array(decoded.pixels)
        else:
            work.pixels = decoded.pixels
        work.result.notes += decoded.notes + written_as_note(decoded.format, work.fmt,
                                                             opts.format)
        work.meta = _kept_metadata(decoded.metadata, opts, decoded.size, (out_w, out_h))
        if work.pixels.dtype.kind == "f":  # float stays an array to the writer
            work.mode = None
            work.pixels, work.span = fit_float_range(work.pixels, opts.float_range)
            work.result.notes += work.span.notes if work.span else []
        work.up = _pick(up, work, work.pixels, decoded.format, decoded.jpeg_quality,
                        lossless=decoded.lossless)
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
        return _fail(work, exc)
    return work


def _printed(work: _Work, printed: list[str]) -> _Work:
    """What the readers printed while reading the file: a note, or part of its failure."""
    if (said := describe_messages(printed)) is not None:
        if work.result.error is not None:
            work.result.error += f" ({said})"
        else:
            work.result.notes.append(said)
    return work


def _kept_metadata(meta: Metadata | None, opts: OutputOptions, size: tuple[int, int],
                   out: tuple[int, int]) -> Metadata | None:
    """The metadata an output of `out` from an input of `size` gets: with --strip-metadata
    only what the values and pixels' shape mean (colour description, sBIT, aspect ratio);
    the pixel aspect ratio changed by an output size not in proportion."""
    meta = meta.stripped() if meta and opts.strip_metadata else meta
    return meta.resized(size, out) if meta else None


def _asked_size(work: _Work, opts: OutputOptions, size: tuple[int, int],
                scale: int) -> tuple[int, int]:
    """The output size for an upright input of `size`; kept in `work.size` when it is not
    the model's own (the output is then resampled to it after the model)."""
    out = opts.output_size(size, scale)
    if out != (size[0] * scale, size[1] * scale):
        work.size = out
    return out


def _infer(work: _Work, on_pixels: PixelCallback | None = None) -> _Work:
    """Stage 2: the model, tile by tile (`on_pixels` told as tiles finish), then resampling
    to the asked size; only the input array is kept meanwhile."""
    if work.anim is not None:
        return _infer_frames(work, on_pixels)
    if work.pixels is None or work.up is None:
        return work
    t = time.perf_counter()
    try:
        h, w = work.pixels.shape[:2]
        work.out = work.up.upscale_array(work.pixels,
                                         on_tile=_counter(work, on_pixels, 1, (w, h)))
        work.pixels = None
        if work.size is not None:
            work.out = resize_array(work.out, work.size)
        work.result.output_size = (work.out.shape[1], work.out.shape[0])
    except Exception as exc:  # noqa: BLE001
        return _fail(work, exc)
    finally:
        work.result.stages["infer"] = time.perf_counter() - t
    return work


def _encode(work: _Work, opts: OutputOptions) -> FileResult:
    """Stage 3: encode and write atomically (temporary name, then rename)."""
    result = work.result
    if work.anim is not None:
        _encode_frames(work, opts)
    if work.out is not None:
        t = time.perf_counter()
        try:
            out = restore_float_range(work.out, work.span)
            if work.mode is not None and not (work.fmt == "PNG" and
                                              out.dtype in (np.uint8, np.uint16)):
                out = array_to_pil(out, work.mode)  # PNG streams from the array
            _make_output_folder(work.job.output.parent)
            result.notes += write_image(work.job.output, out, work.fmt, quality=opts.quality,
                                        png_compress_level=opts.png_compress_level,
                                        icc_profile=work.icc, dpi=work.dpi, metadata=work.meta,
                                        lossless=work.lossless)  # lossless WebP stays so
            result.status = "done"
        except Exception as exc:  # noqa: BLE001
            _fail(work, exc)
        result.stages["encode"] = time.perf_counter() - t
        work.out = None
    if result.status != "skipped" and work.job.error is None:
        result.seconds = time.perf_counter() - work.t0
    return result


def _decode_frames(up: Models, work: _Work, anim: Animation, opts: OutputOptions) -> _Work:
    """Stage 1 for an animation (all frames read): checks that the output format holds one."""
    work.result.input_size, work.result.frames = anim.size, len(anim.frames)
    work.fmt = output_format(anim.format, opts.format, work.job.output)
    if work.fmt not in ("GIF", "PNG", "WEBP"):
        work.result.error = not_animated_message(work.fmt, len(anim.frames))
        return work
    work.icc, work.anim = anim.icc_profile, anim
    out = _asked_size(work, opts, anim.size, up.scale)
    anim.metadata = _kept_metadata(anim.metadata, opts, anim.size, out)
    work.up = _pick(up, work, None, anim.format, animated=True)
    return work


def _infer_frames(work: _Work, on_pixels: PixelCallback | None = None) -> _Work:
    """Stage 2 for an animation: every frame as a still image (then resampled to the asked
    size, frame by frame)."""
    if work.up is None:
        return work
    t = time.perf_counter()
    try:
        count = _counter(work, on_pixels, len(work.anim.frames), work.anim.size)
        work.anim = upscale_animation(work.up, work.anim, size=work.size, on_tile=count)
        work.result.output_size = work.anim.size
    except Exception as exc:  # noqa: BLE001
        return _fail(work, exc)
    finally:
        work.result.stages["infer"] = time.perf_counter() - t
    return work


def _encode_frames(work: _Work, opts: OutputOptions) -> None:
    """Stage 3 for an animation: write every frame, atomically."""
    t = time.perf_counter()
    try:
        _make_output_folder(work.job.output.parent)
        work.anim, merged = merge_identical(work.anim)
        work.result.notes += [merged] if merged else []
        written = len(work.anim.frames) - (work.anim.default_image and work.fmt != "PNG")
        if written != work.result.frames:
            work.result.frames_written = written
        work.result.notes += write_animation(
            work.job.output, work.anim, work.fmt, quality=opts.quality,
            png_compress_level=opts.png_compress_level, icc_profile=work.icc)
        work.result.status = "done"
    except Exception as exc:  # noqa: BLE001
        _fail(work, exc)
    work.result.stages["encode"] = time.perf_counter() - t
    work.anim = None


def process_one(up: Models, job: Job, opts: OutputOptions, *, existing: str = "refuse",
                max_pixels: int | None = None,
                on_pixels: PixelCallback | None = None,
                video_runner: Runner | None = None) -> FileResult:
    """Upscale one file; every failure becomes a result with a reason, never an exception
    (except KeyboardInterrupt and the like, which stop the run). `on_pixels` (see
    `PixelCallback`) hears of output pixels as the model's tiles finish. `video_runner`:
    where a video's segments are made (`sronnx.engine.video.Runner`; None: here)."""
    return _encode(_infer(_decode(up, job, opts, existing, max_pixels, on_pixels,
                                  video_runner), on_pixels), opts)


def _decode_ahead(up: Models, job: Job, opts: OutputOptions, existing: str,
                  max_pixels: int | None, on_pixels: PixelCallback | None) -> _Work:
    """Stage 1 of the staged layout, on a coder thread: `_decode`, then the file's tiles set
    up and its first batch made ready for the model."""
    work = _decode(up, job, opts, existing, max_pixels, on_pixels)
    if work.pixels is None or work.up is None:
        return work
    t = time.perf_counter()
    try:
        h, w = work.pixels.shape[:2]
        work.tiles = work.up.tile_pass(work.pixels,
                                       on_tile=_counter(work, on_pixels, 1, (w, h)))
        work.first = work.tiles.prepare(0)
    except Exception as exc:  # noqa: BLE001
        return _fail(work, exc)
    finally:
        work.result.stages["infer"] = time.perf_counter() - t
    return work


def _model_stage(work: _Work, submit: Submit, window: int,
                 on_pixels: PixelCallback | None) -> _Work:
    """Stage 2 of the staged layout, in the model thread: only the model calls. The coders
    make each next batch ready (`prepare`) while the model runs this one, and finish each
    batch it returns (clamp, quantise, paste), at most `window` of this file's batches at a
    time; the file's encode waits for them. An animation runs here frame by frame."""
    if work.anim is not None:
        return _infer_frames(work, on_pixels)
    tiles, batch = work.tiles, work.first
    if tiles is None or batch is None:
        return work
    t = time.perf_counter()
    work.first = None
    pending: deque[Future] = deque()
    try:
        for index in range(len(tiles)):
            ahead = submit(tiles.prepare, index + 1) if index + 1 < len(tiles) else None
            y = tiles.run(batch)
            while len(pending) >= window:
                pending.popleft().result()
            pending.append(submit(tiles.finish, batch, y))
            work.finishing.append(pending[-1])
            batch = ahead.result() if ahead is not None else None
    except Exception as exc:  # noqa: BLE001
        return _fail(work, exc)
    finally:
        work.result.stages["infer"] += time.perf_counter() - t
    return work


def _encode_after(work: _Work, opts: OutputOptions) -> FileResult:
    """Stage 3 of the staged layout, on a coder thread: wait for the file's batches to be
    finished, resample to the asked size, then `_encode`."""
    if work.tiles is not None and work.out is None and work.result.error is None:
        t = time.perf_counter()
        try:
            for future in work.finishing:
                future.result()
            work.out = work.tiles.result()
            work.pixels = work.tiles = None
            if work.size is not None:
                work.out = resize_array(work.out, work.size)
            work.result.output_size = (work.out.shape[1], work.out.shape[0])
        except Exception as exc:  # noqa: BLE001
            _fail(work, exc)
        finally:
            work.finishing = []
            work.result.stages["infer"] += time.perf_counter() - t
    work.tiles = None
    return _encode(work, opts)


@dataclass(frozen=True)
class Layout:
    """How a batch's files share the machine (`run_jobs`).

    Attributes:
        pipeline: overlap decoding, the model and encoding; False runs one file after
            another (the same outputs), on one worker thread when there are several, so
            that an interrupt lets the file in progress finish and be reported.
        workers: files processed whole at once; above 1, that many threads each take whole
            files (the CPU default: one per core, one ONNX Runtime thread each).
        coders: with one worker, the threads that decode ahead of the one model stage and
            encode behind it (default: every available CPU).
    """

    pipeline: bool = True
    workers: int = 1
    coders: int | None = None


def run_jobs(up: Models, jobs: list[Job], opts: OutputOptions, *, existing: str = "refuse",
             max_pixels: int | None = None,
             on_result: Callable[[FileResult], None] | None = None,
             on_pixels: PixelCallback | None = None,
             layout: Layout = Layout()) -> list[FileResult]:
    """Process every job; results come back in job order, `on_result` sees each result as
    soon as it exists (in the calling thread), and `on_pixels` (see `PixelCallback`;
    thread-safe) each job's output pixels as the model's tiles finish (a file that fails or is
    skipped reports fewer or none: its result says so).

    With `opts.outscale`, `opts.width` or `opts.height`, each output is resampled from the
    model's to that size (`sronnx.imaging.resize`), animations frame by frame, and its DPI
    scaled by the real factor on each axis.

    How files share the machine (`layout`; `sronnx.engine.schedule`; results and outputs are
    the same either way):
    - `workers` > 1: that many threads each take whole files (decode, model, encode) in turn,
      at most `workers` files in memory. On CPUs, with one ONNX Runtime thread per worker, no
      core waits for another at every layer, which beats splitting each model call over the
      cores when decoding and encoding share them (`bench/e2e.py`).
    - `pipeline` with one worker: one model stage (this thread) fed by `coders` threads
      (default: every available CPU) that decode up to `coders` files ahead and encode up to
      `coders` behind; Pillow, zlib and ONNX Runtime release the GIL. The layout for a GPU,
      whose model stage is far faster than one core's coding.
    - no `pipeline`: one file after another on one worker thread (a single file: in this
      thread, so that Ctrl-C stops it at once).
    """
    pipeline, workers, coders = layout.pipeline, layout.workers, layout.coders

    def whole(job: Job) -> FileResult:
        return process_one(up, job, opts, existing=existing, max_pixels=max_pixels,
                           on_pixels=on_pixels)

    if len(jobs) < 2:  # in this thread, so that Ctrl-C stops a single file at once
        results = []
        for job in jobs:
            results.append(whole(job))
            if on_result is not None:
                on_result(results[-1])
        return results
    if not pipeline or workers > 1:
        # without `pipeline`, one file after another, still on a worker thread: Ctrl-C or
        # SIGTERM lands in this (the calling) thread, and the file in progress is finished
        # and reported; run here, it could land between the output's rename and its
        # result, leaving a file on disk that the report does not list (a CI run caught one)
        return run_whole_files(jobs, whole, workers if pipeline else 1, on_result)
    if coders is None:
        from sronnx.runtime import available_cpus

        coders = available_cpus()
    return run_staged(jobs,
                      lambda job: _decode_ahead(up, job, opts, existing, max_pixels, on_pixels),
                      lambda work, submit: _model_stage(work, submit, coders, on_pixels),
                      lambda work: _encode_after(work, opts), coders, on_result)
