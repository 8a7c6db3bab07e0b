"""Temporary stand-in for the degradations module (issue 12): the agreed API, minimally.

The lead replaces this file with the real module when merging; nothing else belongs here.
Every degradation crops the HR image to a multiple of the scale (as `degrade.make_pair`) and
returns (LR, cropped HR).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from sronnx import degrade

NAMED: dict[str, str] = {
    "clean": "bicubic downscale, the standard protocol (degrade.make_pair)",
    "jpeg90": "bicubic downscale, then JPEG at quality 90",
    "jpeg75": "bicubic downscale, then JPEG at quality 75",
    "jpeg50": "bicubic downscale, then JPEG at quality 50",
    "jpeg30": "bicubic downscale, then JPEG at quality 30",
    "noise5": "bicubic downscale, then Gaussian noise of sigma 5 (of 255), seeded",
    "noise10": "bicubic downscale, then Gaussian noise of sigma 10 (of 255), seeded",
    "area": "area (box) downscale instead of bicubic",
    "lanczos": "Lanczos downscale instead of bicubic",
}


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _noise(img: Image.Image, sigma: float, seed: int) -> Image.Image:
    arr = np.asarray(img, dtype=np.float64)
    arr = arr + np.random.default_rng(seed).normal(0.0, sigma, arr.shape)
    return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8))


def degrade_named(name: str, hr: Image.Image, scale: int,
                  seed: int = 0) -> tuple[Image.Image, Image.Image]:
    """(LR, cropped HR) by the degradation `name` of `NAMED`; ValueError for another name."""
    if name not in NAMED:
        raise ValueError(f"unknown degradation {name!r}; known: {', '.join(NAMED)}")
    lr, hr = degrade.make_pair(hr, scale)
    if name.startswith("jpeg"):
        return _jpeg(lr, int(name[4:])), hr
    if name.startswith("noise"):
        return _noise(lr, float(name[5:]), seed), hr
    if name in ("area", "lanczos"):
        w, h = hr.size
        method = Image.BOX if name == "area" else Image.LANCZOS
        return hr.resize((w // scale, h // scale), method), hr
    return lr, hr
