"""What an input has been through, from the file alone: how hard a JPEG was compressed and
how noisy an image is. The default-model rule (`sronnx.engine.choice`) reads these.

numpy only; pure functions.

* `jpeg_quality(tables)`: the quality (1..100, libjpeg's scale) of a JPEG from its
  quantization tables (`sronnx.io.formats.jpeg`, re-exported here).
* `noise_sigma(pixels)`: the standard deviation of white noise in an image, in 0..255
  units, from its flattest blocks: the finest diagonal wavelet detail (Haar HH) of each
  channel, its RMS per 8x8-pixel block, the 2nd percentile over the blocks that are not
  near black or white (where noise is clipped), corrected for the percentile's bias under
  pure Gaussian noise. Texture raises a block's figure, never lowers it, so the flattest
  blocks measure the noise (the idea of block-based estimators such as Lee & Hoppel 1989;
  the Haar HH detail as in Donoho & Johnstone 1994). Blocks with any pixel less than fully
  opaque are left out (colour under transparency is not what is seen).
* `blockiness(pixels)`: how much larger the luma steps across the 8x8 grid of a JPEG
  (between columns 7|8, 15|16, ... and the same rows) are than the steps elsewhere: about 1
  for images that never were JPEGs, 1.3 (median) for JPEG quality 50 written again as a
  lossless file, 1.5 for quality 30 (a "blocking effect" measure after Wang, Bovik & Evans
  2000, reduced to its simplest ratio).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from sronnx.io import jpeg_quality

__all__ = ["blockiness", "jpeg_quality", "noise_sigma"]


_BLOCK = 4  # HH coefficients per block side: 8x8 pixels
_PERCENTILE = 2.0
_MAX_BLOCKS = 1 << 16  # blocks measured at most (4 megapixels); larger images are sampled
# Under pure Gaussian noise of sigma, a block's RMS of n = 16 HH coefficients is about
# sigma * (1 + z / sqrt(2 n)); its 2nd percentile (z = -2.054) is that low.
_BIAS = 1.0 + NormalDist().inv_cdf(_PERCENTILE / 100.0) / math.sqrt(2.0 * _BLOCK * _BLOCK)


def _colours(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(colour channels as float32 HxWxC in 0..255, C = 3 or 1; the fully opaque pixels as
    a bool HxW mask, or None without alpha) of an HxW or HxWxC uint8 / uint16 / float-in-0..1
    image. Alpha is the 2nd of two or the 4th of four channels. ValueError otherwise."""
    a = np.asarray(pixels)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"expected an HxW or HxWxC image, got shape {a.shape}")
    if a.dtype == np.uint8:
        unit, full = 1.0, 255
    elif a.dtype == np.uint16:
        unit, full = 1.0 / 257.0, 65535
    elif a.dtype.kind == "f":
        unit, full = 255.0, 1.0
    else:
        raise ValueError(f"unsupported pixel type {a.dtype}")
    colours = 3 if a.shape[2] >= 3 else 1  # grey + alpha: the grey only
    opaque = a[:, :, colours] >= full if a.shape[2] in (2, 4) else None
    return a[:, :, :colours].astype(np.float32) * np.float32(unit), opaque


def noise_sigma(pixels: np.ndarray) -> float | None:
    """Estimated standard deviation of white noise in `pixels` (HxW or HxWxC, uint8 or
    uint16 or float in 0..1; alpha, the 2nd of two or 4th of four channels, is ignored), in
    0..255 units. Images over 4 megapixels are measured on evenly spaced rows of blocks.

    The median over the colour channels of each channel's estimate (see the module's
    docstring). Clean photos downscaled by the standard protocol read about 1 to 2 (median
    over the 291 training photos 1.21 at x2, 1.93 at x4), added Gaussian noise of sigma
    reads about sigma (median 11.00 for sigma 10 at x2). Textured images with no flat area
    read high: 4.8% of those training photos at x2 and 12.7% at x4 read 6 or more clean
    (`bench/results/robustness/rule_calibration.txt`). None for images smaller than 8x8
    pixels or with fewer than 4 opaque blocks away from black and white.
    """
    x, opaque = _colours(pixels)
    side = 2 * _BLOCK
    h, w = (x.shape[0] // side) * side, (x.shape[1] // side) * side
    if h == 0 or w == 0:
        return None
    x = x[:h, :w]
    rows = h // side
    step = max(1, math.ceil(rows * (w // side) / _MAX_BLOCKS))
    if opaque is not None:
        opaque = opaque[:h, :w]
    if step > 1:  # a large image: every step-th row of blocks is plenty
        x = x.reshape(rows, side, w, -1)[::step].reshape(-1, w, x.shape[2])
        if opaque is not None:
            opaque = opaque.reshape(rows, side, w)[::step].reshape(-1, w)
        h = x.shape[0]
    hh = (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2.0
    bh, bw = h // side, w // side
    energy = (hh.astype(np.float64) ** 2).reshape(bh, _BLOCK, bw, _BLOCK, -1).mean(axis=(1, 3))
    level = x.reshape(bh, side, bw, side, -1).mean(axis=(1, 3))
    seen = np.ones((bh, bw), bool) if opaque is None else \
        opaque.reshape(bh, side, bw, side).all(axis=(1, 3))
    estimates = []
    for c in range(x.shape[2]):
        keep = (level[:, :, c] > 16.0) & (level[:, :, c] < 239.0) & seen
        if keep.sum() < 4:
            continue
        rms = np.sqrt(energy[:, :, c][keep])
        estimates.append(float(np.percentile(rms, _PERCENTILE)) / _BIAS)
    if not estimates:
        return None
    return float(np.median(estimates))


def blockiness(pixels: np.ndarray) -> float | None:
    """The JPEG grid's blocking in `pixels` (HxW or HxWxC, as for `noise_sigma`): the mean
    absolute luma step across the 8x8 grid lines divided by the mean step elsewhere,
    averaged over the two directions (see the module's docstring). None for images under
    16 pixels a side, and for images with any pixel less than fully opaque."""
    x, opaque = _colours(pixels)
    if opaque is not None and not opaque.all():
        return None
    if min(x.shape[:2]) < 16:
        return None
    y = x[:, :, 0] if x.shape[2] == 1 else x @ np.array([0.299, 0.587, 0.114], np.float32)
    ratios = []
    for steps in (np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0)).T):
        grid = (np.arange(steps.shape[1]) % 8) == 7
        ratios.append(float(steps[:, grid].mean()) / max(float(steps[:, ~grid].mean()), 1e-6))
    return float(np.mean(ratios))
