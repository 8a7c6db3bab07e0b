"""Flat regions stay exactly as they are: where every input pixel a model output reads holds
one value, that value is the output.

A model adds detail on top of a bicubic-like base; on a region with no detail it can only
invent some. Measured on the shipped float32 models with mirrored borders: every grey level
comes back exact, but saturated colours drift by one level (rsp-x2 on pure green (0, 255, 0)
returns red and blue 1 on part of the image, rsp-x4 on (0, 255, 255) returns green 254). So
the upscaler finds, per tile, the input pixels whose whole neighbourhood of the model's
receptive-field radius is one colour (all channels, alpha included), and writes that colour
to their output pixels. Elsewhere the model's output is kept untouched.

Pure numpy, one pass of differences and two cumulative sums per tile (an integral image):
a few milliseconds for a 512x512 tile.
"""

from __future__ import annotations

import numpy as np


def flat_radius(receptive_field: int) -> int:
    """Neighbourhood radius (input pixels) that decides one output pixel: half the model's
    receptive field, and at least 2 (the bicubic skip reads 2 pixels each side)."""
    return max(2, receptive_field // 2)


def _box_any(marks: np.ndarray, rows: tuple[int, int], cols: tuple[int, int],
             shape: tuple[int, int]) -> np.ndarray:
    """For every pixel (y, x) of an image of `shape`: whether `marks` (a boolean map indexed
    like the image, possibly one shorter along an axis) holds a True inside rows
    [y + rows[0], y + rows[1]] and cols [x + cols[0], x + cols[1]] (clipped to `marks`).
    Two running sums over a zero-padded copy, sliced: no per-pixel index arrays."""
    h, w = shape
    (a, b), (c, d) = rows, cols
    mh, mw = marks.shape
    z = np.zeros((h + b - a + 1, w + d - c + 1), dtype=np.int32)  # row/col 0: the zero sum
    # z[1 + i, 1 + j] = marks[i + a, j + c] where that lies inside marks
    i0, j0 = max(0, -a), max(0, -c)
    i1, j1 = min(h + b - a, mh - a), min(w + d - c, mw - c)
    if i1 > i0 and j1 > j0:
        z[1 + i0 : 1 + i1, 1 + j0 : 1 + j1] = marks[i0 + a : i1 + a, j0 + c : j1 + c]
    np.cumsum(z, axis=0, out=z)
    k = b - a + 1
    z = z[k : k + h] - z[:h]
    np.cumsum(z, axis=1, out=z)
    k = d - c + 1
    return (z[:, k : k + w] - z[:, :w]) > 0


def flat_mask(window: np.ndarray, radius: int) -> np.ndarray:
    """HxW bool for an HxW[xC] window: True where every pixel within `radius` (a square,
    clipped to the window) equals the centre pixel in every channel.

    Raises ValueError for a negative radius or an empty window.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    a = window if window.ndim == 3 else window[:, :, None]
    h, w = a.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"empty window {w}x{h}")
    if radius == 0:
        return np.ones((h, w), dtype=bool)
    across = np.any(a[:, 1:] != a[:, :-1], axis=2)  # between (y, x) and (y, x + 1)
    down = np.any(a[1:] != a[:-1], axis=2)  # between (y, x) and (y + 1, x)
    r = radius
    busy = _box_any(across, (-r, r), (-r, r - 1), (h, w))
    busy |= _box_any(down, (-r, r - 1), (-r, r), (h, w))
    return ~busy


def keep_flat(out_cell: np.ndarray, in_cell: np.ndarray, mask: np.ndarray,
              scale: int) -> np.ndarray:
    """`out_cell` ((s*h)x(s*w)xC, the model's quantized output for an hxwxC input cell) with
    the output pixels of every flat input pixel (`mask`, hxw) set to that input pixel."""
    if not mask.any():
        return out_cell
    big = np.repeat(np.repeat(mask, scale, axis=0), scale, axis=1)
    src = np.repeat(np.repeat(in_cell, scale, axis=0), scale, axis=1)
    out_cell[big] = src[big]
    return out_cell
