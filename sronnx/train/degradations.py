"""Degradations beyond the standard bicubic protocol: for training and for the benchmark.

numpy and Pillow only (no torch), so the runtime and the benchmark can use them.

Three layers, all defined here once:

* primitives, each taking a PIL image or a uint8 HxWx3 array and returning the same kind:
  `blur`, `resize`, `jpeg` (a real encode/decode with Pillow's libjpeg), `gaussian_noise`,
  `poisson_noise`. Random ones take a `numpy.random.Generator` and draw only from it.
* `NAMED` / `degrade_named`: the fixed, seeded degradations of the robustness benchmark
  (clean, jpeg90..jpeg30, noise5, noise10, area, lanczos).
* `TRAINING`: degradations for `sronnx train --degradation NAME` (`bicubic`, the standard
  protocol and default; `realistic`, a blur / random resize / noise / JPEG chain, optionally
  applied twice, after the second-order scheme of Real-ESRGAN, Wang et al. 2021; `photo`, a
  milder one-order mix of clean, JPEG and noisy patches, what the shipped photo models
  learn from). They are
  stateless callables `deg(hr_patch, scale, rng) -> lr_patch` whose only randomness is
  `rng`, so a sampler that checkpoints its generator resumes them exactly, and `describe()`
  gives their ranges as JSON for the checkpoint and the model card.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from sronnx.imaging import degrade

__all__ = [
    "FILTERS",
    "NAMED",
    "TRAINING",
    "BicubicDegradation",
    "PhotoDegradation",
    "RealisticDegradation",
    "blur",
    "degrade_named",
    "gaussian_kernel",
    "gaussian_noise",
    "jpeg",
    "jpeg_bytes",
    "jpeg_file",
    "make_training",
    "poisson_noise",
    "resize",
]

ImageLike = TypeVar("ImageLike", Image.Image, np.ndarray)

#: Resampling filters by name. `area` is Pillow's BOX filter: for an integer factor each
#: output pixel is the mean of the input pixels it covers (area averaging).
FILTERS: dict[str, Image.Resampling] = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,
}

# Luma weights (BT.601) for grey noise.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


# --------------------------------------------------------------------------- primitives


def _to_array(img: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(img, Image.Image):
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 array, got {arr.dtype} {arr.shape}")
    return arr


def _like(arr: np.ndarray, template: Image.Image | np.ndarray) -> Any:
    """`arr` (uint8 HxWx3) as the kind of `template`: a PIL RGB image or an array."""
    if isinstance(template, Image.Image):
        return Image.fromarray(np.ascontiguousarray(arr), "RGB")
    return arr


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def gaussian_kernel(sigma_x: float, sigma_y: float | None = None, theta: float = 0.0,
                    size: int | None = None) -> np.ndarray:
    """A normalised 2-D Gaussian kernel (float64, odd side), anisotropic when `sigma_y`
    differs from `sigma_x`, its x axis rotated by `theta` radians. The side defaults to
    2*ceil(3*max(sigma))+1, so the kernel holds > 99.7% of the Gaussian's mass."""
    sigma_y = sigma_x if sigma_y is None else sigma_y
    if sigma_x <= 0 or sigma_y <= 0:
        raise ValueError(f"blur sigma must be positive, got {sigma_x}, {sigma_y}")
    if size is None:
        size = 2 * math.ceil(3 * max(sigma_x, sigma_y)) + 1
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and positive, got {size}")
    r = np.arange(size, dtype=np.float64) - size // 2
    yy, xx = np.meshgrid(r, r, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy
    k = np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return k / k.sum()


def blur(img: ImageLike, sigma: float | None = None, kernel: np.ndarray | None = None
         ) -> ImageLike:
    """Convolve with an isotropic Gaussian of `sigma` pixels, or with `kernel` (2-D, odd
    sides, applied as given: normalise it yourself). Borders are mirrored (reflect, edge
    pixel not repeated); the result is rounded to uint8."""
    if (sigma is None) == (kernel is None):
        raise ValueError("give either sigma or kernel")
    arr = _to_array(img).astype(np.float64)
    if sigma is not None:
        if sigma <= 0:
            raise ValueError(f"blur sigma must be positive, got {sigma}")
        r = np.arange(2 * math.ceil(3 * sigma) + 1, dtype=np.float64) - math.ceil(3 * sigma)
        k1 = np.exp(-0.5 * (r / sigma) ** 2)
        k1 /= k1.sum()  # the separable 1-D factor of the isotropic Gaussian
        out = _convolve_axis(_convolve_axis(arr, k1, 0), k1, 1)
    else:
        k = np.asarray(kernel, dtype=np.float64)
        if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
            raise ValueError(f"kernel must be 2-D with odd sides, got shape {k.shape}")
        ph, pw = k.shape[0] // 2, k.shape[1] // 2
        padded = np.pad(arr, ((ph, ph), (pw, pw), (0, 0)), mode="reflect")
        h, w = arr.shape[:2]
        out = np.zeros_like(arr)
        for i in range(k.shape[0]):
            for j in range(k.shape[1]):
                if k[i, j] != 0.0:
                    out += k[i, j] * padded[i : i + h, j : j + w]
    return _like(_to_uint8(out), img)


def _convolve_axis(arr: np.ndarray, k1: np.ndarray, axis: int) -> np.ndarray:
    p = k1.shape[0] // 2
    pad = [(0, 0)] * arr.ndim
    pad[axis] = (p, p)
    padded = np.pad(arr, pad, mode="reflect")
    n = arr.shape[axis]
    out = np.zeros_like(arr)
    for i, weight in enumerate(k1):
        out += weight * np.take(padded, np.arange(i, i + n), axis=axis)
    return out


def resize(img: ImageLike, size: tuple[int, int], filter: str = "bicubic") -> ImageLike:  # noqa: A002
    """Resize to `size` = (width, height) with Pillow's antialiased `filter`, one of
    `FILTERS` (bicubic, bilinear, area, lanczos, nearest)."""
    if filter not in FILTERS:
        raise ValueError(f"unknown resize filter {filter!r}; known: {', '.join(FILTERS)}")
    pil = img.convert("RGB") if isinstance(img, Image.Image) else Image.fromarray(
        _to_array(img), "RGB")
    out = pil.resize((int(size[0]), int(size[1])), FILTERS[filter])
    return out if isinstance(img, Image.Image) else np.asarray(out, dtype=np.uint8)


def jpeg_bytes(img: Image.Image | np.ndarray, quality: int) -> bytes:
    """A baseline JPEG file of `img` at `quality` (1..95, libjpeg's scale, via Pillow) with
    4:2:0 chroma subsampling, as cameras and browsers write them."""
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) \
            or not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be an integer in 1..100, got {quality!r}")
    pil = img.convert("RGB") if isinstance(img, Image.Image) else Image.fromarray(
        _to_array(img), "RGB")
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=int(quality), subsampling="4:2:0", optimize=False)
    return buf.getvalue()


def jpeg_file(img: Image.Image | np.ndarray, quality: int) -> Image.Image:
    """`img` after a real JPEG round trip at `quality` (see `jpeg_bytes`), as the opened
    JPEG file: pixels decoded (mode RGB), `format` "JPEG" and the file's own `quantization`
    tables kept, as a reader of the file sees them."""
    decoded = Image.open(io.BytesIO(jpeg_bytes(img, quality)))
    decoded.load()
    return decoded


def jpeg(img: ImageLike, quality: int) -> ImageLike:
    """`img` after a real JPEG round trip at `quality` (see `jpeg_bytes`), decoded to RGB."""
    with Image.open(io.BytesIO(jpeg_bytes(img, quality))) as decoded:
        out = decoded.convert("RGB")
        out.load()
    return out if isinstance(img, Image.Image) else np.asarray(out, dtype=np.uint8)


def gaussian_noise(arr: np.ndarray, sigma: float, rng: np.random.Generator,
                   gray: bool = False) -> np.ndarray:
    """uint8 HxWx3 plus N(0, sigma^2) noise in 0..255 units, rounded and clipped to uint8.
    `gray`: one noise field shared by the three channels (luminance noise) instead of
    independent colour noise. Draws `H*W*3` (or `H*W`) standard normals from `rng`."""
    a = _to_array(arr)
    if sigma < 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    shape = (*a.shape[:2], 1) if gray else a.shape
    noise = rng.standard_normal(shape) * float(sigma)
    return _to_uint8(a.astype(np.float64) + noise)


def poisson_noise(arr: np.ndarray, peak: float, rng: np.random.Generator,
                  gray: bool = False) -> np.ndarray:
    """Shot noise: each value v (0..255) becomes Poisson(v/255 * peak) / peak * 255, i.e. a
    sensor that counts `peak` photons at white. Lower `peak` is stronger noise: its standard
    deviation at level v is 255 * sqrt(v/255 / peak) (about 255*sqrt(0.5/peak) at mid grey;
    peak 40 -> 28.5 levels, 4000 -> 2.9). `gray`: the noise of the luma (BT.601) is added to
    all three channels. Rounded and clipped to uint8."""
    a = _to_array(arr)
    if peak <= 0:
        raise ValueError(f"Poisson peak must be positive, got {peak}")
    x = a.astype(np.float64) / 255.0
    if gray:
        y = (x @ _LUMA)[..., None]
        noisy = x + (rng.poisson(y * peak) / peak - y)
    else:
        noisy = rng.poisson(x * peak) / peak
    return _to_uint8(noisy * 255.0)


# --------------------------------------------------------------------------- benchmark set

#: The fixed degradations of the robustness benchmark, name -> what it does. Each starts
#: from the HR image cropped (top-left) to a multiple of the scale, as `degrade.make_pair`.
NAMED: dict[str, str] = {
    "clean": "the standard protocol (degrade.make_pair): antialiased bicubic downscale",
    "jpeg90": "bicubic downscale, then a JPEG round trip at quality 90 (Pillow, 4:2:0 chroma)",
    "jpeg75": "bicubic downscale, then a JPEG round trip at quality 75 (Pillow, 4:2:0 chroma)",
    "jpeg50": "bicubic downscale, then a JPEG round trip at quality 50 (Pillow, 4:2:0 chroma)",
    "jpeg30": "bicubic downscale, then a JPEG round trip at quality 30 (Pillow, 4:2:0 chroma)",
    "noise5": "bicubic downscale, then Gaussian colour noise, sigma 5 of 255, seeded, to 8 bits",
    "noise10": "bicubic downscale, then Gaussian colour noise, sigma 10 of 255, seeded, to 8 bits",
    "area": "area (box) downscale instead of bicubic (Pillow BOX)",
    "lanczos": "Lanczos downscale instead of bicubic (Pillow LANCZOS, antialiased)",
}


def degrade_named(name: str, hr: Image.Image, scale: int, seed: int = 0
                  ) -> tuple[Image.Image, Image.Image]:
    """(LR, cropped HR) for the benchmark degradation `name` (see `NAMED`). A JPEG
    degradation's LR is the opened JPEG file (`jpeg_file`: format and tables kept), so the
    default-model rule sees what it would see in the file.

    Deterministic in (name, image, scale, seed). Only the noise degradations are random:
    their noise is `np.random.default_rng(seed).standard_normal(...) * sigma`, so noise5 and
    noise10 at one seed share the same noise pattern and differ only in strength. For
    different noise on each image of a set, pass a different seed per image (the benchmark
    passes the image's index in its sorted set); the other degradations ignore `seed`.
    """
    if name not in NAMED:
        raise ValueError(f"unknown degradation {name!r}; known: {', '.join(NAMED)}")
    if name == "clean":
        return degrade.make_pair(hr, scale)
    hr = degrade.crop_to_multiple(hr.convert("RGB"), scale)
    w, h = hr.size
    if name in ("area", "lanczos"):
        return resize(hr, (w // scale, h // scale), name), hr
    lr = degrade.bicubic_downscale(hr, scale)
    if name.startswith("jpeg"):  # the opened file: what a reader of it has (its tables)
        return jpeg_file(lr, int(name[len("jpeg"):])), hr
    sigma = float(name[len("noise"):])
    noisy = gaussian_noise(np.asarray(lr), sigma, np.random.default_rng(seed))
    return Image.fromarray(noisy, "RGB"), hr


# --------------------------------------------------------------------------- training


def _check_patch(hr_patch: np.ndarray, scale: int) -> tuple[np.ndarray, int, int]:
    arr = _to_array(hr_patch)
    h, w = arr.shape[:2]
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    if h % scale or w % scale:
        raise ValueError(f"patch of {w}x{h} is not a multiple of the scale {scale}")
    return arr, h // scale, w // scale


@dataclass(frozen=True)
class BicubicDegradation:
    """Today's degradation under the training interface: antialiased bicubic downscale
    (`degrade.bicubic_downscale`); draws nothing from `rng`.

    Note: `sronnx train --degradation bicubic` does not call this per patch; it cuts patches
    from LR images degraded whole (as it always did), which differs from downscaling a
    patch only at the patch's border pixels."""

    name: str = "bicubic"

    def __call__(self, hr_patch: np.ndarray, scale: int, rng: np.random.Generator
                 ) -> np.ndarray:
        arr, _, _ = _check_patch(hr_patch, scale)
        lr = degrade.bicubic_downscale(Image.fromarray(np.ascontiguousarray(arr), "RGB"), scale)
        return np.asarray(lr, dtype=np.uint8)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "downscale": "bicubic (Pillow, antialiased)"}


@dataclass(frozen=True)
class RealisticDegradation:
    """A blur -> resize -> noise -> JPEG chain, applied once or twice (second order), after
    Real-ESRGAN (Wang et al. 2021), built from `blur`, `resize`, the noises and `jpeg`.

    Per patch, every choice drawn from the caller's `rng`:

    1. second order or not: probability `second_order_prob`.
    2. first order: with probability `blur_prob` a Gaussian blur, isotropic with probability
       `isotropic_prob` else anisotropic (two sigmas and a rotation in [0, pi)); sigmas
       uniform in `blur_sigma` HR pixels *at x4*, scaled by scale/4 for other scales.
       Resize with a filter drawn uniformly from `resize_filters`: to the LR size when there
       is no second order, else to an intermediate size, the LR size times a factor uniform
       in `intermediate` (capped at the HR size). Then noise: Gaussian with probability
       `gaussian_noise_prob` (sigma uniform in `gaussian_sigma`, 0..255 units), else Poisson
       (peak log-uniform in `poisson_peak`, see `poisson_noise`); either is grey (one field
       for all channels) with probability `gray_noise_prob`. Then a JPEG round trip at a
       quality drawn uniformly from the integers in `jpeg_quality`.
    3. second order (if drawn): the same with `blur_prob2`, `blur_sigma2` (pixels of the
       intermediate image, not scaled), `gaussian_sigma2`, `poisson_peak2`, resizing to the
       LR size.

    Every step rounds to uint8, as stored images are. Blur borders are mirrored; the patch
    is degraded on its own, so its border pixels see mirrored, not real, surroundings.
    """

    name: str = "realistic"
    second_order_prob: float = 0.5
    blur_prob: float = 1.0
    blur_prob2: float = 0.8
    isotropic_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    resize_filters: tuple[str, ...] = ("bicubic", "bilinear", "area", "lanczos")
    intermediate: tuple[float, float] = (1.0, 2.0)
    gaussian_noise_prob: float = 0.5
    gaussian_sigma: tuple[float, float] = (1.0, 30.0)
    gaussian_sigma2: tuple[float, float] = (1.0, 25.0)
    poisson_peak: tuple[float, float] = (40.0, 4000.0)
    poisson_peak2: tuple[float, float] = (60.0, 4000.0)
    gray_noise_prob: float = 0.4
    jpeg_quality: tuple[int, int] = (30, 95)

    def __call__(self, hr_patch: np.ndarray, scale: int, rng: np.random.Generator
                 ) -> np.ndarray:
        """uint8 HxWx3 HR patch (sides multiples of `scale`) -> uint8 (H/s)x(W/s)x3 LR."""
        x, lh, lw = _check_patch(hr_patch, scale)
        h, w = x.shape[:2]
        second = rng.random() < self.second_order_prob
        lo, hi = self.blur_sigma
        x = self._blur(x, rng, self.blur_prob, (lo * scale / 4, hi * scale / 4))
        if second:
            u = rng.uniform(*self.intermediate)
            size = (min(w, max(lw, round(lw * u))), min(h, max(lh, round(lh * u))))
        else:
            size = (lw, lh)
        x = self._resize_noise_jpeg(x, rng, size, self.gaussian_sigma, self.poisson_peak)
        if second:
            x = self._blur(x, rng, self.blur_prob2, self.blur_sigma2)
            x = self._resize_noise_jpeg(x, rng, (lw, lh), self.gaussian_sigma2,
                                        self.poisson_peak2)
        return x

    def _blur(self, x: np.ndarray, rng: np.random.Generator, prob: float,
              sigma: tuple[float, float]) -> np.ndarray:
        if rng.random() >= prob:
            return x
        if rng.random() < self.isotropic_prob:
            return blur(x, sigma=float(rng.uniform(*sigma)))
        sx, sy = rng.uniform(*sigma, size=2)
        theta = rng.uniform(0.0, math.pi)
        return blur(x, kernel=gaussian_kernel(float(sx), float(sy), float(theta)))

    def _resize_noise_jpeg(self, x: np.ndarray, rng: np.random.Generator,
                           size: tuple[int, int], gaussian_sigma: tuple[float, float],
                           poisson_peak: tuple[float, float]) -> np.ndarray:
        filt = self.resize_filters[int(rng.integers(len(self.resize_filters)))]
        if (x.shape[1], x.shape[0]) != size:
            x = resize(x, size, filt)
        gaussian = rng.random() < self.gaussian_noise_prob
        gray = bool(rng.random() < self.gray_noise_prob)
        if gaussian:
            x = gaussian_noise(x, float(rng.uniform(*gaussian_sigma)), rng, gray=gray)
        else:
            lo, hi = np.log(poisson_peak[0]), np.log(poisson_peak[1])
            x = poisson_noise(x, float(np.exp(rng.uniform(lo, hi))), rng, gray=gray)
        quality = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
        return jpeg(x, quality)

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
        d["blur_sigma_note"] = "HR pixels at x4, scaled by scale/4"
        d["poisson_peak_note"] = "photons at white, log-uniform; lower is noisier"
        d["jpeg"] = "Pillow (libjpeg) quality, uniform integer, 4:2:0 chroma"
        d["reference"] = "second-order degradation of Real-ESRGAN (Wang et al. 2021)"
        return d


@dataclass(frozen=True)
class PhotoDegradation:
    """What photos as people keep them have been through: a mostly-bicubic downscale, then
    either JPEG compression (possibly of a slightly noisy image) or sensor-like noise, or
    nothing. Milder than `RealisticDegradation` (little blur, one order), so a model trained
    on it still gains on clean inputs of the standard protocol.

    Per patch, every choice drawn from the caller's `rng`:

    1. with probability `blur_prob` an isotropic Gaussian blur, sigma uniform in
       `blur_sigma` HR pixels at x2 (scaled by scale/2);
    2. downscale to the LR size: bicubic with probability `bicubic_prob`, else a filter
       drawn uniformly from `other_filters`;
    3. one branch: `clean` with probability `clean_prob` (nothing more); `jpeg` with
       probability `jpeg_prob`: with probability `jpeg_noise_prob` first Gaussian colour
       noise of sigma uniform in `jpeg_noise_sigma`, then a JPEG round trip (4:2:0) at a
       quality drawn uniformly from the integers in `jpeg_quality`; else `noise`: Gaussian
       with probability `gaussian_noise_prob` (sigma uniform in `gaussian_sigma`, 0..255
       units) else Poisson (peak log-uniform in `poisson_peak`, see `poisson_noise`),
       grey (one field for all channels) with probability `gray_noise_prob`.

    Every step rounds to uint8, as stored images are.
    """

    name: str = "photo"
    blur_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.3, 1.0)
    bicubic_prob: float = 0.6
    other_filters: tuple[str, ...] = ("bilinear", "area", "lanczos")
    clean_prob: float = 0.1
    jpeg_prob: float = 0.45
    jpeg_noise_prob: float = 0.3
    jpeg_noise_sigma: tuple[float, float] = (0.0, 6.0)
    jpeg_quality: tuple[int, int] = (20, 95)
    gaussian_noise_prob: float = 0.75
    gaussian_sigma: tuple[float, float] = (1.0, 20.0)
    poisson_peak: tuple[float, float] = (80.0, 4000.0)
    gray_noise_prob: float = 0.25

    def __call__(self, hr_patch: np.ndarray, scale: int, rng: np.random.Generator
                 ) -> np.ndarray:
        """uint8 HxWx3 HR patch (sides multiples of `scale`) -> uint8 (H/s)x(W/s)x3 LR."""
        x, lh, lw = _check_patch(hr_patch, scale)
        if rng.random() < self.blur_prob:
            lo, hi = self.blur_sigma
            x = blur(x, sigma=float(rng.uniform(lo * scale / 2, hi * scale / 2)))
        if rng.random() < self.bicubic_prob:
            filt = "bicubic"
        else:
            filt = self.other_filters[int(rng.integers(len(self.other_filters)))]
        x = resize(x, (lw, lh), filt)
        branch = rng.random()
        if branch < self.clean_prob:
            return x
        if branch < self.clean_prob + self.jpeg_prob:
            if rng.random() < self.jpeg_noise_prob:
                x = gaussian_noise(x, float(rng.uniform(*self.jpeg_noise_sigma)), rng)
            quality = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
            return jpeg(x, quality)
        gray = bool(rng.random() < self.gray_noise_prob)
        if rng.random() < self.gaussian_noise_prob:
            return gaussian_noise(x, float(rng.uniform(*self.gaussian_sigma)), rng, gray=gray)
        lo, hi = np.log(self.poisson_peak[0]), np.log(self.poisson_peak[1])
        return poisson_noise(x, float(np.exp(rng.uniform(lo, hi))), rng, gray=gray)

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
        d["blur_sigma_note"] = "HR pixels at x2, scaled by scale/2"
        d["branches"] = "clean | jpeg (optional noise first) | noise, one per patch"
        d["poisson_peak_note"] = "photons at white, log-uniform; lower is noisier"
        d["jpeg"] = "Pillow (libjpeg) quality, uniform integer, 4:2:0 chroma"
        return d


#: Training degradations for `sronnx train --degradation NAME`: name -> factory.
#: `photo-jpeg` and `photo-noise` are `PhotoDegradation` with one branch beside the clean
#: one: models for JPEG files and for noisy images alone.
TRAINING: dict[str, Callable[[], Any]] = {
    "bicubic": BicubicDegradation,
    "realistic": RealisticDegradation,
    "photo": PhotoDegradation,
    "photo-jpeg": partial(PhotoDegradation, name="photo-jpeg", clean_prob=0.1, jpeg_prob=0.9),
    "photo-noise": partial(PhotoDegradation, name="photo-noise", clean_prob=0.1,
                           jpeg_prob=0.0),
}


def make_training(name: str
                  ) -> BicubicDegradation | RealisticDegradation | PhotoDegradation:
    """The training degradation `name` with its documented default ranges."""
    if name not in TRAINING:
        raise ValueError(f"unknown training degradation {name!r}; known: {', '.join(TRAINING)}")
    return TRAINING[name]()
