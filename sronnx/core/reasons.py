"""The one line of an exception that a one-line report shows (`failed: FILE: REASON`).

Libraries put the reason on the first line and detail (stack dumps, ONNX Runtime's
"Falling back" pages, torch's hints) after it; some give an empty message. Used wherever an
exception becomes a reason in a message, so an empty or multi-line message never turns into
an IndexError or a page of text.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # terminal colours (ONNX Runtime, torch's exporter)


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-blank line of `str(exc)`, colour codes removed, at most `limit`
    characters; the exception's type name when the message is empty."""
    for line in _ANSI.sub("", str(exc)).splitlines():
        if line.strip():
            return line.strip()[:limit]
    return type(exc).__name__
