"""Batch upscaling of files and folders: planning outputs, per-file faults, reports.

Library code: it returns results and raises; the CLI decides what to print and the exit code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from sronnx.runtime.imageio import (
    FORMAT_EXT,
    IMAGE_EXTENSIONS,
    ImageReadError,
    output_format,
    read_image,
    write_image,
)
from sronnx.runtime.upscaler import Upscaler


class PlanError(ValueError):
    """The job as asked cannot be run safely (e.g. it would overwrite an input)."""


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path


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


def _collect(inputs: Iterable[Path], recursive: bool) -> list[tuple[Path, Path]]:
    """(file, path relative to its input root) for every image under the inputs."""
    found = []
    for root in inputs:
        if root.is_dir():
            pattern = root.rglob("*") if recursive else root.glob("*")
            for p in sorted(pattern):
                if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and \
                        not any(part.startswith(".") for part in p.relative_to(root).parts):
                    found.append((p, p.relative_to(root)))
        elif root.is_file():
            found.append((root, Path(root.name)))
        else:
            raise PlanError(f"{root}: no such file or folder")
    return found


def plan_jobs(inputs: Iterable[str | Path], outdir: str | Path, opts: OutputOptions,
              recursive: bool = False) -> list[Job]:
    """Map each input image to its output path, keeping the inputs' relative layout.

    Refuses (PlanError) any plan in which an output would land on an input file, or two
    inputs on the same output.
    """
    outdir = Path(outdir)
    jobs, seen = [], {}
    sources = _collect([Path(p) for p in inputs], recursive)
    for src, rel in sources:
        ext = FORMAT_EXT[opts.format] if opts.format != "same" else rel.suffix
        out = outdir / rel.parent / f"{rel.stem}{opts.suffix}{ext}"
        key = out.resolve()
        if key in seen:
            raise PlanError(f"{src} and {seen[key]} would both be written to {out}")
        seen[key] = src
        jobs.append(Job(src, out))
    inputs_resolved = {src.resolve() for src, _ in sources}
    for job in jobs:
        if job.output.resolve() in inputs_resolved:
            raise PlanError(
                f"output {job.output} would overwrite the input {job.source}; choose another "
                "output folder or a --suffix"
            )
    return jobs


def process_one(up: Upscaler, job: Job, opts: OutputOptions, *, existing: str = "refuse",
                max_pixels: int | None = None) -> FileResult:
    """Upscale one file; every failure becomes a result with a reason, never an exception."""
    t0 = time.perf_counter()
    result = FileResult(str(job.source), str(job.output), "failed")
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
        out = up.upscale(decoded.pixels)
        fmt = output_format(decoded.format, opts.format, job.output)
        dpi = tuple(v * up.scale for v in decoded.dpi) if decoded.dpi else None
        job.output.parent.mkdir(parents=True, exist_ok=True)
        write_image(job.output, out, fmt, quality=opts.quality,
                    png_compress_level=opts.png_compress_level,
                    icc_profile=decoded.icc_profile, dpi=dpi)
        w, h = decoded.size
        result.output_size = (w * up.scale, h * up.scale)
        result.status = "done"
    except ImageReadError as exc:
        result.error = f"cannot read image: {exc}"
    except MemoryError:
        result.error = "out of memory (try a smaller --tile)"
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - t0
    return result


def run_jobs(up: Upscaler, jobs: list[Job], opts: OutputOptions, *, existing: str = "refuse",
             max_pixels: int | None = None,
             on_result: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    results = []
    for job in jobs:
        r = process_one(up, job, opts, existing=existing, max_pixels=max_pixels)
        results.append(r)
        if on_result is not None:
            on_result(r)
    return results
