"""Images as people have them: greyscale, alpha, palette, CMYK, 16-bit, as arrays the RGB
model path takes, and back to the kind of image they came as (`pil_to_array`,
`array_to_pil`); the full-scale value of a dtype; alpha unpremultiplication.

Alpha: colour goes through the model premultiplied by alpha and is divided back by the
upscaled alpha (`unpremultiply`), so the (often black) colour of transparent pixels does not
bleed dark fringes into soft edges. The alpha plane itself is upscaled per tile by
`sronnx.engine.alpha`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


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
    elif is_grey16(mode) and "transparency" in img.info:
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


def is_grey16(mode: str) -> bool:
    """Pillow's 16/32-bit integer grey modes: I, I;16, I;16B, I;16L, I;16N."""
    return mode == "I" or mode.startswith("I;16")


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
