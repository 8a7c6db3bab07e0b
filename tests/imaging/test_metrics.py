"""Image-quality metrics: hand-computed values, SSIM properties, and calibration of the whole
evaluation protocol (degradation + Y-channel PSNR/SSIM) against the published bicubic tables."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
from helpers import DATA
from PIL import Image

from sronnx.imaging import metrics
from sronnx.imaging.degrade import bicubic_upscale, make_pair
from sronnx.imaging.metrics import mse_rgb, psnr_from_mse, psnr_y, quantize, rgb_to_y, ssim_y

TEST_DATA = DATA / "test"

C1 = (0.01 * 255) ** 2  # 6.5025
C2 = (0.03 * 255) ** 2  # 58.5225


# ---------------------------------------------------------------- Y conversion, quantization


def test_rgb_to_y_hand_values() -> None:
    # Y = 16 + 65.481 R + 128.553 G + 24.966 B, R, G, B in [0, 1]:
    # black 16, red 16 + 65.481 = 81.481, green 16 + 128.553 = 144.553,
    # blue 16 + 24.966 = 40.966, white 16 + 219 = 235.
    img = np.array(
        [[[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], dtype=np.uint8
    )
    y = rgb_to_y(img)
    assert y.dtype == np.float64
    assert y.shape == (1, 5)
    np.testing.assert_allclose(y, [[16.0, 81.481, 144.553, 40.966, 235.0]], rtol=0, atol=1e-9)
    # The same colours as float in [0, 1] give the same Y.
    np.testing.assert_allclose(rgb_to_y(img.astype(np.float32) / 255), y, rtol=0, atol=1e-9)


def test_rgb_to_y_greyscale_is_r_eq_g_eq_b() -> None:
    # Mid grey 0.5: Y = 16 + 219 * 0.5 = 125.5.
    grey = np.full((2, 3), 0.5)
    np.testing.assert_allclose(rgb_to_y(grey), 125.5, rtol=0, atol=1e-9)
    rng = np.random.default_rng(0)
    g8 = rng.integers(0, 256, (7, 9), dtype=np.uint8)
    np.testing.assert_allclose(
        rgb_to_y(g8), rgb_to_y(np.repeat(g8[:, :, None], 3, axis=2)), rtol=0, atol=1e-9
    )
    np.testing.assert_allclose(rgb_to_y(g8[:, :, None]), rgb_to_y(g8), rtol=0, atol=0)


def test_rejects_unsupported_images() -> None:
    with pytest.raises(TypeError, match="uint8"):
        rgb_to_y(np.zeros((4, 4, 3), dtype=np.int32))
    with pytest.raises(ValueError, match="shape"):
        rgb_to_y(np.zeros((4, 4, 4), dtype=np.uint8))


def test_quantize_as_im2uint8() -> None:
    x = np.array([-0.3, 0.0, 0.2, 0.5, 1.0, 1.7])
    # clip -> [0, 0, 0.2, 0.5, 1, 1]; * 255 -> [0, 0, 51, 127.5, 255, 255]; round -> 127.5 -> 128
    q = quantize(x)
    assert q.dtype == np.uint8
    assert q.tolist() == [0, 0, 51, 128, 255, 255]
    # Every 8-bit level survives the round trip through [0, 1].
    levels = np.arange(256, dtype=np.uint8)
    assert np.array_equal(quantize(levels / 255.0), levels)
    assert np.array_equal(quantize(levels.astype(np.float32) / 255), levels)


def test_metrics_do_not_quantize() -> None:
    # A float error far below one 8-bit step is still seen: the caller decides on quantizing.
    hr = np.full((8, 8, 3), 0.5)
    sr = hr + 1e-4
    assert math.isfinite(psnr_y(sr, hr, border=0))
    assert psnr_y(quantize(sr), quantize(hr), border=0) == math.inf


# ---------------------------------------------------------------- PSNR / MSE by hand


def test_psnr_y_and_mse_rgb_hand_computed() -> None:
    # hr: [red, white], sr: [black, white].
    # Y(hr) = [81.481, 235], Y(sr) = [16, 235]: differences 65.481 and 0,
    # MSE_Y = 65.481^2 / 2 = 4287.761361 / 2 = 2143.8806805,
    # PSNR_Y = 10 log10(255^2 / 2143.8806805) = 10 log10(30.33052...) = 14.81877... dB.
    hr = np.array([[[255, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    sr = np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    expected_psnr_y = 10 * math.log10(65025 / 2143.8806805)
    assert psnr_y(sr, hr, border=0) == pytest.approx(expected_psnr_y, abs=1e-9)
    assert expected_psnr_y == pytest.approx(14.8187, abs=1e-4)
    # RGB in [0, 1]: one of the six values differs by 1.0 -> MSE = 1/6,
    # PSNR (peak 1) = 10 log10(6) = 7.78151... dB.
    assert mse_rgb(sr, hr) == pytest.approx(1 / 6, abs=1e-12)
    assert psnr_from_mse(mse_rgb(sr, hr)) == pytest.approx(10 * math.log10(6), abs=1e-9)


def test_psnr_from_mse() -> None:
    # 10 log10(1 / 0.01) = 20 dB; 10 log10(255^2 / 65.025) = 10 log10(1000) = 30 dB.
    assert psnr_from_mse(0.01) == pytest.approx(20.0, abs=1e-12)
    assert psnr_from_mse(65.025, peak=255.0) == pytest.approx(30.0, abs=1e-12)
    assert psnr_from_mse(0.0) == math.inf
    with pytest.raises(ValueError):
        psnr_from_mse(-1.0)


def test_psnr_identical_is_inf_and_symmetric() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    assert psnr_y(a, a, border=2) == math.inf
    assert psnr_from_mse(mse_rgb(a, a.copy())) == math.inf
    assert psnr_y(a, b, border=2) == psnr_y(b, a, border=2)
    assert math.isfinite(psnr_y(a, b, border=2))
    assert mse_rgb(a, b) == mse_rgb(b, a)


def test_border_crop_drops_the_border() -> None:
    rng = np.random.default_rng(2)
    hr = rng.random((24, 28, 3))
    sr = hr.copy()
    # Differences only within 3 pixels of each side.
    sr[:3] = 0.0
    sr[-3:] = 1.0
    sr[:, :3] = 0.3
    sr[:, -3:] = 0.7
    assert psnr_y(sr, hr, border=3) == math.inf
    assert ssim_y(sr, hr, border=3) == pytest.approx(1.0, abs=1e-12)
    assert mse_rgb(sr, hr, border=3) == 0.0
    assert math.isfinite(psnr_y(sr, hr, border=2))
    assert ssim_y(sr, hr, border=2) < 1.0
    assert mse_rgb(sr, hr, border=2) > 0.0
    with pytest.raises(ValueError, match="border"):
        psnr_y(sr, hr, border=12)
    with pytest.raises(ValueError, match="border"):
        psnr_y(sr, hr, border=-1)


def test_psnr_border_hand_computed() -> None:
    # 4x4 greyscale, border 1 keeps the central 2x2. There, sr - hr in [0, 1] is
    # [[0.1, 0], [0, -0.1]]: Y differences 219 * 0.1 = 21.9 twice and 0 twice,
    # MSE_Y = 2 * 21.9^2 / 4 = 239.805, PSNR_Y = 10 log10(65025 / 239.805) = 24.3323... dB.
    hr = np.full((4, 4), 0.5)
    sr = hr.copy()
    sr[0, :] = 0.0  # border, ignored
    sr[1, 1] += 0.1
    sr[2, 2] -= 0.1
    assert psnr_y(sr, hr, border=1) == pytest.approx(10 * math.log10(65025 / 239.805), abs=1e-9)


@pytest.mark.parametrize("fn", [psnr_y, ssim_y, mse_rgb])
def test_size_mismatch_names_both_sizes(fn) -> None:
    a = np.zeros((30, 40, 3), dtype=np.uint8)
    b = np.zeros((30, 41, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"30x40.*30x41"):
        fn(a, b, border=0)


# ---------------------------------------------------------------- SSIM


def _smooth_image(shape: tuple[int, int], seed: int) -> np.ndarray:
    """A photo-like float RGB image: smooth structure plus fine texture."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.5 + 0.3 * np.sin(6 * xx + 3 * yy)[..., None] * np.array([1.0, 0.8, 0.6])
    return np.clip(base + 0.05 * rng.standard_normal((h, w, 3)), 0.0, 1.0)


def test_ssim_identical_is_one() -> None:
    img = _smooth_image((40, 50), 3)
    assert ssim_y(img, img, border=0) == pytest.approx(1.0, abs=1e-12)
    assert ssim_y(quantize(img), quantize(img), border=4) == pytest.approx(1.0, abs=1e-12)


def test_ssim_constant_images_closed_form() -> None:
    # Two constant images with Y = a = 100 and Y = b = 120: every local mean is a (b), every
    # variance and covariance 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    # = (24000 + 6.5025) / (10000 + 14400 + 6.5025) = 24006.5025 / 24406.5025 = 0.983610...
    a, b = 100.0, 120.0
    img_a = np.full((20, 20), (a - 16) / 219)  # grey level giving Y = a
    img_b = np.full((20, 20), (b - 16) / 219)
    expected = (2 * a * b + C1) / (a * a + b * b + C1)
    assert expected == pytest.approx(24006.5025 / 24406.5025, abs=1e-15)
    assert ssim_y(img_a, img_b, border=0) == pytest.approx(expected, abs=1e-9)
    assert ssim_y(img_b, img_a, border=2) == pytest.approx(expected, abs=1e-9)


def test_ssim_decreases_with_noise() -> None:
    hr = _smooth_image((64, 72), 4)
    rng = np.random.default_rng(5)
    noise = rng.standard_normal(hr.shape)
    values = [ssim_y(np.clip(hr + s * noise, 0, 1), hr, border=0) for s in (0.01, 0.03, 0.1)]
    assert all(v < 1.0 for v in values)
    assert values[0] > values[1] > values[2]
    assert values[2] > 0.0


def _ssim_reference(y1: np.ndarray, y2: np.ndarray) -> float:
    """Direct transcription of ssim_index.m: full 11x11 Gaussian window, every 'valid' position."""
    x = np.arange(11) - 5.0
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
    w = g / g.sum()
    win1 = np.lib.stride_tricks.sliding_window_view(y1, (11, 11))
    win2 = np.lib.stride_tricks.sliding_window_view(y2, (11, 11))

    def filt(v: np.ndarray) -> np.ndarray:
        return np.einsum("ijkl,kl->ij", v, w)

    mu1, mu2 = filt(win1), filt(win2)
    s1 = filt(win1 * win1) - mu1**2
    s2 = filt(win2 * win2) - mu2**2
    s12 = filt(win1 * win2) - mu1 * mu2
    m = ((2 * mu1 * mu2 + C1) * (2 * s12 + C2)) / ((mu1**2 + mu2**2 + C1) * (s1 + s2 + C2))
    return float(m.mean())


@pytest.mark.parametrize("block_elems", [50, 24576])
def test_ssim_matches_direct_2d_window(monkeypatch, block_elems: int) -> None:
    # Small blocks force many row blocks (and a ragged last one) through the separable path.
    monkeypatch.setattr(metrics, "_SSIM_BLOCK_ELEMS", block_elems)
    hr = _smooth_image((37, 29), 6)
    sr = np.clip(hr + 0.05 * np.random.default_rng(7).standard_normal(hr.shape), 0, 1)
    border = 2
    y1 = rgb_to_y(sr)[border:-border, border:-border]
    y2 = rgb_to_y(hr)[border:-border, border:-border]
    assert ssim_y(sr, hr, border=border) == pytest.approx(_ssim_reference(y1, y2), abs=1e-12)


def test_ssim_too_small_after_crop() -> None:
    img = np.zeros((14, 14, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="11x11"):
        ssim_y(img, img, border=2)


def test_ssim_on_a_large_image_is_in_range() -> None:
    # Exercises the row-blocked filtering on an image far larger than one block.
    rng = np.random.default_rng(8)
    hr = rng.integers(0, 256, (1200, 900, 3), dtype=np.uint8)
    sr = hr // 2 + 64
    v = ssim_y(sr, hr, border=4)
    assert 0.0 < v < 1.0


# ---------------------------------------------------------------- calibration

# Bicubic baselines of the published tables (e.g. Kim et al., VDSR, CVPR 2016, Table 3).
PUBLISHED_PSNR = {
    ("Set5", 2): 33.66,
    ("Set5", 3): 30.39,
    ("Set5", 4): 28.42,
    ("Set14", 2): 30.23,
    ("Set14", 3): 27.54,
    ("Set14", 4): 26.00,
}
PUBLISHED_SSIM = {("Set5", 2): 0.9299, ("Set5", 3): 0.8682, ("Set5", 4): 0.8104}


@cache
def _load_set(name: str) -> tuple[Image.Image, ...]:
    folder = TEST_DATA / name
    files = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if not files:
        pytest.skip(f"benchmark images not found in {folder} (shared data not available)")
    return tuple(Image.open(f).convert("RGB") for f in files)


@pytest.mark.parametrize(("name", "scale"), sorted(PUBLISHED_PSNR))
def test_bicubic_calibration_against_published_tables(name: str, scale: int) -> None:
    """The whole protocol (make_pair, bicubic_upscale, psnr_y/ssim_y with border = scale)
    reproduces the published bicubic figures: proof that our numbers are comparable."""
    imgs = _load_set(name)
    psnrs, ssims = [], []
    for img in imgs:
        lr, hr = make_pair(img, scale)
        sr = np.asarray(bicubic_upscale(lr, scale))
        hr_a = np.asarray(hr)
        psnrs.append(psnr_y(sr, hr_a, border=scale))
        if (name, scale) in PUBLISHED_SSIM:
            ssims.append(ssim_y(sr, hr_a, border=scale))
    psnr = float(np.mean(psnrs))
    assert abs(psnr - PUBLISHED_PSNR[name, scale]) <= 0.1, (
        f"{name} x{scale}: bicubic PSNR_Y {psnr:.4f} dB, published {PUBLISHED_PSNR[name, scale]}"
    )
    if ssims:
        ssim = float(np.mean(ssims))
        assert abs(ssim - PUBLISHED_SSIM[name, scale]) <= 0.01, (
            f"{name} x{scale}: bicubic SSIM_Y {ssim:.4f}, published {PUBLISHED_SSIM[name, scale]}"
        )
