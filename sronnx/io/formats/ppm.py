"""PPM, PGM, PBM and PNM (Netpbm): read and written. Pillow reads the 8-bit kinds and writes
them; binary PGM/PPM (P5/P6) with a maximum value over 255, which Pillow reads as 8-bit RGB,
are read here at full precision (scaled to 16-bit when the maximum is not 65535), and arrays
are written here as PGM/PPM of their depth (16-bit: maximum 65535). No alpha (flattened over
white, noted), no metadata. (.pfm, the float kind, is not taken.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

import numpy as np

from sronnx.io import metadata as md
from sronnx.io import registry
from sronnx.io.images import Decoded, ImageReadError

__all__ = ["PPM", "read_ppm16", "write_ppm"]

_HEADER = re.compile(rb"\A(P[56])(?:\s+|#[^\n]*\n)+(\d+)(?:\s+|#[^\n]*\n)+(\d+)"
                     rb"(?:\s+|#[^\n]*\n)+(\d+)\s")


def _header(path: Path) -> tuple[bytes, int, int, int, int] | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
    except OSError:
        return None
    m = _HEADER.match(head)
    if m is None:
        return None
    return m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), m.end()


def _wide(path: Path) -> bool:
    """Whether `path` is a binary PGM/PPM with more than 8 bits a sample."""
    header = _header(path)
    return header is not None and 255 < header[3] < 65536


def read_ppm16(path: Path, max_pixels: int | None) -> Decoded:
    """A P5/P6 file of 16-bit samples (big-endian) as a uint16 array spanning 0..65535."""
    header = _header(path)
    assert header is not None
    kind, w, h, maxval, start = header
    if max_pixels and w * h > max_pixels:
        raise ImageReadError(f"{w}x{h} = {w * h:,} pixels is over the limit of "
                             f"{max_pixels:,} (a decompression bomb?); raise it with "
                             "--max-pixels")
    channels = 3 if kind == b"P6" else 1
    count = w * h * channels
    with open(path, "rb") as fh:
        fh.seek(start)
        arr = np.fromfile(fh, dtype=">u2", count=count)
    if arr.size < count:
        raise ImageReadError(f"truncated or corrupt image data ({arr.size} of {count} "
                             "samples)")
    arr = arr.astype(np.uint16).reshape((h, w, channels) if channels == 3 else (h, w))
    notes: list[str] = []
    if maxval != 65535:
        arr = ((np.minimum(arr, maxval).astype(np.uint32) * 65535 + maxval // 2)
               // maxval).astype(np.uint16)
        notes.append(f"samples of maximum {maxval} scaled to 16-bit")
    return Decoded(arr, "PPM", notes=notes)


def _opaque(arr: np.ndarray, notes: list[str]) -> np.ndarray:
    """An array with alpha (2 or 4 channels) composited over white, noted if not opaque."""
    if arr.ndim == 2 or arr.shape[2] in (1, 3):
        return arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr
    top = float(np.iinfo(arr.dtype).max)
    colour, alpha = arr[..., :-1].astype(np.float32), arr[..., -1:].astype(np.float32) / top
    if float(alpha.min()) < 1.0:
        notes.append("alpha flattened over white: PPM has no alpha")
    flat = np.clip(colour * alpha + top * (1 - alpha) + 0.5, 0, top).astype(arr.dtype)
    return flat[..., 0] if flat.shape[2] == 1 else flat


def write_ppm(fh: BinaryIO, arr: np.ndarray, *, icc_profile: bytes | None = None,
              dpi: tuple[float, float] | None = None, meta: md.Metadata | None = None,
              compress_level: int = 1, encoding: registry.Encoding | None = None,
              notes: list[str] | None = None) -> None:
    """An HxW[xC] uint8 or uint16 array as binary PGM (grey) or PPM (RGB)."""
    arr = _opaque(arr, notes if notes is not None else [])
    kind = b"P5" if arr.ndim == 2 else b"P6"
    top = 65535 if arr.dtype == np.uint16 else 255
    fh.write(b"%s\n%d %d\n%d\n" % (kind, arr.shape[1], arr.shape[0], top))
    fh.write(np.ascontiguousarray(arr, dtype=">u2" if top == 65535 else np.uint8).tobytes())


PPM = registry.register_format(registry.ImageFormat(
    "PPM", (".ppm", ".pgm", ".pbm", ".pnm"), choices=("ppm", "pgm", "pnm"), alpha=False,
    modes=("1", "L", "RGB"), sixteen_bit=True,
    reader=registry.Reader("PPM16", _wide, read_ppm16), write_array=write_ppm,
    encoded_array=True,
))
