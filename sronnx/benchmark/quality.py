"""Quality by the published protocol, one function for every kind of model.

HR cropped to a multiple of the scale, LR by antialiased bicubic downscale (the function
training uses, `degrade.make_pair`), PSNR and SSIM on BT.601 Y with `scale` border pixels
cropped, on the output quantized to 8 bits as the published tables score it; MSE on RGB in
[0, 1] over the same pixels. Numpy, Pillow and onnxruntime only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sronnx.benchmark.models import BenchInputError, BenchModel
from sronnx.imaging import degrade, metrics

# LR RGB image -> SR HxWx3 array: uint8, or float in [0, 1] (quantized before scoring).
UpscaleFn = Callable[[Image.Image], np.ndarray]


@dataclass(frozen=True)
class Dataset:
    """HR images of one benchmark folder, decoded once."""

    name: str
    path: Path
    images: tuple[tuple[str, np.ndarray], ...]  # (relative name, uint8 HxWx3)


def load_dataset(folder: str | Path, max_side: int | None = None) -> Dataset:
    """Every image under `folder`; `max_side` centre-crops them (quick runs only)."""
    from sronnx.train import DataError, find_images, load_rgb

    folder = Path(folder)
    if not folder.is_dir():
        raise BenchInputError(f"--data {folder}: not a folder")
    files = find_images(folder)
    if not files:
        raise BenchInputError(f"--data {folder}: no images in it")
    images = []
    for p in files:
        try:
            arr = load_rgb(p)
        except DataError as exc:
            raise BenchInputError(str(exc)) from exc
        if max_side:
            h, w = arr.shape[:2]
            y0, x0 = max((h - max_side) // 2, 0), max((w - max_side) // 2, 0)
            arr = arr[y0 : y0 + max_side, x0 : x0 + max_side]
        images.append((p.relative_to(folder).as_posix(), arr))
    return Dataset(folder.resolve().name, folder, tuple(images))


def score(sr: np.ndarray, hr: np.ndarray, scale: int) -> dict[str, float]:
    """PSNR-Y, SSIM-Y and RGB MSE of one output against its HR, by the protocol."""
    sr8 = metrics.quantize(sr)
    if sr8.shape != hr.shape:
        raise ValueError(f"output is {sr8.shape}, expected {hr.shape}")
    return {"psnr_y": metrics.psnr_y(sr8, hr, border=scale),
            "ssim_y": metrics.ssim_y(sr8, hr, border=scale),
            "mse": metrics.mse_rgb(sr8, hr, border=scale)}


def evaluate(upscale: UpscaleFn, dataset: Dataset, scale: int) -> dict[str, Any]:
    """Mean PSNR-Y, SSIM-Y and MSE over a dataset (PSNR: the mean of per-image values, as the
    published tables average)."""
    scores = []
    for _, arr in dataset.images:
        lr, hr = degrade.make_pair(Image.fromarray(arr), scale)
        scores.append(score(upscale(lr), np.asarray(hr), scale))
    psnrs = [s["psnr_y"] for s in scores]
    return {
        "psnr_y": float(np.mean(psnrs)) if all(map(math.isfinite, psnrs)) else math.inf,
        "ssim_y": float(np.mean([s["ssim_y"] for s in scores])),
        "mse": float(np.mean([s["mse"] for s in scores])),
        "images": len(scores),
    }


Pair = tuple[Image.Image, np.ndarray]  # (LR input, cropped HR as uint8 HxWx3)


def degraded_pairs(dataset: Dataset, scale: int, degradation: str) -> list[Pair]:
    """(LR, HR) of every image by a named degradation (`sronnx.train.degradations`), seeded by the
    image's index in the dataset, so every model sees the very same inputs."""
    from sronnx.train import degrade_named

    pairs = []
    for i, (_, arr) in enumerate(dataset.images):
        lr, hr = degrade_named(degradation, Image.fromarray(arr), scale, seed=i)
        pairs.append((lr, np.asarray(hr)))
    return pairs


def score_pairs(upscale: UpscaleFn, pairs: list[Pair], scale: int) -> list[dict[str, float]]:
    """The scores of every image (`score`), in order."""
    return [score(upscale(lr), hr, scale) for lr, hr in pairs]


def gain_db(psnr: float, baseline: float) -> float:
    """PSNR-Y gain of one image over its baseline; 0 when both are equal (infinite too)."""
    return 0.0 if psnr == baseline else psnr - baseline


def summarize(scores: list[dict[str, float]],
              baseline: list[dict[str, float]] | None = None) -> dict[str, Any]:
    """Means as `evaluate` reports them; with `baseline` (bicubic's scores of the same
    inputs) also the mean PSNR-Y gain over it and how many images are worse (lower PSNR-Y)."""
    psnrs = [s["psnr_y"] for s in scores]
    out: dict[str, Any] = {
        "psnr_y": float(np.mean(psnrs)) if all(map(math.isfinite, psnrs)) else math.inf,
        "ssim_y": float(np.mean([s["ssim_y"] for s in scores])),
        "mse": float(np.mean([s["mse"] for s in scores])),
        "images": len(scores),
    }
    if baseline is not None:
        gains = [gain_db(p, b["psnr_y"]) for p, b in zip(psnrs, baseline, strict=True)]
        worse = sum(p < b["psnr_y"] for p, b in zip(psnrs, baseline, strict=True))
        out |= {"gain_db": float(np.mean(gains)), "worse": int(worse),
                "worse_share": worse / len(scores)}
    return out


def bicubic_upscaler(scale: int) -> UpscaleFn:
    """The published baseline: Pillow bicubic (`degrade.bicubic_upscale`)."""
    return lambda lr: np.asarray(degrade.bicubic_upscale(lr, scale))


class RuleUpscaler:
    """The model a user gets without `--model`: per input, the shipped clean or photo
    default for `scale` on the CPU, by the rule of `sronnx.engine.choice` (a JPEG input's
    format and tables come from the PIL image, as `degrade_named` keeps them), and the JPEG
    model for JPEG inputs where the scale ships one. Counts the inputs given a model other
    than the clean one (`photo`, `calls`; `reset()` zeroes both)."""

    def __init__(self, scale: int, threads: int | None = None) -> None:
        from sronnx.core import default_models, resolve_model

        self.names = default_models(scale, "cpu")  # "jpeg": the photo model where none ships
        loaded = {n: onnx_upscaler(resolve_model(n), threads) for n in set(self.names.values())}
        self.models = {k: loaded[n] for k, n in self.names.items()}
        self.photo = self.calls = 0

    def reset(self) -> None:
        self.photo = self.calls = 0

    def __call__(self, lr: Image.Image) -> np.ndarray:
        from sronnx.engine import classify
        from sronnx.io import jpeg_quality

        fmt = getattr(lr, "format", None)
        quality = jpeg_quality(getattr(lr, "quantization", None)) if fmt == "JPEG" else None
        kind = classify(np.asarray(lr), fmt, quality).kind
        self.calls += 1
        self.photo += kind != "clean"
        return self.models[kind](lr)


def onnx_upscaler(model: BenchModel | str | Path, threads: int | None = None,
                  provider: str = "cpu") -> UpscaleFn:
    """An sronnx ONNX model (a bench model or a file) on ONNX Runtime `provider`: the whole
    image in one call (benchmark images are small); a fixed-size model goes through the
    tiled upscaler instead."""
    from sronnx.engine import Upscaler
    from sronnx.runtime import load_model
    from sronnx.train import to_nchw_float

    path = model.path if isinstance(model, BenchModel) else Path(model)
    loaded = load_model(path, provider, threads)
    if loaded.info.descriptor.fixed_size is not None:
        up = Upscaler(loaded)
        return lambda lr: up.upscale_array(np.asarray(lr))

    def run(lr: Image.Image) -> np.ndarray:
        x = to_nchw_float(np.asarray(lr))
        return loaded.run(x)[0].transpose(1, 2, 0)  # any model's own tensor form

    return run
