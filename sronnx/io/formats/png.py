"""PNG (and APNG): 16-bit read and written at full precision, the grey colour key fixed.

Pillow reads a 16-bit-per-channel RGB(A) PNG as 8-bit without a word and cannot write one,
so 16-bit PNGs are read with pypng and written by a small PNG writer here (numpy filters,
then libdeflate in one call, or zlib row block by row block for very large pictures, with the
ICC profile, DPI and metadata); the engine's outputs of either depth go through it. Pillow
widens 2- and 4-bit grey samples but not their colour key (`fix_grey_key`). An eXIf chunk
may come after the pixels. PNG is the output of last resort (`default_output`).

What a PNG says besides its pixels is read by walking its chunks (`png_metadata`: texts as
stored, gAMA / cHRM / sRGB / cICP, sBIT, a ratio-only pHYs) and written back by both writers
(`write_png` streams them; Pillow's gets them in a `pnginfo`, sBIT and pHYs added by `_save`).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from sronnx.io import metadata as md
from sronnx.io import registry
from sronnx.io.images import ImageReadError, row_bands

__all__ = ["PAETH_FROM_LEVEL", "PNG", "fix_grey_key", "png_bit_depth", "png_chunks",
           "png_header", "png_metadata", "write_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RowFilter = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


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
    """A 16-bit PNG at full precision: HxW (grey), HxWx2 (grey+alpha), HxWx3 or HxWx4; the
    values as stored (an sBIT chunk is carried as metadata, not applied)."""
    import png

    reader = png.Reader(filename=str(path))
    reader.preamble()
    reader.sbit = None  # asDirect would shift every sample right by 16 - sBIT: keep values
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


_TEXT_LIMIT = 1 << 20  # bytes of one decompressed text (Pillow's MAX_TEXT_CHUNK)
_TEXTS_LIMIT = 64 << 20  # bytes of all texts of a file (Pillow's MAX_TEXT_MEMORY)
# texts carried otherwise (XMP, IPTC) or not at all: ImageMagick's other raw profiles hold
# EXIF or ICC data of the source (a stale orientation, the old layout) in hex
_TEXT_CARRIED_ELSEWHERE = (md.PNG_XMP_KEY, md.PNG_IPTC_KEY)
_RAW_PROFILE = "Raw profile type "


def png_chunks(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """(type, data) of each chunk of a PNG file but the pixels (IDAT, fdAT: skipped), up to
    IEND or a cut; a chunk that claims more than 2 GB ends the walk. CRCs are not checked
    (Pillow checks those it decodes)."""
    with open(path, "rb") as fh:
        if fh.read(8) != PNG_SIGNATURE:
            return
        while True:
            head = fh.read(8)
            if len(head) < 8:
                return
            length, kind = struct.unpack(">I", head[:4])[0], head[4:]
            if length > 0x7FFFFFFF or kind == b"IEND":
                return
            if kind in (b"IDAT", b"fdAT"):
                fh.seek(length + 4, 1)
                continue
            data = fh.read(length)
            fh.seek(4, 1)
            if len(data) < length:
                return
            yield kind, data


def _inflate(data: bytes) -> bytes:
    """zlib data of at most _TEXT_LIMIT bytes inflated; ValueError if more or corrupt."""
    try:
        d = zlib.decompressobj()
        out = d.decompress(data, _TEXT_LIMIT)
    except zlib.error as exc:
        raise ValueError(f"corrupt compressed text ({exc})") from exc
    if d.unconsumed_tail:
        raise ValueError(f"over {_TEXT_LIMIT:,} bytes")
    return out


def _text(kind: bytes, data: bytes) -> md.Text:
    """A tEXt, zTXt or iTXt chunk as a Text; ValueError if it cannot be read."""
    key, sep, rest = data.partition(b"\x00")
    if not sep or not 1 <= len(key) <= 79:
        raise ValueError("no keyword")
    name = key.decode("latin-1")
    if kind == b"tEXt":
        return md.Text(name, rest.decode("latin-1"), "tEXt")
    if kind == b"zTXt":
        return md.Text(name, _inflate(rest[1:]).decode("latin-1"), "zTXt")
    zipped = rest[:1] == b"\x01"
    lang, _, rest = rest[2:].partition(b"\x00")
    tkey, _, body = rest.partition(b"\x00")
    body = _inflate(body) if zipped else body
    return md.Text(name, body.decode("utf-8"), "iTXt", lang.decode("latin-1"),
                   tkey.decode("utf-8", "replace"), zipped=zipped)


def _colour_fact(kind: bytes, data: bytes, facts: dict[str, Any]) -> None:
    """gAMA, cHRM, sRGB, cICP, sBIT or pHYs (unit 0) into `facts` (Metadata fields)."""
    colour = facts.setdefault("colour", {})
    if kind == b"gAMA" and len(data) == 4 and struct.unpack(">I", data)[0]:
        colour["gamma"] = struct.unpack(">I", data)[0]
    elif kind == b"cHRM" and len(data) == 32:
        colour["chromaticities"] = struct.unpack(">8I", data)
    elif kind == b"sRGB" and len(data) == 1:
        colour["srgb"] = data[0]
    elif kind == b"cICP" and len(data) == 4:
        colour["cicp"] = data
    elif kind == b"sBIT" and 1 <= len(data) <= 4 and all(data):
        facts["sbit"] = tuple(data)
    elif kind == b"pHYs" and len(data) == 9 and data[8] == 0 and all(
            struct.unpack(">II", data[:8])):
        facts["aspect"] = struct.unpack(">II", data[:8])


def png_metadata(path: Path, notes: list[str]) -> dict[str, Any]:
    """The Metadata fields of a PNG's texts, colour chunks, sBIT and ratio-only pHYs (see
    `metadata.Metadata`); what cannot be read is left out with a note in `notes`."""
    facts: dict[str, Any] = {}
    texts: list[md.Text] = []
    left_out: list[str] = []
    total = 0
    try:
        for kind, data in png_chunks(path):
            if kind not in (b"tEXt", b"zTXt", b"iTXt"):
                _colour_fact(kind, data, facts)
                continue
            try:
                text = _text(kind, data)
            except (ValueError, UnicodeDecodeError) as exc:
                left_out.append(f"a {kind.decode()} text could not be read ({exc}): left out")
                continue
            total += len(text.value)
            if text.key in _TEXT_CARRIED_ELSEWHERE:
                continue
            if text.key.startswith(_RAW_PROFILE) or total > _TEXTS_LIMIT:
                left_out.append(f"text {text.key} left out ("
                                + ("a raw profile of the source's data)"
                                   if total <= _TEXTS_LIMIT
                                   else f"texts over {_TEXTS_LIMIT:,} bytes)"))
                continue
            texts.append(text)
    except OSError as exc:
        left_out.append(f"texts and colour chunks could not be read ({exc})")
    notes += left_out[:5]  # a hostile file's thousand broken texts: five notes and a count
    if len(left_out) > 5:
        notes.append(f"{len(left_out) - 5} more texts left out")
    colour = md.Colour(**facts.pop("colour", {}))
    if colour.gamma is not None and colour.gamma >= 70000 and colour.srgb is None:
        notes.append(f"gAMA {colour.gamma / 100000:.5g}: the values are (near) linear light; "
                     "the model, made for gamma-encoded (sRGB-like) images, ran on them as "
                     "stored")
    return {**facts, "texts": tuple(texts), "colour": colour or None}


def _describe(img: Image.Image, path: Path, notes: list[str]) -> dict[str, Any]:
    found = png_metadata(path, notes)
    return {"metadata": found} if any(found.values()) else {}


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


# Up to this many filtered bytes (a 4096x4096 RGB output is 48 MiB), the picture is deflated
# in one call to libdeflate (through imagecodecs, already a dependency), which at level 1 is
# 1.96x as fast as zlib's level 1 and 4% smaller on 1080p x3 photo outputs (33.5 against
# 65.4 ms; bench/results/png_encode.txt).
# libdeflate cannot stream, so larger pictures go through zlib band by band, keeping memory
# a few MB beyond the array itself.
ONE_SHOT_BYTES = 64 << 20
IDAT_BYTES = 1 << 20  # one IDAT chunk per MiB of deflated data


def _filtered_bands(arr: np.ndarray, bpp: int,
                    row_filter: RowFilter) -> Iterator[np.ndarray]:
    """The rows of `arr` as PNG scanlines (filter byte + filtered bytes), in row blocks."""
    h, w = arr.shape[:2]
    prev = np.zeros(w * bpp, dtype=np.uint8)
    for y0, y1 in row_bands(h, w * bpp * 24):
        block = arr[y0:y1]
        if block.dtype == np.uint16:
            block = block.astype(">u2")
        raw = np.ascontiguousarray(block).view(np.uint8).reshape(y1 - y0, w * bpp)
        yield row_filter(raw, prev, bpp)
        prev = raw[-1].copy()


def _deflate_whole(bands: Iterator[np.ndarray], size: int, level: int) -> Iterator[bytes]:
    """All scanlines gathered into one buffer of `size` bytes and deflated by libdeflate into
    one zlib stream, given out in IDAT-sized pieces."""
    from imagecodecs import deflate_encode

    buf = np.empty(size, dtype=np.uint8)
    at = 0
    for band in bands:
        buf[at : at + band.size] = band.reshape(-1)
        at += band.size
    data = deflate_encode(buf, level=level)
    for i in range(0, len(data), IDAT_BYTES):
        yield data[i : i + IDAT_BYTES]


def _deflate_bands(bands: Iterator[np.ndarray], size: int, level: int) -> Iterator[bytes]:
    """Scanlines deflated by zlib as they come, so only one band is held at a time."""
    comp = zlib.compressobj(level)
    for band in bands:
        data = comp.compress(band.tobytes())
        if data:
            yield data
    yield comp.flush()


def write_png(fh: BinaryIO, arr: np.ndarray, *, icc_profile: bytes | None = None,
              dpi: tuple[float, float] | None = None, compress_level: int = 1,
              metadata: md.Metadata | None = None, streamed: bool | None = None) -> None:
    """Write an HxW[xC] uint8 or uint16 array (C = 1..4) to `fh` as PNG. Pictures of up to
    ONE_SHOT_BYTES filtered bytes are deflated in one libdeflate call; larger ones (any, with
    `streamed` True; none, with False) stream through zlib in row blocks, so that encoding a
    12000x12000 output needs only a few MB beyond the array itself. `compress_level` 0..9
    (0 stores; Paeth rows from PAETH_FROM_LEVEL, else Sub). Raises ValueError for other
    dtypes or channel counts. `metadata` becomes eXIf, iTXt XMP and zTXt IPTC chunks
    (metadata.png_chunks)."""
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
    for kind, data in md.png_colour_chunks(metadata, depth, planes, icc=bool(icc_profile),
                                           dpi=bool(dpi)):
        _png_chunk(fh, kind, data)
    if icc_profile:
        _png_chunk(fh, b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc_profile))
    if dpi:
        ppm = [max(1, round(v / 0.0254)) for v in dpi]
        _png_chunk(fh, b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1))
    for kind, data in md.png_chunks(metadata, (w, h), dpi) if metadata else ():
        _png_chunk(fh, kind, data)
    for kind, data in md.png_text_chunks(metadata):
        _png_chunk(fh, kind, data)
    row_filter = _paeth_filter if compress_level >= PAETH_FROM_LEVEL else _sub_filter
    if streamed is None:
        streamed = h * (w * bpp + 1) > ONE_SHOT_BYTES
    stream = _deflate_bands if streamed else _deflate_whole
    for data in stream(_filtered_bands(arr, bpp, row_filter), h * (w * bpp + 1),
                       compress_level):
        _png_chunk(fh, b"IDAT", data)
    _png_chunk(fh, b"IEND", b"")


def _write_array(fh: BinaryIO, arr: np.ndarray, *, icc_profile: bytes | None = None,
                 dpi: tuple[float, float] | None = None, meta: md.Metadata | None = None,
                 compress_level: int = 1) -> None:
    write_png(fh, arr, icc_profile=icc_profile, dpi=dpi, compress_level=compress_level,
              metadata=meta)


def _save_options(kwargs: dict[str, Any], enc: registry.Encoding) -> None:
    kwargs["compress_level"] = enc.png_compress_level


_PLANES = {"1": 1, "L": 1, "I": 1, "I;16": 1, "LA": 2, "RGB": 3, "P": 3, "RGBA": 4}


def _save(fh: BinaryIO, img: Image.Image, kwargs: dict[str, Any],
          metadata: md.Metadata | None, notes: list[str]) -> None:
    """Pillow's PNG save, with the sBIT for the image's mode (in the `pnginfo`) and a
    ratio-only pHYs (which Pillow does not write: put after IHDR)."""
    depth = 16 if img.mode in ("I", "I;16") else 8
    sbit = md.output_sbit(metadata.sbit, depth, _PLANES.get(img.mode, 0)) if metadata else None
    if sbit:
        from PIL import PngImagePlugin

        info = kwargs.setdefault("pnginfo", PngImagePlugin.PngInfo())
        info.add(b"sBIT", bytes(sbit))
    if not metadata or not metadata.aspect or "dpi" in kwargs:
        img.save(fh, format="PNG", **kwargs)
        return
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kwargs)
    data = buf.getvalue()
    phys = struct.pack(">IIB", *metadata.aspect, 0)
    chunk = struct.pack(">I", 9) + b"pHYs" + phys + struct.pack(
        ">I", zlib.crc32(b"pHYs" + phys) & 0xFFFFFFFF)
    fh.write(data[:33] + chunk + data[33:])  # signature and IHDR: 8 + 25 bytes


PNG = registry.register_format(registry.ImageFormat(
    "PNG", (".png", ".apng"), choices=("png",), magic=(PNG_SIGNATURE,),
    sixteen_bit=True,
    metadata=frozenset({"EXIF", "XMP", "IPTC", "TEXT", "COMMENT", "ICC", "GAMMA", "ASPECT"}),
    animated=True, animation_label="APNG", exif_after_pixels=True, default_output=True,
    write_array=_write_array, fix_open=_fix_open, read_array=_read_array,
    describe=_describe, save_options=_save_options, save=_save,
    metadata_options=md.png_save_kwargs,
))
