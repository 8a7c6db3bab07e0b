"""JPEG 2000 (.jp2 and raw .j2k codestreams): read only. Pillow (OpenJPEG) decodes it, but
narrows RGB samples of more than 8 bits to 8; those files are decoded by imagecodecs
(OpenJPEG too) at full depth and become 16-bit. Alpha and the ICC profile are kept (Pillow
reads the `colr` box); outputs are PNG (lossless, 16-bit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sronnx.io import registry
from sronnx.io.formats.depth import widen

__all__ = ["JPEG2000", "jpeg2000_bits"]

_SIZ = b"\xff\x51"


def jpeg2000_bits(path: Path) -> int:
    """The most bits a sample of the codestream's components has (its SIZ segment); 8 when
    it cannot be found in the file's first 64 KiB."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    at = head.find(_SIZ)
    if at < 0 or len(head) < at + 40:
        return 8
    count = int.from_bytes(head[at + 38:at + 40], "big")
    depths = head[at + 40:at + 40 + 3 * count:3]
    return max(((d & 0x7F) + 1 for d in depths), default=8)


def _describe(img: Image.Image, path: Path, notes: list[str]) -> dict[str, Any]:
    bits = jpeg2000_bits(path)
    if 8 < bits < 16:
        notes.append(f"{bits}-bit samples widened to 16-bit")
    return {}


def _read_array(img: Image.Image, path: Path) -> np.ndarray | None:
    bits = jpeg2000_bits(path)
    if bits <= 8:
        return None
    import imagecodecs

    arr = imagecodecs.jpeg2k_decode(path.read_bytes())
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    return widen(arr.astype(np.uint16), bits)


JPEG2000 = registry.register_format(registry.ImageFormat(
    "JPEG2000", (".jp2", ".j2k", ".j2c", ".jpc", ".jpf", ".jpx"), writable=False,
    describe=_describe, read_array=_read_array,
))
