"""The standard degradation of every published SR table, in one place.

Training, validation and the benchmark all make low-resolution inputs with these functions,
so the numbers they report are comparable with the literature: crop the HR image to a
multiple of the scale (from the top-left), then bicubic downscale with antialiasing
(Pillow's BICUBIC, close to MATLAB's imresize).
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def crop_to_multiple(hr: Image.Image, scale: int) -> Image.Image:
    w, h = hr.size
    cw, ch = w - w % scale, h - h % scale
    if cw == 0 or ch == 0:
        raise ValueError(f"image of {w}x{h} is smaller than the scale {scale}")
    return hr if (cw, ch) == (w, h) else hr.crop((0, 0, cw, ch))


def bicubic_downscale(hr: Image.Image, scale: int) -> Image.Image:
    """Antialiased bicubic downscale of an RGB image whose size is a multiple of `scale`."""
    w, h = hr.size
    if w % scale or h % scale:
        raise ValueError(f"image of {w}x{h} is not a multiple of the scale {scale}")
    return hr.resize((w // scale, h // scale), Image.BICUBIC)


def bicubic_upscale(lr: Image.Image, scale: int) -> Image.Image:
    """The bicubic baseline of the published tables (Pillow BICUBIC)."""
    w, h = lr.size
    return lr.resize((w * scale, h * scale), Image.BICUBIC)


def make_pair(hr: Image.Image, scale: int) -> tuple[Image.Image, Image.Image]:
    """(LR, cropped HR) from an HR image by the standard protocol."""
    hr = crop_to_multiple(hr.convert("RGB"), scale)
    return bicubic_downscale(hr, scale), hr


def to_float(img: Image.Image) -> np.ndarray:
    """RGB PIL image -> float32 HWC array in [0, 1]."""
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
