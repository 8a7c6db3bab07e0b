"""The run behind `sronnx upscale` once its options are parsed: `prepare` checks the options,
plans the jobs, opens the model(s) and refuses up front what cannot work (exit 2, the report
written); `run` processes the files, prints the summary, writes the report and exits with
the run's code. The decisions are the engine's (`sronnx.engine`: the plan, the models, the
parallelism, the per-file job); this module says what they mean on the command line.

Importing it loads ONNX Runtime and the engine: `sronnx.cli.upscale` imports it only once a
run starts, where a stop signal still gets its report and exit code.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

import click

from sronnx.cli import model_overrides
from sronnx.cli.upscale_common import (
    EXIT_FAILED_FILES,
    EXIT_USAGE,
    LEFT_OUT_SHOWN,
    STDIO,
    WHOLE_IMAGE,
    Key,
    exists,
    resolved,
)
from sronnx.cli.upscale_messages import (
    SizeLimits,
    existing_message,
    left_out_line,
    nothing_found,
    pixel_weights,
    size_advice,
    size_text,
    too_large_message,
    video_frames,
)
from sronnx.cli.upscale_options import UpscaleOptions
from sronnx.cli.upscale_progress import Progress
from sronnx.cli.upscale_ray import start_ray, stop_ray
from sronnx.cli.upscale_report import Report, fail, stop_reason
from sronnx.cli.upscale_stdio import binary, closed, stream_isatty, write_to_stdout
from sronnx.engine import (
    SUB_FOLDER,
    Layout,
    ModelChoice,
    ModelOpenError,
    ModelRequest,
    OpenedModels,
    OutputOptions,
    PlanError,
    image_header,
    open_models,
    parallelism,
    plan,
    plan_file,
    run_jobs,
    scale_for_sizes,
    suffix_problem,
    writes_file,
)
from sronnx.imaging import size_problem
from sronnx.io import (
    DEFAULT_MAX_PIXELS,
    EXT_FORMAT,
    FORMAT_EXT,
    VideoEncoding,
    is_video_path,
    output_extension_for,
    remove_stale_parts,
)
from sronnx.runtime import intended_provider, runs_on_cpu

__all__ = ["Ready", "prepare", "run"]


@dataclass(frozen=True)
class Ready:
    """A run that passed every check, about to process its files.

    Attributes:
        jobs: the planned jobs (`sronnx.engine.plan`'s), in order.
        left_out: what the folder listings left out (`LeftOut` entries).
        opts: the output options every job is written with.
        shown: a job's (input, output) -> the names its messages and report use (`-` for
            the standard streams).
        models: the opened models' `ModelChoice` (its scale and provider are the run's).
        workers: files at once for the local engine.
        weights: planned output pixels per job for the progress bar, or None.
        ray_run: the started Ray engine with --engine ray, else None.
        videos: each video job's (frames, output pixels per frame), from its header, for
            the progress in frames.
    """

    jobs: list
    left_out: list
    opts: OutputOptions
    shown: dict[Key, Key]
    models: ModelChoice
    workers: int
    weights: dict[Key, int] | None
    ray_run: object | None
    videos: dict[Key, tuple[int, int]] = field(default_factory=dict)


class _Headers:
    """Each job's image header (`sronnx.engine.image_header`), read once and only where
    something needs it; None for a job that already failed (or an unreadable header)."""

    def __init__(self) -> None:
        self._known: dict = {}

    def __call__(self, job):
        if job not in self._known:
            self._known[job] = image_header(job.source) if job.error is None else None
        return self._known[job]


# ---- before the run: every refusal up front -------------------------------------------------


def prepare(cleanup: contextlib.ExitStack, o: UpscaleOptions, rep: Report) -> Ready:
    """Everything before the first file: check the options, plan the jobs, open the
    model(s), refuse what cannot work (exit 2 with the report written; usage errors as
    click's), announce the run, make the output folder and start the Ray engine if asked.
    `cleanup` removes the scratch folders of `-` and `-o -` when the command ends; `rep`
    collects what the report will say."""
    check_options(o, rep)
    opts = OutputOptions(o.format, o.quality, o.png_compress_level, o.suffix,
                         strip_metadata=o.strip_metadata, float_range=o.float_range,
                         outscale=o.outscale, width=o.width, height=o.height,
                         video=VideoEncoding(o.video_codec, o.crf, o.pix_fmt,
                                             o.segment_seconds))
    inputs = (_read_stdin(cleanup, rep),) if o.from_stdin else o.all_inputs
    to_file = not o.to_stdout and writes_file(o.outdir)
    the_plan = _plan(cleanup, o, inputs, opts, to_file, rep)
    jobs = the_plan.jobs
    shown = {(str(j.source), str(j.output)): (STDIO if o.from_stdin else str(j.source),
                                              STDIO if o.to_stdout else str(j.output))
             for j in jobs}
    _check_plan(o, inputs, the_plan, rep)
    headers = _Headers()
    opened, workers = _open(o, opts, jobs, headers, rep)
    up = opened.choice
    _check_sizes(o, the_plan, opts, up.scale, headers, shown, to_file, rep)
    if not o.quiet:
        _announce(o, opened, opts, _count_text(jobs))
    if not o.to_stdout:
        _output_folder(o.outdir.parent if to_file else o.outdir, jobs, o.quiet, rep)
    weights = None
    if not o.quiet and sys.stderr.isatty():  # the bar counts output pixels
        weights = pixel_weights(jobs, headers, opts, up.scale, o.existing)
    # a video's segments go to every actor: it counts as many files as there are CPUs
    units = len(jobs) + sum(is_video_path(j.source) for j in jobs) * 1024
    ray_run = _start_ray(o, opened, opts, units, rep) if o.engine == "ray" else None
    videos = {} if o.quiet else video_frames(jobs, headers, opts, up.scale)
    return Ready(jobs, the_plan.left_out, opts, shown, up, workers, weights, ray_run, videos)


def _usage(rep: Report, message: str) -> NoReturn:
    """A usage error (exit 2, click's usage line), after writing the report."""
    rep.write(EXIT_USAGE, error=message)
    raise click.UsageError(message)


def check_options(o: UpscaleOptions, rep: Report) -> None:
    """Refuse options that cannot go together (a usage error) or a run that cannot start
    with them (exit 2), before anything is read."""
    _check_inputs(o, rep)
    _check_engine(o, rep)
    if o.model is None and (o.input_range is not None or o.bgr):
        _usage(rep, "--input-range and --bgr describe a model made elsewhere: give it with "
                    "--model")
    if o.model is not None and o.input_kind != "auto":
        _usage(rep, "--input-kind chooses among the shipped default models; "
                    "it cannot go with --model")
    if (problem := size_problem(o.outscale, o.width, o.height)) is not None:
        _usage(rep, problem)
    if (problem := suffix_problem(o.suffix)) is not None:
        fail(problem, rep)
    _check_streams(o, rep)


def _check_inputs(o: UpscaleOptions, rep: Report) -> None:
    """The inputs and the standard streams: some input, `-` alone, `-o -` for one file, and
    one way to treat existing outputs."""
    inputs = o.all_inputs
    if not inputs:
        _usage(rep, "no input given: name files or folders as INPUTS or with -i/--input "
                    "(- reads one image from standard input)")
    if o.from_stdin and len(inputs) != 1:
        _usage(rep, "- (standard input) must be the only input")
    if o.to_stdout and (len(inputs) != 1 or inputs[0].is_dir()):
        _usage(rep, "-o - (standard output) takes exactly one input file")
    if o.skip_existing and o.overwrite:
        _usage(rep, "--skip-existing and --overwrite exclude each other")


def _check_engine(o: UpscaleOptions, rep: Report) -> None:
    """--engine and --ray-address: ray takes files and folders, and needs Ray installed."""
    if o.ray_address is not None and o.engine != "ray":
        _usage(rep, "--ray-address goes with --engine ray")
    if o.engine != "ray":
        return
    if o.from_stdin or o.to_stdout:
        _usage(rep, "--engine ray takes files and folders, not - (standard input or output): "
                    "use --engine local")
    from sronnx.engine import INSTALL_HINT, ray_available

    rep.model["engine"] = "ray"
    if not ray_available():
        fail(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}", rep)


def _check_streams(o: UpscaleOptions, rep: Report) -> None:
    """`-` needs an open standard input; `-o -` an open standard output that is not a
    terminal."""
    if o.from_stdin and closed("stdin"):
        fail("- reads an image from standard input, which is closed: pipe or redirect "
             "an image into it (sronnx upscale - -o out.png < in.jpg)", rep)
    if o.to_stdout and closed("stdout"):
        fail("-o - writes the image to standard output, which is closed: redirect it "
             "(> out.png) or pipe it, or name an output file or folder", rep)
    if o.to_stdout and stream_isatty("stdout"):
        fail("-o - writes image data to standard output, which is a terminal: redirect "
             "it (> out.png) or pipe it", rep)


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


def _stdout_extension(o: UpscaleOptions, source: Path) -> str:
    """The extension of the scratch file that `-o -` writes first (its format): --format's,
    else the input file's own, else PNG (standard input has no name to go by)."""
    if o.format != "same":
        return FORMAT_EXT[o.format]
    if not o.from_stdin and source.suffix.lower() in EXT_FORMAT:
        return (output_extension_for(source.suffix) or ".png").lower()
    return ".png"


def _plan(cleanup: contextlib.ExitStack, o: UpscaleOptions, inputs: tuple[Path, ...],
          opts: OutputOptions, to_file: bool, rep: Report):
    """The run's plan (`sronnx.engine.plan` or `plan_file`): one output file (`to_file`, or
    `-o -` through a scratch file that `cleanup` removes) or a folder; exit 2 where the
    inputs cannot be planned."""
    outdir = o.outdir
    if to_file and (len(inputs) != 1 or inputs[0].is_dir()):
        what = "a folder goes" if len(inputs) == 1 else f"{len(inputs)} inputs go"
        fail(f"-o {outdir} names one output file, but {what} in: -o must be a folder "
             f"here (to use a folder named {outdir.name}, create it first)", rep)
    try:
        if o.to_stdout:  # written to a scratch file, then copied to standard output
            if is_video_path(inputs[0]):
                fail(f"-o -: {inputs[0]} is a video; standard output takes one image: name "
                     "a video output (e.g. -o out.mkv) or a folder", rep)
            ext = _stdout_extension(o, inputs[0])
            scratch_out = Path(cleanup.enter_context(tempfile.TemporaryDirectory(
                prefix="sronnx-")))
            return plan_file(inputs[0], scratch_out / f"out{ext}", opts)
        if to_file:
            return plan_file(inputs[0], outdir, opts)
        return plan(inputs, outdir, opts, o.recursive)
    except PlanError as exc:
        rep.left_out = exc.left_out
        fail(str(exc), rep)
    except OSError as exc:
        fail(f"cannot list the inputs: {exc}", rep)


def _check_plan(o: UpscaleOptions, inputs: tuple[Path, ...], the_plan, rep: Report) -> None:
    """Exit 2 for a plan with no input image, a --json report that would overwrite an input
    or an output, or (without --skip-existing or --overwrite) outputs that exist."""
    jobs = the_plan.jobs
    rep.left_out, rep.planned = the_plan.left_out, len(jobs)
    if not any(j.error is None for j in jobs):
        if left := left_out_line(the_plan.left_out):
            click.echo(left, err=True)
        rep.planned = 0
        fail(nothing_found(inputs, jobs, the_plan.left_out, o.recursive), rep)
    report = o.report
    if report is not None and not rep.to_stdout:
        if resolved(report) in {resolved(j.source) for j in jobs}:
            rep.usable = False  # the report path itself is the problem
            fail(f"--json {report} would overwrite an input")
        if resolved(report) in {resolved(j.output) for j in jobs}:
            rep.usable = False
            fail(f"--json {report} is also an output image")
    if o.existing == "refuse":  # one refusal up front rather than a failure per file
        found = [j.output for j in jobs if j.error is None and exists(j.output)]
        if found:
            fail(existing_message(found), rep)


def _open(o: UpscaleOptions, opts: OutputOptions, jobs: list, headers: _Headers,
          rep: Report) -> tuple[OpenedModels, int]:
    """(the opened models, files at once): the request the options make, at the scale the
    output size needs (from the headers), with the run's parallelism; exit 2 where the
    models cannot be opened. The report learns the model files, scale and provider."""
    request = ModelRequest(o.model, o.scale,
                           o.input_kind if o.model is None else "auto",  # type: ignore[arg-type]
                           o.provider, overrides=model_overrides(o.input_range, o.bgr),
                           tile=WHOLE_IMAGE if o.tile == 0 else o.tile, overlap=o.tile_overlap,
                           batch=o.batch, clamp=o.clamp)
    if opts.resizes:  # the scale the output size needs, from the headers
        request = replace(request, scale=scale_for_sizes(
            request, (h.size for j in jobs if (h := headers(j)) is not None), o.outscale,
            o.width, o.height))
    on_cpu = runs_on_cpu(intended_provider(o.provider))
    workers, threads = parallelism(o.workers, o.threads, on_cpu, o.pipeline, len(jobs))
    try:
        opened = open_models(replace(request, threads=threads))
    except ModelOpenError as exc:
        if exc.path is not None:
            rep.model["model"] = str(exc.path)
        fail(str(exc), rep)
    files = opened.files
    rep.model["model"] = str(files["clean"])
    for kind in ("photo", "jpeg"):
        if kind in files:
            rep.model[f"{kind}_model"] = str(files[kind])
    rep.model.update(scale=opened.choice.scale, provider=opened.choice.provider)
    return opened, workers


def _check_sizes(o: UpscaleOptions, the_plan, opts: OutputOptions, scale: int,
                 headers: _Headers, shown: dict[Key, Key], to_file: bool,
                 rep: Report) -> None:
    """Exit 2 where an earlier output is not this model's scale times its source, or where
    an output would be too large (from the headers, before any file is decoded)."""
    try:  # an earlier output must be this model's scale times its source
        the_plan.require_scale(scale)
    except PlanError as exc:
        fail(str(exc), rep)
    rep.left_out = the_plan.left_out  # reasons may have changed with the scale
    limits = SizeLimits(opts, scale, o.existing, o.max_output_pixels,
                        o.max_pixels or DEFAULT_MAX_PIXELS)
    problem = too_large_message(the_plan.jobs, headers, limits,
                                lambda j: shown[(str(j.source), str(j.output))][0],
                                size_advice(o.outdir, o.format, to_file))
    if problem is not None:
        fail(problem, rep)


def _count_text(jobs: list) -> str:
    """How many inputs a run has: "3 image(s)", "1 video(s)" or "2 image(s) and 1 video(s)"
    (a video: by extension or its container's first bytes)."""
    videos = sum(1 for j in jobs if is_video_path(j.source))
    images = len(jobs) - videos
    if not videos:
        return f"{images} image(s)"
    return f"{images} image(s) and {videos} video(s)" if images else f"{videos} video(s)"


def _announce(o: UpscaleOptions, opened: OpenedModels, opts: OutputOptions,
              jobs: str) -> None:
    """The line that opens a run (on standard error): the model file of each input kind
    (the clean model, and the photo and JPEG model files where the rule uses them), the
    scale, the provider and how --provider auto chose it, the resampling asked, and how
    many inputs (`jobs`: "3 image(s)", see `_count_text`) go where."""
    up, files = opened.choice, opened.files
    path, photo, jpeg = files["clean"], files.get("photo"), files.get("jpeg")
    how = ""
    if o.provider == "auto":
        how = " (auto)" if up.provider == "cuda" else " (auto: no usable CUDA provider)"
    parts = [(path, "clean inputs")] if photo is not None else [(path, "")]
    if photo is not None:
        parts.append((photo, "noisy inputs" if jpeg else "JPEG and noisy inputs"))
    if jpeg is not None:
        parts.append((jpeg, "JPEG inputs"))
    names = " / ".join(f"{p.name} ({what})" if what else p.name for p, what in parts)
    resampled = opts.resizes and o.outscale != up.scale  # -s 3 on x3: the model's own
    size = f", resampled to {size_text(o.outscale, o.width, o.height)} (Lanczos up, " \
           "area down)" if resampled else ""
    where = "standard output" if o.to_stdout else str(o.outdir)
    click.echo(f"model {names} x{up.scale} on {up.provider.upper()}{how}{size}; "
               f"{jobs} -> {where}", err=True)


def _output_folder(folder: Path, jobs: list, quiet: bool, rep: Report) -> None:
    """Create the output `folder` (exit 2 where it cannot be) and remove the temporary files
    an interrupted run left beside the outputs (said unless `quiet`)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create the output folder {folder}: {exc.strerror or exc}", rep)
    stale = remove_stale_parts({j.output.parent for j in jobs})
    if stale and not quiet:
        click.echo(f"removed {len(stale)} temporary file(s) left by an interrupted "
                   "run", err=True)


def _start_ray(o: UpscaleOptions, opened: OpenedModels, opts: OutputOptions, jobs: int,
               rep: Report):
    """The started Ray engine for --engine ray (`start_ray`, which exits 2 where it cannot
    start): the threads and workers as asked, since the Ray engine sizes its own."""
    return start_ray(o, opened, opts, o.max_pixels or DEFAULT_MAX_PIXELS, jobs, rep)


# ---- the run ------------------------------------------------------------------------------


def run(o: UpscaleOptions, rep: Report, ready: Ready) -> NoReturn:
    """Process the files of a `prepare`d run, print the summary, write the report and exit:
    0 all done, 1 some failed (or the report could not be written, or an internal error
    stopped the run), 130 or 143 stopped by Ctrl-C or SIGTERM."""
    jobs = ready.jobs
    progress = Progress(len(jobs), o.quiet, ready.weights, ready.videos)
    seen: list = []  # results as they come, for a report of a run that stops early
    results, stopped, code = _process(o, ready, progress,
                                      _on_result(o.to_stdout, ready.shown, seen, progress))
    try:  # the run has ended: a SIGTERM now would only lose its report
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:
        pass
    if stopped is not None:
        order = {ready.shown.get((str(j.source), str(j.output))): i
                 for i, j in enumerate(jobs)}
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
    _summarise(o, ready.left_out, rep, counts, elapsed, progress, stopped)
    sys.exit(code)


def _on_result(to_stdout: bool, shown: dict[Key, Key], seen: list,
               progress: Progress) -> Callable:
    """What each file's result goes through as it comes: with `-o -` the image is copied to
    standard output (the result fails where it cannot be), the names become those of the
    messages (`shown`), then `seen` keeps it and `progress` shows it."""

    def on_result(r) -> None:
        key = (r.input, r.output)
        if to_stdout and r.status == "done":  # written only once it reached its reader
            if (problem := write_to_stdout(Path(r.output))) is not None:
                r.status, r.error = "failed", f"cannot write to standard output: {problem}"
        r.input, r.output = shown.get(key, key)
        seen.append(r)
        progress(r, key)

    return on_result


def _process(o: UpscaleOptions, ready: Ready, progress: Progress,
             on_result: Callable) -> tuple[list, str | None, int]:
    """Run the jobs on the local engine or Ray: (the results, why the run stopped early or
    None, the exit code so far: 130/143 for a stop signal, 1 for an internal error, else
    0)."""
    up, jobs, opts = ready.models, ready.jobs, ready.opts
    existing, max_pixels, pipeline, workers = o.existing, o.max_pixels, o.pipeline, ready.workers
    ray_run = ready.ray_run
    results: list = []
    stopped: str | None = None  # why the run ended before every file was processed
    code = 0
    try:
        if ray_run is not None:
            results = ray_run.run(jobs, existing, on_result)
        else:
            results = run_jobs(up, jobs, opts, existing=existing,
                               max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
                               on_result=on_result,
                               layout=Layout(pipeline=pipeline, workers=workers
                                             if runs_on_cpu(up.provider) else 1),
                               on_pixels=progress.on_pixels if progress.bar is not None
                               or ready.videos else None)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the files in progress ended
        stopped, code = stop_reason(exc)
    except Exception as exc:  # noqa: BLE001 - a fault of sronnx itself: report what was done
        stopped = f"stopped by an internal error: {type(exc).__name__}: {exc}"
        code = EXIT_FAILED_FILES
    finally:
        progress.close()
        if ray_run is not None:
            stop_ray(ray_run, jobs)
    return results, stopped, code


def _summarise(o: UpscaleOptions, left_out: list, rep: Report, counts: dict[str, int],
               elapsed: float, progress: Progress, stopped: str | None) -> None:
    """The lines that close a run (on standard error): what the folder listings left out
    (`left_out`; where the report has them all when not all are named), and the counts with
    the time (`elapsed`, seconds) and rate; with --quiet only the counts, and those only
    where files failed or the run was stopped."""
    left = left_out_line(left_out)
    if left and not o.quiet:
        cut = max(sum(e.reason == SUB_FOLDER for e in left_out),
                  sum(e.reason != SUB_FOLDER for e in left_out)) > LEFT_OUT_SHOWN
        where = "the report on standard output" if rep.to_stdout else str(o.report)
        click.echo(left + (f" (all in {where})" if cut and o.report is not None else ""),
                   err=True)
    if not o.quiet or counts["failed"] or stopped:
        click.echo(f"{counts['done']} done, {counts['failed']} failed, {counts['skipped']} "
                   f"skipped in {elapsed:.1f} s ({progress.rate():.2f} output MP/s)", err=True)
