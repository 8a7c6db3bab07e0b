"""JPEG XL, read and written with imagecodecs (Christoph Gohlke's codec library, libjxl
inside; also the TIFF reader's LZW, Deflate and 12-bit unpacking, so one dependency serves
both; pillow-jxl-plugin, 2.5 MB, would have been smaller but decodes to 8 bits only).

Read: every depth (9 to 16-bit samples come as 16-bit from libjxl; float samples in
[0, 1] become 16-bit, others are refused as HDR), alpha, EXIF and XMP from the container's
`Exif` and `xml ` boxes (Brotli-compressed `brob` boxes are decompressed). Orientation is
the codestream's, applied by libjxl while decoding (EXIF's is informative, as in HEIF). The
size comes from the codestream's SizeHeader and is checked before decoding. The colour
description in the codestream (an enum or a compressed ICC profile) is not read (imagecodecs
gives no access): the pixels are taken as sRGB, which the file's notes say.

Written: 8 and 16-bit, lossless for a lossless input or --quality 100, else the distance
libjxl maps --quality to; no metadata and no ICC profile (imagecodecs writes none; noted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from sronnx.core import first_line
from sronnx.io import metadata as md
from sronnx.io import registry
from sronnx.io.images import Decoded, ImageReadError
from sronnx.io.sniff import read_head

__all__ = ["JXL", "JXL_MAGIC", "jxl_size", "read_jxl", "write_jxl"]

_CODESTREAM = b"\xff\x0a"
_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
JXL_MAGIC = (_CODESTREAM, _CONTAINER)
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
_U32_BITS = (9, 13, 18, 30)


def is_jxl(path: Path) -> bool:
    return read_head(path, 12).startswith(JXL_MAGIC)


class _Bits:
    """LSB-first bit reader (JPEG XL's order)."""

    def __init__(self, data: bytes) -> None:
        self.value, self.pos = int.from_bytes(data, "little"), 0

    def read(self, n: int) -> int:
        out = (self.value >> self.pos) & ((1 << n) - 1)
        self.pos += n
        return out

    def side(self, small: bool) -> int:
        if small:
            return (self.read(5) + 1) * 8
        return self.read(_U32_BITS[self.read(2)]) + 1


def jxl_size(codestream: bytes) -> tuple[int, int]:
    """(width, height) from a codestream's SizeHeader (ISO/IEC 18181-1, 9.2)."""
    bits = _Bits(codestream[2:20])
    small = bool(bits.read(1))
    height = bits.side(small)
    ratio = bits.read(3)
    if ratio == 0:
        return bits.side(small), height
    num, den = _RATIOS[ratio]
    return height * num // den, height


def _boxes(data: bytes):
    pos = 0
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        head = 8
        if size == 1:
            size, head = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
        elif size == 0:
            size = len(data) - pos
        if size < head:
            return
        yield kind, data[pos + head:pos + size]
        pos += size


def _container(data: bytes) -> tuple[bytes, dict[bytes, bytes], list[str]]:
    """The codestream's first bytes and the metadata boxes of a container file."""
    stream, found, notes = b"", {}, []
    for kind, body in _boxes(data):
        if kind == b"brob" and len(body) > 4:
            try:
                import imagecodecs

                kind, body = body[:4], imagecodecs.brotli_decode(body[4:])
            except Exception as exc:  # noqa: BLE001
                notes.append(f"a compressed {body[:4]!r} box could not be read "
                             f"({first_line(exc, 80)}) and was left out")
                continue
        if kind == b"jxlc" and not stream:
            stream = body
        elif kind == b"jxlp" and not stream:
            stream = body[4:]
        elif kind in (b"Exif", b"xml ") and kind not in found:
            found[kind] = body
    return stream, found, notes


def _metadata(boxes: dict[bytes, bytes]) -> tuple[md.Metadata | None, list[str]]:
    carrier = Image.new("1", (1, 1))
    exif = boxes.get(b"Exif")
    if exif and len(exif) > 4:
        carrier.info["exif"] = exif[4 + int.from_bytes(exif[:4], "big"):]
    if boxes.get(b"xml "):
        carrier.info["xmp"] = boxes[b"xml "]
    meta, notes = md.from_pil(carrier)
    return meta or None, notes


def _as_working(arr: np.ndarray, notes: list[str]) -> np.ndarray | Image.Image:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
            raise ImageReadError("a float JPEG XL with values outside [0, 1] (HDR): sronnx "
                                 "upscales SDR pictures only")
        notes.append("float samples read as 16-bit")
        return np.round(arr.astype(np.float32) * 65535).astype(np.uint16)
    if arr.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(arr))
    return arr


def read_jxl(path: Path, max_pixels: int | None) -> Decoded:
    """A JPEG XL picture at full depth, upright (see the module's note)."""
    import imagecodecs

    data = path.read_bytes()
    stream, boxes, notes = (data, {}, []) if data.startswith(_CODESTREAM) else _container(data)
    try:
        w, h = jxl_size(stream)
    except (KeyError, IndexError, ValueError) as exc:
        raise ImageReadError("not a readable JPEG XL (no size header)") from exc
    if max_pixels and w * h > max_pixels:
        raise ImageReadError(f"{w}x{h} = {w * h:,} pixels is over the limit of "
                             f"{max_pixels:,} (a decompression bomb?); raise it with "
                             "--max-pixels")
    meta, meta_notes = _metadata(boxes)
    notes += meta_notes
    try:
        arr = imagecodecs.jpegxl_decode(data)
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(f"truncated or corrupt JPEG XL data ({first_line(exc, 200)})") \
            from exc
    notes.append("JPEG XL colour description not read: taken as sRGB")
    return Decoded(_as_working(arr, notes), "JXL", None, None, notes, meta)


def _distance(quality: int) -> float:
    """libjxl's JxlEncoderDistanceFromQuality."""
    if quality >= 100:
        return 0.0
    if quality >= 30:
        return 0.1 + (100 - quality) * 0.09
    return 53.0 / 3000.0 * quality * quality - 23.0 / 20.0 * quality + 25.0


def write_jxl(fh: BinaryIO, arr: np.ndarray, *, icc_profile: bytes | None = None,
              dpi: tuple[float, float] | None = None, meta: md.Metadata | None = None,
              compress_level: int = 1, encoding: registry.Encoding | None = None,
              notes: list[str] | None = None) -> None:
    """An HxW[xC] uint8 or uint16 array as JPEG XL (see the module's note)."""
    import imagecodecs

    enc = encoding or registry.Encoding()
    lossless = enc.lossless or enc.quality >= 100
    if icc_profile and notes is not None:
        notes.append("ICC profile not kept: sronnx's JPEG XL writer cannot embed one")
    bits = 16 if arr.dtype == np.uint16 else 8
    kwargs: dict[str, Any] = {"lossless": True} if lossless else \
        {"distance": _distance(enc.quality)}
    fh.write(imagecodecs.jpegxl_encode(np.ascontiguousarray(arr), bitspersample=bits,
                                       **kwargs))


def _save(fh: BinaryIO, img: Image.Image, kwargs: dict[str, Any],
          metadata: md.Metadata | None, notes: list[str]) -> None:
    if img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
    write_jxl(fh, np.asarray(img), icc_profile=kwargs.get("icc_profile"),
              encoding=registry.Encoding(quality=kwargs.get("quality", 95),
                                         lossless=kwargs.get("lossless", False)), notes=notes)


def _save_options(kwargs: dict[str, Any], enc: registry.Encoding) -> None:
    kwargs.update(quality=enc.quality, lossless=enc.lossless)


JXL = registry.register_format(registry.ImageFormat(
    "JXL", (".jxl",), choices=("jxl",), sixteen_bit=True, pillow_opens=False,
    reader=registry.Reader("JXL", is_jxl, read_jxl), write_array=write_jxl,
    encoded_array=True, save=_save, save_options=_save_options,
))
