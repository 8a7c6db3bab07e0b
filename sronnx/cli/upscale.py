"""`sronnx upscale`: upscale files and folders with ONNX Runtime (no torch needed).

A thin layer over sronnx.runtime (the Upscaler and the batch runner): it parses options,
decides what to print and the exit code. Nothing here imports torch or onnx.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import NoReturn

import click

EXIT_FAILED_FILES = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a run stopped with Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM (timeout, systemd, docker stop)
LEFT_OUT_SHOWN = 5  # entries named on the summary line; the --json report has them all


class _Progress:
    """A progress bar (images, MP/s, time left) on a terminal, plain lines otherwise,
    nothing with --quiet; failures always get their line."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.quiet = quiet
        self.interactive = not quiet and sys.stderr.isatty()
        self.done_px = 0
        self.t_start = time.perf_counter()
        self.bar = None
        if self.interactive:
            self.bar = click.progressbar(length=total, label="upscaling", file=sys.stderr,
                                         show_eta=True, show_pos=True,
                                         item_show_func=lambda s: s)
            self.bar.__enter__()

    def rate(self) -> float:
        """Output megapixels per second so far."""
        return self.done_px / 1e6 / max(time.perf_counter() - self.t_start, 1e-9)

    def __call__(self, r) -> None:
        if r.output_size:
            self.done_px += r.output_size[0] * r.output_size[1]
        if r.status == "failed":
            if self.bar is not None:
                click.echo("", err=True)
            click.echo(f"failed: {r.input}: {r.error}", err=True)
        if self.bar is not None:
            self.bar.update(1, f"{self.rate():.1f} MP/s")
        elif not self.quiet and r.status != "failed":
            click.echo(f"{r.status}: {r.input} -> {r.output} ({r.seconds:.2f} s)", err=True)
        if not self.quiet:
            for note in getattr(r, "notes", ()):
                click.echo(f"note: {r.input}: {note}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _parallelism(workers: int | None, threads: int | None, on_cpu: bool, pipeline: bool,
                 files: int) -> tuple[int, int | None]:
    """(files at once, ONNX Runtime threads per session). On CPUs a folder runs one file per
    core, each model call on one thread: measured faster than every call spread over all
    cores while decoding and encoding compete for them (bench/results/e2e_shipped.txt)."""
    from sronnx.runtime.session import available_cpus

    cpus = available_cpus()
    if workers is None:
        workers = min(cpus, files) if on_cpu and pipeline and threads is None else 1
    if threads is None and on_cpu and workers > 1:
        threads = max(1, cpus // workers)
    return workers, threads


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # e.g. a name too long, a symbolic-link loop
        return path.absolute()


def _nothing_found(inputs: tuple[Path, ...], jobs: list, left_out: list,
                   recursive: bool) -> str:
    """The message for a run that found no input image: what each named input that could
    not be taken is (missing, a fifo...), and the --recursive hint only where a listed
    folder has sub-folders that were not entered."""
    from sronnx.runtime.plan import SUB_FOLDER

    message = "no input images found in " + ", ".join(str(p) for p in inputs)
    by_reason: dict[str, list[str]] = {}
    for j in jobs:
        if j.error is not None:
            by_reason.setdefault(j.error, []).append(str(j.source))
    if by_reason:
        message += "".join(f"; {why}: {', '.join(paths)}" for why, paths in by_reason.items())
    elif not recursive and any(e.reason == SUB_FOLDER for e in left_out):
        message += " (use --recursive for sub-folders)"
    return message


def left_out_line(left_out: list, shown: int = LEFT_OUT_SHOWN) -> str | None:
    """One summary line for what the folder listings left out (`LeftOut` entries), or None:
    up to `shown` files named with their reason, the rest counted by reason; sub-folders not
    entered without --recursive come last, in one clause."""
    from collections import Counter

    from sronnx.runtime.plan import SUB_FOLDER, reason_kind

    def names(entries: list, with_reason: bool) -> str:
        text = ", ".join(f"{e.path} ({e.reason})" if with_reason else str(e.path)
                         for e in entries[:shown])
        rest = entries[shown:]
        if rest:
            if with_reason:
                by_reason = Counter(reason_kind(e.reason) for e in rest)
                why = "; ".join(f"{n} {r}" for r, n in by_reason.most_common())
                text += f" and {len(rest)} more ({why})"
            else:
                text += f" and {len(rest)} more"
        return text

    files = [e for e in left_out if e.reason != SUB_FOLDER]
    folders = [e for e in left_out if e.reason == SUB_FOLDER]
    parts = []
    if files:
        parts.append(f"left out {len(files)} file(s): {names(files, True)}")
    if folders:
        parts.append(f"{len(folders)} sub-folder(s) not entered (use --recursive): "
                     f"{names(folders, False)}")
    return "; ".join(parts) if parts else None


class _Report:
    """The --json report, written at every exit (0, 1, 2, 130) once its path is known to be
    usable; a run that cannot start gets one with its "error", no files, and what was known
    (the model, what the listings left out)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.usable = False  # set by check(); cleared when the path itself is the problem
        self.model: dict = {"model": None, "scale": None, "provider": None}
        self.left_out: list = []
        self.planned = 0  # jobs in the plan, once there is one

    def check(self) -> str | None:
        """Why the report cannot be written where asked, found before anything runs: its
        folder is made and a file tried there (an existing report is opened for appending,
        not changed); None when it can."""
        if self.path is None:
            return None
        path = self.path
        try:
            if path.exists() and not path.is_file():
                return f"cannot write the report {path}: it exists and is not a regular file"
        except OSError as exc:  # e.g. a name too long
            return f"cannot write the report {path}: {exc.strerror or exc}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            from sronnx.runtime.plan import folder_problem

            try:
                why = folder_problem(path.parent, "its folder")
            except OSError:
                why = None
            return (f"cannot write the report {path}: " + (why or f"cannot create its folder "
                    f"{path.parent}: {exc.strerror or exc}"))
        try:
            if path.exists():
                with open(path, "ab"):
                    pass
            else:
                with open(path, "xb"):
                    pass
                path.unlink()
        except OSError as exc:
            return f"cannot write the report {path}: {exc.strerror or exc}"
        self.usable = True
        return None

    def write(self, code: int, *, results: list | tuple = (), seconds: float = 0.0,
              stopped: str | None = None, error: str | None = None) -> str | None:
        """Write the report; an error message if that failed, else None."""
        if self.path is None or not self.usable:
            return None
        counts = {s: sum(r.status == s for r in results) for s in ("done", "failed", "skipped")}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({
                **self.model, "seconds": round(seconds, 3), **counts,
                "not_processed": self.planned - len(results), "stopped": stopped,
                "error": error, "exit_code": code,
                "files": [r.to_dict() for r in results],
                "left_out": [e.to_dict() for e in self.left_out],
            }, indent=2))
        except OSError as exc:
            return f"cannot write the report {self.path}: {exc.strerror or exc}"
        return None


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that a run
    stopped by `timeout`, systemd or `docker stop` ends as one stopped with Ctrl-C does."""


_STOPPED: list[KeyboardInterrupt] = []  # the stop signal seen, if any


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the run is already ending
    _STOPPED.append(_Terminated())
    raise _STOPPED[-1]


def _stop_reason(exc: KeyboardInterrupt) -> tuple[str, int]:
    """(the report's "stopped", the exit code) for a run stopped by `exc`."""
    if isinstance(exc, _Terminated):
        return "terminated", EXIT_TERMINATED
    return "interrupted", EXIT_INTERRUPTED


def _json_arg(args: list[str]) -> tuple[str, int] | None:
    """The value of the last --json in raw command-line arguments (before a `--`) and the
    index of the argument that holds it, or None."""
    found = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--json" and i + 1 < len(args):
            found = (args[i + 1], i + 1)
        elif arg.startswith("--json="):
            found = (arg[len("--json="):], i)
    return found if found and found[0] else None


class _ReportingCommand(click.Command):
    """A command whose usage errors (a bad option value, an unknown option, a missing -o)
    still write the --json report when the arguments name one: an "error" and exit code 2,
    nothing else known. Not where the path is also another argument (perhaps an input)."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: object) -> click.Context:
        raw = list(args)
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            found = _json_arg(raw)
            if found is not None:
                path = Path(found[0])
                others = {_resolved(Path(a)) for i, a in enumerate(raw) if i != found[1]}
                if _resolved(path) not in others:
                    rep = _Report(path)
                    if rep.check() is None:
                        rep.write(EXIT_USAGE, error=exc.format_message())
            raise


def _fail(message: str, report: _Report | None = None) -> NoReturn:
    """Exit 2 with `message`, after writing the report of the run that could not start."""
    click.echo(f"error: {message}", err=True)
    if report is not None and (problem := report.write(EXIT_USAGE, error=message)):
        click.echo(f"error: {problem}", err=True)
    sys.exit(EXIT_USAGE)


@click.command(cls=_ReportingCommand)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "outdir", required=True, type=click.Path(path_type=Path),
              help="Output folder; the inputs' relative layout is kept. For one input file, "
                   "a name with an image extension (.png .jpg .webp .gif .tif .bmp ...) that "
                   "is not an existing folder is the output file itself.")
@click.option("--model", default=None, help="A shipped model name or an .onnx path.")
@click.option("--scale", type=click.IntRange(2, 4), default=None,
              help="Pick the shipped model for this scale (default: 2).")
@click.option("--input-kind", type=click.Choice(["auto", "clean", "photo"]), default="auto",
              show_default=True,
              help="Without --model: which shipped model each file gets. auto: per file, "
                   "the photo model for JPEGs (quality up to 95) and noisy images, the clean "
                   "model for the rest (sronnx models shows the rule); clean or photo: that "
                   "model for every file.")
@click.option("--provider", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--tile", type=click.IntRange(8), default=None,
              help="Largest tile side in input pixels; tiles are balanced to equal sizes "
                   "(default: 512, or the model's fixed size).")
@click.option("--tile-overlap", type=click.IntRange(0), default=None,
              help="Context pixels around each tile (default: from the receptive field).")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True,
              help="Tiles of equal size per model call.")
@click.option("--format", "fmt",
              type=click.Choice(["same", "png", "jpg", "webp", "gif", "tiff"]),
              default="same", show_default=True,
              help="Output format: the input's own, or png (APNG for animations), jpg, webp, "
                   "gif (a palette per frame), tiff (16-bit and float kept).")
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
@click.option("--threads", type=click.IntRange(1), default=None,
              help="ONNX Runtime threads per worker [default: the CPUs / --workers].")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Files processed at once [default: on CPUs, one per CPU for two or more "
                   "files; on CUDA, 1 (decoding, inference and encoding still overlap)].")
@click.option("--pipeline/--no-pipeline", default=True, show_default=True,
              help="Overlap decoding, inference and encoding (same outputs either way).")
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "report", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write a JSON report with one record per file.")
def upscale(**kwargs: object) -> None:
    """Upscale INPUTS (image files and/or folders) into OUTPUT.

    Exit codes: 0 all done, 1 some files failed, 2 nothing to do or cannot start
    (bad arguments, no input found, unusable model or provider), 130 stopped with Ctrl-C,
    143 stopped with SIGTERM (the --json report has what was done).
    """
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: SIGTERM keeps its handling
        previous = None
    try:
        _upscale(**kwargs)  # type: ignore[arg-type]
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _upscale(inputs: tuple[Path, ...], outdir: Path, model: str | None, scale: int | None,
            input_kind: str, provider: str, tile: int | None, tile_overlap: int | None,
            batch: int, fmt: str,
            quality: int, png_compress_level: int, suffix: str, strip_metadata: bool,
            float_range: str, recursive: bool,
            skip_existing: bool, overwrite: bool, max_pixels: int | None,
            threads: int | None, workers: int | None, pipeline: bool, quiet: bool,
            report: Path | None) -> None:
    rep = _Report(report)
    if (problem := rep.check()) is not None:
        _fail(problem)  # before any image is processed
    try:
        try:  # onnxruntime loads here: a stop signal now still gets its report and code
            from sronnx.card import ModelFileError
            from sronnx.runtime.batch import run_jobs
            from sronnx.runtime.choice import ModelChoice
            from sronnx.runtime.imageio import DEFAULT_MAX_PIXELS, remove_stale_parts
            from sronnx.runtime.plan import (
                SUB_FOLDER,
                OutputOptions,
                PlanError,
                plan,
                plan_file,
                suffix_problem,
                writes_file,
            )
            from sronnx.runtime.session import ProviderError, intended_provider, open_model
            from sronnx.runtime.upscaler import Upscaler
        except ImportError as exc:
            if _STOPPED:  # a C extension's initialisation turned the signal into this
                raise _STOPPED[0] from exc
            raise
        if skip_existing and overwrite:
            message = "--skip-existing and --overwrite exclude each other"
            rep.write(EXIT_USAGE, error=message)
            raise click.UsageError(message)
        if model is not None and input_kind != "auto":
            message = ("--input-kind chooses among the shipped default models; "
                       "it cannot go with --model")
            rep.write(EXIT_USAGE, error=message)
            raise click.UsageError(message)
        if (problem := suffix_problem(suffix)) is not None:
            _fail(problem, rep)
        opts = OutputOptions(fmt, quality, png_compress_level, suffix,
                             strip_metadata=strip_metadata, float_range=float_range)
        to_file = writes_file(outdir)
        if to_file and (len(inputs) != 1 or inputs[0].is_dir()):
            what = "a folder goes" if len(inputs) == 1 else f"{len(inputs)} inputs go"
            _fail(f"-o {outdir} names one output file, but {what} in: -o must be a folder "
                  f"here (to use a folder named {outdir.name}, create it first)", rep)
        try:
            the_plan = plan_file(inputs[0], outdir, opts) if to_file else \
                plan(inputs, outdir, opts, recursive)
        except PlanError as exc:
            rep.left_out = exc.left_out
            _fail(str(exc), rep)
        except OSError as exc:
            _fail(f"cannot list the inputs: {exc}", rep)
        jobs = the_plan.jobs
        rep.left_out, rep.planned = the_plan.left_out, len(jobs)
        left = left_out_line(the_plan.left_out)
        if not any(j.error is None for j in jobs):
            if left:
                click.echo(left, err=True)
            rep.planned = 0
            _fail(_nothing_found(inputs, jobs, the_plan.left_out, recursive), rep)
        if report is not None:
            if _resolved(report) in {_resolved(j.source) for j in jobs}:
                rep.usable = False  # the report path itself is the problem
                _fail(f"--json {report} would overwrite an input")
            if _resolved(report) in {_resolved(j.output) for j in jobs}:
                rep.usable = False
                _fail(f"--json {report} is also an output image")
        on_cpu = intended_provider(provider) == "cpu"
        workers, threads = _parallelism(workers, threads, on_cpu, pipeline, len(jobs))
        try:
            path, loaded = open_model(model, scale, provider, threads,
                                      "photo" if input_kind == "photo" else "clean")
        except (LookupError, ModelFileError, ProviderError) as exc:
            _fail(str(exc), rep)
        rep.model["model"] = str(path)
        if scale is not None and loaded.info.descriptor.scale != scale:
            _fail(f"model {path} is x{loaded.info.descriptor.scale}, not x{scale}", rep)
        photo = None  # with the rule: the photo model beside the clean one
        if model is None and input_kind == "auto":
            try:  # on the provider the clean model got, so both run on one
                photo = open_model(None, scale, loaded.provider, threads, "photo")
            except LookupError:  # no photo model at this scale: the clean one for all
                photo = None
            except (ModelFileError, ProviderError) as exc:
                _fail(str(exc), rep)
        try:
            one = Upscaler(loaded, tile=tile, overlap=tile_overlap, batch=batch)
            up = one if photo is None else ModelChoice(
                {"clean": one,
                 "photo": Upscaler(photo[1], tile=tile, overlap=tile_overlap, batch=batch)},
                {"clean": path.stem, "photo": photo[0].stem})
        except ValueError as exc:
            _fail(str(exc), rep)
        if photo is not None:
            rep.model["photo_model"] = str(photo[0])
        rep.model.update(scale=up.scale, provider=up.provider)
        try:  # an earlier output must be this model's scale times its source
            the_plan.require_scale(up.scale)
        except PlanError as exc:
            _fail(str(exc), rep)
        rep.left_out = the_plan.left_out  # reasons may have changed with the scale
        left = left_out_line(the_plan.left_out)
        if not quiet:
            how = ""
            if provider == "auto":
                how = " (auto)" if up.provider == "cuda" else " (auto: no usable CUDA provider)"
            names = path.name if photo is None else \
                f"{path.name} (clean inputs) / {photo[0].name} (JPEG and noisy inputs)"
            click.echo(f"model {names} x{up.scale} on {up.provider.upper()}{how}; "
                       f"{len(jobs)} image(s) -> {outdir}", err=True)
        folder = outdir.parent if to_file else outdir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _fail(f"cannot create the output folder {folder}: {exc.strerror or exc}", rep)
        stale = remove_stale_parts({j.output.parent for j in jobs})
        if stale and not quiet:
            click.echo(f"removed {len(stale)} temporary file(s) left by an interrupted run",
                       err=True)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM before any file was started
        why, code = _stop_reason(exc)
        click.echo(f"error: {why} before any file was processed", err=True)
        if problem := rep.write(code, stopped=why):
            click.echo(f"error: {problem}", err=True)
        sys.exit(code)

    progress = _Progress(len(jobs), quiet)
    existing = "skip" if skip_existing else "overwrite" if overwrite else "refuse"
    seen: list = []  # results as they come, for a report of a run that stops early

    def on_result(r) -> None:
        seen.append(r)
        progress(r)

    stopped: str | None = None  # why the run ended before every file was processed
    code = 0
    try:
        results = run_jobs(up, jobs, opts, existing=existing,
                           max_pixels=max_pixels or DEFAULT_MAX_PIXELS, on_result=on_result,
                           pipeline=pipeline, workers=workers if up.provider == "cpu" else 1)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the files in progress ended
        stopped, code = _stop_reason(exc)
    except Exception as exc:  # noqa: BLE001 - a fault of sronnx itself: report what was done
        stopped = f"stopped by an internal error: {type(exc).__name__}: {exc}"
        code = EXIT_FAILED_FILES
    finally:
        progress.close()
    try:  # the run has ended: a SIGTERM now would only lose its report
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:
        pass
    if stopped is not None:
        order = {(str(j.source), str(j.output)): i for i, j in enumerate(jobs)}
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
    if left and not quiet:
        cut = max(sum(e.reason == SUB_FOLDER for e in the_plan.left_out),
                  sum(e.reason != SUB_FOLDER for e in the_plan.left_out)) > LEFT_OUT_SHOWN
        click.echo(left + (f" (all in {report})" if cut and report is not None else ""),
                   err=True)
    if not quiet or counts["failed"] or stopped:
        click.echo(f"{counts['done']} done, {counts['failed']} failed, {counts['skipped']} "
                   f"skipped in {elapsed:.1f} s ({progress.rate():.2f} output MP/s)", err=True)
    sys.exit(code)
