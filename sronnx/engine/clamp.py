"""The output stays within what its input neighbourhood holds: each output channel is clamped
to the range (minimum to maximum) that channel has over the input pixels within the model's
receptive-field radius.

A model adds detail on top of a bicubic-like base, and where the input gives it nothing to
restore it invents some. Measured on the shipped models: saturated colours drift by one level
on flat areas (rsp-x2 on pure green (0, 255, 0) returns red and blue 1 on part of the image,
rsp-x4 on (0, 255, 255) green 254), and at a pure green edge against black the models write
red and blue up to 81 to 91 (of 255) next to the edge, a pale fringe, although red and blue
are 0 on every input pixel the model saw: they carry the green detail over into channels
that have none, as natural photos taught them. Clamped to the neighbourhood's range, a flat
area comes back exactly as it is (the range is one value), a channel that is constant around
an edge stays constant, and elsewhere the range is wide enough (a 17x17 to 21x21 window) that
the clamp seldom binds: with the mirrored edges, Set5/Set14 PSNR-Y moved by -0.056 to
+0.030 dB on the shipped int8 defaults (bench/results/edges_clamp_cost.txt, made by
bench/edges_clamp_cost.py).

Pure numpy: a running minimum and maximum over the window, each side of the square reached in
log2 steps (shifted copies), per tile; the upscaler applies the bounds right after quantising
(`upscaler._quantize`).
"""

from __future__ import annotations

import numpy as np


def clamp_radius(receptive_field: int) -> int:
    """Neighbourhood radius (input pixels) that decides one output pixel: half the model's
    receptive field, and at least 2 (the bicubic skip reads 2 pixels each side)."""
    return max(2, receptive_field // 2)


def _running(acc: np.ndarray, radius: int, op: np.ufunc, axis: int, n: int) -> np.ndarray:
    """In place on `acc` (padded by `radius` edge copies on both sides of `axis`): op
    (np.minimum or np.maximum) over each window of 2 * radius + 1 along `axis`, reaching the
    window's length in log2 steps of shifted copies; returns the first `n` results (the
    windows centred on the unpadded positions)."""
    length = 2 * radius + 1
    span = 1
    while span < length:
        step = min(span, length - span)
        head = [slice(None)] * acc.ndim
        tail = [slice(None)] * acc.ndim
        head[axis] = slice(0, acc.shape[axis] - step)
        tail[axis] = slice(step, None)
        op(acc[tuple(head)], acc[tuple(tail)], out=acc[tuple(head)])
        span += step
    keep = [slice(None)] * acc.ndim
    keep[axis] = slice(0, n)
    return acc[tuple(keep)]


def _extremes(dtype: np.dtype) -> tuple[float | int, float | int]:
    """(lowest, highest) value of `dtype`: what an ignored pixel is filled with."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return info.min, info.max
    return -np.inf, np.inf


def local_range(window: np.ndarray, radius: int, axes: tuple[int, int] = (0, 1),
                ignore: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(minimum, maximum) of every channel over the square of `radius` around each pixel
    (clipped to the window): two arrays of the window's shape and dtype. `axes` are the
    window's (row, column) axes: (0, 1) for HxW[xC], (1, 2) for CxHxW (faster: the running
    passes then stride over whole rows).

    `ignore` (a boolean array broadcastable to the window) leaves those values out: the
    colour of fully transparent pixels, which no one sees and which the model never sees
    either (it gets colour premultiplied by alpha). Where a square holds no value that
    counts, the range is the dtype's whole range (no constraint).

    Raises ValueError for a negative radius or an empty window.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if window.shape[axes[0]] < 1 or window.shape[axes[1]] < 1:
        raise ValueError(f"empty window {window.shape}")
    low, high = _extremes(window.dtype)
    sources = (window, window) if ignore is None else (
        np.where(ignore, high, window).astype(window.dtype, copy=False),
        np.where(ignore, low, window).astype(window.dtype, copy=False))
    if radius == 0:
        lo, hi = sources[0], sources[1]
    else:
        pad = [(0, 0)] * window.ndim
        pad[axes[0]] = pad[axes[1]] = (radius, radius)
        h, w = window.shape[axes[0]], window.shape[axes[1]]
        out = []
        for op, src in zip((np.minimum, np.maximum), sources, strict=True):
            # edge copies change neither a minimum nor a maximum: the window is clipped
            padded = np.pad(src, pad, mode="edge")
            rows = _running(padded, radius, op, axes[0], h)
            out.append(_running(rows, radius, op, axes[1], w))
        lo, hi = out
    if ignore is not None:
        empty = lo > hi
        if empty.any():
            lo = np.where(empty, low, lo).astype(window.dtype, copy=False)
            hi = np.where(empty, high, hi).astype(window.dtype, copy=False)
    return lo, hi
