"""Batch upscaling of files and folders: planning outputs, per-file faults, reports.

Library code: it returns results and raises; the CLI decides what to print and the exit code.
"""

from __future__ import annotations

import os
import stat
import time
import unicodedata
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from sronnx.runtime.frames import (
    Animation,
    not_animated_message,
    read_animation,
    upscale_animation,
    write_animation,
)
from sronnx.runtime.imageio import (
    EXT_FORMAT,
    FORMAT_EXT,
    IMAGE_EXTENSIONS,
    ImageReadError,
    name_bytes,
    name_max,
    output_format,
    read_image,
    write_image,
)
from sronnx.runtime.metadata import Metadata
from sronnx.runtime.pil_modes import array_to_pil, pil_to_array
from sronnx.runtime.tiff import FloatRangeError, FloatSpan, fit_float_range, restore_float_range
from sronnx.runtime.upscaler import Upscaler


class PlanError(ValueError):
    """The job as asked cannot be run safely (e.g. it would overwrite an input).

    `left_out` holds what the folder listings left out when they ran before the refusal
    (for the report of the refused run), else it is empty.
    """

    def __init__(self, message: str, left_out: list[LeftOut] | None = None) -> None:
        super().__init__(message)
        self.left_out: list[LeftOut] = list(left_out or ())


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    error: str | None = None  # known before running (e.g. the input does not exist)


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
    # what was changed or left out on the way (bits, pages, metadata, float range)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OutputOptions:
    format: str = "same"  # same | png | jpg | webp | gif
    quality: int = 95
    png_compress_level: int = 1
    suffix: str = ""
    strip_metadata: bool = False  # leave EXIF, XMP and IPTC out of the outputs
    float_range: str = "refuse"  # float pixels outside [0, 1]: refuse | clip | scale


def _inside(path: Path, folder: Path) -> bool:
    try:
        _resolved(path).relative_to(folder)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class LeftOut:
    """Something a folder listing found and did not take as an input, and why."""

    path: Path
    reason: str
    # an earlier output: the source it was made from, and how many times that source's size
    # it is (the same in both dimensions); None for everything else
    made_from: Path | None = field(default=None, compare=False)
    factor: int | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        return {"path": str(self.path), "reason": self.reason}


# reasons, also the keys a summary groups by
NOT_AN_IMAGE = "not an image extension"
BROKEN_LINK = "broken symbolic link"
LINKED_FOLDER = "symbolic link to a folder, not followed"
SUB_FOLDER = "sub-folder, not entered without --recursive"
NOT_REGULAR = "not a regular file"
EARLIER_OUTPUT = "earlier output"  # "earlier output of NAME"


@dataclass
class Plan:
    """What a run will do: `jobs` in order, and what the folder listings `left_out`."""

    jobs: list[Job]
    left_out: list[LeftOut] = field(default_factory=list)

    def require_scale(self, scale: int) -> None:
        """Check, once the model's scale is known, that every earlier output this plan left
        out is `scale` times the size of its source; raises PlanError for one that is not:
        it is a file of its own, which the run would otherwise overwrite or take as input."""
        for e in self.left_out:
            if e.made_from is not None and e.factor is not None and e.factor != scale:
                raise PlanError(_not_earlier_output(
                    e.path, e.made_from, f"it is {e.factor} times the size of "
                    f"{e.made_from.name}, and this model makes {scale} times"), self.left_out)


@dataclass(frozen=True)
class _Source:
    path: Path
    rel: Path  # relative to its input root: the output keeps this layout
    error: str | None = None
    listed: bool = False  # found by listing a folder (not named by the user)


def _classify(p: Path, recursive: bool) -> str | None:
    """None for an image file to take, else why a listed entry is left out. The image test
    is the collectable-extension set itself: a format added to it stops being left out."""
    if p.is_symlink() and not p.exists():
        return BROKEN_LINK
    if p.is_dir():
        if p.is_symlink():
            return LINKED_FOLDER
        return None if recursive else SUB_FOLDER  # recursive: its files are listed
    if p.suffix.lower() not in IMAGE_EXTENSIONS:
        return NOT_AN_IMAGE
    return None if p.is_file() else NOT_REGULAR


def _collect(inputs: Iterable[Path], recursive: bool,
             outdir: Path) -> tuple[list[_Source], list[LeftOut]]:
    """Every image under the inputs, and what the listings left out. Hidden entries (a
    part of the path starting with '.') and files already under OUTDIR when it lies inside
    an input folder (a previous run's outputs) are passed over silently."""
    found: list[_Source] = []
    left_out: list[LeftOut] = []
    out_resolved = outdir.resolve()
    for root in inputs:
        if root.is_dir():
            # OUTDIR strictly inside this root: its files are outputs, not inputs
            nested = out_resolved != root.resolve() and _inside(out_resolved, root.resolve())
            pattern = root.rglob("*") if recursive else root.glob("*")
            for p in sorted(pattern):
                rel = p.relative_to(root)
                if any(part.startswith(".") for part in rel.parts) or \
                        (nested and _inside(p, out_resolved)):
                    continue
                reason = _classify(p, recursive)
                if reason is not None:
                    left_out.append(LeftOut(p, reason))
                elif not p.is_dir():
                    found.append(_Source(p, rel, listed=True))
        elif root.is_file():
            found.append(_Source(root, Path(root.name)))
        else:
            found.append(_Source(root, Path(root.name or "input"), not_a_file(root)))
    return found, left_out


NO_SUCH_FILE = "no such file or folder"
_FILE_KINDS = ((stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
               (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
               (stat.S_ISDIR, "folder"))


def not_a_file(path: Path) -> str:
    """Why `path`, named as an input, is not a file sronnx can read: it does not exist, is a
    broken symbolic link, or is a fifo, socket, device or folder."""
    if path.is_symlink() and not path.exists():
        return BROKEN_LINK
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return NO_SUCH_FILE
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "special file")
    return f"{NOT_REGULAR} ({kind})"


def suffix_problem(suffix: str) -> str | None:
    """Why `suffix` cannot be appended to output file stems, or None: it must not contain a
    path separator (outputs would land outside the output folder), NUL or another control
    character, nor be '.' or '..'."""
    shown = ascii(suffix)
    seps = {"/", os.sep, os.altsep} - {None}
    if any(sep in suffix for sep in seps):
        return (f"--suffix {shown} contains a path separator: it is appended to file names "
                "and cannot name a folder")
    bad = next((c for c in suffix if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        return f"--suffix {shown} contains a control character ({ascii(bad)})"
    if suffix in (".", ".."):
        return f"--suffix {shown} is not a usable part of a file name"
    return None


def _header_size(path: Path) -> tuple[int, int] | None:
    """An image's (width, height) from its header alone (no pixels decoded), or None for a
    file that cannot be read as an image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. DecompressionBombWarning: no pixels read
            with Image.open(path) as im:
                return im.size
    except Exception:  # noqa: BLE001 - Pillow raises many types for files it cannot read
        pass
    try:  # TIFFs that Pillow cannot open (e.g. float, 16-bit RGB)
        import tifffile

        with tifffile.TiffFile(path) as tf:
            page = tf.pages[0]
            return int(page.imagewidth), int(page.imagelength)
    except Exception:  # noqa: BLE001 - tifffile raises many types for bad files
        return None


def _output_factor(output: Path, source: Path, scale: int | None) -> tuple[int | None, str]:
    """(k, "") when the existing file `output` has the size a model of scale k (`scale`
    when known, else any k >= 2) makes from `source`, in either orientation (EXIF
    orientation is applied when reading); else (None, why it is not)."""
    out_size, src_size = _header_size(output), _header_size(source)
    if out_size is None:
        return None, "it cannot be read as an image"
    if src_size is None:
        return None, f"{source.name} cannot be read as an image"
    (ow, oh), (sw, sh) = out_size, src_size
    for w, h in ((sw, sh), (sh, sw)):
        if w and h and ow % w == 0 and oh % h == 0 and ow // w == oh // h >= 2:
            k = ow // w
            if scale is None or k == scale:
                return k, ""
            return None, (f"it is {k} times the size of {source.name}, and this model makes "
                          f"{scale} times")
    return None, f"{ow}x{oh} is no multiple of {source.name}'s {sw}x{sh}"


def _not_earlier_output(output: Path, source: Path, why: str) -> str:
    return (f"output {output} (made from {source}) would overwrite the input {output} (a file "
            f"of its own, not an earlier output of {source.name}: {why}); choose another "
            "output folder or a --suffix")


def _output_for(rel: Path, outdir: Path, opts: OutputOptions) -> Path:
    if opts.format != "same":
        ext = FORMAT_EXT[opts.format]
    else:  # a format sronnx does not write (e.g. a .gif given by name) becomes PNG
        ext = rel.suffix if rel.suffix.lower() in IMAGE_EXTENSIONS else ".png"
    return outdir / rel.parent / f"{rel.stem}{opts.suffix}{ext}"


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # e.g. a name too long, a symbolic-link loop
        return path.absolute()


def plan(inputs: Iterable[str | Path], outdir: str | Path, opts: OutputOptions,
         recursive: bool = False, scale: int | None = None) -> Plan:
    """Map each input image to its output path, keeping the inputs' relative layout, and
    name what the folder listings left out (see `Plan`, `LeftOut`).

    A listed file that is the planned output of another input S of this plan (a rerun into
    the input folder itself, e.g. with --suffix) is an earlier output of S, left out, when
    its header says it is k times S's size in both dimensions: k = `scale` when given, else
    any whole k >= 2 (`Plan.require_scale` checks k once the scale is known). Any other file
    there is an input of its own that the output would overwrite: refused. Raises PlanError
    for a plan in which an output would land on an input file, two inputs on the same
    output, OUTDIR is not a folder, or the suffix is unusable (`suffix_problem`). Inputs that
    do not exist or are not regular files become jobs with an error, reported like any
    unreadable file.
    """
    outdir = Path(outdir)
    if (problem := suffix_problem(opts.suffix)) is not None:
        raise PlanError(problem)
    if outdir.exists() and not outdir.is_dir():
        raise PlanError(f"output folder {outdir} exists and is not a folder")
    sources, left_out = _collect([Path(p) for p in inputs], recursive, outdir)
    try:
        return _plan(sources, left_out, outdir, opts, scale)
    except PlanError as exc:
        exc.left_out = sorted(left_out, key=lambda e: e.path)
        raise


def _plan(sources: list[_Source], left_out: list[LeftOut], outdir: Path, opts: OutputOptions,
          scale: int | None) -> Plan:
    outputs = [_output_for(s.rel, outdir, opts) for s in sources]
    made_by: dict[Path, Path] = {}  # resolved output -> the source it is planned for
    for s, out in zip(sources, outputs, strict=True):
        if s.error is None:
            made_by.setdefault(_resolved(out), s.path)
    jobs: list[Job] = []
    seen: dict[Path, Path] = {}
    inputs_at: dict[Path, Path] = {}
    for s, out in zip(sources, outputs, strict=True):
        maker = made_by.get(_resolved(s.path)) if s.error is None else None
        if s.listed and maker is not None and maker != s.path:
            factor, why = _output_factor(s.path, maker, scale)
            if factor is None:
                raise PlanError(_not_earlier_output(s.path, maker, why))
            left_out.append(LeftOut(s.path, f"{EARLIER_OUTPUT} of {maker.name}", maker, factor))
            continue
        key = _resolved(out)
        if key in seen and s.error is None:
            raise PlanError(f"{s.path} and {seen[key]} would both be written to {out}")
        seen[key] = s.path
        jobs.append(Job(s.path, out, s.error))
        if s.error is None:
            inputs_at[_resolved(s.path)] = s.path
    for job in jobs:
        overwritten = inputs_at.get(_resolved(job.output))
        if overwritten is not None and job.error is None:
            of = "" if overwritten == job.source else f" (made from {job.source})"
            raise PlanError(
                f"output {job.output}{of} would overwrite the input {overwritten}; choose "
                "another output folder or a --suffix"
            )
    return Plan(jobs, sorted(left_out, key=lambda e: e.path))


def plan_jobs(inputs: Iterable[str | Path], outdir: str | Path, opts: OutputOptions,
              recursive: bool = False) -> list[Job]:
    """`plan(...).jobs`: the jobs alone, for callers that do not report what was left out."""
    return plan(inputs, outdir, opts, recursive).jobs


def writes_file(output: str | Path) -> bool:
    """Whether `-o OUTPUT` names one output file rather than a folder: its extension is
    one sronnx writes (.png .jpg .jpeg .webp .tif .tiff .bmp) and it is not an existing
    folder."""
    output = Path(output)
    return output.suffix.lower() in EXT_FORMAT and not output.is_dir()


def plan_file(source: str | Path, output: str | Path, opts: OutputOptions) -> Plan:
    """One input file to exactly the file `output`, in the format its extension names
    (--suffix does not apply to a name given in full).

    Raises PlanError if `opts.format` names another format than the extension, if
    `output` is (or links to) the input itself, or is an existing folder. A source that
    does not exist becomes a job with an error, as in `plan`.
    """
    source, output = Path(source), Path(output)
    ext_fmt = EXT_FORMAT.get(output.suffix.lower())
    if ext_fmt is None:
        raise PlanError(f"output {output} has no image extension sronnx writes "
                        f"({' '.join(sorted(EXT_FORMAT))})")
    if opts.format != "same" and EXT_FORMAT[FORMAT_EXT[opts.format]] != ext_fmt:
        raise PlanError(f"--format {opts.format} contradicts the output name {output} "
                        f"({ext_fmt}); change one of them")
    if output.is_dir():
        raise PlanError(f"output {output} is a folder")
    if not source.is_file():
        return Plan([Job(source, output, not_a_file(source))])
    same = _resolved(output) == _resolved(source)
    if not same and output.exists():
        try:
            same = output.samefile(source)  # a hard link to the input
        except OSError:
            same = False
    if same:
        raise PlanError(f"output {output} would overwrite the input {source}")
    return Plan([Job(source, output)])


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
    span: FloatSpan | None = None


class _OutputFolderError(OSError):
    """An output's folder cannot be made (a file of that name, or above it, is in the way)."""


def folder_problem(folder: Path, what: str = "the output folder") -> str | None:
    """Why `folder` cannot be made (a file where it, or a folder above it, should be), or
    None; `what` names it in the message."""
    for p in (folder, *folder.parents):
        if p.is_dir():
            return None
        if p.exists() or p.is_symlink():
            why = ("a file of that name exists" if p == folder else
                   f"{p} exists and is not a folder")
            return f"cannot create {what} {folder}: {why}"
    return None


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
    else:
        work.result.error = f"{type(exc).__name__}: {exc}"
    work.pixels = work.out = work.anim = None
    return work


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


def _decode(up: Upscaler, job: Job, opts: OutputOptions, existing: str,
            max_pixels: int | None) -> _Work:
    """Stage 1: check the output, read and decode the input."""
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
        if (anim := read_animation(job.source, max_pixels)) is not None:
            return _decode_frames(up, work, anim, opts)
        decoded = read_image(job.source, max_pixels)
        work.result.input_size = decoded.size
        work.fmt = output_format(decoded.format, opts.format, job.output)
        work.dpi = tuple(v * up.scale for v in decoded.dpi) if decoded.dpi else None
        work.icc = decoded.icc_profile
        if isinstance(decoded.pixels, Image.Image):
            work.pixels, work.mode = pil_to_array(decoded.pixels)
        else:
            work.pixels = decoded.pixels
        work.result.notes += decoded.notes
        work.meta = None if opts.strip_metadata else decoded.metadata
        if work.pixels.dtype.kind == "f":  # float stays an array to the writer
            work.mode = None
            work.pixels, work.span = fit_float_range(work.pixels, opts.float_range)
            work.result.notes += work.span.notes if work.span else []
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
        return _fail(work, exc)
    finally:
        work.result.stages["decode"] = time.perf_counter() - t
    return work


def _infer(up: Upscaler, work: _Work) -> _Work:
    """Stage 2: the model, tile by tile; only the input array is kept meanwhile."""
    if work.anim is not None:
        return _infer_frames(up, work)
    if work.pixels is None:
        return work
    t = time.perf_counter()
    try:
        work.out = up.upscale_array(work.pixels)
        work.pixels = None
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
                                        source=work.job.source)  # lossless WebP stays lossless
            result.status = "done"
        except Exception as exc:  # noqa: BLE001
            _fail(work, exc)
        result.stages["encode"] = time.perf_counter() - t
        work.out = None
    if result.status != "skipped" and work.job.error is None:
        result.seconds = time.perf_counter() - work.t0
    return result


def _decode_frames(up: Upscaler, work: _Work, anim: Animation, opts: OutputOptions) -> _Work:
    """Stage 1 for an animation (all frames read): checks that the output format holds one."""
    work.result.input_size, work.result.frames = anim.size, len(anim.frames)
    work.fmt = output_format(anim.format, opts.format, work.job.output)
    if work.fmt not in ("GIF", "PNG", "WEBP"):
        work.result.error = not_animated_message(work.fmt, len(anim.frames))
        return work
    work.icc, work.anim = anim.icc_profile, anim
    return work


def _infer_frames(up: Upscaler, work: _Work) -> _Work:
    """Stage 2 for an animation: every frame as a still image."""
    t = time.perf_counter()
    try:
        work.anim = upscale_animation(up, work.anim)
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
        write_animation(work.job.output, work.anim, work.fmt, quality=opts.quality,
                        png_compress_level=opts.png_compress_level, icc_profile=work.icc)
        work.result.status = "done"
    except Exception as exc:  # noqa: BLE001
        _fail(work, exc)
    work.result.stages["encode"] = time.perf_counter() - t
    work.anim = None


def process_one(up: Upscaler, job: Job, opts: OutputOptions, *, existing: str = "refuse",
                max_pixels: int | None = None) -> FileResult:
    """Upscale one file; every failure becomes a result with a reason, never an exception
    (except KeyboardInterrupt and the like, which stop the run)."""
    return _encode(_infer(up, _decode(up, job, opts, existing, max_pixels)), opts)


_DONE = object()


def run_jobs(up: Upscaler, jobs: list[Job], opts: OutputOptions, *, existing: str = "refuse",
             max_pixels: int | None = None,
             on_result: Callable[[FileResult], None] | None = None,
             pipeline: bool = True, workers: int = 1) -> list[FileResult]:
    """Process every job; results come back in job order, `on_result` sees each result as
    soon as it exists.

    With `pipeline` and one worker, decoding (one thread), inference (this thread) and
    encoding (one thread) overlap: Pillow, zlib and ONNX Runtime release the GIL. Queues
    hold one file each, so at most about three inputs and three outputs are in memory at
    once, whatever the number of files. With `workers` > 1, that many threads each take whole
    files (decode, infer, encode) one after another: on CPUs, with one ONNX Runtime thread per
    worker, no core waits for another at every layer, which beats splitting each model call
    over the cores when the pipeline's other stages share them (`bench/e2e.py`); at most
    `workers` files are in memory. Results and outputs are the same either way.
    """
    results: list[FileResult] = []

    def emit(r: FileResult) -> None:
        results.append(r)
        if on_result is not None:
            on_result(r)

    if not pipeline or len(jobs) < 2:
        for job in jobs:
            emit(process_one(up, job, opts, existing=existing, max_pixels=max_pixels))
        return results
    if workers > 1:
        return _run_parallel(up, jobs, opts, existing, max_pixels, on_result, workers)

    import queue
    import threading

    decoded: queue.Queue = queue.Queue(maxsize=1)
    inferred: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    errors: list[BaseException] = []

    def put(q: queue.Queue, item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(q: queue.Queue) -> object:
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return _DONE

    def reader() -> None:
        try:
            for job in jobs:
                if not put(decoded, _decode(up, job, opts, existing, max_pixels)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)
            stop.set()
        finally:
            put(decoded, _DONE)

    def writer() -> None:
        try:
            while (work := get(inferred)) is not _DONE:
                emit(_encode(work, opts))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=reader, name="sronnx-decode", daemon=True),
               threading.Thread(target=writer, name="sronnx-encode", daemon=True)]
    for t in threads:
        t.start()
    try:
        while (work := get(decoded)) is not _DONE:
            if not put(inferred, _infer(up, work)):
                break
        put(inferred, _DONE)
    except BaseException:
        stop.set()
        raise
    finally:
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return results


def _run_parallel(up: Upscaler, jobs: list[Job], opts: OutputOptions, existing: str,
                  max_pixels: int | None, on_result: Callable[[FileResult], None] | None,
                  workers: int) -> list[FileResult]:
    """`workers` threads, each processing whole files in turn (see `run_jobs`)."""
    import threading

    lock = threading.Lock()
    todo = iter(enumerate(jobs))
    done: dict[int, FileResult] = {}
    stop = threading.Event()
    errors: list[BaseException] = []

    def work(finished: threading.Event) -> None:
        try:
            while not stop.is_set():
                with lock:
                    item = next(todo, None)
                if item is None:
                    return
                i, job = item
                result = process_one(up, job, opts, existing=existing, max_pixels=max_pixels)
                with lock:
                    done[i] = result
                    if on_result is not None and not errors:  # a file finished is reported
                        try:
                            on_result(result)
                        except BaseException as exc:  # noqa: BLE001 - no callback after it
                            errors.append(exc)
                            stop.set()
                            return
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            errors.append(exc)
            stop.set()
        finally:
            finished.set()

    # Waited for through events, not Thread.join: on Python 3.11 a Ctrl-C that interrupts
    # join(timeout) marks the thread as ended while it still runs (the bpo-45274 handling),
    # and a later join() then returns at once, with the worker still writing its file and
    # inside ONNX Runtime (which then aborts the process at exit).
    ends = [threading.Event() for _ in range(min(workers, len(jobs)))]
    threads = [threading.Thread(target=work, args=(ev,), name=f"sronnx-worker-{k}",
                                daemon=True) for k, ev in enumerate(ends)]
    for t in threads:
        t.start()
    try:
        for ev in ends:
            while not ev.wait(timeout=0.1):
                pass
    except BaseException:
        stop.set()  # (Ctrl-C) each worker ends the file it has, which is reported, and stops
        for ev in ends:
            ev.wait()
        raise
    if errors:
        raise errors[0]
    return [done[i] for i in sorted(done)]
