"""Bicubic interpolation weights for an integer scale, shared by the torch models (as a
fixed convolution) and the torch-free runtime (alpha channels). numpy only."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

CUBIC_A = -0.75  # torch's (and OpenCV's) bicubic; Pillow's BICUBIC uses -0.5


def _keys(x: float, a: float = CUBIC_A) -> float:
    """Keys cubic convolution kernel."""
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


@lru_cache(maxsize=8)
def bicubic_phase_kernels(scale: int) -> np.ndarray:
    """(scale, 5) float64: output phase p of source pixel q reads q-2 .. q+2.

    Matches torch's bicubic (align_corners=False, A=-0.75) for an integer scale: the source
    coordinate of output pixel s*q + p is q + (p + 0.5)/s - 0.5; borders clamp (edge padding).
    """
    rows = np.zeros((scale, 5), dtype=np.float64)
    for p in range(scale):
        t = (p + 0.5) / scale - 0.5
        base = math.floor(t)
        frac = t - base
        for tap, x in zip(range(-1, 3), (frac + 1, frac, 1 - frac, 2 - frac), strict=True):
            rows[p, base + tap + 2] += _keys(x)
    rows.setflags(write=False)
    return rows


#: Input pixels each bicubic output pixel reads on each side (the Keys kernel's support).
ALPHA_MARGIN = 2


def bicubic_upscale_plane(plane: np.ndarray, scale: int) -> np.ndarray:
    """HxW float32 -> (scale*H)x(scale*W), edges replicated (not clipped to [0, 1])."""
    h, w = plane.shape
    k = bicubic_phase_kernels(scale).astype(np.float32)
    p = np.pad(plane.astype(np.float32, copy=False), ALPHA_MARGIN, mode="edge")
    rows = np.empty((h, scale, w + 2 * ALPHA_MARGIN), dtype=np.float32)
    for ph in range(scale):
        rows[:, ph] = sum(k[ph, t] * p[t : t + h] for t in range(5))
    rows = rows.reshape(h * scale, w + 2 * ALPHA_MARGIN)
    out = np.empty((h * scale, w, scale), dtype=np.float32)
    for ph in range(scale):
        out[:, :, ph] = sum(k[ph, t] * rows[:, t : t + w] for t in range(5))
    return out.reshape(h * scale, w * scale)
