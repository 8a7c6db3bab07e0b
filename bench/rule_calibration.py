"""The evidence behind the default-model rule's thresholds (`sronnx.engine.choice`), from
training images only (the test sets are never used to choose them).

1. JPEG quality read back from the tables (`assess.jpeg_quality`) of Pillow's files at
   every quality 1..100.
2. The noise estimate (`assess.noise_sigma`) on the 291 training photos downscaled by the
   standard protocol at x2, x3 and x4: clean, with Gaussian colour noise of sigma 3, 5 and
   10 and grey (luma) noise of sigma 10 (seeded); percentiles over the images with an
   estimate (None, "no noise measurable", counts as 0), the share without one, and the
   share at or over `NOISE_SIGMA` (the share routed to the photo model).
2c. The whole rule (`choice.classify`, the pixels as a PNG would hold them) on the clean
   training downscales and on the Lanczos and area ones: the share given a degraded-input
   (photo or JPEG) model, the false-positive rate the rule is held to (at most 1%).
2b. The JPEG blocking measure (`assess.blockiness`) on the same photos, clean and after a
   JPEG round trip at quality 95, 75, 50 and 30 written back losslessly; the share at or
   over `BLOCKINESS` (routed to the photo model as a JPEG saved again as PNG).
3. Where the photo model starts to win: on the validation split the trainer holds out of
   the 291 (`--val-fraction 0.05`, seed 0: 15 images), the PSNR-Y of the shipped photo
   model minus the clean model's (CPU defaults), by added noise sigma, with the estimate.
3b. The same for JPEG inputs by quality (100 down to 30), with the model JPEG inputs get
   (the JPEG model where the scale ships one): where it stops winning sets
   `JPEG_MAX_QUALITY`.

    python bench/rule_calibration.py > bench/results/robustness/rule_calibration.txt
    python bench/rule_calibration.py --sections 3b     # one section

Before issue 24 the estimate was the 2nd percentile of flat 8x8 blocks' Haar HH detail
(NOISE_SIGMA 6.0: 4.8% / 7.6% / 12.7% of the clean training photos at x2 / x3 / x4 read
noisy); it is now Liu et al.'s weak-texture PCA (`sronnx.imaging.noise_sigma`), and
NOISE_SIGMA the smallest round threshold at which the clean share is at most 1% at every
scale and the photo model does not lose on average at that noise (section 3).

numpy, Pillow and onnxruntime (no torch).
"""

from __future__ import annotations

import io
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sronnx.benchmark import onnx_upscaler  # noqa: E402
from sronnx.core import default_model_name, default_models, resolve_model  # noqa: E402
from sronnx.engine import BLOCKINESS, JPEG_MAX_QUALITY, NOISE_SIGMA, classify  # noqa: E402
from sronnx.imaging import blockiness, degrade, metrics, noise_sigma  # noqa: E402
from sronnx.io import jpeg_quality  # noqa: E402
from sronnx.train import (  # noqa: E402
    find_images,  # noqa: E402
    gaussian_noise,
    jpeg_bytes,
)

TRAIN = ROOT.parent / "shared" / "data" / "train"
# the benchmark's `lanczos` and `area` degradations (sronnx.train.degradations.FILTERS)
FILTERS = {"lanczos": Image.Resampling.LANCZOS, "area": Image.Resampling.BOX}


def validation_split(files: list[Path], fraction: float = 0.05, seed: int = 0) -> list[Path]:
    """The trainer's held-out images (`sronnx.train.trainer._split_validation`, same order
    as `load_pairs`: sorted relative paths)."""
    order = np.random.default_rng(seed).permutation(len(files))
    n_val = max(1, int(round(len(files) * fraction)))
    return [files[i] for i in sorted(order[:n_val])]


def lr_of(path: Path, scale: int) -> tuple[np.ndarray, np.ndarray]:
    with Image.open(path) as img:
        lr, hr = degrade.make_pair(img.convert("RGB"), scale)
    return np.asarray(lr), np.asarray(hr)


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", default="1,2,2b,2c,3,3b")
    sections = set(ap.parse_args().sections.split(","))
    files = sorted(find_images(TRAIN), key=lambda p: p.relative_to(TRAIN).as_posix())
    print(f"# rule calibration: {platform.processor() or platform.machine()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}; {len(files)} training images; "
          f"JPEG_MAX_QUALITY {JPEG_MAX_QUALITY}, NOISE_SIGMA {NOISE_SIGMA}, "
          f"BLOCKINESS {BLOCKINESS}")

    if "1" in sections:
        section_1(files)
    if "2" in sections:
        section_2(files)
    if "2b" in sections:
        section_2b(files)
    if "2c" in sections:
        section_2c(files)
    if "3" in sections:
        section_3(files)
    if "3b" in sections:
        section_3b(files)
    return 0


def section_1(files: list[Path]) -> None:
    print("\n## 1. JPEG quality read back from the tables, Pillow qualities 1..100")
    lr, _ = lr_of(files[0], 2)
    misses = []
    for q in range(1, 101):
        with Image.open(io.BytesIO(jpeg_bytes(lr, q))) as im:
            got = jpeg_quality(im.quantization)
        if got != q:
            misses.append((q, got))
    print(f"misses: {misses or 'none'}")


def section_2(files: list[Path]) -> None:
    print("\n## 2. noise estimate on the training photos (0..255 units; none: no estimate)")
    print("| scale | added sigma | none | p5 | median | p95 | p99 | max | "
          "share >= NOISE_SIGMA |")
    print("|---|---|---|---|---|---|---|---|---|")
    for scale in (2, 3, 4):
        rng = np.random.default_rng(scale)
        est: dict[str, list[float | None]] = {"0": [], "3": [], "5": [], "10": [], "10 grey": []}
        for path in files:
            lr, _ = lr_of(path, scale)
            for name, values in est.items():
                sigma = float(name.split()[0])
                x = lr if sigma == 0 else gaussian_noise(lr, sigma, rng, gray="grey" in name)
                values.append(noise_sigma(x))
        for name, values in est.items():
            none = np.mean([v is None for v in values])
            v = np.array([0.0 if v is None else v for v in values])
            p5, p50, p95, p99 = np.percentile(v, [5, 50, 95, 99])
            print(f"| x{scale} | {name} | {none:.1%} | {p5:.2f} | {p50:.2f} | {p95:.2f} | "
                  f"{p99:.2f} | {v.max():.2f} | {np.mean(v >= NOISE_SIGMA):.1%} |")


def section_2c(files: list[Path]) -> None:
    print("\n## 2c. the rule on clean inputs: share given a degraded-input (photo or JPEG) "
          "model")
    print("| scale | downscale | images | photo | jpeg | degraded-input share |")
    print("|---|---|---|---|---|---|")
    for scale in (2, 3, 4):
        for filt in ("bicubic", "lanczos", "area"):
            kinds = []
            for path in files:
                with Image.open(path) as img:
                    hr = degrade.crop_to_multiple(img.convert("RGB"), scale)
                w, h = hr.size
                if filt == "bicubic":
                    lr = np.asarray(degrade.bicubic_downscale(hr, scale))
                else:
                    lr = np.asarray(hr.resize((w // scale, h // scale), FILTERS[filt]))
                kinds.append(classify(lr, "PNG").kind)
            n = len(kinds)
            photo, jpeg = kinds.count("photo"), kinds.count("jpeg")
            print(f"| x{scale} | {filt} | {n} | {photo} | {jpeg} | {(photo + jpeg) / n:.1%} |")


def section_2b(files: list[Path]) -> None:
    print("\n## 2b. JPEG blocking on the training photos (1 = no grid)")
    print("| scale | input | p5 | median | p95 | max | share >= BLOCKINESS |")
    print("|---|---|---|---|---|---|---|")
    for scale in (2, 3, 4):
        found: dict[str, list[float]] = {"clean": [], "q95": [], "q75": [], "q50": [], "q30": []}
        for path in files:
            lr, _ = lr_of(path, scale)
            for name, values in found.items():
                x = lr
                if name != "clean":
                    with Image.open(io.BytesIO(jpeg_bytes(lr, int(name[1:])))) as im:
                        x = np.asarray(im.convert("RGB"))
                if (v := blockiness(x)) is not None:
                    values.append(v)
        for name, values in found.items():
            v = np.array(values)
            p5, p50, p95 = np.percentile(v, [5, 50, 95])
            print(f"| x{scale} | {name} | {p5:.3f} | {p50:.3f} | {p95:.3f} | {v.max():.3f} "
                  f"| {np.mean(v >= BLOCKINESS):.1%} |")



def section_3(files: list[Path]) -> None:
    print("\n## 3. photo model minus clean model, PSNR-Y dB, on the validation split")
    val = validation_split(files)
    print(f"images: {', '.join(p.relative_to(TRAIN).as_posix() for p in val)}")
    print("| scale | added sigma | estimate median (min..max; none = 0) | photo - clean mean | min "
          "| max |")
    print("|---|---|---|---|---|---|")
    for scale in (2, 3, 4):
        names = {k: default_model_name(scale, "cpu", k) for k in ("clean", "photo")}
        run = {k: onnx_upscaler(resolve_model(n)) for k, n in names.items()}
        for sigma in (0, 2, 4, 6, 8, 10):
            diffs, ests = [], []
            for i, path in enumerate(val):
                lr, hr = lr_of(path, scale)
                x = lr if sigma == 0 else gaussian_noise(lr, sigma, np.random.default_rng(i))
                ests.append(noise_sigma(x) or 0.0)  # None (no noise measurable): 0
                img = Image.fromarray(x)
                p = {k: metrics.psnr_y(metrics.quantize(f(img)), hr, border=scale)
                     for k, f in run.items()}
                diffs.append(p["photo"] - p["clean"])
            d, e = np.array(diffs), np.array(ests, dtype=float)
            print(f"| x{scale} | {sigma} | {np.median(e):.2f} ({e.min():.2f}..{e.max():.2f}) | "
                  f"{d.mean():+.2f} | {d.min():+.2f} | {d.max():+.2f} |")
        print(f"(x{scale}: {names['photo']} against {names['clean']})")


def section_3b(files: list[Path]) -> None:
    print("\n## 3b. the model JPEG inputs get (the JPEG model, else the photo model) minus the "
          "clean model on JPEG inputs, PSNR-Y dB, validation split")
    val = validation_split(files)
    qualities = (100, 98, 95, 92, 90, 85, 80, 75, 50, 30)
    print("| scale | " + " | ".join(f"q{q}" for q in qualities) + " |")
    print("|---|" + "---|" * len(qualities))
    for scale in (2, 3, 4):
        every = default_models(scale, "cpu")
        names = {"clean": every["clean"], "photo": every["jpeg"]}  # what JPEG inputs get
        run = {k: onnx_upscaler(resolve_model(n)) for k, n in names.items()}
        cells = []
        for q in qualities:
            diffs = []
            for path in val:
                lr, hr = lr_of(path, scale)
                with Image.open(io.BytesIO(jpeg_bytes(lr, q))) as im:
                    img = im.convert("RGB")
                p = {k: metrics.psnr_y(metrics.quantize(f(img)), hr, border=scale)
                     for k, f in run.items()}
                diffs.append(p["photo"] - p["clean"])
            cells.append(f"{np.mean(diffs):+.2f}")
        print(f"| x{scale} | " + " | ".join(cells) + f" |  ({names['photo']})")


if __name__ == "__main__":
    sys.exit(main())
