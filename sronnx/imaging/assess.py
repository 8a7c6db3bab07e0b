"""What an input has been through, from the file alone: how hard a JPEG was compressed and
how noisy an image is. The default-model rule (`sronnx.engine.choice`) reads these.

numpy only; pure functions.

* `jpeg_quality(tables)`: the quality (1..100, libjpeg's scale) of a JPEG from its
  quantization tables (`sronnx.io.formats.jpeg`, re-exported here).
* `noise_sigma(pixels)`: the standard deviation of white noise in an image, in 0..255
  units, by weak-texture patch selection and principal component analysis (Liu, Tanaka &
  Okutomi 2013): the smallest eigenvalue of the covariance of the 5x5 patches whose texture
  strength is no more than noise of that level would give, iterated; None where no area
  of the image is as flat as noise (see its docstring). Patches with a clipped or a less
  than fully opaque pixel are left out.
* `blockiness(pixels)`: how much larger the luma steps across the 8x8 grid of a JPEG
  (between columns 7|8, 15|16, ... and the same rows) are than the steps elsewhere: about 1
  for images that never were JPEGs, 1.3 (median) for JPEG quality 50 written again as a
  lossless file, 1.5 for quality 30 (a "blocking effect" measure after Wang, Bovik & Evans
  2000, reduced to its simplest ratio).
"""

from __future__ import annotations

import math

import numpy as np

from sronnx.io import jpeg_quality

__all__ = ["blockiness", "jpeg_quality", "noise_sigma"]


_PATCH = 5  # patch side (pixels): 25-dimensional patches
# The 99th percentile of a patch's texture strength (sum of squared neighbour differences)
# over sigma^2 under white Gaussian noise alone: patches below `_TAU * sigma^2` look like
# noise of sigma (Liu et al.'s threshold at delta = 0.99; measured on simulated N(0, 1)
# images of 600x600 pixels: 155..157 over seeds; the mean is 2 * 2 * 5 * 4 = 80).
_TAU = 156.0
_MIN_PATCHES = 4 * _PATCH * _PATCH  # weak-texture patches needed for an estimate
_MAX_PATCHES = 20_000  # patch positions per channel at most (larger images: a grid)
_ITERATIONS = 10
_MAX_PIXELS = 1 << 20  # larger images are measured on evenly spaced bands of rows
_BAND = 64  # rows per band


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
    0..255 units (0 up to about 128), or None where it cannot be told from texture.

    The median over the colour channels of each channel's estimate by weak-texture patch
    selection and principal component analysis (Liu, Tanaka & Okutomi 2013, "Single-image
    noise level estimation for blind denoising", IEEE TIP 22(12)), in short:

    1. every 5x5 patch of the channel (a grid of at most 20,000 of them on larger images)
       that has no clipped pixel (0 or 255, where noise is cut) and no pixel less than fully
       opaque; its texture strength xi = the sum of its squared horizontal and vertical
       neighbour differences (Liu's tr(G^T G));
    2. sigma^2 = the smallest eigenvalue of the 25x25 covariance of the patches (white noise
       adds sigma^2 to every eigenvalue, texture only adds), corrected for its small-sample
       bias under pure noise by the Marchenko-Pastur edge, (1 - sqrt(25 / n))^-2 for n
       patches;
    3. keep the weak-texture patches, those with xi below the 99th percentile of xi under
       noise of that sigma alone (`_TAU` sigma^2), and repeat 2-3 on them until sigma
       settles (at most 10 rounds).

    Where fewer than 100 patches are as flat as noise of the current estimate would leave
    them, the image has no area that looks like noise at that level (fine texture
    everywhere, or too small): None. Of the 291 training photos downscaled by the standard
    protocol, over half read None and 95% under 1.5 (x2 to x4); added Gaussian noise of
    sigma reads about sigma (median 10.3 for 10 at x2, 10.4 at x4; 5.2 to 5.3 for 5); see
    `bench/results/robustness/rule_calibration.txt`. Images over a megapixel are measured
    on evenly spaced bands of 64 rows (cost per megapixel in
    `bench/results/robustness/noise_estimate_speed.txt`).
    """
    x, opaque = _colours(pixels)
    regions = _regions(x, opaque)
    positions = sum(max(0, r.shape[0] - _PATCH + 1) * max(0, r.shape[1] - _PATCH + 1)
                    for r, _ in regions)
    if positions < _MIN_PATCHES:
        return None
    step = max(1, math.ceil(math.sqrt(positions / _MAX_PATCHES)))
    estimates = []
    for c in range(x.shape[2]):
        found = [_patches(np.ascontiguousarray(r[:, :, c]), seen, step) for r, seen in regions]
        xi = np.concatenate([f[0] for f in found])
        patches = np.concatenate([f[1] for f in found])
        sigma = _weak_texture_sigma(xi, patches)
        if sigma is not None:
            estimates.append(sigma)
    if not estimates:
        return None
    return float(np.median(estimates))


def _regions(x: np.ndarray, opaque: np.ndarray | None
             ) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """[(HxWxC colours, HxW opaque mask or None)]: the whole image, or for images over
    `_MAX_PIXELS` evenly spaced bands of `_BAND` rows (patches never cross a band's edge)."""
    h, w = x.shape[:2]
    if h * w <= _MAX_PIXELS or h <= 2 * _BAND:
        return [(x, opaque)]
    count = max(1, min(h // _BAND, _MAX_PIXELS // (_BAND * w) + 1))
    tops = np.linspace(0, h - _BAND, count).astype(int)
    return [(x[t:t + _BAND], None if opaque is None else opaque[t:t + _BAND]) for t in tops]


def _patches(x: np.ndarray, opaque: np.ndarray | None, step: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """(texture strength per patch (n,) float64, the patches' pixels (n, 25) float32) of the
    usable 5x5 patches of the HxW channel `x` (0..255) at every `step`-th position each way.

    Only the sampled positions are summed: the squared neighbour differences (float32, as
    `np.diff` gives them) over each sampled window in float64, and the clipped or
    transparent pixels ORed over it, by adding shifted strided slices (separably: columns,
    then rows); the kept windows are gathered once from a strided view."""
    p = _PATCH
    if x.shape[0] < p or x.shape[1] < p:
        return np.zeros(0), np.zeros((0, p * p), np.float32)
    grid = (len(range(0, x.shape[0] - p + 1, step)), len(range(0, x.shape[1] - p + 1, step)))
    bad = (x <= 0.5) | (x >= 254.5)
    if opaque is not None:
        bad |= ~opaque
    keep = ~_window_sums(bad, (p, p), step, grid)
    xi = (_window_sums(np.square(np.diff(x, axis=1)), (p, p - 1), step, grid)
          + _window_sums(np.square(np.diff(x, axis=0)), (p - 1, p), step, grid))
    windows = np.lib.stride_tricks.sliding_window_view(x, (p, p))[::step, ::step]
    return xi[keep], windows[keep].reshape(-1, p * p)


def _window_sums(a: np.ndarray, window: tuple[int, int], step: int, grid: tuple[int, int]
                 ) -> np.ndarray:
    """Sums of the 2-D array `a` over the (dh, dw) `window` at every `step`-th position each
    way, the first grid[0] x grid[1] of them: float64 for a number array, OR for a bool one
    (numpy adds bools as OR)."""
    (dh, dw), (rows, cols) = window, grid
    kind = bool if a.dtype == bool else np.float64
    across = np.zeros((a.shape[0], cols), kind)
    for dx in range(dw):
        across += a[:, dx:dx + step * (cols - 1) + 1:step]
    out = np.zeros((rows, cols), kind)
    for dy in range(dh):
        out += across[dy:dy + step * (rows - 1) + 1:step]
    return out


def _centred(patches: np.ndarray) -> np.ndarray:
    """The (N, d) patches as float64 less their overall mean, so that a prefix's covariance
    taken from its raw sums (`_noise_floor`) loses nothing that matters to rounding (about
    1e-16 of the patches' variance)."""
    q = patches.astype(np.float64)
    q -= _column_sums(q) / len(q)
    return q


def _column_sums(q: np.ndarray) -> np.ndarray:
    """Sums over the rows of the (n, d) float64 array `q`: (d,), one matrix-vector product
    (BLAS; numpy's own reduction over the long axis is several times slower)."""
    return np.ones(len(q)) @ q


def _noise_floor(centred: np.ndarray, n: int) -> float:
    """sigma^2 from the first n of the patches `centred` (`_centred`): their covariance's
    smallest eigenvalue over the Marchenko-Pastur lower edge (1 - sqrt(d / n))^2 (its
    expected value under white noise alone, for n > d). The covariance is one matrix
    product of the prefix (a view, no copy) less the outer product of its mean."""
    q = centred[:n]
    mean = _column_sums(q) / n
    cov = q.T @ q / n - np.outer(mean, mean)
    smallest = float(np.linalg.eigvalsh(cov)[0])
    return max(smallest, 0.0) / (1.0 - math.sqrt(q.shape[1] / n)) ** 2


def _weak_texture_sigma(xi: np.ndarray, patches: np.ndarray) -> float | None:
    """Liu et al.'s iteration on one channel's patches (see `noise_sigma`): sigma, or None
    with fewer than `_MIN_PATCHES` patches as flat as noise of the estimate. The patches
    are sorted by texture strength once, so each round's weak-texture set (xi below a
    threshold) is a prefix of them, found by a binary search."""
    if len(xi) < _MIN_PATCHES:
        return None
    order = np.argsort(xi)  # ties: all in a prefix or none, so their order does not matter
    xi = xi[order]
    centred = _centred(patches[order])
    var = _noise_floor(centred, len(xi))
    for _ in range(_ITERATIONS):
        weak = int(np.searchsorted(xi, _TAU * var, side="left"))  # how many xi < _TAU var
        if weak < _MIN_PATCHES:
            return None
        new = _noise_floor(centred, weak)
        settled = abs(new - var) <= 1e-3 * var
        var = new
        if settled:
            break
    return math.sqrt(var)


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
