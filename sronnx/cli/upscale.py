"""`sronnx upscale`: upscale files and folders with ONNX Runtime (no torch needed).

A thin layer over sronnx.runtime (the Upscaler and the batch runner): it parses options,
decides what to print and the exit code. Nothing here imports torch or onnx. The command's
parts live beside it: upscale_common (exit codes, limits), upscale_report (the --json
report, stop signals), upscale_progress, upscale_messages (what the plan implies),
upscale_stdio (the standard streams) and upscale_ray (--engine ray).
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

import click

from sronnx.cli import model_options, model_overrides
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
    exists,
    resolved,
)
from sronnx.cli.upscale_messages import (
    existing_message,
    left_out_line,
    nothing_found,
    pixel_weights,
    size_advice,
    size_text,
    too_large_message,
)
from sronnx.cli.upscale_progress import Progress
from sronnx.cli.upscale_ray import start_ray, stop_ray
from sronnx.cli.upscale_report import (
    STOPPED,
    Report,
    ReportingCommand,
    fail,
    on_sigterm,
    stop_reason,
)
from sronnx.cli.upscale_stdio import binary, closed, stream_isatty, write_to_stdout

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


def _parallelism(workers: int | None, threads: int | None, on_cpu: bool, pipeline: bool,
                 files: int) -> tuple[int, int | None]:
    """(files at once, ONNX Runtime threads per session). On CPUs a folder runs one file per
    core, each model call on one thread: measured faster than every call spread over all
    cores while decoding and encoding compete for them (bench/results/e2e_shipped.txt)."""
    from sronnx.runtime import available_cpus

    cpus = available_cpus()
    if workers is None:
        workers = min(cpus, files) if on_cpu and pipeline and threads is None else 1
    if threads is None and on_cpu and workers > 1:
        threads = max(1, cpus // workers)
    return workers, threads


@click.command(cls=ReportingCommand)
@click.argument("inputs", nargs=-1, required=False, type=_PathParam(path_type=Path))
@click.option("-i", "--input", "more_inputs", multiple=True, type=_PathParam(path_type=Path),
              help="An input file or folder, besides INPUTS (repeatable); - reads one image "
                   "from standard input.")
@click.option("-o", "--output", "outdir", required=True, type=_PathParam(path_type=Path),
              help="Output folder; the inputs' relative layout is kept. For one input file, "
                   "a name with an image extension (.png .jpg .webp .gif .tif .bmp ...) that "
                   "is not an existing folder is the output file itself; - writes the one "
                   "output to standard output (format from --format; 'same' is the input "
                   "file's, PNG for standard input).")
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
@click.option("--provider", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True,
              help="Where the model runs: cpu; cuda (refused, exit 2, unless the session "
                   "really runs on CUDA); auto: CUDA when it really loads, else the CPU.")
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
              type=click.Choice(["same", "auto", "png", "jpg", "jpeg", "webp", "gif", "tiff",
                                 "tif", "bmp"], case_sensitive=False),
              default="same", show_default=True,
              help="Output format, in any case: the input's own (same, or auto), or png (APNG "
                   "for animations), jpg (or jpeg), webp, gif (a palette per frame), tiff (or "
                   "tif: 16-bit and float kept), bmp.")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="JPEG/WebP quality.")
@click.option("--png-compress-level", type=click.IntRange(0, 9), default=1, show_default=True,
              help="zlib level for PNG output: 1 is fast, 9 smallest.")
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
                   "of actors [default: one per cluster CPU (per GPU with --provider cuda)] "
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
def upscale(**kwargs: object) -> None:
    """Upscale INPUTS (image files and/or folders, and -i/--input; - for one image on
    standard input) into OUTPUT.

    Outputs that already exist stop the run before any work (exit 2) unless --skip-existing
    or --overwrite says what to do with them.

    Exit codes: 0 all done, 1 some files failed, 2 nothing to do or cannot start
    (bad arguments, no input found, outputs exist, unusable model or provider), 130 stopped
    with Ctrl-C, 143 stopped with SIGTERM (the --json report has what was done).
    """
    try:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread: SIGTERM keeps its handling
        previous = None
    try:
        with contextlib.ExitStack() as cleanup:  # the scratch folder of - and -o -
            _upscale(cleanup=cleanup, **kwargs)  # type: ignore[arg-type]
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _upscale(cleanup: contextlib.ExitStack, inputs: tuple[Path, ...],
             more_inputs: tuple[Path, ...], outdir: Path, model: str | None, scale: int | None,
             outscale: float | None, width: int | None, height: int | None,
             input_kind: str, input_range: str | None, bgr: bool, provider: str,
             tile: int | None, tile_overlap: int | None,
             batch: int, clamp: bool | None, fmt: str,
             quality: int, png_compress_level: int, suffix: str, strip_metadata: bool,
             float_range: str, recursive: bool,
             skip_existing: bool, overwrite: bool, max_pixels: int | None,
             max_output_pixels: int, threads: int | None, workers: int | None,
             pipeline: bool, engine: str, ray_address: str | None, quiet: bool,
             report: Path | None) -> None:
    """The run behind `upscale`: check the arguments, plan the jobs, load the model(s),
    refuse up front what cannot work (exit 2), run the files, print the summary, write the
    report and exit with the run's code."""
    rep = Report(report)
    if rep.to_stdout and str(outdir) == STDIO:
        fail("--json - and -o - would both write to standard output: name a file for the "
             "report (--json report.json)")
    if (problem := rep.check()) is not None:
        fail(problem)  # before any image is processed
    try:
        try:  # onnxruntime loads here: a stop signal now still gets its report and code
            from sronnx.engine import (
                ModelOpenError,
                ModelRequest,
                OutputOptions,
                PlanError,
                image_header,
                open_models,
                plan,
                plan_file,
                run_jobs,
                scale_for_sizes,
                suffix_problem,
                writes_file,
            )
            from sronnx.imaging import size_problem
            from sronnx.io import DEFAULT_MAX_PIXELS, EXT_FORMAT, FORMAT_EXT, remove_stale_parts
            from sronnx.runtime import intended_provider
        except ImportError as exc:
            if STOPPED:  # a C extension's initialisation turned the signal into this
                raise STOPPED[0] from exc
            raise

        def usage(message: str) -> NoReturn:
            rep.write(EXIT_USAGE, error=message)
            raise click.UsageError(message)

        inputs = (*inputs, *more_inputs)
        if not inputs:
            usage("no input given: name files or folders as INPUTS or with -i/--input "
                  "(- reads one image from standard input)")
        from_stdin = any(str(p) == STDIO for p in inputs)
        to_stdout = str(outdir) == STDIO
        if from_stdin and len(inputs) != 1:
            usage("- (standard input) must be the only input")
        if to_stdout and (len(inputs) != 1 or inputs[0].is_dir()):
            usage("-o - (standard output) takes exactly one input file")
        if skip_existing and overwrite:
            usage("--skip-existing and --overwrite exclude each other")
        if ray_address is not None and engine != "ray":
            usage("--ray-address goes with --engine ray")
        if engine == "ray" and (from_stdin or to_stdout):
            usage("--engine ray takes files and folders, not - (standard input or output): "
                  "use --engine local")
        if engine == "ray":
            from sronnx.engine import INSTALL_HINT, ray_available

            rep.model["engine"] = "ray"
            if not ray_available():
                fail(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}", rep)
        if model is None and (input_range is not None or bgr):
            usage("--input-range and --bgr describe a model made elsewhere: give it with "
                  "--model")
        if model is not None and input_kind != "auto":
            usage("--input-kind chooses among the shipped default models; "
                  "it cannot go with --model")
        if (problem := size_problem(outscale, width, height)) is not None:
            usage(problem)
        fmt = fmt.lower()
        fmt = {"jpeg": "jpg", "auto": "same", "tif": "tiff"}.get(fmt, fmt)
        if (problem := suffix_problem(suffix)) is not None:
            fail(problem, rep)
        if from_stdin and closed("stdin"):
            fail("- reads an image from standard input, which is closed: pipe or redirect "
                 "an image into it (sronnx upscale - -o out.png < in.jpg)", rep)
        if to_stdout and closed("stdout"):
            fail("-o - writes the image to standard output, which is closed: redirect it "
                 "(> out.png) or pipe it, or name an output file or folder", rep)
        if to_stdout and stream_isatty("stdout"):
            fail("-o - writes image data to standard output, which is a terminal: redirect "
                 "it (> out.png) or pipe it", rep)
        opts = OutputOptions(fmt, quality, png_compress_level, suffix,
                             strip_metadata=strip_metadata, float_range=float_range,
                             outscale=outscale, width=width, height=height)
        shown: dict[Key, Key] = {}  # a job's (input, output) -> as messages name them
        if from_stdin:
            inputs = (_read_stdin(cleanup, rep),)
        to_file = not to_stdout and writes_file(outdir)
        if to_file and (len(inputs) != 1 or inputs[0].is_dir()):
            what = "a folder goes" if len(inputs) == 1 else f"{len(inputs)} inputs go"
            fail(f"-o {outdir} names one output file, but {what} in: -o must be a folder "
                 f"here (to use a folder named {outdir.name}, create it first)", rep)
        try:
            if to_stdout:  # written to a scratch file, then copied to standard output
                if fmt != "same":
                    ext = FORMAT_EXT[fmt]
                elif not from_stdin and inputs[0].suffix.lower() in EXT_FORMAT:
                    ext = inputs[0].suffix.lower()  # the input file's own format
                else:  # standard input has no name to go by
                    ext = ".png"
                scratch_out = Path(cleanup.enter_context(tempfile.TemporaryDirectory(
                    prefix="sronnx-")))
                the_plan = plan_file(inputs[0], scratch_out / f"out{ext}", opts)
            elif to_file:
                the_plan = plan_file(inputs[0], outdir, opts)
            else:
                the_plan = plan(inputs, outdir, opts, recursive)
        except PlanError as exc:
            rep.left_out = exc.left_out
            fail(str(exc), rep)
        except OSError as exc:
            fail(f"cannot list the inputs: {exc}", rep)
        jobs = the_plan.jobs
        for j in jobs:
            shown[(str(j.source), str(j.output))] = (STDIO if from_stdin else str(j.source),
                                                     STDIO if to_stdout else str(j.output))
        rep.left_out, rep.planned = the_plan.left_out, len(jobs)
        left = left_out_line(the_plan.left_out)
        if not any(j.error is None for j in jobs):
            if left:
                click.echo(left, err=True)
            rep.planned = 0
            fail(nothing_found(inputs, jobs, the_plan.left_out, recursive), rep)
        if report is not None and not rep.to_stdout:
            if resolved(report) in {resolved(j.source) for j in jobs}:
                rep.usable = False  # the report path itself is the problem
                fail(f"--json {report} would overwrite an input")
            if resolved(report) in {resolved(j.output) for j in jobs}:
                rep.usable = False
                fail(f"--json {report} is also an output image")
        existing = "skip" if skip_existing else "overwrite" if overwrite else "refuse"
        if existing == "refuse":  # one refusal up front rather than a failure per file
            found = [j.output for j in jobs if j.error is None and exists(j.output)]
            if found:
                fail(existing_message(found), rep)
        headers: dict = {}  # job -> image_header, read only where something needs it

        def header(job):
            if job not in headers:
                headers[job] = image_header(job.source) if job.error is None else None
            return headers[job]

        request = ModelRequest(model, scale,
                               input_kind if model is None else "auto",  # type: ignore[arg-type]
                               provider, overrides=model_overrides(input_range, bgr),
                               tile=WHOLE_IMAGE if tile == 0 else tile, overlap=tile_overlap,
                               batch=batch, clamp=clamp)
        if opts.resizes:  # the scale the output size needs, from the headers
            request = replace(request, scale=scale_for_sizes(
                request, (h.size for j in jobs if (h := header(j)) is not None), outscale,
                width, height))
        on_cpu = intended_provider(provider) == "cpu"
        asked_workers, asked_threads = workers, threads  # the Ray engine sizes its own
        workers, threads = _parallelism(workers, threads, on_cpu, pipeline, len(jobs))
        try:
            opened = open_models(replace(request, threads=threads))
        except ModelOpenError as exc:
            if exc.path is not None:
                rep.model["model"] = str(exc.path)
            fail(str(exc), rep)
        up, files = opened.choice, opened.files
        path, photo, jpeg = files["clean"], files.get("photo"), files.get("jpeg")
        rep.model["model"] = str(path)
        if photo is not None:
            rep.model["photo_model"] = str(photo)
        if jpeg is not None:
            rep.model["jpeg_model"] = str(jpeg)
        rep.model.update(scale=up.scale, provider=up.provider)
        try:  # an earlier output must be this model's scale times its source
            the_plan.require_scale(up.scale)
        except PlanError as exc:
            fail(str(exc), rep)
        rep.left_out = the_plan.left_out  # reasons may have changed with the scale
        left = left_out_line(the_plan.left_out)
        problem = too_large_message(jobs, header, opts, up.scale, existing, max_output_pixels,
                                    max_pixels or DEFAULT_MAX_PIXELS,
                                    lambda j: shown[(str(j.source), str(j.output))][0],
                                    size_advice(outdir, fmt, to_file))
        if problem is not None:  # from the headers, before any file is decoded
            fail(problem, rep)
        if not quiet:
            _announce(up, path, photo, jpeg, provider, opts, outscale, width, height,
                      "standard output" if to_stdout else str(outdir), len(jobs))
        if not to_stdout:
            folder = outdir.parent if to_file else outdir
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                fail(f"cannot create the output folder {folder}: {exc.strerror or exc}", rep)
            stale = remove_stale_parts({j.output.parent for j in jobs})
            if stale and not quiet:
                click.echo(f"removed {len(stale)} temporary file(s) left by an interrupted "
                           "run", err=True)
        weights = None
        if not quiet and sys.stderr.isatty():  # the bar counts output pixels
            weights = pixel_weights(jobs, header, opts, up.scale, existing)
        ray_run = None
        if engine == "ray":
            ray_run = start_ray(opened, asked_threads, asked_workers, opts,
                                max_pixels or DEFAULT_MAX_PIXELS, ray_address, len(jobs),
                                quiet, rep)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM before any file was started
        why, code = stop_reason(exc)
        click.echo(f"error: {why} before any file was processed", err=True)
        if problem := rep.write(code, stopped=why):
            click.echo(f"error: {problem}", err=True)
        sys.exit(code)

    progress = Progress(len(jobs), quiet, weights)
    seen: list = []  # results as they come, for a report of a run that stops early

    def on_result(r) -> None:
        key = (r.input, r.output)
        if to_stdout and r.status == "done":  # written only once it reached its reader
            if (problem := write_to_stdout(Path(r.output))) is not None:
                r.status, r.error = "failed", f"cannot write to standard output: {problem}"
        r.input, r.output = shown.get(key, key)
        seen.append(r)
        progress(r, key)

    stopped: str | None = None  # why the run ended before every file was processed
    code = 0
    try:
        if ray_run is not None:
            results = ray_run.run(jobs, existing, on_result)
        else:
            results = run_jobs(up, jobs, opts, existing=existing,
                               max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
                               on_result=on_result, pipeline=pipeline,
                               workers=workers if up.provider == "cpu" else 1,
                               on_pixels=progress.on_pixels if progress.bar is not None
                               else None)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the files in progress ended
        stopped, code = stop_reason(exc)
    except Exception as exc:  # noqa: BLE001 - a fault of sronnx itself: report what was done
        stopped = f"stopped by an internal error: {type(exc).__name__}: {exc}"
        code = EXIT_FAILED_FILES
    finally:
        progress.close()
        if ray_run is not None:
            stop_ray(ray_run, jobs)
    try:  # the run has ended: a SIGTERM now would only lose its report
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:
        pass
    if stopped is not None:
        order = {shown.get((str(j.source), str(j.output))): i for i, j in enumerate(jobs)}
        results = sorted(seen, key=lambda r: order.get((r.input, r.output), len(order)))
    counts = {s: sum(r.status == s for r in results) for s in ("done", "failed", "skipped")}
    elapsed = time.perf_counter() - progress.t_start
    if stopped is None:
        code = EXIT_FAILED_FILES if counts["failed"] else 0
    else:
        click.echo(f"error: {stopped}; {len(jobs) - len(results)} of {len(jobs)} file(s) "
                   "not processed (rerun with --skip-existing to resume)", err=True)
    if problem := rep.write(code, results=results, seconds=elapsed, stopped=stopped):
        click.echo(f"error: {problem}", err=True)
        code = code or EXIT_FAILED_FILES
    _summarise(left, the_plan.left_out, rep, report, counts, elapsed, progress, quiet,
               stopped)
    sys.exit(code)


def _read_stdin(cleanup: contextlib.ExitStack, rep: Report) -> Path:
    """Standard input (`-`) copied into a scratch folder that `cleanup` removes, or exit 2
    where it is a terminal or cannot be read."""
    if stream_isatty("stdin"):
        fail("- reads an image from standard input, which is a terminal: pipe or "
             "redirect an image into it (sronnx upscale - -o out.png < in.jpg)", rep)
    scratch = Path(cleanup.enter_context(tempfile.TemporaryDirectory(
        prefix="sronnx-")))
    try:  # a file, for the readers; named "stdin", so a folder gets stdin.png
        with open(scratch / "stdin", "wb") as fh:
            shutil.copyfileobj(binary("stdin"), fh, 1 << 20)
    except OSError as exc:
        fail(f"cannot read standard input: {exc.strerror or exc}", rep)
    return scratch / "stdin"


def _announce(up, path: Path, photo, jpeg, provider: str, opts, outscale: float | None,
              width: int | None, height: int | None, where: str, jobs: int) -> None:
    """The line that opens a run (on standard error): the model file of each input kind
    (`path`, and the `photo` and `jpeg` model files where the rule uses them),
    the scale, the provider and how --provider auto chose it, the resampling asked, and how
    many images go `where`."""
    how = ""
    if provider == "auto":
        how = " (auto)" if up.provider == "cuda" else " (auto: no usable CUDA provider)"
    parts = [(path, "clean inputs")] if photo is not None else [(path, "")]
    if photo is not None:
        parts.append((photo, "noisy inputs" if jpeg else "JPEG and noisy inputs"))
    if jpeg is not None:
        parts.append((jpeg, "JPEG inputs"))
    names = " / ".join(f"{p.name} ({what})" if what else p.name for p, what in parts)
    resampled = opts.resizes and outscale != up.scale  # -s 3 on x3: the model's own
    size = f", resampled to {size_text(outscale, width, height)} (Lanczos up, " \
           "area down)" if resampled else ""
    click.echo(f"model {names} x{up.scale} on {up.provider.upper()}{how}{size}; "
               f"{jobs} image(s) -> {where}", err=True)


def _summarise(left: str | None, left_out: list, rep: Report, report: Path | None,
               counts: dict[str, int], elapsed: float, progress: Progress, quiet: bool,
               stopped: str | None) -> None:
    """The lines that close a run (on standard error): what the listings left out (`left`,
    from `left_out`; where the report has them all when not all are named), and the counts
    with the time and rate; with --quiet only the counts, and those only where files failed
    or the run was stopped."""
    from sronnx.engine import SUB_FOLDER

    if left and not quiet:
        cut = max(sum(e.reason == SUB_FOLDER for e in left_out),
                  sum(e.reason != SUB_FOLDER for e in left_out)) > LEFT_OUT_SHOWN
        where = "the report on standard output" if rep.to_stdout else str(report)
        click.echo(left + (f" (all in {where})" if cut and report is not None else ""),
                   err=True)
    if not quiet or counts["failed"] or stopped:
        click.echo(f"{counts['done']} done, {counts['failed']} failed, {counts['skipped']} "
                   f"skipped in {elapsed:.1f} s ({progress.rate():.2f} output MP/s)", err=True)
