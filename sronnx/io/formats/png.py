"""PNG (and APNG): 16-bit read and written at full precision, the grey colour key fixed.

Pillow reads a 16-bit-per-channel RGB(A) PNG as 8-bit without a word and cannot write one,
so 16-bit PNGs are read with pypng and written by a small streaming PNG writer here (numpy
filters + zlib, row block by row block, with the ICC profile, DPI and metadata). Pillow
widens 2- and 4-bit grey samples but not their colour key (`fix_grey_key`). An eXIf chunk
may come after the pixels. PNG is the output of last resort (`default_output`).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from sronnx.io import metadata as md
from sronnx.io import registry
from sronnx.io.images import ImageReadError, row_bands

__all__ = ["PAETH_FROM_LEVEL", "PNG", "fix_grey_key", "png_bit_depth", "png_header",
           "write_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR, or None if not a PNG."""
    with open(path, "rb") as fh:
        head = fh.read(29)
    if len(head) < 29 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def png_bit_depth(path: Path) -> int | None:
    header = png_header(path)
    return header[0] if header else None


def _read_png16(path: Path) -> np.ndarray:
    """A 16-bit PNG at full precision: HxW (grey), HxWx2 (grey+alpha), HxWx3 or HxWx4."""
    import png

    reader = png.Reader(filename=str(path))
    width, height, rows, info = reader.asDirect()
    planes = info["planes"]
    arr = np.empty((height, width * planes), dtype=np.uint16)
    n = 0
    for n, row in enumerate(rows, start=1):
        arr[n - 1] = row
    if n != height:
        raise ImageReadError(f"truncated: {n} of {height} rows")
    return arr.reshape(height, width) if planes == 1 else arr.reshape(height, width, planes)


def _read_array(img: Image.Image, path: Path) -> np.ndarray | None:
    """A 16-bit grey, grey + alpha, RGB or RGBA PNG's pixels at full precision (as stored,
    not yet turned upright); None for the others, which Pillow decodes."""
    header = png_header(path)
    if header is not None and header[0] == 16 and header[1] in (0, 2, 4, 6):
        return _read_png16(path)
    return None


def fix_grey_key(img: Image.Image, header: tuple[int, int] | None) -> None:
    """A 2- or 4-bit grey PNG's colour key (tRNS) on the 8-bit scale of its pixels.

    Pillow widens 2- and 4-bit grey samples to 8 bits (3 of 15 becomes 51) but keeps the
    key as stored (3), so no pixel would match it and the transparency would be lost.
    (1-bit PNGs are mode "1", whose key Pillow already scales.) `header` is png_header's.
    A key already above the stored range is left alone (a Pillow that scales it itself)."""
    if header is None or header[1] != 0 or header[0] not in (2, 4) or img.mode != "L":
        return
    key = img.info.get("transparency")
    top = (1 << header[0]) - 1
    if isinstance(key, int) and 0 <= key <= top:
        img.info["transparency"] = key * 255 // top


def _fix_open(img: Image.Image, path: Path) -> None:
    fix_grey_key(img, png_header(path))


def _png_chunk(fh: BinaryIO, kind: bytes, data: bytes) -> None:
    fh.write(struct.pack(">I", len(data)) + kind + data)
    fh.write(struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


# Below this zlib level, PNG rows use the Sub filter; from it on, Paeth. On x3 outputs of
# photos (BSD100 through rsp-x3-int8, 1920x1080) Sub encodes in 65 ms against Paeth's 107 ms
# for 5% more bytes: when speed was asked for (low levels), Sub; when size, Paeth.
PAETH_FROM_LEVEL = 6


def _sub_filter(raw: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    """Sub-filter a block of rows (n x row bytes, uint8): each byte minus the one `bpp` to
    its left. One subtraction per byte, the cheapest filter that still helps deflate."""
    out = np.empty((raw.shape[0], raw.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = 1  # Sub
    out[:, 1 : 1 + bpp] = raw[:, :bpp]
    np.subtract(raw[:, bpp:], raw[:, :-bpp], out=out[:, 1 + bpp :])  # modulo 256
    return out


def _paeth_filter(raw: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    """Paeth-filter a block of rows (n x row bytes, uint8) given the row above the block.

    Paeth on every row compresses photos as well as libpng's per-row choice (measured within
    0.1%) at a fraction of the cost; it reads only raw bytes, so it vectorises.
    """
    up = np.empty_like(raw)
    up[0] = prev
    up[1:] = raw[:-1]
    left = np.zeros_like(raw)
    left[:, bpp:] = raw[:, :-bpp]
    upleft = np.zeros_like(raw)
    upleft[:, bpp:] = up[:, :-bpp]
    a, b, c = left.astype(np.int16), up.astype(np.int16), upleft.astype(np.int16)
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    out = np.empty((raw.shape[0], raw.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = 4  # Paeth
    np.subtract(raw, pred, out=out[:, 1:])  # modulo 256
    return out


def write_png(fh: BinaryIO, arr: np.ndarray, *, icc_profile: bytes | None = None,
              dpi: tuple[float, float] | None = None, compress_level: int = 1,
              metadata: md.Metadata | None = None) -> None:
    """Stream an HxW[xC] uint8 or uint16 array (C = 1..4) to `fh` as PNG, in row blocks, so
    that encoding a 12000x12000 output needs only a few MB beyond the array itself.
    `metadata` becomes eXIf, iTXt XMP and zTXt IPTC chunks (metadata.png_chunks)."""
    if arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"PNG needs uint8 or uint16 pixels, got {arr.dtype}")
    h, w = arr.shape[:2]
    planes = 1 if arr.ndim == 2 else arr.shape[2]
    if planes not in (1, 2, 3, 4):
        raise ValueError(f"PNG holds 1 to 4 channels, got {planes}")
    depth = 16 if arr.dtype == np.uint16 else 8
    bpp = planes * depth // 8
    fh.write(PNG_SIGNATURE)
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[planes]
    _png_chunk(fh, b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0))
    if icc_profile:
        _png_chunk(fh, b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc_profile))
    if dpi:
        ppm = [max(1, round(v / 0.0254)) for v in dpi]
        _png_chunk(fh, b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1))
    for kind, data in md.png_chunks(metadata, (w, h), dpi) if metadata else ():
        _png_chunk(fh, kind, data)
    comp = zlib.compressobj(compress_level)
    prev = np.zeros(w * bpp, dtype=np.uint8)
    row_filter = _paeth_filter if compress_level >= PAETH_FROM_LEVEL else _sub_filter
    for y0, y1 in row_bands(h, w * bpp * 24):
        block = arr[y0:y1]
        if depth == 16:
            block = block.astype(">u2")
        raw = np.ascontiguousarray(block).view(np.uint8).reshape(y1 - y0, w * bpp)
        data = comp.compress(row_filter(raw, prev, bpp).tobytes())
        if data:
            _png_chunk(fh, b"IDAT", data)
        prev = raw[-1].copy()
    _png_chunk(fh, b"IDAT", comp.flush())
    _png_chunk(fh, b"IEND", b"")


def _write_array(fh: BinaryIO, arr: np.ndarray, *, icc_profile: bytes | None = None,
                 dpi: tuple[float, float] | None = None, meta: md.Metadata | None = None,
                 compress_level: int = 1) -> None:
    write_png(fh, arr, icc_profile=icc_profile, dpi=dpi, compress_level=compress_level,
              metadata=meta)


def _save_options(kwargs: dict[str, Any], enc: registry.Encoding) -> None:
    kwargs["compress_level"] = enc.png_compress_level


PNG = registry.register_format(registry.ImageFormat(
    "PNG", (".png", ".apng"), choices=("png",), magic=(PNG_SIGNATURE,),
    sixteen_bit=True, metadata=frozenset({"EXIF", "XMP", "IPTC"}),
    animated=True, animation_label="APNG", exif_after_pixels=True, default_output=True,
    write_array=_write_array, fix_open=_fix_open, read_array=_read_array,
    save_options=_save_options, metadata_options=md.png_save_kwargs,
))
