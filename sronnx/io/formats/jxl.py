"""JPEG XL, read and written with imagecodecs (Christoph Gohlke's codec library, libjxl
inside; also the TIFF reader's LZW, Deflate and 12-bit unpacking, so one dependency serves
both; pillow-jxl-plugin, 2.5 MB, would have been smaller but decodes to 8 bits only, is
GPL-3.0 (sronnx is MIT) and takes no ICC profile either).

Read: every depth (9 to 16-bit samples come as 16-bit from libjxl; float samples in
[0, 1] become 16-bit, others are refused as HDR), alpha, EXIF and XMP from the container's
`Exif` and `xml ` boxes (Brotli-compressed `brob` boxes are decompressed). Orientation is
the codestream's, applied by libjxl while decoding (EXIF's is informative, as in HEIF). The
size comes from the codestream's SizeHeader and is checked before decoding. The colour
encoding comes from the codestream's ImageMetadata (`jxlstream`): sRGB is taken as it is;
linear-light sRGB (what imagecodecs' encoder tags every 16-bit and float picture with) is
converted to sRGB at 16 bits; anything else (an ICC profile, which imagecodecs gives no
access to, other primaries or transfer functions) is taken as sRGB, with a note naming it.

Written: 8 and 16-bit, lossless for a lossless input or --quality 100, else the distance
libjxl maps --quality to. EXIF and XMP go into `Exif` and `xml ` boxes of a JPEG XL
container (ISO/IEC 18181-2) around the codestream, orientation 1 as in every output. The
colour encoding is sRGB: imagecodecs tags 16-bit pictures as linear sRGB, so 16-bit ones are
retagged sRGB in the codestream (`jxlstream.retag_transfer_srgb`), after being converted to
linear light first when lossy (the lossy XYB coding takes the samples as the tag says).
An ICC profile is not kept, with a note: JPEG XL holds one only inside the codestream
(compressed, in the ImageMetadata; the container has no box for it), and imagecodecs'
encoder (2026.3.6) takes none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from sronnx.core import first_line
from sronnx.io import metadata as md
from sronnx.io import registry
from sronnx.io.formats import jxlstream
from sronnx.io.formats.jxlstream import CodestreamError, jxl_size
from sronnx.io.images import Decoded, ImageReadError
from sronnx.io.sniff import read_head

__all__ = ["JXL", "JXL_MAGIC", "jxl_size", "read_jxl", "write_jxl"]

_CODESTREAM = b"\xff\x0a"
_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
JXL_MAGIC = (_CODESTREAM, _CONTAINER)
_FTYP = b"jxl \x00\x00\x00\x00jxl "
ICC_NOTE = ("ICC profile not kept: JPEG XL holds one only inside the codestream, and "
            "imagecodecs' encoder cannot put it there; the output is tagged sRGB")


def is_jxl(path: Path) -> bool:
    return read_head(path, 12).startswith(JXL_MAGIC)


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


def _as_working(arr: np.ndarray, colour: jxlstream.ColourEncoding | None,
                notes: list[str]) -> np.ndarray | Image.Image:
    """The decoded array as sronnx works on it: 8-bit as an image, 16-bit as it is, float
    in [0, 1] as 16-bit (others refused as HDR); linear-light sRGB converted to sRGB."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
            raise ImageReadError("a float JPEG XL with values outside [0, 1] (HDR): sronnx "
                                 "upscales SDR pictures only")
        notes.append("float samples read as 16-bit")
    if colour is not None and _linear_srgb(colour):
        notes.append("linear-light JPEG XL converted to sRGB (16-bit)")
        return _encode_srgb(arr)
    if arr.dtype.kind == "f":
        return np.round(arr.astype(np.float32) * 65535).astype(np.uint16)
    if arr.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(arr))
    return arr


def _linear_srgb(colour: jxlstream.ColourEncoding) -> bool:
    return (not colour.icc and colour.transfer == jxlstream.LINEAR
            and colour.white_point == 1 and colour.primaries in (1, None))


def _colour_channels(arr: np.ndarray) -> int:
    """How many of an HxW[xC] array's channels are colour (alpha is the 2nd of two or the
    4th of four)."""
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    return channels - 1 if channels in (2, 4) else channels


def _encode_srgb(arr: np.ndarray) -> np.ndarray:
    """Linear-light samples (uint8, uint16, or float in [0, 1]) as sRGB-encoded uint16
    (IEC 61966-2-1's transfer function); alpha is scaled only."""
    top = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(arr.dtype, 1.0)
    return _banded(arr, top, _oetf)


def _decode_linear(arr: np.ndarray) -> np.ndarray:
    """sRGB-encoded uint16 samples as linear-light uint16 (alpha as it is)."""
    return _banded(arr, 65535.0, _eotf)


def _oetf(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, v * 12.92,
                    1.055 * np.power(np.maximum(v, 0.0031308), 1 / 2.4) - 0.055)


def _eotf(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4))


def _banded(arr: np.ndarray, top: float, curve: Any) -> np.ndarray:
    """`curve` applied to the colour channels of `arr` / `top` (alpha only rescaled), as
    uint16 0..65535; 256 rows at a time (no full-size float64 copy)."""
    c = _colour_channels(arr)
    out = np.empty(arr.shape, np.uint16)
    for y0 in range(0, arr.shape[0], 256):
        v = arr[y0:y0 + 256].astype(np.float64) / top
        if v.ndim == 2:
            v = curve(v)
        else:
            v[..., :c] = curve(v[..., :c])
        out[y0:y0 + 256] = np.round(v * 65535)
    return out


def _colour_notes(colour: jxlstream.ColourEncoding | None, notes: list[str]) -> None:
    if colour is None:
        notes.append("JPEG XL colour encoding not readable: taken as sRGB")
    elif colour.icc:
        notes.append("JPEG XL ICC profile not read (imagecodecs gives no access to it): the "
                     "values are taken as sRGB")
    elif not colour.is_srgb and not _linear_srgb(colour):
        notes.append(f"JPEG XL colour encoding ({colour.describe()}) not converted: the "
                     "values are taken as sRGB")


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
    try:
        colour: jxlstream.ColourEncoding | None = jxlstream.colour_encoding(stream)
    except (CodestreamError, KeyError):
        colour = None
    meta, meta_notes = _metadata(boxes)
    notes += meta_notes
    try:
        arr = imagecodecs.jpegxl_decode(data)
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(f"truncated or corrupt JPEG XL data ({first_line(exc, 200)})") \
            from exc
    _colour_notes(colour, notes)
    return Decoded(_as_working(arr, colour, notes), "JXL", None, None, notes, meta)


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
    """An HxW[xC] uint8 or uint16 array (sRGB-encoded) as JPEG XL, tagged sRGB, with the
    EXIF and XMP of `meta` (EXIF resolution from `dpi`) in a container (see the module's
    note). `compress_level` is not used (PNG's)."""
    enc = encoding or registry.Encoding()
    lossless = enc.lossless or enc.quality >= 100
    if icc_profile and notes is not None:
        notes.append(ICC_NOTE)
    stream, level = _encoded_srgb(arr, lossless, enc.quality)
    size = (arr.shape[1], arr.shape[0])
    exif = md.output_exif(meta, size, dpi) if meta else None
    xmp = md.output_xmp(meta, size) if meta else None
    fh.write(_file(stream, level, exif.tobytes() if exif is not None else None, xmp))


def _encoded_srgb(arr: np.ndarray, lossless: bool, quality: int) -> tuple[bytes, bytes | None]:
    """(codestream tagged sRGB, `jxll` body or None) of a uint8 or uint16 sRGB-encoded
    array. imagecodecs tags uint16 as linear light: lossy (XYB) coding then takes the
    samples as linear, so they are made linear first; either way the tag is then set to
    sRGB. Should an imagecodecs tag them otherwise, the samples are encoded as they are."""
    import imagecodecs

    deep = arr.dtype == np.uint16
    kwargs: dict[str, Any] = {"lossless": True} if lossless else \
        {"distance": _distance(quality)}
    bits = 16 if deep else 8
    pixels = _decode_linear(arr) if deep and not lossless else arr
    stream, level = _codestream(imagecodecs.jpegxl_encode(np.ascontiguousarray(pixels),
                                                          bitspersample=bits, **kwargs))
    if not deep:
        return stream, level
    if jxlstream.colour_encoding(stream).transfer == jxlstream.LINEAR:
        return jxlstream.retag_transfer_srgb(stream), level
    if pixels is not arr:
        return _codestream(imagecodecs.jpegxl_encode(np.ascontiguousarray(arr),
                                                     bitspersample=bits, **kwargs))
    return stream, level


def _codestream(data: bytes) -> tuple[bytes, bytes | None]:
    """(the codestream, the body of the `jxll` level box or None) of what imagecodecs
    wrote: a bare codestream, or a container (it writes one for level 10 streams)."""
    if data.startswith(_CODESTREAM):
        return data, None
    stream, parts, level = b"", [], None
    for kind, body in _boxes(data):
        if kind == b"jxlc":
            stream = body
        elif kind == b"jxlp":
            parts.append(body[4:])
        elif kind == b"jxll":
            level = body
    return stream or b"".join(parts), level


def _box(kind: bytes, body: bytes) -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def _file(stream: bytes, level: bytes | None, exif: bytes | None, xmp: bytes | None) -> bytes:
    """A bare codestream where nothing else is to be held; else a container (ISO/IEC
    18181-2): signature, `ftyp`, the `jxll` level, `Exif` (a 4-byte offset to the TIFF
    header, 0, then the TIFF structure), `xml ` (the XMP packet), `jxlc` (the codestream).
    `exif` is Pillow's (b"Exif\\0\\0" + TIFF) or a bare TIFF structure."""
    if level is None and not exif and not xmp:
        return stream
    out = [_CONTAINER, _box(b"ftyp", _FTYP)]
    if level is not None:
        out.append(_box(b"jxll", level))
    if exif:
        out.append(_box(b"Exif", b"\0\0\0\0" + exif.removeprefix(b"Exif\0\0")))
    if xmp:
        out.append(_box(b"xml ", xmp))
    out.append(_box(b"jxlc", stream))
    return b"".join(out)


def _save(fh: BinaryIO, img: Image.Image, kwargs: dict[str, Any],
          metadata: md.Metadata | None, notes: list[str]) -> None:
    if img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
    write_jxl(fh, np.asarray(img), icc_profile=kwargs.get("icc_profile"),
              dpi=kwargs.get("dpi"), meta=metadata,
              encoding=registry.Encoding(quality=kwargs.get("quality", 95),
                                         lossless=kwargs.get("lossless", False)), notes=notes)


def _save_options(kwargs: dict[str, Any], enc: registry.Encoding) -> None:
    kwargs.update(quality=enc.quality, lossless=enc.lossless)


JXL = registry.register_format(registry.ImageFormat(
    "JXL", (".jxl",), choices=("jxl",), sixteen_bit=True, pillow_opens=False,
    metadata=frozenset({"EXIF", "XMP"}),
    reader=registry.Reader("JXL", is_jxl, read_jxl), write_array=write_jxl,
    encoded_array=True, save=_save, save_options=_save_options,
))
