"""Batch upscaling of files and folders: planning outputs, per-file faults, reports.

Library code: it returns results and raises; the CLI decides what to print and the exit code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sronnx.runtime.imageio import (
    FORMAT_EXT,
    IMAGE_EXTENSIONS,
    ImageReadError,
    output_format,
    read_image,
    write_image,
)
from sronnx.runtime.pil_modes import array_to_pil, pil_to_array
from sronnx.runtime.upscaler import Upscaler


class PlanError(ValueError):
    """The job as asked cannot be run safely (e.g. it would overwrite an input)."""


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

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OutputOptions:
    format: str = "same"  # same | png | jpg | webp
    quality: int = 95
    png_compress_level: int = 1
    suffix: str = ""


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
    except ValueError:
        return False
    return True


def _collect(inputs: Iterable[Path], recursive: bool,
             outdir: Path) -> list[tuple[Path, Path, str | None]]:
    """(file, path relative to its input root, known error) for every image under the
    inputs; files already under OUTDIR (a previous run's outputs) are not inputs."""
    found: list[tuple[Path, Path, str | None]] = []
    out_resolved = outdir.resolve()
    for root in inputs:
        if root.is_dir():
            # OUTDIR strictly inside this root: its files are outputs, not inputs
            nested = out_resolved != root.resolve() and _inside(out_resolved, root.resolve())
            pattern = root.rglob("*") if recursive else root.glob("*")
            for p in sorted(pattern):
                rel = p.relative_to(root)
                if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and \
                        not any(part.startswith(".") for part in rel.parts) and \
                        not (nested and _inside(p, out_resolved)):
                    found.append((p, rel, None))
        elif root.is_file():
            found.append((root, Path(root.name), None))
        else:
            found.append((root, Path(root.name or "input"), "no such file or folder"))
    return found


def plan_jobs(inputs: Iterable[str | Path], outdir: str | Path, opts: OutputOptions,
              recursive: bool = False) -> list[Job]:
    """Map each input image to its output path, keeping the inputs' relative layout.

    Refuses (PlanError) any plan in which an output would land on an input file, two inputs
    on the same output, or OUTDIR is not a folder. Inputs that do not exist become jobs with
    an error, reported like any unreadable file.
    """
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise PlanError(f"output folder {outdir} exists and is not a folder")
    jobs: list[Job] = []
    seen: dict[Path, Path] = {}
    sources = _collect([Path(p) for p in inputs], recursive, outdir)
    for src, rel, error in sources:
        if opts.format != "same":
            ext = FORMAT_EXT[opts.format]
        else:  # a format sronnx does not write (e.g. a .gif given by name) becomes PNG
            ext = rel.suffix if rel.suffix.lower() in IMAGE_EXTENSIONS else ".png"
        out = outdir / rel.parent / f"{rel.stem}{opts.suffix}{ext}"
        key = out.resolve()
        if key in seen and error is None:
            raise PlanError(f"{src} and {seen[key]} would both be written to {out}")
        seen[key] = src
        jobs.append(Job(src, out, error))
    inputs_resolved = {src.resolve() for src, _, error in sources if error is None}
    for job in jobs:
        if job.output.resolve() in inputs_resolved:
            raise PlanError(
                f"output {job.output} would overwrite the input {job.source}; choose another "
                "output folder or a --suffix"
            )
    return jobs


def process_one(up: Upscaler, job: Job, opts: OutputOptions, *, existing: str = "refuse",
                max_pixels: int | None = None) -> FileResult:
    """Upscale one file; every failure becomes a result with a reason, never an exception
    (except KeyboardInterrupt and the like, which stop the run)."""
    t0 = time.perf_counter()
    result = FileResult(str(job.source), str(job.output), "failed", error=job.error)
    if job.error is not None:
        return result
    if job.output.exists():
        if existing == "skip":
            result.status = "skipped"
            return result
        if existing == "refuse":
            result.error = "output exists (use --overwrite or --skip-existing)"
            return result
    try:
        decoded = read_image(job.source, max_pixels)
        result.input_size = decoded.size
        fmt = output_format(decoded.format, opts.format, job.output)
        dpi = tuple(v * up.scale for v in decoded.dpi) if decoded.dpi else None
        icc = decoded.icc_profile
        if isinstance(decoded.pixels, Image.Image):
            pixels, mode = pil_to_array(decoded.pixels)
        else:
            pixels, mode = decoded.pixels, None
        del decoded  # only the array is kept while upscaling: memory is input + output
        out = up.upscale_array(pixels)
        del pixels
        result.output_size = (out.shape[1], out.shape[0])
        if mode is not None and not (fmt == "PNG" and out.dtype in (np.uint8, np.uint16)):
            out = array_to_pil(out, mode)  # PNG streams from the array; others need Pillow
        job.output.parent.mkdir(parents=True, exist_ok=True)
        write_image(job.output, out, fmt, quality=opts.quality,
                    png_compress_level=opts.png_compress_level, icc_profile=icc, dpi=dpi)
        result.status = "done"
    except ImageReadError as exc:
        result.error = f"cannot read image: {exc}"
    except MemoryError:
        result.error = "out of memory (try a smaller --tile)"
    except OSError as exc:
        result.error = f"cannot write {job.output}: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - t0
    return result


def run_jobs(up: Upscaler, jobs: list[Job], opts: OutputOptions, *, existing: str = "refuse",
             max_pixels: int | None = None,
             on_result: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """Process every job in order; `on_result` sees each result as soon as it exists."""
    results = []
    for job in jobs:
        r = process_one(up, job, opts, existing=existing, max_pixels=max_pixels)
        results.append(r)
        if on_result is not None:
            on_result(r)
    return results
