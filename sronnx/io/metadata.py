"""EXIF, XMP and IPTC: read from an input, brought up to date, written into the output.

What is carried and how:

- EXIF (camera make and model, dates, description, exposure, GPS): parsed with Pillow. The
  orientation becomes 1 (the pixels were turned upright on read), PixelXDimension /
  PixelYDimension in the Exif IFD become the output size, X/YResolution the output DPI. The
  TIFF tags that describe the old pixel layout (size, strips, compression, bits, ...) and any
  EXIF thumbnail (IFD1) or Interoperability IFD are not carried. EXIF that cannot be parsed is
  dropped with a note, not copied blind: a stale orientation would turn the upright output.
- XMP: the packet as it is, with tiff:Orientation set to 1 and exif:PixelXDimension /
  PixelYDimension (and tiff:ImageWidth / ImageLength) set to the output size where present.
- IPTC (IPTC-IIM datasets: title, caption, keywords, credit, ...): carried as bytes.

Where they go: JPEG (APP1 EXIF, APP1 XMP, APP13 "Photoshop 3.0" with the IPTC resource),
PNG (eXIf, iTXt "XML:com.adobe.xmp", zTXt "Raw profile type iptc" as ImageMagick and exiftool
write it), WebP (EXIF, XMP; it has no place for IPTC), TIFF (EXIF in IFD0 and its Exif/GPS
IFDs, tag 700 XMP, tag 33723 IPTC). BMP holds none of them. Which kinds a format holds is
its record's (`ImageFormat.metadata` in `sronnx.io.registry`), and how Pillow is asked to
write them its `metadata_options` (`png_save_kwargs`, `tiff_save_kwargs`; the others take
`exif` and `xmp`). What an output cannot hold is named in the file's notes.
"""

from __future__ import annotations

import contextlib
import io
import re
import struct
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from PIL import Image, TiffImagePlugin

from sronnx.core import first_line
from sronnx.io import registry

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
_INTEROP_IFD = 0xA005
_ORIENTATION = 0x0112
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
_X_RES, _Y_RES, _RES_UNIT = 0x011A, 0x011B, 0x0128
_EXIF_PREFIX = b"Exif\x00\x00"
_PS_HEADER = b"Photoshop 3.0\x00"
_IPTC_RESOURCE = 0x0404
_PNG_IPTC_KEY = "Raw profile type iptc"
_TOOL_DESCRIPTIONS = ('{"shape"', "ImageJ=")
_JPEG_SEGMENT_MAX = 65533  # bytes of payload one JPEG marker segment holds

# IFD0 tags that describe the source's pixel layout or hold data carried separately (ICC,
# XMP, IPTC, Photoshop's resources and layers): never copied into an output's EXIF.
_NOT_CARRIED = frozenset({
    0x00FE, 0x00FF, 0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0107, 0x0108, 0x0109, 0x010A,
    0x0111, 0x0115, 0x0116, 0x0117, 0x0118, 0x0119, 0x011A, 0x011B, 0x011C, 0x0122, 0x0123,
    0x0124, 0x0125, 0x0128, 0x0129, 0x013D, 0x0140, 0x0142, 0x0143, 0x0144, 0x0145, 0x014A,
    0x0152, 0x0153, 0x0154, 0x0155, 0x015B, 0x0201, 0x0202, 0x0211, 0x0212, 0x0213, 0x0214,
    0x02BC, 0x83BB, 0x8649, 0x8773, 0x935C, 0xC612,
})



def holds(fmt: str) -> frozenset[str]:
    """The kinds of metadata ("EXIF", "XMP", "IPTC") an output of format `fmt` holds."""
    record = registry.get_format(fmt)
    return record.metadata if record is not None else frozenset()


@dataclass(frozen=True)
class Metadata:
    """The descriptive metadata of one image, ready to be written again.

    `exif`: EXIF as Pillow writes it (b"Exif\\0\\0" + a TIFF structure), layout tags removed;
    `xmp`: the XMP packet (UTF-8 bytes); `iptc`: IPTC-IIM datasets (bytes of 0x1C records).
    """

    exif: bytes | None = None
    xmp: bytes | None = None
    iptc: bytes | None = None

    def kinds(self) -> list[str]:
        """Names of the kinds present, e.g. ["EXIF", "XMP"]."""
        return [k for k, v in (("EXIF", self.exif), ("XMP", self.xmp), ("IPTC", self.iptc)) if v]

    def __bool__(self) -> bool:
        return bool(self.exif or self.xmp or self.iptc)


# ---- reading --------------------------------------------------------------------------

_PILLOW_LOCK = threading.RLock()


@contextlib.contextmanager
def pillow_quiet() -> Iterator[None]:
    """Pillow's warnings (e.g. "Corrupt EXIF data", printed once per parse) silenced while
    sronnx opens an image or parses its metadata: what matters reaches the file's notes.

    The warning filters are process-wide, so the blocks run one at a time (re-entrant: a
    block may call another); keep them short (headers and metadata, not pixel decoding)."""
    with _PILLOW_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _clean_exif(exif: Image.Exif) -> bytes | None:
    """The EXIF without layout tags, thumbnail and Interop IFD, as bytes (sub-IFDs read
    now, while the source is open). None when nothing is left."""
    out = Image.Exif()
    for tag, value in exif.items():
        if tag in _NOT_CARRIED or tag in (EXIF_IFD, GPS_IFD):
            continue
        if tag == 0x010E and isinstance(value, str) and value.startswith(_TOOL_DESCRIPTIONS):
            continue  # tifffile's / ImageJ's description of the old array shape
        out[tag] = value
    for tag in (EXIF_IFD, GPS_IFD):
        sub = {k: v for k, v in exif.get_ifd(tag).items()
               if k != _INTEROP_IFD and not isinstance(v, dict)}
        if sub:
            out.get_ifd(tag).update(sub)
    if not len(out) and not out._ifds:  # noqa: SLF001 - Pillow keeps sub-IFDs there
        return None
    data = out.tobytes()
    Image.Exif().load(data)  # what we write must read back
    return data


def _xmp_bytes(value: object) -> bytes | None:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return bytes(value) if isinstance(value, (bytes, bytearray)) and value.strip() else None


def _iptc_from_photoshop(resources: bytes) -> bytes | None:
    """The IPTC-IIM resource (0x0404) of a run of Photoshop "8BIM" image resources."""
    offset = 0
    while resources[offset : offset + 4] == b"8BIM" and offset + 12 <= len(resources):
        code = struct.unpack_from(">H", resources, offset + 4)[0]
        name_len = resources[offset + 6]
        offset += 7 + name_len
        offset += offset & 1
        (size,) = struct.unpack_from(">I", resources, offset)
        offset += 4
        if code == _IPTC_RESOURCE:
            return resources[offset : offset + size] or None
        offset += size + (size & 1)
    return None


def _iptc_from_png_text(text: str) -> bytes | None:
    """ImageMagick / exiftool's "Raw profile type iptc": '\\niptc\\n  LENGTH\\nHEX...'."""
    lines = text.strip().split("\n")
    if len(lines) < 3:
        return None
    data = bytes.fromhex("".join(lines[2:]))
    if data.startswith(_PS_HEADER):
        data = data[len(_PS_HEADER) :]
    return _iptc_from_photoshop(data) if data.startswith(b"8BIM") else (data or None)


def _tag_bytes(value: object) -> bytes | None:
    """A TIFF tag value (bytes, or LONGs/BYTEs as Pillow gives IPTC-NAA) as bytes."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value) or None
    if isinstance(value, tuple) and value and all(isinstance(v, int) and 0 <= v < 1 << 32
                                                  for v in value):
        width = 4 if max(value) > 255 else 1
        return b"".join(v.to_bytes(width, "big") for v in value) if width == 4 else bytes(value)
    return None


def from_pil(img: Image.Image) -> tuple[Metadata, list[str]]:
    """EXIF, XMP and IPTC of an opened (not yet transposed) PIL image, and notes about what
    could not be read (which is then left out; reading never fails because of metadata)."""
    with pillow_quiet():
        return _from_pil(img)


def _from_pil(img: Image.Image) -> tuple[Metadata, list[str]]:
    notes: list[str] = []
    exif = None
    try:
        raw = img.info.get("exif")
        if img.format == "TIFF":
            exif = _clean_exif(img.getexif())
        elif isinstance(raw, (bytes, bytearray)) and raw:
            # from the bytes: img.getexif() would also make up an orientation from the XMP
            parsed = Image.Exif()
            parsed.load(bytes(raw))
            if not len(parsed) and len(raw) > 14:
                raise ValueError("corrupt EXIF data")  # Pillow only warns and reads nothing
            exif = _clean_exif(parsed)
    except Exception as exc:  # noqa: BLE001 - corrupt EXIF is common; the pixels are fine
        notes.append(f"EXIF could not be read ({first_line(exc, 120)}) and was left out")
    xmp = _xmp_bytes(img.info.get("xmp"))
    iptc = None
    try:
        if isinstance(img.info.get("photoshop"), dict):
            iptc = _tag_bytes(img.info["photoshop"].get(_IPTC_RESOURCE))
        elif isinstance(img.info.get(_PNG_IPTC_KEY), str):
            iptc = _iptc_from_png_text(img.info[_PNG_IPTC_KEY])
        elif img.format == "TIFF":
            iptc = _tag_bytes(img.tag_v2.get(33723))  # type: ignore[attr-defined]
    except (ValueError, struct.error, IndexError) as exc:
        notes.append(f"IPTC could not be read ({first_line(exc, 120)}) and was left out")
    return Metadata(exif, xmp, iptc), notes


def from_tiff_file(fh: io.BufferedIOBase, xmp: object, iptc: object) -> tuple[Metadata,
                                                                              list[str]]:
    """Metadata of a TIFF read with tifffile: EXIF from IFD0 of the open file `fh` (Pillow's
    parser), XMP and IPTC from the tag values tifffile gave (tags 700, 33723)."""
    notes: list[str] = []
    exif = None
    try:
        fh.seek(0)
        parsed = Image.Exif()
        with pillow_quiet():
            parsed.load_from_fp(fh)
            exif = _clean_exif(parsed)
    except Exception as exc:  # noqa: BLE001
        notes.append(f"EXIF could not be read ({first_line(exc, 120)}) and was left out")
    if hasattr(iptc, "tobytes") and not isinstance(iptc, (bytes, bytearray)):
        iptc = iptc.tobytes()  # numpy array of LONGs, in file order
    return Metadata(exif, _xmp_bytes(xmp), _tag_bytes(iptc)), notes



# ---- updating for the output ----------------------------------------------------------


def output_exif(meta: Metadata, size: tuple[int, int],
                dpi: tuple[float, float] | None) -> Image.Exif | None:
    """The EXIF for an output of `size` (width, height): orientation 1, Exif IFD pixel
    dimensions = size, resolution = `dpi` (when known)."""
    if not meta.exif:
        return None
    exif = Image.Exif()
    exif.load(meta.exif)
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1
    if EXIF_IFD in exif:  # (get_ifd would add an empty one)
        sub = exif.get_ifd(EXIF_IFD)
        if _PIXEL_X in sub or _PIXEL_Y in sub:
            sub[_PIXEL_X], sub[_PIXEL_Y] = size
    if GPS_IFD in exif:
        exif.get_ifd(GPS_IFD)
    if dpi:
        exif[_X_RES] = TiffImagePlugin.IFDRational(round(dpi[0] * 100), 100)
        exif[_Y_RES] = TiffImagePlugin.IFDRational(round(dpi[1] * 100), 100)
        exif[_RES_UNIT] = 2
    return exif


def _xmp_set(xmp: bytes, name: bytes, value: int) -> bytes:
    attr = re.compile(rb"(" + name + rb"\s*=\s*[\"'])\d+([\"'])")
    elem = re.compile(rb"(<" + name + rb">)\s*\d+\s*(</" + name + rb">)")
    v = str(value).encode()
    xmp = attr.sub(lambda m: m.group(1) + v + m.group(2), xmp)
    return elem.sub(lambda m: m.group(1) + v + m.group(2), xmp)


def output_xmp(meta: Metadata, size: tuple[int, int]) -> bytes | None:
    """The XMP for an output of `size`: tiff:Orientation 1, pixel dimensions updated."""
    if not meta.xmp:
        return None
    xmp = _xmp_set(meta.xmp, rb"tiff:Orientation", 1)
    for name, value in ((rb"exif:PixelXDimension", size[0]), (rb"exif:PixelYDimension", size[1]),
                        (rb"tiff:ImageWidth", size[0]), (rb"tiff:ImageLength", size[1])):
        xmp = _xmp_set(xmp, name, value)
    return xmp


def not_held(meta: Metadata | None, fmt: str) -> list[str]:
    """Notes naming the metadata an output of format `fmt` cannot hold (so it is left out)."""
    if not meta:
        return []
    lost = [k for k in meta.kinds() if k not in holds(fmt)]
    return [f"{', '.join(lost)} not kept: {fmt} cannot hold it"] if lost else []


# ---- writing --------------------------------------------------------------------------


def photoshop_iptc_segment(iptc: bytes) -> bytes:
    """A complete JPEG APP13 marker segment holding `iptc` as Photoshop resource 0x0404.

    Raises ValueError if it does not fit in one segment (64 KB)."""
    resource = b"8BIM" + struct.pack(">H", _IPTC_RESOURCE) + b"\x00\x00" \
        + struct.pack(">I", len(iptc)) + iptc + (b"\x00" if len(iptc) & 1 else b"")
    payload = _PS_HEADER + resource
    if len(payload) > _JPEG_SEGMENT_MAX:
        raise ValueError(f"IPTC of {len(iptc):,} bytes does not fit in a JPEG segment")
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def insert_jpeg_segment(jpeg: bytes, segment: bytes) -> bytes:
    """`jpeg` with `segment` (a whole marker segment) inserted after SOI and the leading
    APPn/COM segments (JFIF, EXIF, XMP, ICC), before the first table or frame marker.

    Raises ValueError if `jpeg` does not start like a JPEG stream."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG stream (no SOI marker)")
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF:
        marker = jpeg[pos + 1]
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            break
        pos += 2 + struct.unpack_from(">H", jpeg, pos + 2)[0]
    if pos > len(jpeg):
        raise ValueError("JPEG marker segment runs past the end of the stream")
    return jpeg[:pos] + segment + jpeg[pos:]


def save_jpeg(fh: BinaryIO, img: Image.Image, kwargs: dict[str, Any], iptc: bytes | None,
              notes: list[str]) -> None:
    """Save `img` as JPEG with Pillow's `kwargs` (EXIF, XMP, ...) and `iptc` in an APP13
    segment, to `fh`. EXIF, XMP or IPTC too large for a JPEG segment (64 KB) is left out with
    a note in `notes` rather than failing the file."""
    for key, name in (("exif", "EXIF"), ("xmp", "XMP")):
        value = kwargs.get(key)
        size = len(value.tobytes()) if isinstance(value, Image.Exif) else len(value or b"")
        if size > _JPEG_SEGMENT_MAX - 30:
            kwargs.pop(key)
            notes.append(f"{name} of {size:,} bytes left out: more than a JPEG segment holds")
    if not iptc:
        img.save(fh, format="JPEG", **kwargs)
        return
    try:
        segment = photoshop_iptc_segment(iptc)
    except ValueError as exc:
        notes.append(f"IPTC left out: {exc}")
        img.save(fh, format="JPEG", **kwargs)
        return
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kwargs)
    fh.write(insert_jpeg_segment(buf.getbuffer().tobytes(), segment))


def png_chunks(meta: Metadata, size: tuple[int, int],
               dpi: tuple[float, float] | None) -> list[tuple[bytes, bytes]]:
    """(chunk type, data) for a PNG output, to be written before the first IDAT: eXIf,
    iTXt "XML:com.adobe.xmp" (uncompressed, as the XMP spec asks) and zTXt IPTC."""
    import zlib

    chunks = []
    exif = output_exif(meta, size, dpi)
    if exif is not None:
        chunks.append((b"eXIf", exif.tobytes()[len(_EXIF_PREFIX) :]))
    xmp = output_xmp(meta, size)
    if xmp:
        chunks.append((b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp))
    if meta.iptc:
        chunks.append((b"zTXt", _PNG_IPTC_KEY.encode() + b"\x00\x00"
                       + zlib.compress(_png_iptc_text(meta.iptc).encode("ascii"))))
    return chunks


def _png_iptc_text(iptc: bytes) -> str:
    hexed = iptc.hex()
    lines = [hexed[i : i + 72] for i in range(0, len(hexed), 72)]
    return "\niptc\n" + f"{len(iptc):8d}\n" + "\n".join(lines) + "\n"


def pil_save_kwargs(meta: Metadata, fmt: str, size: tuple[int, int],
                    dpi: tuple[float, float] | None) -> dict[str, Any]:
    """Keyword arguments for Pillow's `save` in `fmt` that carry the metadata: the format's
    own (`ImageFormat.metadata_options`), else `exif` and `xmp`; none for a format that holds
    no metadata (IPTC for JPEG is not among them: Pillow cannot write APP13; see
    photoshop_iptc_segment)."""
    record = registry.get_format(fmt)
    if record is None or not record.metadata:
        return {}
    if record.metadata_options is not None:
        return record.metadata_options(meta, size, dpi)
    kwargs: dict[str, Any] = {}
    exif = output_exif(meta, size, dpi)
    xmp = output_xmp(meta, size)
    if exif is not None:
        kwargs["exif"] = exif
    if xmp:
        kwargs["xmp"] = xmp
    return kwargs


def tiff_save_kwargs(meta: Metadata, size: tuple[int, int],
                     dpi: tuple[float, float] | None) -> dict[str, Any]:
    """Pillow's TIFF writer takes `tiffinfo` or `exif`, not both: all in the EXIF (XMP as
    tag 700, IPTC as tag 33723)."""
    kwargs: dict[str, Any] = {}
    exif = output_exif(meta, size, dpi)
    xmp = output_xmp(meta, size)
    exif = exif if exif is not None else Image.Exif()
    if xmp:
        exif[700] = xmp
    if meta.iptc:
        exif[33723] = meta.iptc
    if len(exif):
        kwargs["exif"] = exif
    return kwargs


def png_save_kwargs(meta: Metadata, size: tuple[int, int],
                    dpi: tuple[float, float] | None) -> dict[str, Any]:
    """Pillow's PNG writer: `exif`, and XMP (iTXt) and IPTC (zTXt) as text chunks of a
    `pnginfo`."""
    kwargs: dict[str, Any] = {}
    exif = output_exif(meta, size, dpi)
    xmp = output_xmp(meta, size)
    if exif is not None:
        kwargs["exif"] = exif
    if xmp or meta.iptc:
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        if xmp:
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace"))
        if meta.iptc:
            info.add_text(_PNG_IPTC_KEY, _png_iptc_text(meta.iptc), zip=True)
        kwargs["pnginfo"] = info
    return kwargs


__all__ = [
    "Metadata", "from_pil", "from_tiff_file", "output_exif", "output_xmp", "not_held",
    "photoshop_iptc_segment", "insert_jpeg_segment", "save_jpeg", "png_chunks",
    "pil_save_kwargs", "pillow_quiet", "holds", "png_save_kwargs", "tiff_save_kwargs",
]
