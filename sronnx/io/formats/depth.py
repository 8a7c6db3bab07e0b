"""Samples of 9 to 15 bits widened to sronnx's 16-bit working precision (the full range of
uint16: a 12-bit 4095 becomes 65535), as the TIFF reader does; shared by the readers of
HEIF, AVIF, JPEG XL, PPM and JPEG 2000; and 16-bit samples narrowed to fewer bits for the
writers of AVIF (12 bits)."""

from __future__ import annotations

import numpy as np

__all__ = ["narrow", "widen"]

_BAND_ROWS = 256  # rows converted at a time (no full-size 32-bit copy)


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


def narrow(arr: np.ndarray, bits: int) -> np.ndarray:
    """A uint16 array (0..65535) as values 0 .. 2**bits - 1, rounded to nearest: uint8 for
    8 bits or fewer, else uint16; converted a band of rows at a time."""
    top = (1 << bits) - 1
    out = np.empty(arr.shape, np.uint8 if bits <= 8 else np.uint16)
    for y0 in range(0, arr.shape[0], _BAND_ROWS):
        band = arr[y0:y0 + _BAND_ROWS].astype(np.uint32)
        out[y0:y0 + _BAND_ROWS] = (band * top + 32767) // 65535
    return out
