"""The format table, in the manner of Pillow's plugin registry (`Image.OPEN`/`SAVE`, filled by
each `*ImagePlugin.register_open`/`register_save`): a format module that reads or writes files
in its own way registers here, and the generic reader and writer (`sronnx.io.images`) consult
the table instead of naming the module.

Readers are tried in registration order before Pillow's generic decoder; one that returns None
leaves the file to Pillow. Array writers take an HxW[xC] array at full precision (uint16,
float32) for their format; formats without one get 8-bit images through Pillow.
No import of any format module here: they import this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ArrayWriter", "Reader", "array_writer", "readers", "register_array_writer",
           "register_reader"]

#: (fh, HxW[xC] array, keyword options of `write_image`: icc_profile, dpi, metadata,
#: compress_level) -> None; `fh` is open for reading and writing.
ArrayWriter = Callable[..., None]


@dataclass(frozen=True)
class Reader:
    """A format's own reader: `accepts(path)` says whether it takes the file (from its first
    bytes); `read(path, max_pixels)` decodes it (a `sronnx.io.images.Decoded`), or returns None
    to leave it to Pillow. `read` raises `ImageReadError` for a file it cannot decode."""

    name: str
    accepts: Callable[[Path], bool]
    read: Callable[[Path, int | None], Any]


_READERS: list[Reader] = []
_ARRAY_WRITERS: dict[str, ArrayWriter] = {}


def register_reader(name: str, accepts: Callable[[Path], bool],
                    read: Callable[[Path, int | None], Any]) -> None:
    """Add (or replace, by `name`) a format's reader."""
    _READERS[:] = [r for r in _READERS if r.name != name]
    _READERS.append(Reader(name, accepts, read))


def readers() -> tuple[Reader, ...]:
    """The registered readers, in registration order."""
    return tuple(_READERS)


def register_array_writer(fmt: str, write: ArrayWriter) -> None:
    """The full-precision writer of Pillow format name `fmt` ("PNG", "TIFF", ...)."""
    _ARRAY_WRITERS[fmt] = write


def array_writer(fmt: str) -> ArrayWriter | None:
    """The registered full-precision writer for `fmt`, or None (8-bit through Pillow)."""
    return _ARRAY_WRITERS.get(fmt)
