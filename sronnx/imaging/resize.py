"""Output sizes other than the model's own: `-s/--outscale`, `--width`, `--height`.

The model runs at its own scale (x2, x3 or x4); its result is then resampled to the asked
size with Pillow, each axis on its own: Lanczos where the asked size is larger than the
model's output, area averaging (Pillow's BOX filter) where it is smaller, nothing where it is
equal. Every channel is resampled as a 32-bit float image (Pillow mode "F"), so 8-bit, 16-bit
and float images keep their precision (no 8-bit intermediate), and colour under alpha is
premultiplied first, as Pillow does for RGBA, so the colour hidden under transparent pixels
does not bleed into visible edges.

Sizes are computed with Python's round() (halves to even) and are at least 1 pixel.

Torch-free: numpy and Pillow only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from PIL import Image

from sronnx.imaging.modes import full_scale

__all__ = ["needed_factor", "pick_scale", "resize_array", "size_problem", "target_size"]


def size_problem(outscale: float | None, width: int | None, height: int | None) -> str | None:
    """Why these size options cannot go together or are unusable, or None: `outscale` must
    be a finite number > 0, `width` and `height` whole numbers >= 1, and `outscale` excludes
    `width`/`height` (either of them alone keeps the aspect ratio, both give an exact size)."""
    if outscale is not None and not (math.isfinite(outscale) and outscale > 0):
        return f"-s/--outscale must be a positive number, got {outscale}"
    for name, value in (("--width", width), ("--height", height)):
        if value is not None and value < 1:
            return f"{name} must be at least 1, got {value}"
    if outscale is not None and (width is not None or height is not None):
        return ("-s/--outscale and --width/--height exclude each other: give a factor or "
                "a size")
    return None


def target_size(size: tuple[int, int], scale: int, outscale: float | None = None,
                width: int | None = None, height: int | None = None) -> tuple[int, int]:
    """The (width, height) of the output for an input of `size` (width, height, upright)
    through a model of `scale`.

    - no request: `scale` times the input, the model's own output;
    - `outscale` F: (round(w * F), round(h * F));
    - `width` W alone: (W, round(h * W / w)), the aspect ratio kept; `height` alone likewise;
    - both: exactly (W, H).

    Every side is at least 1 pixel. Raises ValueError for an empty input size.
    """
    w, h = size
    if w < 1 or h < 1:
        raise ValueError(f"empty image {w}x{h}")
    if outscale is not None:
        return max(1, round(w * outscale)), max(1, round(h * outscale))
    if width is not None and height is not None:
        return width, height
    if width is not None:
        return width, max(1, round(h * width / w))
    if height is not None:
        return max(1, round(w * height / h)), height
    return w * scale, h * scale


def needed_factor(size: tuple[int, int], outscale: float | None = None,
                  width: int | None = None, height: int | None = None) -> float | None:
    """How many times larger than `size` (width, height) the output is asked to be, on its
    larger axis; None when no size is asked for (the model's own scale is the output)."""
    if outscale is not None:
        return outscale
    if width is None and height is None:
        return None
    tw, th = target_size(size, 1, None, width, height)
    return max(tw / size[0], th / size[1])


def pick_scale(factor: float, scales: Iterable[int]) -> int:
    """The model scale for an output `factor` times the input: the smallest of `scales`
    (the shipped models' scales) that is at least `factor`, else the largest of them (the
    cap: larger factors are reached by Lanczos from the largest model). Raises ValueError
    when `scales` is empty."""
    have = sorted(set(scales))
    if not have:
        raise ValueError("no model scales to choose from")
    return next((s for s in have if s >= factor), have[-1])


def _passes(w: int, h: int, tw: int, th: int) -> list[tuple[tuple[int, int], int]]:
    """The Pillow resize calls ((size, filter), in order) that take a w x h image to tw x th:
    one per axis that changes, Lanczos up and BOX down; one call when both axes change the
    same way (Pillow resamples separably either way). The reducing axis goes first, so the
    other axis runs on the smaller intermediate."""
    def flt(src: int, dst: int) -> int:
        return Image.Resampling.LANCZOS if dst > src else Image.Resampling.BOX

    if (tw, th) == (w, h):
        return []
    if tw == w:
        return [((w, th), flt(h, th))]
    if th == h:
        return [((tw, h), flt(w, tw))]
    fx, fy = flt(w, tw), flt(h, th)
    if fx == fy:
        return [((tw, th), fx)]
    if fx == Image.Resampling.BOX:
        return [((tw, h), fx), ((tw, th), fy)]
    return [((w, th), fy), ((tw, th), fx)]




def resize_array(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An image array resampled to `size` (width, height): HxW or HxWxC (C = 1 grey,
    2 grey + alpha, 3 RGB, 4 RGBA) of uint8, uint16 or float in [0, 1] -> the same layout and
    dtype, `size[1]` x `size[0]`. The array itself comes back when it already has that size.

    Each axis that grows is resampled with Lanczos, each that shrinks with area averaging
    (BOX); every channel as a float32 image, the colour premultiplied by alpha when there is
    an alpha channel (and divided again after, where the new alpha is not 0). Results are
    rounded (integers) and clipped to the dtype's range (floats to [0, 1]): Lanczos overshoot
    at hard edges is cut. Memory: about two float32 planes of the output at a time, besides
    the output itself.

    Raises ValueError for another shape or dtype, an empty image or an empty target size.
    """
    arr = np.asarray(arr)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"expected an HxW or HxWxC (C = 1..4) image array, got {arr.shape}")
    h, w = arr.shape[:2]
    tw, th = (int(v) for v in size)
    if h < 1 or w < 1:
        raise ValueError(f"empty image {w}x{h}")
    if tw < 1 or th < 1:
        raise ValueError(f"empty target size {tw}x{th}")
    peak = full_scale(arr.dtype)
    passes = _passes(w, h, tw, th)
    if not passes:
        return arr
    planes = arr[:, :, None] if arr.ndim == 2 else arr
    c = planes.shape[2]
    alpha = c in (2, 4)
    unit = np.float32(1.0 / peak) if peak is not None else np.float32(1.0)

    def resample(plane: np.ndarray) -> np.ndarray:
        img = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))  # mode "F"
        for step, flt in passes:
            img = img.resize(step, flt)
        return np.asarray(img, dtype=np.float32)

    def quantize(plane: np.ndarray) -> np.ndarray:
        if peak is None:
            return np.clip(plane, 0.0, 1.0).astype(arr.dtype, copy=False)
        v = plane * np.float32(peak) + np.float32(0.5)
        np.clip(v, 0, peak, out=v)
        return v.astype(arr.dtype)

    out = np.empty((th, tw, c), dtype=arr.dtype)
    a_in = a_out = None
    if alpha:
        a_in = planes[:, :, -1].astype(np.float32) * unit
        a_out = np.clip(resample(a_in), 0.0, 1.0)
        out[:, :, -1] = quantize(a_out)
    eps = np.float32(0.5 / peak if peak is not None else 1e-6)
    for k in range(c - (1 if alpha else 0)):
        v = planes[:, :, k].astype(np.float32) * unit
        if a_in is not None:
            v *= a_in
        r = resample(v)
        if a_out is not None:  # straight colour again where any alpha survives
            r = np.where(a_out > eps, r / np.maximum(a_out, eps), r)
        out[:, :, k] = quantize(r)
    return out[:, :, 0] if arr.ndim == 2 else out
