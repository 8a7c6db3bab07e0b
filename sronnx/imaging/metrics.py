"""Image-quality metrics by the standard SR evaluation protocol (numpy only).

The published super-resolution tables score PSNR and SSIM on the Y channel of BT.601
(MATLAB ``rgb2ycbcr``) with ``scale`` pixels cropped at every border, SSIM as in Wang et
al.'s reference MATLAB code. Matching that protocol exactly is what makes our numbers
comparable with the literature, so it lives here, in one place.

Inputs are HxWx3 RGB arrays, either ``uint8`` (0..255, divided by 255) or floating point
(taken as is, nominally in [0, 1]); HxW (or HxWx1) greyscale arrays are read as R = G = B.

None of the scoring functions quantize: the published protocol scores 8-bit images, so a
float model output should go through :func:`quantize` first when the figures are meant to be
compared with published tables. Scoring the raw float output instead is the caller's choice.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "mse_rgb",
    "psnr_from_mse",
    "psnr_y",
    "quantize",
    "rgb_to_y",
    "ssim_y",
]

# MATLAB rgb2ycbcr, Y row, for R, G, B in [0, 1]; Y is in [16, 235].
_Y_OFFSET = 16.0
_Y_COEFFS = np.array([65.481, 128.553, 24.966])
_PEAK = 255.0  # PSNR/SSIM dynamic range on that Y scale, as the published code uses

# Wang et al., ssim_index.m: 11x11 Gaussian window, sigma 1.5; K = [0.01 0.03]; L = 255.
_SSIM_WIN = 11
_SSIM_SIGMA = 1.5
_SSIM_C1 = (0.01 * _PEAK) ** 2
_SSIM_C2 = (0.03 * _PEAK) ** 2


def _validate(img: np.ndarray) -> tuple[np.ndarray, float]:
    """(HxW or HxWx3 array, factor to [0, 1]) for an accepted image; raises on others."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        scale = 1.0 / 255.0
    elif np.issubdtype(a.dtype, np.floating):
        scale = 1.0
    else:
        raise TypeError(f"image dtype must be uint8 (0..255) or float ([0, 1]), not {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3):
        return a, scale
    raise ValueError(f"image must be HxWx3 RGB or HxW greyscale, got shape {a.shape}")


def _as_float(img: np.ndarray) -> np.ndarray:
    """Any accepted image -> float64 in [0, 1] scale, HxW (grey) or HxWx3 (RGB)."""
    a, scale = _validate(img)
    return a * scale if scale != 1.0 else a.astype(np.float64, copy=False)


def _check_same_size(sr: np.ndarray, hr: np.ndarray) -> None:
    if sr.shape[:2] != hr.shape[:2]:
        raise ValueError(
            f"size mismatch: sr is {sr.shape[0]}x{sr.shape[1]} (HxW) "
            f"but hr is {hr.shape[0]}x{hr.shape[1]}"
        )


def _crop(a: np.ndarray, border: int) -> np.ndarray:
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    h, w = a.shape[:2]
    if 2 * border >= h or 2 * border >= w:
        raise ValueError(f"border {border} leaves nothing of a {h}x{w} image")
    return a[border : h - border, border : w - border] if border else a


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma as MATLAB's rgb2ycbcr (float64, in [16, 235]), the channel SR is scored on.

    Unlike MATLAB on uint8 input, Y is not rounded to integers: the published figures are
    reproduced with the unrounded Y.
    """
    a, scale = _validate(img)
    k = _Y_COEFFS * scale  # folds the uint8 -> [0, 1] division into the weights
    if a.ndim == 2:
        y = a * (k[0] + k[1] + k[2])
    else:
        # Channel by channel: several times faster than a matmul over the last axis.
        y = a[:, :, 0] * k[0]
        y += a[:, :, 1] * k[1]
        y += a[:, :, 2] * k[2]
    y = y.astype(np.float64, copy=False)
    y += _Y_OFFSET
    return y


def quantize(img_float: np.ndarray) -> np.ndarray:
    """round(clip(x, 0, 1) * 255) as uint8, as MATLAB's im2uint8.

    The published protocol scores 8-bit SR outputs; call this on float outputs before the
    metrics when comparing with the literature (the metrics never quantize by themselves).
    Halves round away from zero, as MATLAB does (numpy's round would go to even).
    """
    a = np.asarray(img_float)
    if a.dtype == np.uint8:
        return a.copy()
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"quantize expects a float image in [0, 1], not {a.dtype}")
    return np.floor(np.clip(a.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def psnr_from_mse(mse: float, peak: float = 1.0) -> float:
    """10 log10(peak^2 / mse) in dB; ``math.inf`` for mse == 0 (identical images)."""
    mse = float(mse)
    if mse < 0 or math.isnan(mse):
        raise ValueError(f"mse must be >= 0, got {mse}")
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


def _y_pair(sr: np.ndarray, hr: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    ys, yh = rgb_to_y(sr), rgb_to_y(hr)
    _check_same_size(ys, yh)
    return _crop(ys, border), _crop(yh, border)


def psnr_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """PSNR (dB) on BT.601 Y, peak 255, ``border`` pixels cropped on every side.

    This is the PSNR of the published SR tables (border = scale). Identical -> ``math.inf``.
    """
    ys, yh = _y_pair(sr, hr, border)
    return psnr_from_mse(float(np.mean((ys - yh) ** 2)), peak=_PEAK)


def _gaussian_1d(size: int = _SSIM_WIN, sigma: float = _SSIM_SIGMA) -> np.ndarray:
    """1-D factor of MATLAB's fspecial('gaussian', size, sigma) (the 2-D window is its outer
    product: the normalized 2-D Gaussian is separable)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' filtering over the last two axes (MATLAB filter2(w, a, 'valid')).

    The window is symmetric, so correlation and convolution coincide and the mirrored taps
    share one multiply. A loop over the taps with slices keeps it in vectorized numpy.
    """
    n = len(g)
    half = n // 2
    h, w = a.shape[-2:]
    hv, wv = h - n + 1, w - n + 1
    rows = a[..., half : half + hv, :] * g[half]
    tmp = np.empty_like(rows)
    for k in range(half):
        np.add(a[..., k : k + hv, :], a[..., n - 1 - k : n - 1 - k + hv, :], out=tmp)
        tmp *= g[k]
        rows += tmp
    out = rows[..., half : half + wv] * g[half]
    tmp = np.empty_like(out)
    for k in range(half):
        np.add(rows[..., k : k + wv], rows[..., n - 1 - k : n - 1 - k + wv], out=tmp)
        tmp *= g[k]
        out += tmp
    return out


# Output rows per block times image width: blocks this small stay in the CPU cache, which
# makes SSIM of a 2000x2000 image several times faster than filtering whole planes.
_SSIM_BLOCK_ELEMS = 24576


def ssim_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """Mean SSIM on BT.601 Y (same cropping as :func:`psnr_y`), as Wang et al.'s ssim_index.m.

    Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering, mean
    of the SSIM map; no automatic downsampling. This is the SSIM of the published SR tables.
    """
    ys, yh = _y_pair(sr, hr, border)
    h, w = ys.shape
    n = _SSIM_WIN
    if h < n or w < n:
        raise ValueError(f"SSIM needs at least {n}x{n} pixels after the border crop, got {h}x{w}")
    g = _gaussian_1d()
    hv, wv = h - n + 1, w - n + 1
    step = max(1, _SSIM_BLOCK_ELEMS // w)
    total = 0.0
    for r0 in range(0, hv, step):
        r1 = min(hv, r0 + step)
        a, b = ys[r0 : r1 + n - 1], yh[r0 : r1 + n - 1]
        # The five local statistics of this block of rows in one filtering pass.
        f = _filter_valid(np.stack([a, b, a * a, b * b, a * b]), g)
        mu1, mu2 = f[0], f[1]
        mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
        s1 = f[2] - mu1_sq
        s2 = f[3] - mu2_sq
        s12 = f[4] - mu12
        ssim_map = ((2 * mu12 + _SSIM_C1) * (2 * s12 + _SSIM_C2)) / (
            (mu1_sq + mu2_sq + _SSIM_C1) * (s1 + s2 + _SSIM_C2)
        )
        total += float(ssim_map.sum())
    return total / (hv * wv)


def mse_rgb(sr: np.ndarray, hr: np.ndarray, border: int = 0) -> float:
    """Mean squared error over R, G, B in [0, 1] (the original study's measure).

    Greyscale inputs count as R = G = B. ``border`` pixels are cropped on every side.
    """
    a, b = _as_float(sr), _as_float(hr)
    _check_same_size(a, b)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if b.ndim == 2:
        b = np.repeat(b[:, :, None], 3, axis=2)
    a, b = _crop(a, border), _crop(b, border)
    return float(np.mean((a - b) ** 2))
