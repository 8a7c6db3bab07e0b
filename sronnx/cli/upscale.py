"""`sronnx upscale`: upscale files and folders with ONNX Runtime (no torch needed).

A thin layer over sronnx.runtime (the Upscaler and the batch runner): it parses options,
decides what to print and the exit code. Nothing here imports torch or onnx.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NoReturn

import click

from sronnx.cli import model_options, model_overrides

EXIT_FAILED_FILES = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a run stopped with Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM (timeout, systemd, docker stop)
LEFT_OUT_SHOWN = 5  # entries named on the summary line; the --json report has them all
STDIO = "-"  # as an input: one image from standard input; as -o: the output to standard output
DEFAULT_MAX_OUTPUT_PIXELS = 1_000_000_000  # one gigapixel: 3 GB as 8-bit RGB, held whole
WHOLE_IMAGE = 1 << 30  # --tile 0: a tile larger than any image, so one model call per image

Key = tuple[str, str]  # a job as its result names it: (input, output)


class _Progress:
    """What a run shows as it goes, always on standard error: on a terminal a bar whose
    length is the planned output pixels (`weights`, per job key), moved as the model's tiles
    finish, with the percentage, the time left, the files done and the output MP/s; without
    `weights` (no image size known) the bar counts files. Not on a terminal, one plain line
    per file; nothing with --quiet. Failures always get their line. Thread-safe: tiles are
    reported from worker threads."""

    def __init__(self, files: int, quiet: bool,
                 weights: dict[Key, int] | None = None) -> None:
        self.quiet = quiet
        self.interactive = not quiet and sys.stderr.isatty()
        self.files, self.files_done = files, 0
        self.done_px = 0  # output pixels of the files written, for the summary's rate
        self.weights = weights if weights and sum(weights.values()) > 0 else None
        self.reported: dict[Key, int] = {}  # pixels the bar moved by, per job
        self.bar_px = 0
        self.lock = threading.RLock()
        self.t_start = time.perf_counter()
        self.bar = None
        if self.interactive:
            length = sum(self.weights.values()) if self.weights else files
            self.bar = click.progressbar(length=length, label="upscaling", file=sys.stderr,
                                         show_eta=True, show_percent=True, show_pos=False,
                                         item_show_func=lambda s: s)
            self.bar.__enter__()

    def rate(self) -> float:
        """Output megapixels per second of the files written so far."""
        return self.done_px / 1e6 / max(time.perf_counter() - self.t_start, 1e-9)

    def _info(self) -> str:
        """The bar's trailing text: files done and the output MP/s so far."""
        px = self.bar_px if self.weights else self.done_px
        rate = px / 1e6 / max(time.perf_counter() - self.t_start, 1e-9)
        return f"{self.files_done}/{self.files} files, {rate:.1f} MP/s"

    def _move(self, key: Key, pixels: int | None) -> None:
        """Move the bar by `pixels` of job `key` (None: the rest of its planned pixels),
        never past its planned share. Called with the lock held."""
        if self.bar is None:
            return
        if self.weights is None:
            if pixels is None:
                self.bar.update(1, self._info())
            return
        room = self.weights.get(key, 0) - self.reported.get(key, 0)
        step = room if pixels is None else min(pixels, room)
        if step > 0:
            self.reported[key] = self.reported.get(key, 0) + step
            self.bar_px += step
            self.bar.update(step, self._info())
        elif pixels is None:  # nothing left to move: show the file count all the same
            self.bar.current_item = self._info()
            self.bar.render_progress()

    def on_pixels(self, job, pixels: int) -> None:
        """Output pixels of `job` finished (`sronnx.runtime.batch.PixelCallback`)."""
        with self.lock:
            self._move((str(job.source), str(job.output)), pixels)

    def __call__(self, r, key: Key) -> None:
        """A file's result; `key` is its job's (input, output) as planned."""
        with self.lock:
            self.files_done += 1
            if r.output_size and r.status == "done":
                self.done_px += r.output_size[0] * r.output_size[1] * (r.frames or 1)
            if r.status == "failed":
                if self.bar is not None:
                    click.echo("", err=True)
                click.echo(f"failed: {r.input}: {r.error}", err=True)
            if self.bar is not None:
                self._move(key, None)
            elif not self.quiet and r.status != "failed":
                click.echo(f"{r.status}: {r.input} -> {r.output} ({r.seconds:.2f} s)",
                           err=True)
            if not self.quiet:
                for note in getattr(r, "notes", ()):
                    click.echo(f"note: {r.input}: {note}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _exists(path: Path) -> bool:
    """Whether something (a broken symbolic link too) is at `path`; False where the name
    itself is the problem (too long...), which the file's own run reports."""
    try:
        return path.exists() or path.is_symlink()
    except OSError:
        return False


def existing_message(outputs: list[Path], shown: int = LEFT_OUT_SHOWN) -> str:
    """The one refusal for a run whose outputs already exist (without --skip-existing or
    --overwrite): how many, up to `shown` of them named, what to do."""
    n = len(outputs)
    names = ", ".join(str(p) for p in outputs[:shown])
    if n > shown:
        names += f" and {n - shown} more"
    them = "them" if n != 1 else "it"
    return (f"{n} output{'s' if n != 1 else ''} already exist{'s' if n == 1 else ''}: {names}; "
            f"use --skip-existing to keep {them} or --overwrite to replace {them} (runs at "
            "different scales into one folder write the same names: give each its own "
            "--suffix, e.g. --suffix _x2)")


def _size_text(outscale: float | None, width: int | None, height: int | None) -> str:
    """The asked output size as the header line names it."""
    if outscale is not None:
        return f"x{outscale:g}"
    if width is not None and height is not None:
        return f"{width}x{height}"
    return f"width {width}" if width is not None else f"height {height}"


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


def _closed(name: str) -> bool:
    """Whether the standard stream `name` ("stdin" or "stdout") is closed: the process was
    started without it (`<&-`, `>&-`), so Python has none (None), or it was closed since."""
    stream = getattr(sys, name)
    return stream is None or bool(getattr(stream, "closed", False))


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
    (the model, what the listings left out). `--json -` writes it to standard output."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.usable = False  # set by check(); cleared when the path itself is the problem
        self.model: dict = {"model": None, "scale": None, "provider": None}
        self.left_out: list = []
        self.planned = 0  # jobs in the plan, once there is one

    @property
    def to_stdout(self) -> bool:
        return self.path is not None and str(self.path) == STDIO

    @property
    def name(self) -> str:
        """The report as messages name it."""
        return "standard output" if self.to_stdout else str(self.path)

    def check(self) -> str | None:
        """Why the report cannot be written where asked, found before anything runs: its
        folder is made and a file tried there (an existing report is opened for appending,
        not changed); standard output must be open. None when it can."""
        if self.path is None:
            return None
        if self.to_stdout:
            if _closed("stdout"):
                return "cannot write the report to standard output: it is closed"
            self.usable = True
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
        text = json.dumps({
            **self.model, "seconds": round(seconds, 3), **counts,
            "not_processed": self.planned - len(results), "stopped": stopped,
            "error": error, "exit_code": code,
            "files": [r.to_dict() for r in results],
            "left_out": [e.to_dict() for e in self.left_out],
        }, indent=2)
        if self.to_stdout:
            if (problem := _to_stdout((text + "\n").encode())) is not None:
                return f"cannot write the report to standard output: {problem}"
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(text)
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
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
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
    rep = _Report(report)
    if rep.to_stdout and str(outdir) == STDIO:
        _fail("--json - and -o - would both write to standard output: name a file for the "
              "report (--json report.json)")
    if (problem := rep.check()) is not None:
        _fail(problem)  # before any image is processed
    try:
        try:  # onnxruntime loads here: a stop signal now still gets its report and code
            from sronnx.card import ModelFileError
            from sronnx.runtime.batch import run_jobs
            from sronnx.runtime.choice import ModelChoice
            from sronnx.runtime.imageio import (
                DEFAULT_MAX_PIXELS,
                EXT_FORMAT,
                FORMAT_EXT,
                remove_stale_parts,
            )
            from sronnx.runtime.plan import (
                SUB_FOLDER,
                OutputOptions,
                PlanError,
                image_header,
                plan,
                plan_file,
                suffix_problem,
                writes_file,
            )
            from sronnx.runtime.resize import needed_factor, pick_scale, size_problem
            from sronnx.runtime.session import ProviderError, intended_provider, open_model
            from sronnx.runtime.upscaler import Upscaler
            from sronnx.shipped import shipped_models
        except ImportError as exc:
            if _STOPPED:  # a C extension's initialisation turned the signal into this
                raise _STOPPED[0] from exc
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
            from sronnx.runtime.ray_engine import INSTALL_HINT, ray_available

            rep.model["engine"] = "ray"
            if not ray_available():
                _fail(f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}", rep)
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
            _fail(problem, rep)
        if from_stdin and _closed("stdin"):
            _fail("- reads an image from standard input, which is closed: pipe or redirect "
                  "an image into it (sronnx upscale - -o out.png < in.jpg)", rep)
        if to_stdout and _closed("stdout"):
            _fail("-o - writes the image to standard output, which is closed: redirect it "
                  "(> out.png) or pipe it, or name an output file or folder", rep)
        if to_stdout and _stream_isatty("stdout"):
            _fail("-o - writes image data to standard output, which is a terminal: redirect "
                  "it (> out.png) or pipe it", rep)
        opts = OutputOptions(fmt, quality, png_compress_level, suffix,
                             strip_metadata=strip_metadata, float_range=float_range,
                             outscale=outscale, width=width, height=height)
        shown: dict[Key, Key] = {}  # a job's (input, output) -> as messages name them
        if from_stdin:
            if _stream_isatty("stdin"):
                _fail("- reads an image from standard input, which is a terminal: pipe or "
                      "redirect an image into it (sronnx upscale - -o out.png < in.jpg)", rep)
            scratch = Path(cleanup.enter_context(tempfile.TemporaryDirectory(
                prefix="sronnx-")))
            try:  # a file, for the readers; named "stdin", so a folder gets stdin.png
                with open(scratch / "stdin", "wb") as fh:
                    shutil.copyfileobj(_binary("stdin"), fh, 1 << 20)
            except OSError as exc:
                _fail(f"cannot read standard input: {exc.strerror or exc}", rep)
            inputs = (scratch / "stdin",)
        to_file = not to_stdout and writes_file(outdir)
        if to_file and (len(inputs) != 1 or inputs[0].is_dir()):
            what = "a folder goes" if len(inputs) == 1 else f"{len(inputs)} inputs go"
            _fail(f"-o {outdir} names one output file, but {what} in: -o must be a folder "
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
            _fail(str(exc), rep)
        except OSError as exc:
            _fail(f"cannot list the inputs: {exc}", rep)
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
            _fail(_nothing_found(inputs, jobs, the_plan.left_out, recursive), rep)
        if report is not None and not rep.to_stdout:
            if _resolved(report) in {_resolved(j.source) for j in jobs}:
                rep.usable = False  # the report path itself is the problem
                _fail(f"--json {report} would overwrite an input")
            if _resolved(report) in {_resolved(j.output) for j in jobs}:
                rep.usable = False
                _fail(f"--json {report} is also an output image")
        existing = "skip" if skip_existing else "overwrite" if overwrite else "refuse"
        if existing == "refuse":  # one refusal up front rather than a failure per file
            found = [j.output for j in jobs if j.error is None and _exists(j.output)]
            if found:
                _fail(existing_message(found), rep)
        headers: dict = {}  # job -> image_header, read only where something needs it

        def header(job):
            if job not in headers:
                headers[job] = image_header(job.source) if job.error is None else None
            return headers[job]

        model_scale = scale
        if model is None and scale is None and opts.resizes:
            # the smallest shipped scale that reaches the largest factor asked, at most 4
            factors = [f for j in jobs if (h := header(j)) is not None and
                       (f := needed_factor(h.size, outscale, width, height)) is not None]
            if factors:
                model_scale = pick_scale(max(factors), (m.scale for m in shipped_models()))
        on_cpu = intended_provider(provider) == "cpu"
        asked_workers, asked_threads = workers, threads  # the Ray engine sizes its own
        workers, threads = _parallelism(workers, threads, on_cpu, pipeline, len(jobs))
        try:
            path, loaded = open_model(model, model_scale, provider, threads,
                                      "clean" if input_kind == "auto" else input_kind,
                                      model_overrides(input_range, bgr))
        except (LookupError, ModelFileError, ProviderError) as exc:
            _fail(str(exc), rep)
        rep.model["model"] = str(path)
        if scale is not None and loaded.info.descriptor.scale != scale:
            _fail(f"model {path} is x{loaded.info.descriptor.scale}, not x{scale}", rep)
        photo = jpeg = None  # with the rule: the photo (and JPEG) models beside the clean one
        if model is None and input_kind == "auto":
            try:  # on the provider the clean model got, so all run on one
                photo = open_model(None, model_scale, loaded.provider, threads, "photo")
                jpeg = open_model(None, model_scale, loaded.provider, threads, "jpeg")
            except LookupError:  # no photo (or no JPEG) model at this scale
                pass
            except (ModelFileError, ProviderError) as exc:
                _fail(str(exc), rep)
        try:
            if tile == 0:  # no tiling: one window over the whole image
                tile = WHOLE_IMAGE
            one = Upscaler(loaded, tile=tile, overlap=tile_overlap, batch=batch,
                           clamp_range=clamp)
            if photo is not None:
                more = {k: m for k, m in (("photo", photo), ("jpeg", jpeg)) if m is not None}
                up = ModelChoice(
                    {"clean": one} | {k: Upscaler(m[1], tile=tile, overlap=tile_overlap,
                                                  batch=batch, clamp_range=clamp)
                                      for k, m in more.items()},
                    {"clean": path.stem} | {k: m[0].stem for k, m in more.items()})
            else:  # one model for all: the report still names it, and why
                why = ("--model" if model is not None else
                       f"--input-kind {input_kind}" if input_kind != "auto" else
                       f"no shipped photo model at x{one.scale}")
                up = ModelChoice.only(one, path.stem, why)
        except ValueError as exc:
            _fail(str(exc), rep)
        files = {"clean": path} | {k: m[0] for k, m in (("photo", photo), ("jpeg", jpeg))
                                   if m is not None}  # the model file of each input kind
        if photo is not None:
            rep.model["photo_model"] = str(photo[0])
        if jpeg is not None:
            rep.model["jpeg_model"] = str(jpeg[0])
        rep.model.update(scale=up.scale, provider=up.provider)
        try:  # an earlier output must be this model's scale times its source
            the_plan.require_scale(up.scale)
        except PlanError as exc:
            _fail(str(exc), rep)
        rep.left_out = the_plan.left_out  # reasons may have changed with the scale
        left = left_out_line(the_plan.left_out)
        problem = too_large_message(jobs, header, opts, up.scale, existing, max_output_pixels,
                                    max_pixels or DEFAULT_MAX_PIXELS,
                                    lambda j: shown[(str(j.source), str(j.output))][0],
                                    _size_advice(outdir, fmt, to_file))
        if problem is not None:  # from the headers, before any file is decoded
            _fail(problem, rep)
        if not quiet:
            how = ""
            if provider == "auto":
                how = " (auto)" if up.provider == "cuda" else " (auto: no usable CUDA provider)"
            parts = [(path, "clean inputs")] if photo is not None else [(path, "")]
            if photo is not None:
                parts.append((photo[0], "noisy inputs" if jpeg else "JPEG and noisy inputs"))
            if jpeg is not None:
                parts.append((jpeg[0], "JPEG inputs"))
            names = " / ".join(f"{p.name} ({what})" if what else p.name for p, what in parts)
            resampled = opts.resizes and outscale != up.scale  # -s 3 on x3: the model's own
            size = f", resampled to {_size_text(outscale, width, height)} (Lanczos up, " \
                   "area down)" if resampled else ""
            where = "standard output" if to_stdout else str(outdir)
            click.echo(f"model {names} x{up.scale} on {up.provider.upper()}{how}{size}; "
                       f"{len(jobs)} image(s) -> {where}", err=True)
        if not to_stdout:
            folder = outdir.parent if to_file else outdir
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                _fail(f"cannot create the output folder {folder}: {exc.strerror or exc}", rep)
            stale = remove_stale_parts({j.output.parent for j in jobs})
            if stale and not quiet:
                click.echo(f"removed {len(stale)} temporary file(s) left by an interrupted "
                           "run", err=True)
        weights = None
        if not quiet and sys.stderr.isatty():  # the bar counts output pixels
            weights = _pixel_weights(jobs, header, opts, up.scale, existing)
        ray_run = None
        if engine == "ray":
            ray_run = _start_ray(files, up, asked_threads, asked_workers,
                                 model_overrides(input_range, bgr) if model else None,
                                 tile, tile_overlap, batch, clamp, opts,
                                 max_pixels or DEFAULT_MAX_PIXELS, ray_address, len(jobs),
                                 quiet, rep)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM before any file was started
        why, code = _stop_reason(exc)
        click.echo(f"error: {why} before any file was processed", err=True)
        if problem := rep.write(code, stopped=why):
            click.echo(f"error: {problem}", err=True)
        sys.exit(code)

    progress = _Progress(len(jobs), quiet, weights)
    seen: list = []  # results as they come, for a report of a run that stops early

    def on_result(r) -> None:
        key = (r.input, r.output)
        if to_stdout and r.status == "done":  # written only once it reached its reader
            if (problem := _to_stdout(Path(r.output))) is not None:
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
        stopped, code = _stop_reason(exc)
    except Exception as exc:  # noqa: BLE001 - a fault of sronnx itself: report what was done
        stopped = f"stopped by an internal error: {type(exc).__name__}: {exc}"
        code = EXIT_FAILED_FILES
    finally:
        progress.close()
        if ray_run is not None:
            _stop_ray(ray_run, jobs)
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
    if left and not quiet:
        cut = max(sum(e.reason == SUB_FOLDER for e in the_plan.left_out),
                  sum(e.reason != SUB_FOLDER for e in the_plan.left_out)) > LEFT_OUT_SHOWN
        where = "the report on standard output" if rep.to_stdout else str(report)
        click.echo(left + (f" (all in {where})" if cut and report is not None else ""),
                   err=True)
    if not quiet or counts["failed"] or stopped:
        click.echo(f"{counts['done']} done, {counts['failed']} failed, {counts['skipped']} "
                   f"skipped in {elapsed:.1f} s ({progress.rate():.2f} output MP/s)", err=True)
    sys.exit(code)


def _start_ray(files: dict[str, Path], up, threads: int | None, workers: int | None,
               options, tile: int | None, overlap: int | None, batch: int,
               clamp: bool | None, opts, max_pixels: int, address: str | None, jobs: int,
               quiet: bool, rep: _Report):
    """The started Ray engine (`sronnx.runtime.ray_engine.RayEngine`) for the models the
    CLI resolved (`files`: the model file of each input kind; `up`: their ModelChoice), or
    exit 2 with why it cannot start."""
    from sronnx.runtime.ray_engine import EngineError, ModelSpec, RayEngine

    cuda = up.provider == "cuda"
    spec = ModelSpec(paths={k: str(p) for k, p in files.items()},
                     names={k: up.names[k] for k in files}, provider=up.provider,
                     threads=threads if threads is not None or cuda else 1,
                     options=options, tile=tile, overlap=overlap, batch=batch, clamp=clamp,
                     only=up.fixed)
    engine = RayEngine(spec, opts, max_pixels, address, workers, jobs, quiet=quiet)
    try:
        engine.start()
    except EngineError as exc:
        _fail(str(exc), rep)
    rep.model.update(ray_address=address, actors=len(engine.handles))
    if not quiet:
        where = f"joined {address}" if address else "a local Ray cluster"
        each = "1 GPU" if cuda else f"{spec.threads} ONNX Runtime thread(s)"
        click.echo(f"engine ray: {len(engine.handles)} actor(s) on {where}, {each} each",
                   err=True)
    return engine


def _stop_ray(engine, jobs: list) -> None:
    """Stop the Ray engine's actors (and its local cluster), then remove the temporary
    files that workers killed mid-write left beside the outputs."""
    from sronnx.runtime.ray_engine import remove_parts_of

    engine.close()
    remove_parts_of(jobs)


def _size_advice(outdir: Path, fmt: str, to_file: bool) -> str:
    """What to do about an output too large for its format, in the terms the output was
    named in: -o NAME.EXT, --format, or the input's own format kept by default."""
    if to_file:
        also = " --format png" if fmt != "same" else ""
        return f"name the output .png or .tif instead (-o {outdir.with_suffix('.png')}{also})"
    if fmt != "same":
        return f"choose another --format than {fmt}: png or tiff"
    return "choose --format png or tiff (the output keeps the input's format by default)"


def too_large_message(jobs: list, header, opts, scale: int, existing: str,
                      max_output_pixels: int, max_input_pixels: int, name, advice: str,
                      shown: int = LEFT_OUT_SHOWN) -> str | None:
    """The one refusal for a run whose outputs would be too large, from each input's header
    (`header(job)`): a side over the output format's limit (JPEG and GIF 65535, WebP 16383;
    `advice` says what to do), or more than `max_output_pixels` in all (frames included).
    An input whose header cannot be read, or over `max_input_pixels` (--max-pixels, a
    decompression-bomb guard), is left to its own run, which fails it with that reason.
    `name(job)` names an input as messages do; up to `shown` files are named. None when every
    output fits."""
    from sronnx.runtime.imageio import output_format, side_problem

    problems = []
    for j in jobs:
        if j.error is not None or (existing == "skip" and _exists(j.output)):
            continue
        h = header(j)
        if h is None or h.width * h.height * h.frames > max_input_pixels:
            continue
        w, hh = opts.output_size(h.size, scale)
        fmt = output_format("PNG", opts.format, j.output)  # the output name has a known ext
        if (why := side_problem(fmt, (w, hh), "a {w}x{h} output")) is not None:
            problems.append(f"{name(j)}: {why}; {advice}")
        elif w * hh * h.frames > max_output_pixels:
            frames = f" x {h.frames} frames" if h.frames > 1 else ""
            problems.append(f"{name(j)}: the output would be {w}x{hh}{frames} = "
                            f"{w * hh * h.frames:,} pixels, over --max-output-pixels "
                            f"{max_output_pixels:,}; ask for a smaller size (or raise "
                            "--max-output-pixels where the memory is there)")
    if not problems:
        return None
    if len(problems) == 1:
        return problems[0]
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    return (f"{len(problems)} outputs would be too large: " + "; ".join(problems[:shown]) +
            more)


def _binary(name: str):
    """The byte stream under the standard stream `name` ("stdin" or "stdout")."""
    stream = getattr(sys, name)
    return getattr(stream, "buffer", stream)


def _stream_isatty(name: str) -> bool:
    """Whether the standard stream `name` ("stdin" or "stdout") is a terminal."""
    try:
        return bool(_binary(name).isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _to_stdout(data: bytes | Path) -> str | None:
    """Write `data` (bytes, or the contents of the finished output at that path) to standard
    output and flush; why that failed (e.g. "Broken pipe": the reader went away; "it is
    closed"), or None. After a failure standard output is pointed at /dev/null, so that the
    interpreter's last flush does not fail again."""
    if _closed("stdout"):
        return "it is closed"
    stream = _binary("stdout")
    try:
        if isinstance(data, bytes):
            stream.write(data)
        else:
            with open(data, "rb") as fh:
                shutil.copyfileobj(fh, stream, 1 << 20)
        stream.flush()
    except OSError as exc:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return exc.strerror or str(exc)
    return None


def _pixel_weights(jobs: list, header, opts, scale: int, existing: str) -> dict[Key, int] | None:
    """Planned output pixels per job key, for the progress bar: from each input's header
    (size upright, frames) and the asked output size; 0 for a job known to fail (its input
    is missing) or to be skipped (its output exists, with --skip-existing); a file whose
    header cannot be read counts as the mean of the others. None when no size is known (the
    bar then counts files)."""
    weights: dict[Key, int | None] = {}
    for j in jobs:
        key = (str(j.source), str(j.output))
        if j.error is not None or (existing == "skip" and _exists(j.output)):
            weights[key] = 0
            continue
        h = header(j)
        if h is None:
            weights[key] = None
            continue
        w, h_ = opts.output_size(h.size, scale)
        weights[key] = w * h_ * h.frames
    known = [v for v in weights.values() if v]
    if not known:
        return None
    mean = sum(known) // len(known)
    return {k: mean if v is None else v for k, v in weights.items()}
