"""Reading and writing images as people have them, without losing what they carry.

The generic reader and writer: what a format is and holds, and what only it does, comes from
its record in `sronnx.io.registry` (filled by the modules of `sronnx.io.formats`); no format
is named here. A format's own reader is tried first (16-bit and float TIFF); the rest is
opened by Pillow as one of the registered formats, then decoded by the format's array
decoder (16-bit PNG) or by Pillow. EXIF orientation is applied on read; ICC profile and DPI
are carried to the output (DPI times the scale). Arrays are written at full precision by the
format's array writer, or as 8-bit through Pillow. Every write goes to a temporary name in
the target folder and is renamed into place, so a killed run never leaves a half-written
image under an output name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageOps

from sronnx.core import first_line
from sronnx.io import metadata as md
from sronnx.io import registry, sniff
from sronnx.io.colour import colour_for_output
from sronnx.io.registry import EXT_FORMAT, FORMAT_EXT, IMAGE_EXTENSIONS, INPUT_FORMATS, Encoding
from sronnx.io.textmeta import texts_for_output

PART_SUFFIX = ".sronnx-part"
DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's own decompression-bomb threshold x2
_BAND_BYTES = 16 << 20  # rows converted or encoded at a time: bounded extra memory
_MAGIC_BYTES = 16  # the first bytes of a file that `ImageFormat.magic` is matched against
_EXIF_ORIENTATION = 0x0112


class ImageReadError(ValueError):
    """An input that cannot be read as an image; the message gives the reason."""


@dataclass
class Decoded:
    """A decoded image: a PIL image for 8-bit kinds, or an array for 16-bit PNGs and
    TIFFs (uint16) and float TIFFs (float32, as stored: see formats.tiff.fit_float_range)."""

    pixels: Image.Image | np.ndarray
    format: str
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)
    metadata: md.Metadata | None = None  # EXIF, XMP, IPTC, texts, colour chunks to carry
    lossless: bool = False  # a lossless WebP (`formats.webp.webp_lossless`): lossless again
    jpeg_quality: int | None = None  # a JPEG's quality estimated from its tables (assess)

    @property
    def size(self) -> tuple[int, int]:
        if isinstance(self.pixels, np.ndarray):
            return self.pixels.shape[1], self.pixels.shape[0]
        return self.pixels.size


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
    """The pixel limit Pillow must keep while `path` is opened: `max_pixels` for a format
    whose open allocates pixels (`ImageFormat.limit_open`: a GIF's first-frame canvas),
    known by its first bytes; else None (the header is checked after)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_MAGIC_BYTES)
    except OSError:
        return None
    held = any(head.startswith(m) for f in registry.formats() if f.limit_open for m in f.magic)
    return max_pixels if held else None


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
    for reader in registry.readers():  # formats with readers of their own
        if reader.accepts(path):
            decoded_own = reader.read(path, max_pixels)  # None: Pillow reads it losslessly
            if decoded_own is not None:
                return _not_empty(decoded_own)
    try:
        with pillow_pixel_limit(open_limit(path, max_pixels)):
            # reads the header (and, `limit_open`, a GIF's first frame's canvas)
            img = Image.open(path, formats=registry.input_formats())
        with img:
            w, h = img.size
            if max_pixels and w * h > max_pixels:
                raise ImageReadError(
                    f"{w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
                    "(a decompression bomb?); raise it with --max-pixels"
                )
            fmt = img.format or registry.default_output_format()
            record = registry.get_format(fmt)  # None: MPO, a JPEG with extra pictures
            dpi = img.info.get("dpi")
            meta, meta_notes = md.from_pil(img)
            facts = record.describe(img, path, meta_notes) if record and record.describe \
                else {}
            icc = img.info.get("icc_profile") or None  # (`describe` may supply one)
            if found := facts.pop("metadata", None):  # texts, colour: Metadata fields
                meta = dataclasses.replace(meta, **found)
            pixels = _pixels(img, path, record)
    except ImageReadError:
        raise
    except MemoryError as exc:
        raise ImageReadError("not enough memory to decode it") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow and pypng raise many types for bad files
        raise ImageReadError(read_reason(exc, path)) from exc
    decoded = Decoded(pixels, fmt, icc, _clean_dpi(dpi), meta_notes, meta or None, **facts)
    if isinstance(pixels, Image.Image) and pixels.mode == "CMYK":
        decoded.pixels, decoded.icc_profile = _cmyk_to_rgb(pixels, icc), None
        decoded.notes.append("CMYK converted to sRGB")
    return _not_empty(decoded)


def _pixels(img: Image.Image, path: Path,
            record: registry.ImageFormat | None) -> Image.Image | np.ndarray:
    """The opened image's pixels, upright: the format's fix-up of what Pillow opened, then
    its own array decoder (an array, e.g. a 16-bit PNG) or Pillow's decode."""
    if record is not None and record.fix_open is not None:
        record.fix_open(img, path)
    arr = record.read_array(img, path) if record and record.read_array else None
    if arr is not None:
        return orient_array(arr, _orientation(img))
    img.load()
    _orientation(img)  # parsed quietly; exif_transpose takes Pillow's cached copy
    ImageOps.exif_transpose(img, in_place=True)
    return img


def _not_empty(decoded: Decoded) -> Decoded:
    """`decoded`, or ImageReadError when it has no pixels (a TIFF whose header says 0 rows
    decodes to an 8x0 array: found by fuzzing, it reached the upscaler as a traceback)."""
    w, h = decoded.size
    if w < 1 or h < 1:
        raise ImageReadError(f"empty image ({w}x{h} pixels)")
    return decoded


def _orientation(img: Image.Image) -> int | None:
    """The EXIF orientation of an opened image, Pillow's warnings about bad EXIF silenced.
    An image of a format whose EXIF may follow the pixels (`exif_after_pixels`: a PNG)
    without EXIF before them is decoded first (outside the lock), as Pillow's getexif
    would, to find it after them."""
    record = registry.get_format(img.format)
    if record is not None and record.exif_after_pixels and "exif" not in img.info:
        img.load()
    with md.pillow_quiet():
        return exif_orientation(img.getexif().get(_EXIF_ORIENTATION))


def read_reason(exc: BaseException, path: str | Path | None = None) -> str:
    """One line saying why a file could not be read; for a file Pillow could not identify,
    the kind its first bytes show when `path` is given (`sniff.unreadable_kind`)."""
    if isinstance(exc, Image.DecompressionBombError):
        return (f"over the pixel limit when opened, a decompression bomb? ({exc}); raise the "
                "limit with --max-pixels")
    reason = first_line(exc, 1000)
    if "cannot identify image file" in reason:
        return sniff.refusal(path) if path is not None else \
            "not an image file (or an unsupported format)"
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
    format's limit, `ImageFormat.max_side`), or None; `what` names the output ({w} and {h}
    filled in). The caller adds what to do instead (`unlimited`)."""
    w, h = size
    record = registry.get_format(fmt)
    limit = record.max_side if record is not None else None
    if limit is not None and max(w, h) > limit:
        return f"{fmt} cannot hold {what.format(w=w, h=h)} (at most {limit} pixels a side)"
    return None


def unlimited(animated: bool = False) -> str:
    """What to write instead when a side is too long: "PNG and TIFF have no such limit" (the
    formats without a side limit that keep 16 bits), or for an animation "PNG (APNG) has no
    such limit" (the animated formats without one)."""
    if animated:
        names = [f.shown_name for f in registry.animated_formats() if f.max_side is None]
    else:
        names = [f.name for f in registry.formats() if f.max_side is None and f.sixteen_bit]
    listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)
    return f"{listed} {'has' if len(names) == 1 else 'have'} no such limit"


def output_format(src_format: str, requested: str, path: Path) -> str:
    """Pillow format name for the output: the input's own unless --format says otherwise."""
    if requested != "same":
        return registry.format_for_choice(requested)
    fmt = registry.format_for_extension(Path(path).suffix)
    if fmt:
        return registry.read_only_output(fmt) or fmt
    known = registry.get_format(src_format) is not None
    if not known:
        return registry.default_output_format()
    return registry.read_only_output(src_format) or src_format


def written_as_note(src_format: str, out_format: str, requested: str) -> list[str]:
    """A note for an input of a format sronnx only reads (PSD, TGA's ... see
    `registry.read_only_output`) written as another format without --format asking."""
    instead = registry.read_only_output(src_format)
    if requested != "same" or instead is None or out_format != instead:
        return []
    record = registry.get_format(out_format)
    kept = [w for w, held in (("alpha", record.alpha), ("16-bit", record.sixteen_bit))
            if record is not None and held]
    return [f"sronnx does not write {src_format}: written as {out_format}"
            + (f" (keeps {' and '.join(kept)})" if kept else "")]


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


def write_image(path: str | Path, pixels: Image.Image | np.ndarray, fmt: str, *,
                icc_profile: bytes | None = None,
                dpi: tuple[float, float] | None = None,
                metadata: md.Metadata | None = None,
                **encoding: Any) -> list[str]:
    """Encode to a temporary name beside `path`, then rename it into place (atomic).

    Arrays (uint8 or uint16, HxW[xC]) go to the format's array writer when it has one
    (`ImageFormat.write_array`: PNG's streaming writer keeps 16 bits, and float32 arrays in
    [0, 1] become 16-bit PNGs; TIFF keeps float32 too); other formats get them as 8-bit. PIL
    images go through Pillow. `metadata` (EXIF, XMP, IPTC, texts, PNG's colour chunks) goes
    into formats that hold it, with the ICC profile (or one made from gAMA and cHRM:
    `sronnx.io.colour`) and the DPI (dots per inch, x and y). Alpha in a format without it
    (JPEG, BMP) is flattened over white. `encoding` (`registry.Encoding`): `quality` (JPEG
    and lossy WebP, 1..100, default 95), `png_compress_level` (zlib, 0..9, default 1) and
    `lossless` (a WebP output is lossless when the input was a lossless WebP:
    `Decoded.lossless`; default False). Returns notes on what the format could not hold
    (bits, alpha, metadata), for the file's result.
    Raises ValueError for a size the format cannot hold, TypeError for an unknown keyword,
    OSError where the file cannot be written (nothing is left at `path` then).
    """
    unknown = [k for k in encoding if k not in Encoding.__dataclass_fields__]
    if unknown:  # as Python words it for a keyword the signature lacks
        raise TypeError(f"write_image() got an unexpected keyword argument {unknown[0]!r}")
    enc = Encoding(**encoding)
    path = Path(path)
    w, h = (pixels.shape[1], pixels.shape[0]) if isinstance(pixels, np.ndarray) else pixels.size
    if (problem := side_problem(fmt, (w, h))) is not None:
        raise ValueError(f"{problem}; {unlimited()}")
    metadata, moved = texts_for_output(metadata, fmt)
    notes = md.not_held(metadata, fmt) + md.text_notes(metadata, fmt) + moved
    icc_profile, colour_notes = colour_for_output(metadata, fmt, icc_profile, _grey(pixels))
    notes += colour_notes
    if isinstance(pixels, np.ndarray):
        pixels = _narrow_for(pixels, fmt, notes)
    with atomic_file(path) as fh:
        if isinstance(pixels, np.ndarray) and (writer := registry.array_writer(fmt)):
            record = registry.get_format(fmt)
            extra = {"encoding": enc, "notes": notes} if record and record.encoded_array else {}
            writer(fh, pixels, icc_profile=icc_profile, dpi=dpi, meta=metadata,
                   compress_level=enc.png_compress_level, **extra)
        else:
            img = _to_8bit_image(pixels) if isinstance(pixels, np.ndarray) else pixels
            _save_pil(fh, img, fmt, enc, icc_profile=icc_profile, dpi=dpi,
                      metadata=metadata, notes=notes)
    return notes


def _grey(pixels: Image.Image | np.ndarray) -> bool:
    """Whether an image to write is grey (with or without alpha)."""
    if isinstance(pixels, np.ndarray):
        return pixels.ndim == 2 or pixels.shape[2] <= 2
    return pixels.mode in ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")


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
    """float32 arrays as 16-bit for formats that hold 16 bits (PNG), 16-bit and float32
    arrays as 8-bit for formats that hold no more (with a note); formats that hold float
    samples (TIFF) keep them as they are. Other dtypes pass (and fail in the writer)."""
    record = registry.get_format(fmt)
    if record is not None and record.float_samples:
        return arr
    sixteen_bit = record is not None and record.sixteen_bit
    if arr.dtype == np.float32:
        hi = float(np.max(arr)) if arr.size else 0.0
        out = np.empty(arr.shape, dtype=np.uint16)
        for y0, y1 in row_bands(arr.shape[0], arr[0].size * 8):
            out[y0:y1] = np.clip(arr[y0:y1] * np.float32(65535) + np.float32(0.5), 0, 65535)
        bits = "16-bit" if sixteen_bit else "8-bit"
        notes.append(f"float samples written as {bits} {fmt}"
                     + (f" (values above 1, up to {hi:.6g}, clipped)" if hi > 1.0 else ""))
        return out
    if arr.dtype == np.uint16 and not sixteen_bit:
        notes.append(f"16-bit samples written as 8-bit {fmt}")
    return arr


def _save_pil(fh: BinaryIO, img: Image.Image, fmt: str, enc: Encoding, *,
              icc_profile: bytes | None, dpi: tuple[float, float] | None,
              metadata: md.Metadata | None = None, notes: list[str] | None = None) -> None:
    """Write `img` to `fh` as `fmt` through Pillow, encoded as `enc` says, with the ICC
    profile, DPI and `metadata`; alpha flattened where `fmt` has none, or the image made
    ready by the format (`prepare`: GIF's palette), each loss noted in `notes`; Pillow's
    options set by the format (`save_options`), saved by the format's own `save` if any."""
    notes = notes if notes is not None else []
    record = registry.get_format(fmt)
    if record is not None and not record.alpha and img.mode not in record.modes:
        img = _flatten(img, record, notes)
    elif record is not None and record.prepare is not None:
        img = record.prepare(img)
    kwargs: dict = md.pil_save_kwargs(metadata, fmt, img.size, dpi) if metadata else {}
    if icc_profile:
        kwargs["icc_profile"] = icc_profile
    if dpi:
        kwargs["dpi"] = dpi
    if record is not None and record.save_options is not None:
        record.save_options(kwargs, enc)
    if record is not None and record.save is not None:
        record.save(fh, img, kwargs, metadata, notes)
        return
    img.save(fh, format=fmt, **kwargs)


def row_bands(height: int, row_bytes: int) -> Iterator[tuple[int, int]]:
    """(start, stop) row ranges of about _BAND_BYTES each."""
    step = max(1, _BAND_BYTES // max(row_bytes, 1))
    for y0 in range(0, height, step):
        yield y0, min(y0 + step, height)


def _to_8bit_image(arr: np.ndarray) -> Image.Image:
    """uint16 (or uint8) HxW[xC] -> 8-bit PIL image, band by band (no full-size wide copy)."""
    if arr.dtype == np.uint16:
        a8 = np.empty(arr.shape, dtype=np.uint8)
        row_bytes = arr[0].size * 4
        for y0, y1 in row_bands(arr.shape[0], row_bytes):
            a8[y0:y1] = (arr[y0:y1].astype(np.uint32) * 255 + 32767) // 65535
        arr = a8
    return Image.fromarray(np.ascontiguousarray(arr))


def _flatten(img: Image.Image, record: registry.ImageFormat, notes: list[str]) -> Image.Image:
    """An image for a format without alpha and 16 bits (JPEG, BMP): alpha composited over
    white, band by band, with a note when any pixel was not opaque; 16-bit and float grey
    made 8-bit; grey stays L; a palette without transparency stays one where the format
    writes palettes (`ImageFormat.modes`)."""
    fmt = record.name
    if img.mode == "P" and img.info.get("transparency") is None and "P" in record.modes:
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
    for y0, y1 in row_bands(h, w * 16):
        band = np.asarray(img.crop((0, y0, w, y1)), dtype=np.float32)
        a = band[:, :, -1:] * np.float32(1 / 255)
        flat = band[:, :, :-1] * a + np.float32(255) * (1 - a)
        piece = np.clip(flat + 0.5, 0, 255).astype(np.uint8)
        out.paste(Image.fromarray(piece[:, :, 0] if grey else piece), (0, y0))
    return out


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


__all__ = [
    "Decoded", "ImageReadError", "read_image", "write_image", "output_format",
    "side_problem", "unlimited", "row_bands", "atomic_file", "read_reason", "open_limit",
    "pillow_pixel_limit", "orient_array", "exif_orientation", "remove_stale_parts",
    "part_path", "name_max", "name_bytes", "written_as_note",
    "EXT_FORMAT", "FORMAT_EXT", "IMAGE_EXTENSIONS", "INPUT_FORMATS", "PART_SUFFIX",
    "DEFAULT_MAX_PIXELS",
]
