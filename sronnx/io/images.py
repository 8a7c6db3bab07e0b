"""Reading and writing images as people have them, without losing what they carry.

Pillow reads a 16-bit-per-channel RGB(A) PNG as 8-bit without a word and cannot write one,
so 16-bit PNGs are read with pypng and written by a small streaming PNG writer here (numpy
filters + zlib, row block by row block, with the ICC profile and DPI). EXIF orientation is
applied on read; ICC profile and DPI are carried to the output (DPI times the scale). Every
write goes to a temporary name in the target folder and is renamed into place, so a killed
run never leaves a half-written image under an output name.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import struct
import threading
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageOps

from sronnx.core import first_line
from sronnx.io import metadata as md
from sronnx.io import registry
from sronnx.io.jpeg import jpeg_quality
from sronnx.io.palette import to_gif_palette

PART_SUFFIX = ".sronnx-part"
DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's own decompression-bomb threshold x2
FORMAT_EXT = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp", "bmp": ".bmp",
              "tiff": ".tif", "tif": ".tif", "gif": ".gif"}
# .jfif and .jpe are JPEG names as common as .jpeg (Pillow registers them too); .jif is not
# (rare, and also used for other formats), so it stays out.
EXT_FORMAT = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG",
              ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF",
              ".apng": "PNG"}
IMAGE_EXTENSIONS = frozenset(EXT_FORMAT)
# The Pillow formats an input may be opened as (`Image.open(..., formats=INPUT_FORMATS)`):
# those of the extensions above and no other. Left to itself Pillow tries every format it
# knows, whatever the file's name: a PostScript file named photo.png would have Ghostscript
# (`gs`) run on it (EPS), and dozens of rarely used decoders (PCX, TGA, ...) would parse
# untrusted bytes. A file in another format fails as "not an image file (or an unsupported
# format)". A phone's JPEG with extra pictures comes back from the JPEG opener as format
# "MPO" (MPO has no opener of its own: naming it here would make Pillow raise KeyError).
INPUT_FORMATS = tuple(dict.fromkeys(EXT_FORMAT.values()))  # PNG JPEG WEBP BMP TIFF GIF
MAX_SIDE = {"WEBP": 16383, "JPEG": 65535, "GIF": 65535}  # sides, checked before encoding
NO_ALPHA = frozenset({"JPEG", "BMP"})  # output formats that cannot hold alpha: flattened
# Lossless WebP effort (Pillow's `quality` when lossless=True; libwebp's and cwebp's default):
# on a 1024x1024 upscaled photo 0.3 s and 1.33 MB, against 0.5 s and the same size at 95
WEBP_LOSSLESS_EFFORT = 75
_BAND_BYTES = 16 << 20  # rows converted or encoded at a time: bounded extra memory
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EXIF_ORIENTATION = 0x0112


class ImageReadError(ValueError):
    """An input that cannot be read as an image; the message gives the reason."""


@dataclass
class Decoded:
    """A decoded image: a PIL image for 8-bit kinds, or an array for 16-bit PNGs and
    TIFFs (uint16) and float TIFFs (float32, as stored: see tiff.fit_float_range)."""

    pixels: Image.Image | np.ndarray
    format: str
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)
    metadata: md.Metadata | None = None  # EXIF, XMP, IPTC to carry to the output
    lossless: bool = False  # a lossless WebP (`webp_lossless`): written lossless again
    jpeg_quality: int | None = None  # a JPEG's quality estimated from its tables (assess)

    @property
    def size(self) -> tuple[int, int]:
        if isinstance(self.pixels, np.ndarray):
            return self.pixels.shape[1], self.pixels.shape[0]
        return self.pixels.size


def webp_lossless(path: str | Path) -> bool:
    """Whether `path` is a WebP whose every image bitstream is lossless (VP8L): a plain
    lossless WebP, or an extended one (VP8X) whose image, or every animation frame (ANMF),
    is VP8L. False for lossy (VP8, with or without ALPH), mixed, other files and unreadable
    ones. Reads chunk headers only."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
                return False
            end = 8 + struct.unpack("<I", head[4:8])[0]
            found = _webp_bitstreams(fh, 12, end)
    except (OSError, struct.error):
        return False
    return bool(found) and found == {b"VP8L"}


def _webp_bitstreams(fh: BinaryIO, pos: int, end: int) -> set[bytes]:
    """The kinds of image bitstream chunks (b"VP8 ", b"VP8L") between `pos` and `end`,
    looking inside ANMF frames (16 bytes of frame header, then sub-chunks)."""
    found: set[bytes] = set()
    while pos + 8 <= end:
        fh.seek(pos)
        header = fh.read(8)
        if len(header) < 8:
            break
        kind, size = header[:4], struct.unpack("<I", header[4:])[0]
        if kind in (b"VP8 ", b"VP8L"):
            found.add(kind)
        elif kind == b"ANMF":
            found |= _webp_bitstreams(fh, pos + 8 + 16, min(pos + 8 + size, end))
        pos += 8 + size + (size & 1)
    return found


def png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR, or None if not a PNG."""
    with open(path, "rb") as fh:
        head = fh.read(29)
    if len(head) < 29 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


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


def exif_orientation(value: object) -> int | None:
    """An EXIF/TIFF orientation tag's value (274, 0x0112) as 1..8, or None when the file has
    none or holds something else (several values, a float, text, out of range: found by
    fuzzing, a TIFF whose orientation held three SHORTs): such a tag is ignored, as Pillow's
    `ImageOps.exif_transpose` ignores unknown values."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 1 <= value <= 8:
        return int(value)
    return None


def orient_array(arr: np.ndarray, orientation: object) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an HxW[xC] array, as ImageOps.exif_transpose;
    any other value (see `exif_orientation`) leaves the array as it is."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(exif_orientation(orientation) or 1)
    return np.ascontiguousarray(op(arr)) if op else arr


# Pillow's limit is one global: files opened in parallel threads (the upscale workers) take
# turns at setting and restoring it, or one thread's restore would leave another's value
# (the guard off for good). Opening reads headers only; decoding happens outside the lock.
_PIXEL_LIMIT_LOCK = threading.RLock()
# Pillow checks its limit again when it decodes some images (an 8-bit TIFF's load, a crop)
# and warns from 89,478,485 pixels on: "DecompressionBombWarning: Image size (120000000
# pixels) exceeds limit ...", on stderr, with a path into Pillow and no file name. sronnx
# has applied its own limit (`max_pixels`) to the header by then, so that warning is never
# printed in a process that imports this module (Pillow's DecompressionBombError, over
# twice its limit, still raises). A filter for the whole process, set once here: a
# `warnings.catch_warnings` around each decode would not be thread-safe.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@contextlib.contextmanager
def pillow_pixel_limit(max_pixels: int | None = None) -> Iterator[None]:
    """Pillow's global decompression-bomb guard off while one file is opened (Pillow checks
    only then): read_image applies its own, adjustable, limit, after the header is read.
    `max_pixels` (see `open_limit`) holds Pillow to that limit during the open instead: a
    GIF whose first frame reaches beyond its screen gets a canvas of the frame's extent while
    it is opened (2.7 GB for a 650-byte file found by fuzzing), before any check of ours;
    Pillow refuses it with DecompressionBombError (see `read_reason`). Pillow's warnings
    (the bomb warning, "Corrupt EXIF data" from the header's EXIF) are silenced meanwhile."""
    with _PIXEL_LIMIT_LOCK, md.pillow_quiet():
        saved = Image.MAX_IMAGE_PIXELS
        # Pillow refuses over twice its limit (and only warns from the limit on)
        Image.MAX_IMAGE_PIXELS = -(-max_pixels // 2) if max_pixels else None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def open_limit(path: str | Path, max_pixels: int | None) -> int | None:
    """The pixel limit Pillow must keep while `path` is opened: `max_pixels` for a GIF (its
    open allocates the first frame's canvas), else None (the header is checked after)."""
    try:
        with open(path, "rb") as fh:
            return max_pixels if fh.read(4) == b"GIF8" else None
    except OSError:
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


def read_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode `path` fully (so truncation shows here, not later), upright per EXIF.

    Sizes are checked against `max_pixels` from the header, before any pixel is allocated.
    Every failure is an ImageReadError whose message is the reason, for one line of report.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageReadError(f"cannot open: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise ImageReadError("not a regular file")
    if size == 0:
        raise ImageReadError("empty file (0 bytes)")
    for reader in registry.readers():  # formats with readers of their own (TIFF)
        if reader.accepts(path):
            decoded_own = reader.read(path, max_pixels)  # None: Pillow reads it losslessly
            if decoded_own is not None:
                return _not_empty(decoded_own)
    try:
        with pillow_pixel_limit(open_limit(path, max_pixels)):
            # reads the header (and a GIF's first frame's canvas)
            img = Image.open(path, formats=INPUT_FORMATS)
        with img:
            w, h = img.size
            if max_pixels and w * h > max_pixels:
                raise ImageReadError(
                    f"{w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
                    "(a decompression bomb?); raise it with --max-pixels"
                )
            fmt = img.format or "PNG"
            quality = jpeg_quality(getattr(img, "quantization", None)) if fmt == "JPEG" \
                else None
            icc = img.info.get("icc_profile") or None
            dpi = img.info.get("dpi")
            meta, meta_notes = md.from_pil(img)
            if fmt == "TIFF" and getattr(img, "n_frames", 1) > 1:
                meta_notes.append(f"multi-page TIFF: only the first of {img.n_frames} pages "
                                  "was upscaled")
            header = png_header(path) if fmt == "PNG" else None
            if header is not None and header[0] == 16 and header[1] in (0, 2, 4, 6):
                pixels: Image.Image | np.ndarray = orient_array(_read_png16(path),
                                                                _orientation(img))
            else:
                fix_grey_key(img, header)
                img.load()
                _orientation(img)  # parsed quietly; exif_transpose takes Pillow's cached copy
                ImageOps.exif_transpose(img, in_place=True)
                pixels = img
    except ImageReadError:
        raise
    except MemoryError as exc:
        raise ImageReadError("not enough memory to decode it") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow and pypng raise many types for bad files
        raise ImageReadError(read_reason(exc)) from exc
    decoded = Decoded(pixels, fmt, icc, _clean_dpi(dpi), meta_notes, meta or None,
                      fmt == "WEBP" and webp_lossless(path), quality)
    if isinstance(pixels, Image.Image) and pixels.mode == "CMYK":
        decoded.pixels, decoded.icc_profile = _cmyk_to_rgb(pixels, icc), None
        decoded.notes.append("CMYK converted to sRGB")
    return _not_empty(decoded)


def _not_empty(decoded: Decoded) -> Decoded:
    """`decoded`, or ImageReadError when it has no pixels (a TIFF whose header says 0 rows
    decodes to an 8x0 array: found by fuzzing, it reached the upscaler as a traceback)."""
    w, h = decoded.size
    if w < 1 or h < 1:
        raise ImageReadError(f"empty image ({w}x{h} pixels)")
    return decoded


def _orientation(img: Image.Image) -> int | None:
    """The EXIF orientation of an opened image, Pillow's warnings about bad EXIF silenced.
    A PNG without eXIf before its pixels is decoded first (outside the lock), as Pillow's
    getexif would, to find an eXIf chunk stored after them."""
    if img.format == "PNG" and "exif" not in img.info:
        img.load()
    with md.pillow_quiet():
        return exif_orientation(img.getexif().get(_EXIF_ORIENTATION))


def read_reason(exc: BaseException) -> str:
    if isinstance(exc, Image.DecompressionBombError):
        return (f"over the pixel limit when opened, a decompression bomb? ({exc}); raise the "
                "limit with --max-pixels")
    reason = first_line(exc, 1000)
    if "cannot identify image file" in reason:
        return "not an image file (or an unsupported format)"
    if "truncated" in reason or "broken data stream" in reason:
        return f"truncated or corrupt image data ({reason})"
    return reason[:300]


def _clean_dpi(dpi: object) -> tuple[float, float] | None:
    try:
        x, y = (float(v) for v in dpi)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _cmyk_to_rgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """CMYK -> sRGB through the embedded profile when there is one."""
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass
    return img.convert("RGB")


def side_problem(fmt: str, size: tuple[int, int], what: str = "a {w}x{h} image") -> str | None:
    """Why an output of `size` (width, height) cannot be written as `fmt` (a side over the
    format's limit, `MAX_SIDE`), or None; `what` names the output ({w} and {h} filled in).
    The caller adds what to do instead."""
    w, h = size
    if fmt in MAX_SIDE and max(w, h) > MAX_SIDE[fmt]:
        return (f"{fmt} cannot hold {what.format(w=w, h=h)} (at most {MAX_SIDE[fmt]} pixels "
                "a side)")
    return None


def output_format(src_format: str, requested: str, path: Path) -> str:
    """Pillow format name for the output: the input's own unless --format says otherwise."""
    if requested != "same":
        return EXT_FORMAT[FORMAT_EXT[requested]]
    fmt = EXT_FORMAT.get(Path(path).suffix.lower())
    return fmt or (src_format if src_format in EXT_FORMAT.values() else "PNG")


_FALLBACK_NAME_MAX = 255  # bytes: ext4, XFS, Btrfs, APFS, tmpfs; NTFS 255 UTF-16 units


def name_max(folder: str | Path) -> int:
    """The longest file name, in bytes of the file-system encoding, that `folder` (or its
    nearest existing ancestor, for a folder not made yet) holds; 255 where the system does
    not say (e.g. Windows)."""
    folder = Path(folder)
    for candidate in (folder, *folder.parents):
        try:
            value = os.pathconf(candidate, "PC_NAME_MAX")
        except FileNotFoundError:
            continue  # not made yet: its ancestor's file system is the best guess
        except (OSError, ValueError, AttributeError):  # no pathconf, or it does not say
            break
        return value if value and value > 0 else _FALLBACK_NAME_MAX
    return _FALLBACK_NAME_MAX


def name_bytes(name: str) -> int:
    """Length of a file name in bytes of the file-system encoding (what NAME_MAX counts)."""
    return len(os.fsencode(name))


def part_path(path: Path) -> Path:
    """The temporary name `path` is written under before it is renamed into place.

    `.NAME.PID.sronnx-part` in the same folder when that fits the folder's NAME_MAX;
    otherwise NAME is cut (on a character boundary) and followed by `~` and 8 hex digits
    of a hash of the whole name, so that the part name fits wherever `path` fits and two
    long names that share a beginning still get different parts. Both forms end in
    `.PID.sronnx-part`, which `remove_stale_parts` recognises, sparing live writers.
    """
    path = Path(path)
    tail = f".{os.getpid()}{PART_SUFFIX}"
    limit = name_max(path.parent)
    plain = f".{path.name}{tail}"
    if name_bytes(plain) <= limit:
        return path.with_name(plain)
    digest = hashlib.sha1(os.fsencode(path.name)).hexdigest()[:8]
    room = limit - name_bytes(f".~{digest}{tail}")
    stem = path.name
    while stem and name_bytes(stem) > room:
        stem = stem[: max(0, len(stem) - max(1, (name_bytes(stem) - room) // 4))]
    return path.with_name(f".{stem}~{digest}{tail}")


@dataclass(frozen=True)
class _Encoding:
    """How `write_image` encodes: `quality` 1..100 for JPEG and lossy WebP, the zlib
    `png_compress_level` 0..9 for PNG, and `lossless` WebP."""

    quality: int = 95
    png_compress_level: int = 1
    lossless: bool = False


def write_image(path: str | Path, pixels: Image.Image | np.ndarray, fmt: str, *,
                icc_profile: bytes | None = None,
                dpi: tuple[float, float] | None = None,
                metadata: md.Metadata | None = None,
                **encoding: Any) -> list[str]:
    """Encode to a temporary name beside `path`, then rename it into place (atomic).

    Arrays (uint8 or uint16, HxW[xC]) go to PNG through the streaming writer, keeping 16
    bits; float32 arrays (in [0, 1]) become 16-bit PNGs. TIFF gets arrays at full precision
    (tiff.write_tiff); other formats get them as 8-bit. PIL images go through Pillow.
    `metadata` (EXIF, XMP, IPTC) goes into formats that hold it, with the ICC profile and
    the DPI (dots per inch, x and y). Alpha in a format without it (JPEG, BMP) is flattened
    over white. `encoding`: `quality` (JPEG and lossy WebP, 1..100, default 95),
    `png_compress_level` (zlib, 0..9, default 1) and `lossless` (a WebP output is lossless
    when the input was a lossless WebP: `Decoded.lossless`; default False). Returns notes
    on what the format could not hold (bits, alpha, metadata), for the file's result.
    Raises ValueError for a size the format cannot hold, TypeError for an unknown keyword,
    OSError where the file cannot be written (nothing is left at `path` then).
    """
    unknown = [k for k in encoding if k not in _Encoding.__dataclass_fields__]
    if unknown:  # as Python words it for a keyword the signature lacks
        raise TypeError(f"write_image() got an unexpected keyword argument {unknown[0]!r}")
    enc = _Encoding(**encoding)
    path = Path(path)
    w, h = (pixels.shape[1], pixels.shape[0]) if isinstance(pixels, np.ndarray) else pixels.size
    if (problem := side_problem(fmt, (w, h))) is not None:
        raise ValueError(f"{problem}; PNG and TIFF have no such limit")
    notes = md.not_held(metadata, fmt)
    if isinstance(pixels, np.ndarray):
        pixels = _narrow_for(pixels, fmt, notes)
    with atomic_file(path) as fh:
        if isinstance(pixels, np.ndarray) and fmt == "PNG":
            write_png(fh, pixels, icc_profile=icc_profile, dpi=dpi,
                      compress_level=enc.png_compress_level, metadata=metadata)
        elif isinstance(pixels, np.ndarray) and (writer := registry.array_writer(fmt)):
            writer(fh, pixels, icc_profile=icc_profile, dpi=dpi, meta=metadata,
                   compress_level=enc.png_compress_level)
        else:
            img = _to_8bit_image(pixels) if isinstance(pixels, np.ndarray) else pixels
            _save_pil(fh, img, fmt, replace(enc, lossless=enc.lossless and fmt == "WEBP"),
                      icc_profile=icc_profile, dpi=dpi, metadata=metadata, notes=notes)
    return notes


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write `path` through: written under `part_path(path)`, synced, then
    renamed into place; on any failure the temporary file is removed and `path` untouched."""
    path = Path(path)
    tmp = part_path(path)
    try:
        with open(tmp, "w+b") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _narrow_for(arr: np.ndarray, fmt: str, notes: list[str]) -> np.ndarray:
    """float32 arrays as 16-bit for PNG, 16-bit and float32 arrays as 8-bit for formats that
    hold no more (with a note); TIFF keeps them as they are. Other dtypes pass (and fail in
    the writer)."""
    if fmt == "TIFF":
        return arr
    if arr.dtype == np.float32:
        hi = float(np.max(arr)) if arr.size else 0.0
        out = np.empty(arr.shape, dtype=np.uint16)
        for y0, y1 in _bands(arr.shape[0], arr[0].size * 8):
            out[y0:y1] = np.clip(arr[y0:y1] * np.float32(65535) + np.float32(0.5), 0, 65535)
        bits = "16-bit" if fmt == "PNG" else "8-bit"
        notes.append(f"float samples written as {bits} {fmt}"
                     + (f" (values above 1, up to {hi:.6g}, clipped)" if hi > 1.0 else ""))
        return out
    if arr.dtype == np.uint16 and fmt != "PNG":
        notes.append(f"16-bit samples written as 8-bit {fmt}")
    return arr


def _save_pil(fh: BinaryIO, img: Image.Image, fmt: str, enc: _Encoding, *,
              icc_profile: bytes | None, dpi: tuple[float, float] | None,
              metadata: md.Metadata | None = None, notes: list[str] | None = None) -> None:
    """Write `img` to `fh` as `fmt` through Pillow, encoded as `enc` says, with the ICC
    profile, DPI and `metadata`; alpha flattened where `fmt` has none and GIF through its
    palette, each loss noted in `notes`."""
    notes = notes if notes is not None else []
    if fmt in NO_ALPHA and img.mode not in _HELD_MODES[fmt]:
        img = _flatten(img, fmt, notes)
    elif fmt == "GIF":
        img = to_gif_palette(img)  # at most 256 colours, a reserved transparent index
    kwargs: dict = md.pil_save_kwargs(metadata, fmt, img.size, dpi) if metadata else {}
    if icc_profile:
        kwargs["icc_profile"] = icc_profile
    if dpi:
        kwargs["dpi"] = (round(dpi[0]), round(dpi[1])) if fmt == "JPEG" else dpi
    if fmt == "PNG":
        kwargs["compress_level"] = enc.png_compress_level
    elif fmt == "WEBP" and enc.lossless:
        kwargs.update(lossless=True, quality=WEBP_LOSSLESS_EFFORT)
    elif fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = enc.quality
    if fmt == "JPEG" and metadata:
        md.save_jpeg(fh, img, kwargs, metadata.iptc, notes)
        return
    img.save(fh, format=fmt, **kwargs)


def _bands(height: int, row_bytes: int) -> Iterator[tuple[int, int]]:
    """(start, stop) row ranges of about _BAND_BYTES each."""
    step = max(1, _BAND_BYTES // max(row_bytes, 1))
    for y0 in range(0, height, step):
        yield y0, min(y0 + step, height)


def _to_8bit_image(arr: np.ndarray) -> Image.Image:
    """uint16 (or uint8) HxW[xC] -> 8-bit PIL image, band by band (no full-size wide copy)."""
    if arr.dtype == np.uint16:
        a8 = np.empty(arr.shape, dtype=np.uint8)
        row_bytes = arr[0].size * 4
        for y0, y1 in _bands(arr.shape[0], row_bytes):
            a8[y0:y1] = (arr[y0:y1].astype(np.uint32) * 255 + 32767) // 65535
        arr = a8
    return Image.fromarray(np.ascontiguousarray(arr))


# the modes Pillow writes to each format without alpha as they are (P: without transparency)
_HELD_MODES = {"JPEG": ("L", "RGB", "CMYK"), "BMP": ("1", "L", "RGB", "P")}


def _flatten(img: Image.Image, fmt: str, notes: list[str]) -> Image.Image:
    """An image for `fmt` (JPEG or BMP: no alpha, no 16 bits): alpha composited over white,
    band by band, with a note when any pixel was not opaque; 16-bit and float grey made
    8-bit; grey stays L."""
    if img.mode == "P" and img.info.get("transparency") is None and fmt == "BMP":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img)
        if img.mode == "F":
            return Image.fromarray(np.clip(arr * 255 + 0.5, 0, 255).astype(np.uint8))
        return _to_8bit_image(np.clip(arr, 0, 65535).astype(np.uint16))
    if img.mode in ("P", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
    if img.mode not in ("RGBA", "LA"):
        return img.convert("RGB")
    grey = img.mode == "LA"
    if img.getchannel("A").getextrema()[0] == 255:  # an alpha band, but all opaque
        return img.convert("L" if grey else "RGB")
    notes.append(f"alpha flattened over white: {fmt} has no alpha")
    out = Image.new("L" if grey else "RGB", img.size)
    w, h = img.size
    for y0, y1 in _bands(h, w * 16):
        band = np.asarray(img.crop((0, y0, w, y1)), dtype=np.float32)
        a = band[:, :, -1:] * np.float32(1 / 255)
        flat = band[:, :, :-1] * a + np.float32(255) * (1 - a)
        piece = np.clip(flat + 0.5, 0, 255).astype(np.uint8)
        out.paste(Image.fromarray(piece[:, :, 0] if grey else piece), (0, y0))
    return out


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
    fh.write(_PNG_SIGNATURE)
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
    for y0, y1 in _bands(h, w * bpp * 24):
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


def remove_stale_parts(folders: Path | Iterable[Path]) -> list[Path]:
    """Delete the temporary files a killed run left in `folders` (not recursive); parts of a
    sronnx process that is still running are left alone. Returns what was removed."""
    if isinstance(folders, (str, Path)):
        folders = [Path(folders)]
    removed = []
    for folder in folders:
        if not Path(folder).is_dir():
            continue
        for p in Path(folder).glob(f".*{PART_SUFFIX}"):
            if p.is_file() and not _writer_alive(p):
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def _writer_alive(part: Path) -> bool:
    """Whether the process named in a part file's name (.NAME.PID.sronnx-part) still runs."""
    try:
        pid = int(part.name[: -len(PART_SUFFIX)].rsplit(".", 1)[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def png_bit_depth(path: Path) -> int | None:
    header = png_header(path)
    return header[0] if header else None


__all__ = [
    "Decoded", "ImageReadError", "read_image", "write_image", "write_png", "output_format",
    "side_problem", "MAX_SIDE",
    "webp_lossless", "fix_grey_key", "NO_ALPHA", "WEBP_LOSSLESS_EFFORT",
    "orient_array", "exif_orientation", "remove_stale_parts", "part_path", "name_max", "name_bytes",
    "IMAGE_EXTENSIONS", "INPUT_FORMATS", "PART_SUFFIX", "DEFAULT_MAX_PIXELS",
]
