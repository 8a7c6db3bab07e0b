"""`sronnx upscale`: upscale files and folders with ONNX Runtime (no torch needed)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

EXIT_FAILED_FILES = 1
EXIT_USAGE = 2


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "outdir", required=True, type=click.Path(path_type=Path),
              help="Output folder; the inputs' relative layout is kept.")
@click.option("--model", default=None, help="A shipped model name or an .onnx path.")
@click.option("--scale", type=click.IntRange(2, 4), default=None,
              help="Pick the shipped model for this scale (default: 2).")
@click.option("--provider", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--tile", type=click.IntRange(8), default=None,
              help="Tile side in input pixels (default: the model's hint, 256).")
@click.option("--tile-overlap", type=click.IntRange(0), default=None,
              help="Context pixels around each tile (default: from the receptive field).")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True,
              help="Tiles of equal size per model call.")
@click.option("--format", "fmt", type=click.Choice(["same", "png", "jpg", "webp"]),
              default="same", show_default=True)
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="JPEG/WebP quality.")
@click.option("--png-compress-level", type=click.IntRange(0, 9), default=1, show_default=True,
              help="zlib level for PNG output: 1 is fast, 9 smallest.")
@click.option("--suffix", default="", help="Appended to each output file's stem.")
@click.option("--recursive", is_flag=True, help="Descend into sub-folders.")
@click.option("--skip-existing", is_flag=True, help="Leave outputs that already exist.")
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
@click.option("--max-pixels", type=click.IntRange(1), default=None,
              help="Largest input accepted, in pixels (decompression-bomb guard).")
@click.option("--threads", type=click.IntRange(1), default=None, help="ONNX Runtime threads.")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "report", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write a JSON report with one record per file.")
def upscale(inputs: tuple[Path, ...], outdir: Path, model: str | None, scale: int | None,
            provider: str, tile: int | None, tile_overlap: int | None, batch: int, fmt: str,
            quality: int, png_compress_level: int, suffix: str, recursive: bool,
            skip_existing: bool, overwrite: bool, max_pixels: int | None,
            threads: int | None, quiet: bool, report: Path | None) -> None:
    """Upscale INPUTS (image files and/or folders) into OUTPUT.

    Exit codes: 0 all done, 1 some files failed, 2 nothing to do or cannot start
    (bad arguments, no input found, unusable model or provider).
    """
    from sronnx.card import ModelFileError
    from sronnx.runtime.batch import OutputOptions, PlanError, plan_jobs, run_jobs
    from sronnx.runtime.imageio import DEFAULT_MAX_PIXELS, remove_stale_parts
    from sronnx.runtime.session import ProviderError, load_model
    from sronnx.runtime.upscaler import Upscaler
    from sronnx.shipped import resolve_model

    if skip_existing and overwrite:
        raise click.UsageError("--skip-existing and --overwrite exclude each other")

    def fail(message: str) -> None:
        click.echo(f"error: {message}", err=True)
        sys.exit(EXIT_USAGE)

    opts = OutputOptions(fmt, quality, png_compress_level, suffix)
    try:
        jobs = plan_jobs(inputs, outdir, opts, recursive)
    except PlanError as exc:
        fail(str(exc))
    if not jobs:
        fail("no input images found in " + ", ".join(str(p) for p in inputs)
             + ("" if recursive else " (use --recursive for sub-folders)"))
    try:
        path = resolve_model(model, scale)
        loaded = load_model(path, provider, threads)
    except (LookupError, ModelFileError, ProviderError) as exc:
        fail(str(exc))
    if scale is not None and loaded.info.descriptor.scale != scale:
        fail(f"model {path} is x{loaded.info.descriptor.scale}, not x{scale}")
    up = Upscaler(loaded, tile=tile, overlap=tile_overlap, batch=batch)
    if not quiet:
        how = " (auto)" if provider == "auto" else ""
        click.echo(f"model {path.name} x{up.scale} on {up.provider.upper()}{how}; "
                   f"{len(jobs)} image(s) -> {outdir}", err=True)
    outdir.mkdir(parents=True, exist_ok=True)
    stale = remove_stale_parts(outdir)
    if stale and not quiet:
        click.echo(f"removed {len(stale)} temporary file(s) left by an interrupted run", err=True)

    interactive = sys.stderr.isatty() and not quiet
    done_px, t_start = 0, time.perf_counter()
    bar = click.progressbar(length=len(jobs), label="upscaling", file=sys.stderr,
                            show_eta=True, item_show_func=lambda s: s) if interactive else None
    if bar is not None:
        bar.__enter__()

    def on_result(r) -> None:
        nonlocal done_px
        if r.output_size:
            done_px += r.output_size[0] * r.output_size[1]
        if r.status == "failed":
            if bar is not None:
                click.echo("", err=True)
            click.echo(f"failed: {r.input}: {r.error}", err=True)
        rate = done_px / 1e6 / max(time.perf_counter() - t_start, 1e-9)
        if bar is not None:
            bar.update(1, f"{rate:.1f} MP/s")
        elif not quiet and r.status != "failed":
            click.echo(f"{r.status}: {r.input} -> {r.output} ({r.seconds:.2f} s)", err=True)

    existing = "skip" if skip_existing else "overwrite" if overwrite else "refuse"
    try:
        results = run_jobs(up, jobs, opts, existing=existing,
                           max_pixels=max_pixels or DEFAULT_MAX_PIXELS, on_result=on_result)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    counts = {s: sum(r.status == s for r in results) for s in ("done", "failed", "skipped")}
    elapsed = time.perf_counter() - t_start
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps({
            "model": str(path), "scale": up.scale, "provider": up.provider,
            "seconds": round(elapsed, 3), **counts,
            "files": [r.to_dict() for r in results],
        }, indent=2))
    if not quiet or counts["failed"]:
        click.echo(f"{counts['done']} done, {counts['failed']} failed, {counts['skipped']} "
                   f"skipped in {elapsed:.1f} s ({done_px / 1e6 / max(elapsed, 1e-9):.2f} "
                   "output MP/s)", err=True)
    sys.exit(EXIT_FAILED_FILES if counts["failed"] else 0)
