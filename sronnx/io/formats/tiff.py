"""TIFF beyond 8 bits, and float images outside [0, 1].

Pillow reads a 16-bit-per-channel RGB(A) TIFF as 8-bit without a word and cannot open a
float RGB TIFF at all, so TIFFs with more than 8 bits per sample or float samples are read
and written here with tifffile, at full precision: grey, grey + alpha, RGB and RGBA;
unsigned 16-bit (9 to 15-bit samples are widened to 16) and float (float16 and float64 become
float32). 8-bit TIFFs stay with Pillow, which decodes every compression (tifffile needs the
optional imagecodecs package for LZW and JPEG). A multi-page TIFF is upscaled from its first
page, and the file's notes say so.

Float images: the models work on [0, 1]. Values outside it (HDR) are refused unless the
caller chooses `clip` (values cut to [0, 1]) or `scale` (the range [min(lo, 0), max(hi, 1)]
mapped onto [0, 1] for the model and mapped back after, so the output keeps the input's
range); NaN and infinities are always refused.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
from PIL import Image

from sronnx.core import first_line
from sronnx.io import metadata as md
from sronnx.io import registry
from sronnx.io.images import Decoded, ImageReadError, exif_orientation, orient_array

if TYPE_CHECKING:
    import tifffile

FLOAT_RANGES = ("refuse", "clip", "scale")
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_EXTRA_ALPHA = (0, 1, 2)  # unspecified, associated (premultiplied), unassociated alpha
_ASSOCIATED = 1
# placeholders tifffile writes for the Exif and GPS IFD pointers (it refuses to write
# 34665 / 34853 itself); each is renamed to the real tag once its IFD is appended, which
# keeps IFD0's entries in ascending order
_EXIF_PLACEHOLDER, _GPS_PLACEHOLDER = 34664, 34852
# Decoded bytes a pixel may take, times the pixel limit, bound what tifffile allocates for
# the first page (width x height x samples x bytes a sample): 16 is float32 RGBA, the
# widest kind sronnx works in, so nothing under the pixel limit that sronnx can process is
# refused; float64 beyond half the limit is. The pixel limit alone does not bound it: a
# 105 KB float64 RGBA file of 13000x13000 (169 MP, under the limit) whose strips all point
# at one small deflate row decodes to 5.4 GB.
DECODED_BYTES_PER_PIXEL = 16


class _ThisThreadQuiet(logging.Filter):
    """Drops the "tifffile" logger's records made in a thread that is inside `quiet_tifffile()`.

    tifffile logs what it finds wrong in a file ("<tifffile.TiffPage 0 @8> incorrect
    StripByteCounts count (1 != 100)") to stderr, without the file's name, and goes on or
    raises: what matters reaches sronnx's own line for the file. A filter rather than a
    level change: the upscale workers read in parallel threads, and one thread restoring
    the level would unsilence another; a program's own tifffile use elsewhere keeps its
    messages."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "depth", 0)


_QUIET_FILTER = _ThisThreadQuiet()
logging.getLogger("tifffile").addFilter(_QUIET_FILTER)


@contextlib.contextmanager
def quiet_tifffile() -> Iterator[None]:
    """tifffile's log records dropped while this thread runs the block (re-entrant)."""
    local = _QUIET_FILTER.local
    local.depth = getattr(local, "depth", 0) + 1
    try:
        yield
    finally:
        local.depth -= 1


class FloatRangeError(ValueError):
    """Float pixels outside [0, 1] (or NaN / infinite) that the chosen policy refuses."""


def is_tiff(path: Path) -> bool:
    """Whether the file starts like a TIFF (classic or BigTIFF, either byte order)."""
    with open(path, "rb") as fh:
        return fh.read(4) in TIFF_MAGIC


def _first_page(tf: tifffile.TiffFile) -> tifffile.TiffPage:
    import tifffile  # here, not at start-up: 11 ms of every run's imports

    page = tf.pages.first
    if not isinstance(page, tifffile.TiffPage):
        raise ImageReadError("TIFF first page cannot be read")
    return page


def needs_tifffile(path: Path) -> bool:
    """True when the first page has samples of more than 8 bits or float samples (which
    Pillow would read as 8-bit or not at all); False for 8-bit TIFFs, which Pillow reads.

    Raises ImageReadError when the file is not a readable TIFF."""
    import tifffile

    try:
        with quiet_tifffile(), tifffile.TiffFile(path) as tf:
            page = _first_page(tf)
            return page.bitspersample > 8 or page.sampleformat == 3
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types for bad files
        raise ImageReadError(f"not a readable TIFF ({first_line(exc, 300)})") from exc


def read_tiff(path: Path, max_pixels: int | None) -> Decoded | None:
    """Decode the first page of a >8-bit or float TIFF at full precision, upright (TIFF
    orientation tag applied), with ICC profile, DPI, EXIF/XMP/IPTC and notes.

    Pixels: HxW (grey), HxWx2 (grey + straight alpha), HxWx3 (RGB), HxWx4 (RGBA); uint16 or
    float32 (float values as stored, not yet checked against [0, 1]). Returns None for a
    single-channel TIFF whose compression tifffile cannot decode without imagecodecs (LZW,
    JPEG): Pillow reads those losslessly (modes I;16 and F). Raises ImageReadError with the
    reason for anything else it cannot read faithfully: colour spaces other than grey and
    RGB, signed or 32-bit integers, a compression it cannot decode for a multi-channel image,
    a compression unknown to TIFF, or a page whose decoded bytes (width x height x samples x
    bytes a sample) are over `max_pixels` x DECODED_BYTES_PER_PIXEL (16): checked from the
    header, before anything is decoded.
    """
    import tifffile

    try:
        with quiet_tifffile(), tifffile.TiffFile(path) as tf:
            page = _first_page(tf)
            w, h = page.imagewidth, page.imagelength
            if max_pixels and w * h > max_pixels:
                raise ImageReadError(
                    f"{w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
                    "(a decompression bomb?); raise it with --max-pixels")
            samples, photometric = page.samplesperpixel, int(page.photometric)
            kind = _check_layout(page, samples, photometric)
            _check_decoded_bytes(page, kind, max_pixels)
            _check_compression(page.compression)
            size = Path(path).stat().st_size
            for offset, count in zip(page.dataoffsets, page.databytecounts, strict=False):
                if offset + count > size:  # tifffile would allocate the count before reading
                    raise ImageReadError(
                        f"truncated or corrupt TIFF: a strip or tile of {count:,} bytes at "
                        f"{offset:,} in a file of {size:,}")
            try:
                arr = page.asarray()
            except (ValueError, KeyError, ImportError) as exc:
                # ImportError: a codec tifffile takes from elsewhere when imagecodecs is
                # missing and that is missing too (ZSTD from Python 3.14's compression.zstd)
                if "imagecodecs" not in str(exc) and not isinstance(exc, ImportError):
                    raise
                if samples == 1:
                    return None
                raise ImageReadError(
                    f"{kind} TIFF compressed with {page.compression.name} "
                    f"({int(page.compression)}): reading it at full precision needs the "
                    "imagecodecs package (pip install imagecodecs); not read as 8-bit") from exc
            notes: list[str] = []
            if len(tf.pages) > 1:
                notes.append(f"multi-page TIFF: only the first of {len(tf.pages)} pages "
                             "was upscaled")
            arr = _normalise(arr, page, photometric, notes)
            tags = page.tags
            icc = _tag(tags, 34675)
            dpi = _dpi(tags)
            orientation = _tag(tags, 274)
            if orientation is not None and exif_orientation(orientation) is None:
                notes.append(f"orientation tag {_short(orientation)} is not one of 1..8: "
                             "ignored (the pixels are as stored)")
            if icc is not None and not isinstance(icc, (bytes, bytearray)):
                notes.append("ICC profile tag holds no bytes: left out")
                icc = None
            xmp, iptc = _tag(tags, 700), _tag(tags, 33723)
        with open(path, "rb") as fh:
            meta, meta_notes = md.from_tiff_file(fh, xmp, iptc)
        notes += meta_notes
    except ImageReadError:
        raise
    except MemoryError as exc:
        raise ImageReadError("not enough memory to decode it") from exc
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types for bad files
        raise ImageReadError(first_line(exc, 300)) from exc
    arr = orient_array(arr, orientation)
    decoded = Decoded(arr, "TIFF", bytes(icc) if icc else None, dpi, notes)
    decoded.metadata = meta
    return decoded


def _check_compression(compression: object) -> None:
    """ImageReadError for a compression number TIFF does not define (tifffile keeps it as a
    plain int and would fail later with "12345 is not a known COMPRESSION"). A page without
    the tag has the int 1 (none); a tag of the wrong type is left to the checks after."""
    import tifffile

    if isinstance(compression, int) and not isinstance(compression, tifffile.COMPRESSION):
        try:
            tifffile.COMPRESSION(compression)
        except ValueError:
            raise ImageReadError(f"unsupported TIFF compression {compression}") from None


def _check_decoded_bytes(page: tifffile.TiffPage, kind: str, max_pixels: int | None) -> None:
    """ImageReadError when the first page would decode to more than `max_pixels` x
    DECODED_BYTES_PER_PIXEL bytes (None: no limit); `kind` is `_check_layout`'s name."""
    if not max_pixels:
        return
    w, h, samples = page.imagewidth, page.imagelength, page.samplesperpixel
    sample_bytes = 2 if page.bitspersample <= 16 else page.bitspersample // 8
    decoded = w * h * samples * sample_bytes
    budget = max_pixels * DECODED_BYTES_PER_PIXEL
    if decoded > budget:
        raise ImageReadError(
            f"{kind} TIFF of {w}x{h} with {samples} samples of {sample_bytes} bytes decodes "
            f"to {decoded:,} bytes, over the limit of {budget:,} ({DECODED_BYTES_PER_PIXEL} "
            f"bytes a pixel at the pixel limit of {max_pixels:,}; a decompression bomb?); "
            "raise it with --max-pixels")


def _check_layout(page: tifffile.TiffPage, samples: int, photometric: int) -> str:
    """A short name of the image kind ("16-bit RGB"), or ImageReadError if not supported."""
    colour = {0: "grey", 1: "grey", 2: "RGB"}.get(photometric)
    bits = page.bitspersample
    fmt = int(page.sampleformat)
    depth = "float" if fmt == 3 else f"{bits}-bit"
    if colour is None:
        name = getattr(page.photometric, "name", str(photometric))
        raise ImageReadError(f"{depth} {name} TIFF is not supported (grey or RGB only)")
    if fmt == 3 and bits not in (16, 32, 64):
        raise ImageReadError(f"{bits}-bit float TIFF is not supported")
    if fmt != 3 and (fmt != 1 or bits > 16):
        kind = "signed" if fmt == 2 else "unsigned"
        raise ImageReadError(f"{bits}-bit {kind} integer TIFF is not supported "
                             "(8 or 16-bit unsigned, or float)")
    base = 1 if colour == "grey" else 3
    extra = tuple(page.extrasamples or ())
    if samples not in (base, base + 1) or (samples == base + 1 and
                                           (len(extra) != 1 or extra[0] not in _EXTRA_ALPHA)):
        raise ImageReadError(f"{depth} {colour} TIFF with {samples} samples per pixel is not "
                             "supported (colour plus at most one alpha)")
    return f"{depth} {colour}" + (" + alpha" if samples == base + 1 else "")


def _normalise(arr: np.ndarray, page: tifffile.TiffPage, photometric: int,
               notes: list[str]) -> np.ndarray:
    """tifffile's array -> HxW[xC] uint16 / float32, straight alpha, black = 0."""
    if page.planarconfig == 2 and arr.ndim == 3 and page.samplesperpixel > 1:
        arr = np.moveaxis(arr, 0, -1)  # separate planes -> interleaved
    arr = np.ascontiguousarray(arr.reshape(page.imagelength, page.imagewidth,
                                           page.samplesperpixel))
    bits = page.bitspersample
    if arr.dtype.kind == "f":
        if arr.dtype != np.float32:
            notes.append(f"float{arr.dtype.itemsize * 8} samples processed as float32")
            arr = arr.astype(np.float32)
    elif bits < 16:
        arr = (arr.astype(np.uint32) * 65535 // ((1 << bits) - 1)).astype(np.uint16)
        notes.append(f"{bits}-bit samples widened to 16-bit")
    else:
        arr = arr.astype(np.uint16, copy=False)
    if photometric == 0:  # min-is-white: 0 is white
        colour = arr[:, :, :1]
        colour[...] = (1.0 - colour) if arr.dtype.kind == "f" else 65535 - colour
        notes.append("min-is-white TIFF written as min-is-black")
    extra = tuple(page.extrasamples or ())
    if extra and extra[0] == _ASSOCIATED:
        arr = _unassociate(arr)
    return arr[:, :, 0] if arr.shape[2] == 1 else arr


def _unassociate(arr: np.ndarray) -> np.ndarray:
    """Premultiplied (associated) alpha -> straight alpha, which the upscaler expects."""
    peak = 1.0 if arr.dtype.kind == "f" else 65535.0
    a = arr[:, :, -1:].astype(np.float32) / np.float32(peak)
    colour = arr[:, :, :-1].astype(np.float32) / np.maximum(a, np.float32(1e-6))
    if arr.dtype.kind != "f":
        colour = np.clip(colour + 0.5, 0, peak)
    arr[:, :, :-1] = colour.astype(arr.dtype)
    return arr


def _tag(tags: tifffile.TiffTags, code: int) -> object:
    tag = tags.get(code)
    return None if tag is None else tag.value


def _short(value: object) -> str:
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        value = tuple(int(v) for v in value)  # tifffile's enums as plain numbers
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _dpi(tags: tifffile.TiffTags) -> tuple[float, float] | None:
    unit = _tag(tags, 296)
    unit = 2 if unit is None else unit  # tifffile gives an enum (an int) or, broken, others
    per_inch = {2: 1.0, 3: 2.54}.get(unit) if isinstance(unit, int) else None
    try:
        x, y = (float(v[0]) / float(v[1]) for v in (_tag(tags, 282), _tag(tags, 283)))
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if per_inch is None or x <= 0 or y <= 0:
        return None
    return x * per_inch, y * per_inch



# ---- writing ------------------------------------------------------------------------


def _have_imagecodecs() -> bool:
    try:
        import imagecodecs  # noqa: F401
    except ImportError:
        return False
    return True


def write_tiff(fh: BinaryIO, arr: np.ndarray, *, icc_profile: bytes | None = None,
               dpi: tuple[float, float] | None = None, meta: md.Metadata | None = None,
               compress_level: int = 6) -> None:
    """Write an HxW[xC] uint8 / uint16 / float32 array (C = 1..4; 2 and 4 have alpha) to
    `fh` (opened for reading and writing) as a deflate-compressed TIFF, with horizontal
    predictor for integers, the ICC profile (tag 34675), the DPI and `meta` (EXIF in IFD0 and
    its Exif / GPS IFDs, XMP in tag 700, IPTC in tag 33723)."""
    import tifffile

    if arr.dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"TIFF output needs uint8, uint16 or float32 pixels, got {arr.dtype}")
    h, w = arr.shape[:2]
    planes = 1 if arr.ndim == 2 else arr.shape[2]
    if planes not in (1, 2, 3, 4):
        raise ValueError(f"TIFF holds 1 to 4 channels here, got {planes}")
    floats = arr.dtype == np.float32
    predictor = (3 if _have_imagecodecs() else None) if floats else 2
    extratags: list[tuple] = []
    exif = xmp = None
    if meta:
        exif = md.output_exif(meta, (w, h), dpi)
        xmp = md.output_xmp(meta, (w, h))
    sub_ifds: dict[int, dict] = {}
    if exif is not None:
        extratags += _ifd0_tags(exif)
        for tag, placeholder in ((md.EXIF_IFD, _EXIF_PLACEHOLDER), (md.GPS_IFD, _GPS_PLACEHOLDER)):
            sub = exif.get_ifd(tag) if tag in exif else None
            if sub:
                sub_ifds[tag] = sub
                extratags.append((placeholder, 4, 1, 0, True))
    if xmp:
        extratags.append((700, 1, len(xmp), xmp, True))
    if meta and meta.iptc:
        extratags.append((33723, 7, len(meta.iptc), meta.iptc, True))
    start = fh.tell()
    tifffile.imwrite(
        fh, arr, photometric="rgb" if planes >= 3 else "minisblack",
        extrasamples=(2,) if planes in (2, 4) else None,
        compression="zlib", compressionargs={"level": max(1, compress_level)},
        predictor=predictor, iccprofile=icc_profile or None,
        resolution=(dpi[0], dpi[1]) if dpi else None, resolutionunit="INCH" if dpi else None,
        metadata=None, software=False, extratags=extratags or None,
    )
    if sub_ifds:
        _append_sub_ifds(fh, start, sub_ifds)


def _ifd0_tags(exif: object) -> list[tuple]:
    """EXIF IFD0 entries (make, model, date, description, artist, copyright, ...) as
    tifffile extratags; resolution and orientation are written by tifffile itself."""
    from PIL import TiffImagePlugin

    out = []
    for tag, value in exif.items():  # type: ignore[attr-defined]
        if tag in (md.EXIF_IFD, md.GPS_IFD, 0x011A, 0x011B, 0x0128, 0x0112):
            continue
        if isinstance(value, str):
            out.append((tag, 2, 0, value, True))
        elif isinstance(value, bytes):
            out.append((tag, 7, len(value), value, True))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and 0 <= value < 2**32:
            out.append((tag, 3 if value < 2**16 else 4, 1, value, True))
        elif isinstance(value, TiffImagePlugin.IFDRational) and value.denominator:
            out.append((tag, 5, 1, (value.numerator, value.denominator), True))
        elif isinstance(value, tuple) and value and all(
                isinstance(v, int) and 0 <= v < 2**16 for v in value):
            out.append((tag, 3, len(value), value, True))
    return out


def _append_sub_ifds(fh: BinaryIO, start: int, sub_ifds: dict[int, dict]) -> None:
    """Append the Exif / GPS IFDs (Pillow serialises them) and point IFD0's placeholder
    entries at them."""
    import tifffile
    from PIL import TiffImagePlugin

    fh.flush()
    fh.seek(start)
    with tifffile.TiffFile(fh) as tf:
        order, big = tf.byteorder, tf.is_bigtiff
        tags = _first_page(tf).tags
        where = {tag: (tags[ph].offset, tags[ph].valueoffset) for tag, ph in
                 ((md.EXIF_IFD, _EXIF_PLACEHOLDER), (md.GPS_IFD, _GPS_PLACEHOLDER))
                 if tag in sub_ifds}
    head = (b"II*\x00" if order == "<" else b"MM\x00*") + b"\x00" * 4
    for tag, (entry, value_at) in where.items():
        ifd = TiffImagePlugin.ImageFileDirectory_v2(head, group=tag)
        for k, v in sub_ifds[tag].items():
            if not isinstance(v, dict):
                ifd[k] = v
        fh.seek(0, 2)
        pos = fh.tell()
        if pos & 1:
            fh.write(b"\x00")
            pos += 1
        fh.write(ifd.tobytes(pos - start))
        fh.seek(entry)
        fh.write(struct.pack(order + "H", tag))
        fh.seek(value_at)
        fh.write(struct.pack(order + ("Q" if big else "I"), pos - start))
    fh.seek(0, 2)


# ---- float range --------------------------------------------------------------------


@dataclass
class FloatSpan:
    """How a float image was mapped onto [0, 1]: x01 = (x - low) / (high - low)."""

    low: float
    high: float
    notes: list[str] = field(default_factory=list)


def fit_float_range(arr: np.ndarray, policy: str = "refuse") -> tuple[np.ndarray,
                                                                       FloatSpan | None]:
    """A float HxW[xC] array made ready for the model, which takes [0, 1].

    In range: returned as is, span None. Outside (HDR), by `policy`: "refuse" raises
    FloatRangeError naming the range found; "clip" returns the values cut to [0, 1] (note);
    "scale" maps [min(lo, 0), max(hi, 1)] linearly onto [0, 1] and returns the span to undo
    it with `restore_float_range`. NaN or infinite values raise FloatRangeError whatever the
    policy. Integer arrays are returned unchanged.
    """
    if policy not in FLOAT_RANGES:
        raise ValueError(f"float range policy must be one of {FLOAT_RANGES}, not {policy!r}")
    if arr.dtype.kind != "f" or arr.size == 0:
        return arr, None
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise FloatRangeError(f"{bad:,} float values are NaN or infinite; they cannot be "
                              "upscaled")
    if lo >= 0.0 and hi <= 1.0:
        return arr, None
    found = f"float values from {lo:.6g} to {hi:.6g} are outside [0, 1] (HDR)"
    if policy == "refuse":
        raise FloatRangeError(f"{found}; --float-range clip cuts them to [0, 1], "
                              "--float-range scale maps the range to [0, 1] and back")
    if policy == "clip":
        span = FloatSpan(0.0, 1.0, [f"{found}: clipped to [0, 1] (--float-range clip)"])
        return np.clip(arr, 0.0, 1.0), span
    low, high = min(lo, 0.0), max(hi, 1.0)
    span = FloatSpan(low, high, [f"{found}: scaled from [{low:.6g}, {high:.6g}] to [0, 1] "
                                 "for the model and back (--float-range scale)"])
    out = (arr - np.float32(low)) * np.float32(1.0 / (high - low))
    return np.clip(out, 0.0, 1.0, out=out), span


def restore_float_range(out: np.ndarray, span: FloatSpan | None) -> np.ndarray:
    """Undo `fit_float_range`'s scaling on the upscaled array (in place when it can)."""
    if span is None or (span.low == 0.0 and span.high == 1.0) or out.dtype.kind != "f":
        return out
    out *= np.float32(span.high - span.low)
    out += np.float32(span.low)
    return out


__all__ = [
    "DECODED_BYTES_PER_PIXEL", "FLOAT_RANGES", "FloatRangeError", "FloatSpan", "TIFF",
    "fit_float_range", "restore_float_range",
    "is_tiff", "needs_tifffile", "quiet_tifffile", "read_tiff", "write_tiff",
]


def _takes(path: Path) -> bool:
    """Whether tifffile, not Pillow, decodes this file (see `needs_tifffile`)."""
    return is_tiff(path) and needs_tifffile(path)


def _describe(img: Image.Image, path: Path, notes: list[str]) -> dict[str, Any]:
    """An 8-bit TIFF that Pillow decodes: a note when it has more pages than the first."""
    if getattr(img, "n_frames", 1) > 1:
        notes.append(f"multi-page TIFF: only the first of {img.n_frames} pages was upscaled")
    return {}


TIFF = registry.register_format(registry.ImageFormat(
    "TIFF", (".tif", ".tiff"), choices=("tiff", "tif"), magic=TIFF_MAGIC,
    sixteen_bit=True, float_samples=True,
    metadata=frozenset({"EXIF", "XMP", "IPTC", "ICC"}),
    reader=registry.Reader("TIFF", _takes, read_tiff), write_array=write_tiff,
    describe=_describe, metadata_options=md.tiff_save_kwargs,
))
