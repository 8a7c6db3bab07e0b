"""WebP: lossy or lossless, still or animated; sides up to 16383; EXIF and XMP (no place for
IPTC). A lossless input (`webp_lossless`: every image bitstream VP8L) is written lossless
again, at libwebp's default effort.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from sronnx.io import registry

__all__ = ["WEBP", "WEBP_LOSSLESS_EFFORT", "webp_lossless"]

# Lossless WebP effort (Pillow's `quality` when lossless=True; libwebp's and cwebp's default):
# on a 1024x1024 upscaled photo 0.3 s and 1.33 MB, against 0.5 s and the same size at 95
WEBP_LOSSLESS_EFFORT = 75


def webp_lossless(path: str | Path) -> bool:
    """Whether `path` is a WebP whose every image bitstream is lossless (VP8L): a plain
    lossless WebP, or an extended one (VP8X) whose image, or every animation frame (ANMF),
    is VP8L. False for lossy (VP8, with or without ALPH), mixed, other files and unreadable
    ones. Reads chunk headers only."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
                return False
            end = 8 + struct.unpack("<I", head[4:8])[0]
            found = _webp_bitstreams(fh, 12, end)
    except (OSError, struct.error):
        return False
    return bool(found) and found == {b"VP8L"}


def _webp_bitstreams(fh: BinaryIO, pos: int, end: int) -> set[bytes]:
    """The kinds of image bitstream chunks (b"VP8 ", b"VP8L") between `pos` and `end`,
    looking inside ANMF frames (16 bytes of frame header, then sub-chunks)."""
    found: set[bytes] = set()
    while pos + 8 <= end:
        fh.seek(pos)
        header = fh.read(8)
        if len(header) < 8:
            break
        kind, size = header[:4], struct.unpack("<I", header[4:])[0]
        if kind in (b"VP8 ", b"VP8L"):
            found.add(kind)
        elif kind == b"ANMF":
            found |= _webp_bitstreams(fh, pos + 8 + 16, min(pos + 8 + size, end))
        pos += 8 + size + (size & 1)
    return found


def _describe(img: Image.Image, path: Path, notes: list[str]) -> dict[str, Any]:
    return {"lossless": webp_lossless(path)}


def _save_options(kwargs: dict[str, Any], enc: registry.Encoding) -> None:
    if enc.lossless:
        kwargs.update(lossless=True, quality=WEBP_LOSSLESS_EFFORT)
    else:
        kwargs["quality"] = enc.quality


WEBP = registry.register_format(registry.ImageFormat(
    "WEBP", (".webp",), choices=("webp",), magic=(b"RIFF",), max_side=16383,
    metadata=frozenset({"EXIF", "XMP", "ICC"}), animated=True,
    describe=_describe, save_options=_save_options,
))
