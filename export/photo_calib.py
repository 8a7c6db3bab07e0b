"""Calibration pairs for the photo models' int8 siblings: what those models are given.

The first 16 T91 images (sorted), each made into an LR input the way photos arrive, one
degradation per image, alternating: a JPEG round trip at a quality drawn from 20..95, or
Gaussian colour noise of sigma drawn from 2..20 (`sronnx.train.degradations`, seeded by --seed),
after the standard bicubic downscale. Written as OUT/lr/NAME.png (the decoded pixels,
lossless) and OUT/hr/NAME.png, the paired layout `sronnx export --int8 --calib OUT` reads
(`sronnx.train.data.load_pairs`), so both the calibration and the PSNR check of the int8 file
see degraded inputs.

    python export/photo_calib.py --scale 2 --out /tmp/photo_calib_x2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sronnx.imaging import degrade  # noqa: E402
from sronnx.train import (  # noqa: E402
    find_images,  # noqa: E402
    gaussian_noise,
    jpeg,
)

T91 = ROOT.parent / "shared" / "data" / "train" / "T91"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    (args.out / "lr").mkdir(parents=True, exist_ok=True)
    (args.out / "hr").mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(sorted(find_images(T91))[: args.images]):
        with Image.open(path) as img:
            lr, hr = degrade.make_pair(img.convert("RGB"), args.scale)
        x = np.asarray(lr)
        if i % 2 == 0:
            q = int(rng.integers(20, 96))
            x, what = np.asarray(jpeg(x, q)), f"jpeg q{q}"
        else:
            sigma = float(rng.uniform(2.0, 20.0))
            x, what = gaussian_noise(x, sigma, rng), f"noise sigma {sigma:.1f}"
        Image.fromarray(x).save(args.out / "lr" / f"{path.stem}.png")
        hr.save(args.out / "hr" / f"{path.stem}.png")
        print(f"{path.stem}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
