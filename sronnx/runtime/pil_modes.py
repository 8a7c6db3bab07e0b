"""Images as people have them: greyscale, alpha, palette, CMYK, 16-bit, carried through the
RGB model and back to the kind of image they came as.

Alpha: colour goes through the model premultiplied by alpha and is divided back by the
upscaled alpha, so the (often black) colour of transparent pixels does not bleed dark
fringes into soft edges. Alpha itself is upscaled separately with the same bicubic kernel
the models use for their skip path (Keys, a = -0.75, edge-replicated), computed per tile
from a 2-pixel margin, so the tiled result is exactly the untiled one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from sronnx.interpolation import bicubic_phase_kernels

if TYPE_CHECKING:  # pragma: no cover
    from sronnx.runtime.tiling import Span
    from sronnx.runtime.upscaler import Upscaler

_ALPHA_MARGIN = 2  # input pixels each bicubic output pixel reads on each side


def bicubic_upscale(plane: np.ndarray, scale: int) -> np.ndarray:
    """HxW float32 -> (scale*H)x(scale*W), edges replicated (not clipped to [0, 1])."""
    h, w = plane.shape
    k = bicubic_phase_kernels(scale).astype(np.float32)
    p = np.pad(plane.astype(np.float32, copy=False), _ALPHA_MARGIN, mode="edge")
    rows = np.empty((h, scale, w + 2 * _ALPHA_MARGIN), dtype=np.float32)
    for ph in range(scale):
        rows[:, ph] = sum(k[ph, t] * p[t : t + h] for t in range(5))
    rows = rows.reshape(h * scale, w + 2 * _ALPHA_MARGIN)
    out = np.empty((h * scale, w, scale), dtype=np.float32)
    for ph in range(scale):
        out[:, :, ph] = sum(k[ph, t] * rows[:, t : t + w] for t in range(5))
    return out.reshape(h * scale, w * scale)


def alpha_cell(alpha: np.ndarray, row: Span, col: Span, scale: int,
               peak: float | None) -> np.ndarray:
    """Upscaled alpha in [0, 1] for one tile's cell, from the cell plus a 2-pixel margin of
    the full-size alpha plane (so it equals the untiled result exactly)."""
    h, w = alpha.shape
    r0, r1 = max(row.cell_start - _ALPHA_MARGIN, 0), min(row.cell_stop + _ALPHA_MARGIN, h)
    c0, c1 = max(col.cell_start - _ALPHA_MARGIN, 0), min(col.cell_stop + _ALPHA_MARGIN, w)
    a = alpha[r0:r1, c0:c1].astype(np.float32)
    if peak is not None:
        a *= np.float32(1.0 / peak)
    up = bicubic_upscale(a, scale)
    top, left = (row.cell_start - r0) * scale, (col.cell_start - c0) * scale
    cell = up[top : top + (row.cell_stop - row.cell_start) * scale,
              left : left + (col.cell_stop - col.cell_start) * scale]
    return np.clip(cell, 0.0, 1.0)


def unpremultiply(colour: np.ndarray, alpha: np.ndarray, peak: float | None) -> np.ndarray:
    """Premultiplied colour (HxWxC) / alpha (HxW), where alpha survives quantisation;
    elsewhere the pixel is fully transparent and keeps the premultiplied value (~black)."""
    eps = 0.5 / peak if peak is not None else 1e-6
    safe = np.where(alpha > eps, alpha, np.float32(1.0))[:, :, None]
    return np.clip(colour / safe, 0.0, 1.0)


_TO_RGB = ("CMYK", "YCbCr", "LAB", "HSV", "RGBX")


def pil_to_array(img: Image.Image) -> tuple[np.ndarray, str]:
    """A PIL image as the array the upscaler takes (uint8, uint16 or float32; HxW or HxWxC)
    and the mode to turn the result back into: palette images become RGB(A), bilevel L,
    CMYK and other colour spaces RGB, 16/32-bit integer grey uint16. A colour key (PNG tRNS,
    `info["transparency"]` on 1/L/RGB/I;16) becomes an alpha band: LA, RGBA, or 16-bit
    grey + alpha ("LA;16")."""
    mode = img.mode
    if mode in ("1", "L", "RGB") and "transparency" in img.info:
        img = img.convert("RGBA" if mode == "RGB" else "LA")  # colour key -> alpha band
    elif _is_grey16(mode) and "transparency" in img.info:
        return _keyed_grey16(img), "LA;16"
    elif mode == "P" or mode == "PA":
        img = img.convert("RGBA" if mode == "PA" or img.has_transparency_data else "RGB")
    elif mode in _TO_RGB:
        img = img.convert("RGB")
    elif mode == "1":
        img = img.convert("L")
    elif mode == "RGBa":
        img = img.convert("RGBA")
    elif mode == "La":
        img = img.convert("LA")
    mode = img.mode
    if mode in ("RGB", "RGBA", "L", "LA"):
        return np.asarray(img), mode
    if mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16), "I;16"
    if mode == "I":
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ValueError("image mode I: values outside 0..65535 are not supported")
        return arr.astype(np.uint16), "I"
    if mode == "F":
        return np.asarray(img, dtype=np.float32), "F"
    raise ValueError(f"unsupported image mode {mode!r}")


def _keyed_grey16(img: Image.Image) -> np.ndarray:
    """16-bit grey with a colour key (PNG tRNS) -> HxWx2 uint16, alpha 0 on the key."""
    grey = np.asarray(img)
    if grey.size and (grey.min() < 0 or grey.max() > 65535):
        raise ValueError("image mode I: values outside 0..65535 are not supported")
    alpha = np.where(grey == img.info["transparency"], 0, 65535).astype(np.uint16)
    return np.dstack([grey.astype(np.uint16), alpha])


def array_to_pil(arr: np.ndarray, mode: str) -> Image.Image:
    """The upscaler's array back to a PIL image of `mode` (from pil_to_array); "LA;16"
    (16-bit grey + alpha, which Pillow has no mode for) becomes 8-bit "LA"."""
    if mode == "LA;16":
        return Image.fromarray(((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8))
    if mode == "I":
        return Image.fromarray(arr.astype(np.int32))
    return Image.fromarray(np.ascontiguousarray(arr))


def _is_grey16(mode: str) -> bool:
    """Pillow's 16/32-bit integer grey modes: I, I;16, I;16B, I;16L, I;16N."""
    return mode == "I" or mode.startswith("I;16")


def upscale_pil(up: Upscaler, img: Image.Image, *,
                on_tile: Callable[[int], None] | None = None) -> Image.Image:
    """PIL image in, PIL image of the same kind out, `up.scale` times larger (see pil_to_array
    for the kinds that change: palette to RGB(A), bilevel to L, CMYK and other colour spaces
    to RGB, a colour key to an alpha band). The ICC profile and DPI (times the scale) go into
    the result's `info`, so that `save` carries them.

    The pixels are taken as given: EXIF orientation is not applied (call
    `PIL.ImageOps.exif_transpose(img)` first). `on_tile` is `Upscaler.upscale_array`'s
    progress callback (output pixels written per model call). An MPO (a JPEG with extra
    images, as some cameras write) gives its first, main image, as the CLI does.

    Raises ValueError, before any model call, for:
    - an animated or multi-frame image (GIF, APNG, WebP, TIFF pages; n_frames > 1): one PIL
      image cannot hold the frames and their timing. `sronnx.runtime.frames` upscales a whole
      animation file (`read_animation`, `upscale_animation`, `write_animation`); for one
      frame, pass `img.copy()` after `img.seek(k)`.
    - a 16-bit grey image with a colour key (mode I;16 or I with `info["transparency"]`, as
      Pillow reads a 16-bit grey PNG with tRNS): Pillow has no 16-bit grey + alpha mode, so
      the result could only be 8-bit. `up.upscale_array(pil_to_array(img)[0])` upscales the
      HxWx2 uint16 grey + alpha array (all 16 bits and the alpha);
      `array_to_pil(result, "LA;16")` makes an 8-bit LA image of it.
    """
    frames = _frame_count(img)
    if frames > 1:
        raise ValueError(_animation_message(img, frames))
    if _is_grey16(img.mode) and "transparency" in img.info:
        raise ValueError(
            f"a 16-bit grey image (mode {img.mode}) with a colour key (transparency = "
            f"{img.info['transparency']}) has no 16-bit PIL result (Pillow has no 16-bit grey "
            "+ alpha mode); upscale the HxWx2 uint16 grey + alpha array instead: "
            "up.upscale_array(sronnx.runtime.pil_modes.pil_to_array(img)[0])")
    arr, mode = pil_to_array(img)
    out = array_to_pil(up.upscale_array(arr, on_tile=on_tile), mode)
    if img.info.get("icc_profile"):
        out.info["icc_profile"] = img.info["icc_profile"]
    if img.info.get("dpi"):
        out.info["dpi"] = tuple(float(v) * up.scale for v in img.info["dpi"])
    return out


def _frame_count(img: Image.Image) -> int:
    """How many frames (pages) `img` holds; 1 for a still image, a copy (`img.copy()`) or an
    MPO, whose extra images are previews or a second view beside its main image."""
    if img.format == "MPO" or not getattr(img, "is_animated", False):
        return 1
    try:
        return int(getattr(img, "n_frames", 1))
    except Exception as exc:  # noqa: BLE001 - a cut file whose frames cannot be counted
        raise ValueError(f"the frames of this {img.format} cannot be counted: {exc}") from exc


def _animation_message(img: Image.Image, frames: int) -> str:
    """Why an image of `frames` frames is refused, and what to use instead."""
    one = "for one frame, pass img.copy() after img.seek(k)"
    if img.format in ("GIF", "PNG", "WEBP"):
        kind = "APNG" if img.format == "PNG" else img.format
        return (f"an animated {kind} of {frames} frames: upscale() returns one image and would "
                "keep only the first frame; upscale the whole animation with "
                "sronnx.runtime.frames (read_animation, upscale_animation, write_animation), "
                f"or {one}")
    return (f"a {img.format or 'multi-frame'} image of {frames} frames (pages): upscale() "
            f"returns one image and would keep only the first; {one}")


def full_scale(dtype: np.dtype) -> float | None:
    """Full-scale value of an image's integer dtype (255 for uint8, 65535 for uint16); None
    for floats (already in [0, 1]). ValueError for any other dtype."""
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if np.issubdtype(dtype, np.floating):
        return None
    raise ValueError(f"unsupported image dtype {dtype} (use uint8, uint16 or float in [0, 1])")
