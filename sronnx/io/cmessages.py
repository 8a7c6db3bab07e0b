"""What the libraries that read a file print on standard error, given to that file. Three
kinds name no file, and in a folder run nobody can tell which input they were about:
- Pillow's log records ("More samples per pixel than can be decoded: 65535", logged as errors
  with no handler configured, so Python prints them);
- Python warnings ("UserWarning: Corrupt EXIF data");
- lines C libraries write straight to file descriptor 2 (libtiff's "TIFFFillStrip: Read
  error").

`relay()` (the CLI turns it on for a run; off, nothing here changes anything) routes all three:
log records of the "PIL" logger and warnings raised in a thread that is inside
`messages_of(path)` go to that section's list (other threads' go on as before), and descriptor
2 becomes a pipe read by a thread, while Python's own `sys.stderr` gets a copy of the real
one, so that only C-level writes go through the pipe. Lines that C code prints inside a
section go to that section; outside one they are passed on to the real standard error
unchanged, so nothing is lost. The C-level part of a section is serialised (one at a time in
the process) and taken only for the formats whose decoder prints (`PRINTING_MAGIC`: TIFF), so
other files decode in parallel as before. The reader makes the lines the file's note, or part
of its failure (`describe_messages`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from sronnx.io.sniff import read_head

__all__ = ["PRINTING_MAGIC", "describe_messages", "messages_of", "relay"]

#: first bytes of the formats whose C decoder prints on standard error (libtiff)
PRINTING_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_MARK = b"\x00sronnx-section-end\x00"


class _Relay:
    """Descriptor 2 through a pipe, read by a thread; the lines of a section go to its sink."""

    def __init__(self) -> None:
        self.real = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self.read = read
        self.section = threading.Lock()  # one section at a time
        self.state = threading.Condition()
        self.sink: list[str] | None = None
        self.marks = 0
        self.thread = threading.Thread(target=self._pump, name="sronnx-stderr", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        pending = b""
        while chunk := os.read(self.read, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._take(line)
        if pending:
            self._take(pending)

    def _take(self, line: bytes) -> None:
        with self.state:
            if line == _MARK:
                self.marks += 1
                self.state.notify_all()
            elif self.sink is not None:
                self.sink.append(line.decode("utf-8", "replace").strip())
            else:
                os.write(self.real, line + b"\n")

    @contextlib.contextmanager
    def collect(self) -> Iterator[list[str]]:
        lines: list[str] = []
        with self.section:
            with self.state:
                self.sink, seen = lines, self.marks
            try:
                yield lines
            finally:
                os.write(2, _MARK + b"\n")  # everything printed before it is in the pipe
                with self.state:
                    self.state.wait_for(lambda: self.marks > seen, timeout=5)
                    self.sink = None
                lines[:] = [line for line in lines if line]

    def close(self) -> None:
        os.dup2(self.real, 2)  # the pipe's last writer here: the pump reads to its end
        self.thread.join(timeout=1)
        if not self.thread.is_alive():  # else a child process still holds the pipe
            os.close(self.read)
        os.close(self.real)


_RELAY: _Relay | None = None
_LOCAL = threading.local()  # .sink: the list of this thread's section, when inside one
_LOGGERS = ("PIL",)  # libraries that log about the files they read


class _ToSection(logging.Handler):
    """Log records of a thread inside a section go to its list; others are printed as
    Python's last-resort handler prints them (the loggers have no handler of their own)."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = getattr(_LOCAL, "sink", None)
        if sink is not None:
            sink.append(record.getMessage())
        else:
            logging.lastResort.handle(record)


def _warning_router(shown):  # noqa: ANN001, ANN202 - warnings.showwarning's signature
    """A `warnings.showwarning` that gives a section's warnings to its list."""

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        sink = getattr(_LOCAL, "sink", None)
        if sink is not None and file is None:
            sink.append(f"{category.__name__}: {message}")
        else:
            shown(message, category, filename, lineno, file, line)

    return show


@contextlib.contextmanager
def relay() -> Iterator[None]:
    """Within: C libraries' lines on descriptor 2 are collected per file by `messages_of`
    (and passed on unchanged outside its sections); `sys.stderr`, when it writes to
    descriptor 2, writes to a copy of it instead, so Python's own messages are never
    collected. Nested or concurrent calls leave the first relay in place."""
    global _RELAY
    if _RELAY is not None:
        yield
        return
    try:
        sys.stderr.flush()
        python_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        python_fd = None  # a stream of its own (a test runner's): not descriptor 2
    _RELAY = this = _Relay()
    saved_stderr, saved_show = sys.stderr, warnings.showwarning
    if python_fd == 2:
        sys.stderr = open(os.dup(this.real), "w", buffering=1,  # noqa: SIM115 - closed below
                          encoding=saved_stderr.encoding, errors=saved_stderr.errors)
    handler = _ToSection(logging.WARNING)
    for name in _LOGGERS:
        logging.getLogger(name).addHandler(handler)
    warnings.showwarning = _warning_router(saved_show)
    try:
        yield
    finally:
        warnings.showwarning = saved_show
        for name in _LOGGERS:
            logging.getLogger(name).removeHandler(handler)
        if sys.stderr is not saved_stderr:
            sys.stderr.flush()
            sys.stderr.close()
            sys.stderr = saved_stderr
        _RELAY = None
        this.close()


@contextlib.contextmanager
def messages_of(path: str | Path) -> Iterator[list[str]]:
    """The lines the block's libraries print while it reads `path`: log records and warnings
    of this thread, and what C code prints (for the formats whose decoder prints); empty when
    no relay is on."""
    this = _RELAY
    if this is None:
        yield []
        return
    outer = getattr(_LOCAL, "sink", None)
    with contextlib.ExitStack() as stack:
        lines = stack.enter_context(this.collect()) if _prints(Path(path)) else []
        _LOCAL.sink = lines
        try:
            yield lines
        finally:
            _LOCAL.sink = outer


def describe_messages(lines: list[str]) -> str | None:
    """One note for the lines a file's readers printed: each distinct line once, with how
    many times it came ("its reader printed: More samples per pixel than can be decoded:
    65535 (2 times)"); None for none."""
    if not lines:
        return None
    counts: dict[str, int] = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    shown = [f"{text} ({n} times)" if n > 1 else text for text, n in list(counts.items())[:3]]
    more = f"; and {len(counts) - 3} more" if len(counts) > 3 else ""
    return f"its reader printed: {'; '.join(shown)}{more}"


def _prints(path: Path) -> bool:
    """Whether `path` starts as a format whose C decoder prints (TIFF)."""
    return read_head(path, 4) in PRINTING_MAGIC
