"""Samples of 9 to 15 bits widened to sronnx's 16-bit working precision (the full range of
uint16: a 12-bit 4095 becomes 65535), as the TIFF reader does; shared by the readers of
HEIF, AVIF, JPEG XL, PPM and JPEG 2000."""

from __future__ import annotations

import numpy as np

__all__ = ["widen"]


def widen(arr: np.ndarray, bits: int, notes: list[str] | None = None) -> np.ndarray:
    """`arr` (unsigned, values 0 .. 2**bits - 1) as uint16 spanning 0..65535; 16-bit and
    8-bit arrays are returned as they are. A note says so when samples were widened."""
    if bits >= 16 or bits <= 8:
        return arr
    top = (1 << bits) - 1
    out = (np.minimum(arr.astype(np.uint32), top) * 65535 + top // 2) // top
    if notes is not None:
        notes.append(f"{bits}-bit samples widened to 16-bit")
    return out.astype(np.uint16)
