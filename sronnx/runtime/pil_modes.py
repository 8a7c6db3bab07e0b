"""Images as people have them: greyscale, alpha, palette, CMYK, 16-bit, carried through the
RGB model and back to the kind of image they came as."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # pragma: no cover
    from sronnx.runtime.upscaler import Upscaler


def _peak(dtype: np.dtype) -> float:
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    return 1.0


def upscale_grey_array(up: Upscaler, grey: np.ndarray) -> np.ndarray:
    """Grey in, grey out: the model sees R = G = B; the output is the mean of its channels."""
    out = up.upscale_rgb(np.repeat(grey[:, :, None], 3, axis=2))
    if np.issubdtype(grey.dtype, np.floating):
        return out.mean(axis=2, dtype=np.float32)
    return np.rint(out.mean(axis=2, dtype=np.float32)).astype(grey.dtype)


def _resize_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    """Alpha is upscaled on its own, with bicubic interpolation, in float."""
    img = Image.fromarray(alpha.astype(np.float32), mode="F")
    h, w = alpha.shape
    return np.asarray(img.resize((w * scale, h * scale), Image.BICUBIC), dtype=np.float32)


def upscale_rgba_array(up: Upscaler, rgba: np.ndarray) -> np.ndarray:
    """Colour through the model premultiplied by alpha, then divided back, so transparent
    pixels (often black) do not bleed dark fringes into the edges; alpha separately."""
    peak = _peak(rgba.dtype)
    rgb = rgba[:, :, :3].astype(np.float32) / peak
    alpha = rgba[:, :, 3].astype(np.float32) / peak
    premul = rgb * alpha[:, :, None]
    col = up.upscale_rgb(premul)
    a = np.clip(_resize_alpha(alpha, up.scale), 0.0, 1.0)
    safe = np.where(a > 1e-3, a, 1.0)
    col = np.clip(col / safe[:, :, None], 0.0, 1.0)
    out = np.concatenate([col, a[:, :, None]], axis=2)
    if np.issubdtype(rgba.dtype, np.floating):
        return out.astype(rgba.dtype)
    return np.rint(out * peak).astype(rgba.dtype)


def upscale_pil(up: Upscaler, img: Image.Image) -> Image.Image:
    """PIL image in, PIL image of the same kind out (palette images come back as RGB(A))."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode == "CMYK" or mode == "YCbCr":
        img, mode = img.convert("RGB"), "RGB"
    if mode == "1":
        img, mode = img.convert("L"), "L"
    if mode == "RGB":
        return Image.fromarray(up.upscale_rgb(np.asarray(img)), "RGB")
    if mode == "RGBA":
        return Image.fromarray(upscale_rgba_array(up, np.asarray(img)), "RGBA")
    if mode == "LA":
        arr = np.asarray(img.convert("RGBA"))
        out = upscale_rgba_array(up, arr)
        grey = np.rint(out[:, :, :3].astype(np.float32).mean(axis=2)).astype(np.uint8)
        return Image.fromarray(np.dstack([grey, out[:, :, 3]]), "LA")
    if mode == "L":
        return Image.fromarray(upscale_grey_array(up, np.asarray(img)), "L")
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img).astype(np.int64)
        if arr.min() < 0 or arr.max() > 65535:
            raise ValueError(f"image mode {mode}: values outside 0..65535 are not supported")
        out = upscale_grey_array(up, arr.astype(np.uint16))
        return Image.fromarray(out, "I;16")
    if mode == "F":
        return Image.fromarray(upscale_grey_array(up, np.asarray(img, dtype=np.float32)), "F")
    raise ValueError(f"unsupported image mode {mode!r}")
