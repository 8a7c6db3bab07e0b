"""The standard streams as `sronnx upscale` uses them (`-` as the input, `-o -` and
`--json -` as outputs): whether one is closed or a terminal, its byte stream, and writing
to standard output so that a reader that went away is one message rather than a traceback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path


def closed(name: str) -> bool:
    """Whether the standard stream `name` ("stdin" or "stdout") is closed: the process was
    started without it (`<&-`, `>&-`), so Python has none (None), or it was closed since."""
    stream = getattr(sys, name)
    return stream is None or bool(getattr(stream, "closed", False))


def binary(name: str):
    """The byte stream under the standard stream `name` ("stdin" or "stdout")."""
    stream = getattr(sys, name)
    return getattr(stream, "buffer", stream)


def stream_isatty(name: str) -> bool:
    """Whether the standard stream `name` ("stdin" or "stdout") is a terminal."""
    try:
        return bool(binary(name).isatty())
    except (AttributeError, ValueError, OSError):
        return False


def write_to_stdout(data: bytes | Path) -> str | None:
    """Write `data` (bytes, or the contents of the finished output at that path) to standard
    output and flush; why that failed (e.g. "Broken pipe": the reader went away; "it is
    closed"), or None. After a failure standard output is pointed at /dev/null, so that the
    interpreter's last flush does not fail again."""
    if closed("stdout"):
        return "it is closed"
    stream = binary("stdout")
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
