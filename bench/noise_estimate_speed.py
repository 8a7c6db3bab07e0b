"""Cost of the noise estimate (`sronnx.imaging.noise_sigma`, run once per file by the
default-model rule) per megapixel, beside two earlier versions read from git: the estimate
it replaced in issue 24 (the flattest 8x8 blocks' Haar HH, commit 8164324) and Liu et al.'s
weak-texture PCA as first merged (commit f4b9c1b, before it was made cheaper without
changing its values: `bench/noise_estimate_check.py`). All three are timed in one run.

Inputs: the first 20 BSD200 training photos at full size (481x321, 0.15 MP) and one of them
enlarged (Pillow bicubic) to 1920x1080 and 4000x3000; the best of 3 runs each.

    python bench/noise_estimate_speed.py > bench/results/robustness/noise_estimate_speed.txt
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sronnx.imaging import noise_sigma  # noqa: E402

OLD_COMMITS = {"Haar HH (8164324)": "8164324", "Liu first merged (f4b9c1b)": "f4b9c1b"}
TRAIN = ROOT.parent / "shared" / "data" / "train" / "BSD200"


def old_estimate(commit: str):
    source = subprocess.run(["git", "show", f"{commit}:sronnx/imaging/assess.py"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    space: dict = {"__name__": "old_assess"}
    exec(compile(source, "old_assess.py", "exec"), space)  # noqa: S102
    return space["noise_sigma"]


def best_ms(f, images: list[np.ndarray]) -> float:
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        for x in images:
            f(x)
        runs.append(time.perf_counter() - t)
    return min(runs) * 1000.0


def main() -> int:
    estimates = {name: old_estimate(commit) for name, commit in OLD_COMMITS.items()}
    estimates["Liu now"] = noise_sigma
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(TRAIN.glob("*.png"))[:20]]
    big = Image.fromarray(photos[0])
    sets = {"20 photos 481x321": photos,
            "1920x1080": [np.asarray(big.resize((1920, 1080), Image.Resampling.BICUBIC))],
            "4000x3000": [np.asarray(big.resize((4000, 3000), Image.Resampling.BICUBIC))]}
    print(f"# noise estimate cost: {platform.processor() or platform.machine()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')} (machine shared with other jobs)")
    print("| input | megapixels | " + " | ".join(f"{e} ms (ms/MP)" for e in estimates)
          + " | first merged / now |")
    print("|---|---|" + "---|" * (len(estimates) + 1))
    for name, images in sets.items():
        mp = sum(x.shape[0] * x.shape[1] for x in images) / 1e6
        ms = [best_ms(f, images) for f in estimates.values()]
        cells = " | ".join(f"{t:.0f} ({t / mp:.0f})" for t in ms)
        print(f"| {name} | {mp:.2f} | {cells} | {ms[1] / ms[2]:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
