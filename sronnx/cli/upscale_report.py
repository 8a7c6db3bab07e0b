"""How a `sronnx upscale` run ends and what it leaves behind: the --json report (written at
every exit, a run that cannot start or a usage error included), the exit of a run that
cannot start, and SIGTERM handled as Ctrl-C is, so that a stopped run still gets its report
and its exit code (130 or 143).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import NoReturn

import click

from sronnx.cli.upscale_common import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    STDIO,
    resolved,
)
from sronnx.cli.upscale_stdio import closed, write_to_stdout


class Report:
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
            if closed("stdout"):
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
            from sronnx.engine import folder_problem

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
            if (problem := write_to_stdout((text + "\n").encode())) is not None:
                return f"cannot write the report to standard output: {problem}"
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(text)
        except OSError as exc:
            return f"cannot write the report {self.path}: {exc.strerror or exc}"
        return None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that a run
    stopped by `timeout`, systemd or `docker stop` ends as one stopped with Ctrl-C does."""


STOPPED: list[KeyboardInterrupt] = []  # the stop signal seen, if any


def on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the run is already ending
    STOPPED.append(Terminated())
    raise STOPPED[-1]


def stop_reason(exc: KeyboardInterrupt) -> tuple[str, int]:
    """(the report's "stopped", the exit code) for a run stopped by `exc`."""
    if isinstance(exc, Terminated):
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


class ReportingCommand(click.Command):
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
                others = {resolved(Path(a)) for i, a in enumerate(raw) if i != found[1]}
                if resolved(path) not in others:
                    rep = Report(path)
                    if rep.check() is None:
                        rep.write(EXIT_USAGE, error=exc.format_message())
            raise


def fail(message: str, report: Report | None = None) -> NoReturn:
    """Exit 2 with `message`, after writing the report of the run that could not start."""
    click.echo(f"error: {message}", err=True)
    if report is not None and (problem := report.write(EXIT_USAGE, error=message)):
        click.echo(f"error: {problem}", err=True)
    sys.exit(EXIT_USAGE)
