"""Reading and writing images as people have them, without losing what they carry.

Pillow reads a 16-bit-per-channel RGB(A) PNG as 8-bit without a word and cannot write one,
so 16-bit PNGs go through pypng (pure Python, small) instead. EXIF orientation is applied on
read; ICC profile and DPI are carried to the output (DPI times the scale). Every write goes
to a temporary name in the target folder and is renamed into place, so a killed run never
leaves a half-written image under an output name.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps

PART_SUFFIX = ".sronnx-part"
DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's own decompression-bomb threshold x2
FORMAT_EXT = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp", "bmp": ".bmp",
              "tiff": ".tif", "tif": ".tif"}
EXT_FORMAT = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
              ".tif": "TIFF", ".tiff": "TIFF"}
IMAGE_EXTENSIONS = frozenset(EXT_FORMAT)


class ImageReadError(ValueError):
    """An input that cannot be read as an image; the message gives the reason."""


@dataclass
class Decoded:
    """A decoded image: a PIL image for 8-bit kinds, or a uint16 array for 16-bit PNGs."""

    pixels: Image.Image | np.ndarray
    format: str
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        if isinstance(self.pixels, np.ndarray):
            return self.pixels.shape[1], self.pixels.shape[0]
        return self.pixels.size


def _png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR, or None if not a PNG."""
    with open(path, "rb") as fh:
        head = fh.read(29)
    if len(head) < 29 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def _read_png16(path: Path) -> np.ndarray:
    import png

    reader = png.Reader(filename=str(path))
    width, height, rows, info = reader.asDirect()
    planes = info["planes"]
    arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows])
    arr = arr.reshape(height, width, planes)
    if planes == 2:  # grey + alpha -> RGBA, so alpha handling is one path
        g, a = arr[:, :, 0], arr[:, :, 1]
        arr = np.dstack([g, g, g, a])
    if planes == 1:
        arr = arr[:, :, 0]
    return arr


def read_image(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode `path` fully (so truncation shows here, not later), upright per EXIF."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ImageReadError(f"cannot open: {exc.strerror or exc}") from exc
    if size == 0:
        raise ImageReadError("empty file (0 bytes)")
    try:
        with Image.open(path) as img:
            w, h = img.size
            if max_pixels and w * h > max_pixels:
                raise ImageReadError(
                    f"{w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
                    "(a decompression bomb?); raise it with --max-pixels"
                )
            fmt = img.format or "PNG"
            icc = img.info.get("icc_profile")
            dpi = img.info.get("dpi")
            header = _png_header(path) if fmt == "PNG" else None
            if header is not None and header[0] == 16 and header[1] in (0, 2, 4, 6):
                pixels: Image.Image | np.ndarray = _read_png16(path)
            else:
                img.load()
                pixels = ImageOps.exif_transpose(img) or img
                pixels.load()
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"too large: {exc}; raise the limit with --max-pixels") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad files
        reason = str(exc) or type(exc).__name__
        if "cannot identify image file" in reason:
            reason = "not an image file (or an unsupported format)"
        raise ImageReadError(reason) from exc
    decoded = Decoded(pixels, fmt, icc, tuple(float(v) for v in dpi) if dpi else None)
    if isinstance(pixels, Image.Image) and pixels.mode == "CMYK":
        decoded.pixels, decoded.icc_profile = _cmyk_to_rgb(pixels, icc), None
        decoded.notes.append("CMYK converted to sRGB")
    return decoded


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


def output_format(src_format: str, requested: str, path: Path) -> str:
    """Pillow format name for the output: the input's own unless --format says otherwise."""
    if requested != "same":
        return EXT_FORMAT[FORMAT_EXT[requested]]
    fmt = EXT_FORMAT.get(path.suffix.lower())
    return fmt or (src_format if src_format in EXT_FORMAT.values() else "PNG")


def write_image(path: Path, pixels: Image.Image | np.ndarray, fmt: str, *,
                quality: int = 95, png_compress_level: int = 1,
                icc_profile: bytes | None = None,
                dpi: tuple[float, float] | None = None) -> None:
    """Encode to a temporary name beside `path`, then rename it into place (atomic)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{PART_SUFFIX}")
    try:
        if isinstance(pixels, np.ndarray):
            if fmt == "PNG":
                _write_png16(tmp, pixels)
                os.replace(tmp, path)
                return
            pixels = _to_8bit_image(pixels)
        img = pixels
        if fmt in ("JPEG",) and img.mode in ("RGBA", "LA", "P", "I;16", "I", "F"):
            img = _flatten_for_jpeg(img)
        kwargs: dict = {}
        if icc_profile:
            kwargs["icc_profile"] = icc_profile
        if dpi:
            kwargs["dpi"] = dpi
        if fmt == "PNG":
            kwargs["compress_level"] = png_compress_level
        elif fmt in ("JPEG", "WEBP"):
            kwargs["quality"] = quality
        with open(tmp, "wb") as fh:
            img.save(fh, format=fmt, **kwargs)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_png16(path: Path, arr: np.ndarray) -> None:
    import png

    planes = 1 if arr.ndim == 2 else arr.shape[2]
    mode = {1: "L;16", 3: "RGB;16", 4: "RGBA;16"}[planes]
    h, w = arr.shape[:2]
    with open(path, "wb") as fh:
        png.from_array(arr.reshape(h, w * planes), mode).write(fh)
        fh.flush()
        os.fsync(fh.fileno())


def _to_8bit_image(arr: np.ndarray) -> Image.Image:
    a8 = ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    mode = "L" if a8.ndim == 2 else {3: "RGB", 4: "RGBA"}[a8.shape[2]]
    return Image.fromarray(a8, mode)


def _flatten_for_jpeg(img: Image.Image) -> Image.Image:
    """JPEG has no alpha: composite over white."""
    if img.mode in ("I;16", "I", "F"):
        return img.convert("L") if img.mode != "I;16" else Image.fromarray(
            (np.asarray(img).astype(np.uint32) * 255 // 65535).astype(np.uint8), "L")
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def remove_stale_parts(folder: Path) -> list[Path]:
    """Delete temporary files a killed run left behind; returns what was removed."""
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.rglob(f"*{PART_SUFFIX}"):
        if p.is_file() and p.name.startswith("."):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def png_bit_depth(path: Path) -> int | None:
    header = _png_header(path)
    return header[0] if header else None


__all__ = [
    "Decoded", "ImageReadError", "read_image", "write_image", "output_format",
    "remove_stale_parts", "IMAGE_EXTENSIONS", "PART_SUFFIX",
]
