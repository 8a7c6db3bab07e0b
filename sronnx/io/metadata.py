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
- Texts (PNG tEXt / zTXt / iTXt, read by `formats.png`) and comments (JPEG COM, GIF comment):
  `Text`s; a comment is the PNG text "Comment" and back. PNG keeps every text as the chunk it
  came in (`png_text_chunks`), JPEG every comment in a COM segment (`save_jpeg`), GIF one
  comment; into outputs that hold EXIF or XMP but no texts (JPEG, WebP, TIFF, HEIF, AVIF)
  the texts go as EXIF tags and XMP (`sronnx.io.textmeta`); what a format cannot hold is
  named in a note (`text_notes`).
- What the values mean, kept even by `--strip-metadata` (`Metadata.stripped`): a PNG's
  colour description (`Colour`: gAMA, cHRM, sRGB, cICP), sBIT and a ratio-only pHYs, written
  back as PNG chunks (`png_colour_chunks`); for other formats see `sronnx.io.colour`.

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
import dataclasses
import io
import math
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
PNG_IPTC_KEY = "Raw profile type iptc"
PNG_XMP_KEY = "XML:com.adobe.xmp"
_PNG_IPTC_KEY = PNG_IPTC_KEY
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


COMMENT_KEY = "Comment"  # the PNG keyword a JPEG or GIF comment becomes, and back


@dataclass(frozen=True)
class Text:
    """One text: a PNG tEXt / zTXt / iTXt keyword and its text, or a comment (JPEG COM, GIF
    comment extension) under the keyword "Comment". `kind`: the PNG chunk it came from ("" for
    a comment); `lang`, `tkey`: an iTXt's language tag and translated keyword; `raw`: a
    comment's bytes as stored (they have no stated encoding: written back as they were);
    `zipped`: an iTXt stored compressed."""

    key: str
    value: str
    kind: str = ""
    lang: str = ""
    tkey: str = ""
    raw: bytes | None = None
    zipped: bool = False  # an iTXt stored compressed


@dataclass(frozen=True)
class Colour:
    """A PNG's colour description chunks, as stored: `gamma` (gAMA, the file gamma x 100000:
    45455 is 1/2.2, 100000 linear light), `chromaticities` (cHRM: white x, y, red x, y, green
    x, y, blue x, y, each x 100000), `srgb` (sRGB: the rendering intent), `cicp` (cICP's 4
    bytes). With an ICC profile (iCCP, carried as the profile) these say how the stored
    values map to colours; the pixels are kept as stored, so the description must go with
    them."""

    gamma: int | None = None
    chromaticities: tuple[int, ...] | None = None
    srgb: int | None = None
    cicp: bytes | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.gamma, self.chromaticities, self.srgb,
                                           self.cicp))

    def names(self) -> list[str]:
        """The chunks present, with gAMA's value: ["gAMA 1.0", "cHRM"]."""
        out = [f"gAMA {self.gamma / 100000:.5g}"] if self.gamma is not None else []
        return out + [n for n, v in (("cHRM", self.chromaticities), ("sRGB", self.srgb),
                                     ("cICP", self.cicp)) if v is not None]


@dataclass(frozen=True)
class Metadata:
    """The metadata of one image, ready to be written again.

    Descriptive (left out by `--strip-metadata`: `stripped`): `exif`, EXIF as Pillow writes
    it (b"Exif\\0\\0" + a TIFF structure), layout tags removed; `xmp`, the XMP packet (UTF-8
    bytes); `iptc`, IPTC-IIM datasets (bytes of 0x1C records); `texts`, PNG texts and JPEG or
    GIF comments (`Text`). What the values mean, kept by `stripped`: `colour` (PNG gAMA,
    cHRM, sRGB, cICP: `Colour`), `sbit` (PNG sBIT as stored: the significant bits of each
    channel), `aspect` (a PNG pHYs without a unit: the pixel aspect ratio, x and y pixels
    per unit).
    """

    exif: bytes | None = None
    xmp: bytes | None = None
    iptc: bytes | None = None
    texts: tuple[Text, ...] = ()
    colour: Colour | None = None
    sbit: tuple[int, ...] | None = None
    aspect: tuple[int, int] | None = None

    def kinds(self) -> list[str]:
        """Names of the descriptive kinds present, e.g. ["EXIF", "XMP"] (texts aside)."""
        return [k for k, v in (("EXIF", self.exif), ("XMP", self.xmp), ("IPTC", self.iptc)) if v]

    def __bool__(self) -> bool:
        return bool(self.exif or self.xmp or self.iptc or self.texts or self.colour
                    or self.sbit or self.aspect)

    def stripped(self) -> Metadata | None:
        """What `--strip-metadata` keeps: the colour description, sBIT and the aspect ratio
        (what the values and the pixels' shape mean, not descriptions); None if none."""
        kept = Metadata(colour=self.colour, sbit=self.sbit, aspect=self.aspect)
        return kept or None

    def resized(self, size: tuple[int, int], out: tuple[int, int]) -> Metadata:
        """For an output of `out` from an input of `size` (width, height): a pixel aspect
        ratio changed by the factors of each side (a x2 upscale keeps it as it is)."""
        if not self.aspect or out[0] * size[1] == out[1] * size[0]:
            return self
        x, y = self.aspect[0] * out[0] * size[1], self.aspect[1] * out[1] * size[0]
        g = math.gcd(x, y)
        x, y = x // g, y // g
        while max(x, y) > 0x7FFFFFFF:
            x, y = max(1, round(x / 2)), max(1, round(y / 2))
        return dataclasses.replace(self, aspect=(x, y))


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


def text_notes(meta: Metadata | None, fmt: str) -> list[str]:
    """Notes naming the texts an output of `fmt` cannot hold: a format with comments only
    (JPEG, GIF) takes the "Comment" texts; one with neither (BMP) none. Texts that
    `textmeta.texts_for_output` has moved into EXIF and XMP are no longer in `meta`."""
    if not meta or not meta.texts:
        return []
    held = holds(fmt)
    if "TEXT" in held:
        return []
    lost = [t.key for t in meta.texts if not ("COMMENT" in held and t.key == COMMENT_KEY)]
    if not lost:
        return []
    keys = ", ".join(dict.fromkeys(lost))
    where = f"{fmt} holds comments only" if "COMMENT" in held else f"{fmt} cannot hold text"
    return [f"text {keys} not kept: {where}"]


def comments(meta: Metadata | None) -> list[bytes]:
    """The "Comment" texts as a comment's bytes (as stored, else UTF-8)."""
    if not meta:
        return []
    return [t.raw if t.raw is not None else t.value.encode("utf-8")
            for t in meta.texts if t.key == COMMENT_KEY and (t.raw or t.value)]


def comment_text(raw: bytes) -> Text:
    """A JPEG or GIF comment as a `Text` (UTF-8 where it decodes as such, else Latin-1)."""
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        value = raw.decode("latin-1")
    return Text(COMMENT_KEY, value, raw=raw)


def png_text_chunks(meta: Metadata | None) -> list[tuple[bytes, bytes]]:
    """(chunk type, data) of each text as PNG stores it: as the chunk it came from (tEXt,
    zTXt, iTXt); a text that Latin-1 cannot hold (or an iTXt's) as UTF-8 iTXt."""
    import zlib

    chunks = []
    for t in meta.texts if meta else ():
        key = t.key.encode("latin-1", "replace")[:79] or b"Comment"
        try:
            latin = t.value.encode("latin-1")
        except UnicodeEncodeError:
            latin = None
        if latin is not None and t.kind != "iTXt":
            if t.kind == "zTXt":
                chunks.append((b"zTXt", key + b"\x00\x00" + zlib.compress(latin)))
            else:
                chunks.append((b"tEXt", key + b"\x00" + latin))
            continue
        body = t.value.encode("utf-8")
        body = zlib.compress(body) if t.zipped else body
        chunks.append((b"iTXt", key + b"\x00" + bytes([int(t.zipped), 0])
                       + t.lang.encode("latin-1", "replace") + b"\x00"
                       + t.tkey.encode("utf-8") + b"\x00" + body))
    return chunks


def png_colour_chunks(meta: Metadata | None, depth: int, planes: int, *, icc: bool = False,
                      dpi: bool = False) -> list[tuple[bytes, bytes]]:
    """(chunk type, data) for a PNG of `depth` bits and `planes` channels: the colour
    description as it came (gAMA, cHRM, cICP; sRGB unless an ICC profile is written, which
    PNG does not allow beside it), sBIT for the output (see `output_sbit`) and a ratio-only
    pHYs (unless a DPI is written)."""
    out: list[tuple[bytes, bytes]] = []
    if not meta:
        return out
    c = meta.colour or Colour()
    if c.chromaticities is not None:
        out.append((b"cHRM", struct.pack(">8I", *c.chromaticities)))
    if c.gamma is not None:
        out.append((b"gAMA", struct.pack(">I", c.gamma)))
    if c.srgb is not None and not icc:
        out.append((b"sRGB", bytes([c.srgb])))
    if c.cicp is not None:
        out.append((b"cICP", c.cicp))
    sbit = output_sbit(meta.sbit, depth, planes)
    if sbit:
        out.append((b"sBIT", bytes(sbit)))
    if meta.aspect and not dpi:
        out.append((b"pHYs", struct.pack(">IIB", *meta.aspect, 0)))
    return out


def output_sbit(sbit: tuple[int, ...] | None, depth: int, planes: int) -> tuple[int, ...] | None:
    """An input's sBIT for an output of `depth` bits and `planes` channels: each value at most
    `depth` (an 8-bit output of a 12-bit source holds 8), grey from colour by the largest,
    colour from grey repeated, an alpha the source had none of (a colour key) at full
    depth. None when there is none, or for `planes` 0 (not known)."""
    if not sbit or not 1 <= planes <= 4:
        return None
    colour_in = 1 if len(sbit) <= 2 else 3
    alpha_in = sbit[colour_in] if len(sbit) > colour_in else depth
    colour = sbit[:colour_in]
    if planes in (1, 2):
        colour = (max(colour),)
    elif colour_in == 1:
        colour = colour * 3
    return tuple(min(max(v, 1), depth) for v in colour + ((alpha_in,) if planes in (2, 4)
                                                          else ()))


def aspect_square(aspect: tuple[int, int] | None) -> bool:
    return not aspect or aspect[0] == aspect[1]


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
              notes: list[str], comments: list[bytes] | tuple[bytes, ...] = ()) -> None:
    """Save `img` as JPEG with Pillow's `kwargs` (EXIF, XMP, ...), `iptc` in an APP13
    segment and each of `comments` in a COM segment of its own, to `fh`. EXIF, XMP, IPTC or
    a comment too large for a JPEG segment (64 KB) is left out with a note in `notes` rather
    than failing the file."""
    for key, name in (("exif", "EXIF"), ("xmp", "XMP")):
        value = kwargs.get(key)
        size = len(value.tobytes()) if isinstance(value, Image.Exif) else len(value or b"")
        if size > _JPEG_SEGMENT_MAX - 30:
            kwargs.pop(key)
            notes.append(f"{name} of {size:,} bytes left out: more than a JPEG segment holds")
    kwargs.pop("comment", None)  # written here, one COM segment each (b"": not Pillow's
    if comments:                   # fallback, the last COM of the image's `info`)
        kwargs["comment"] = b""
    segments = []
    if iptc:
        try:
            segments.append(photoshop_iptc_segment(iptc))
        except ValueError as exc:
            notes.append(f"IPTC left out: {exc}")
    for text in comments:
        if len(text) > _JPEG_SEGMENT_MAX:
            notes.append(f"a comment of {len(text):,} bytes left out: more than a JPEG "
                         "segment holds")
            continue
        segments.append(b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text)
    if not segments:
        img.save(fh, format="JPEG", **kwargs)
        return
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kwargs)
    data = buf.getbuffer().tobytes()
    for segment in segments:  # each after the ones before: IPTC, then the comments in order
        data = insert_jpeg_segment(data, segment)
    fh.write(data)


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
    exif = output_exif(meta, size, dpi) if "EXIF" in record.metadata else None
    xmp = output_xmp(meta, size) if "XMP" in record.metadata else None
    if exif is not None:
        kwargs["exif"] = exif
    if xmp:
        kwargs["xmp"] = xmp
    if "COMMENT" in record.metadata and (found := comments(meta)):
        kwargs["comment"] = b"\n".join(found)  # one comment (JPEG's own save writes each)
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
    """Pillow's PNG writer: `exif`, and XMP (iTXt), IPTC (zTXt), the texts and the colour
    description (gAMA, cHRM, sRGB, cICP) as chunks of a `pnginfo` (sBIT and a ratio-only
    pHYs, which depend on the image's mode or Pillow does not write, are added by the PNG
    format's `save`)."""
    kwargs: dict[str, Any] = {}
    exif = output_exif(meta, size, dpi)
    xmp = output_xmp(meta, size)
    if exif is not None:
        kwargs["exif"] = exif
    extra = png_colour_chunks(meta, 8, 0, dpi=True) + png_text_chunks(meta)
    if xmp or meta.iptc or extra:
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        if xmp:
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace"))
        if meta.iptc:
            info.add_text(_PNG_IPTC_KEY, _png_iptc_text(meta.iptc), zip=True)
        for kind, data in extra:
            info.add(kind, data)
        kwargs["pnginfo"] = info
    return kwargs


__all__ = [
    "Metadata", "from_pil", "from_tiff_file", "output_exif", "output_xmp", "not_held",
    "photoshop_iptc_segment", "insert_jpeg_segment", "save_jpeg", "png_chunks",
    "pil_save_kwargs", "pillow_quiet", "holds", "png_save_kwargs", "tiff_save_kwargs",
    "COMMENT_KEY", "PNG_IPTC_KEY", "PNG_XMP_KEY", "Colour", "Text", "text_notes", "comments",
    "comment_text",
    "png_text_chunks", "png_colour_chunks", "output_sbit", "aspect_square",
]
