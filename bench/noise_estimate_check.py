"""Whether a change to the noise estimate (`sronnx.imaging.noise_sigma`) changes what the
default-model rule decides: the estimate of a reference version (read from git, default the
commit before the speedup of 2026-12-07) beside the current one, on the inputs
`bench/rule_calibration.py` measures (the 291 training photos downscaled by the standard
protocol at x2, x3 and x4: clean and with Gaussian colour noise of sigma 3, 5 and 10 and grey
noise of sigma 10, seeded as there) and on Set14 and BSD100 at the same scales (clean and
with colour noise of sigma 5, the rule's threshold). For each group: the inputs, those where
one version has an estimate and the other none, the largest relative difference of the
estimates, and the inputs whose noise decision (estimate >= NOISE_SIGMA, the photo model)
differs.

    python bench/noise_estimate_check.py > bench/results/robustness/noise_estimate_check.txt
    python bench/noise_estimate_check.py --reference f4b9c1b --limit 10   # a quick look
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sronnx.engine import NOISE_SIGMA  # noqa: E402
from sronnx.imaging import degrade, noise_sigma  # noqa: E402
from sronnx.train import find_images, gaussian_noise  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
REFERENCE = "f4b9c1b"  # main before the speedup: Liu et al.'s estimate as merged
Estimate = Callable[[np.ndarray], float | None]


def reference_estimate(commit: str) -> Estimate:
    """`noise_sigma` as it was at `commit` (its assess.py run from git)."""
    source = subprocess.run(["git", "show", f"{commit}:sronnx/imaging/assess.py"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    space: dict = {"__name__": "reference_assess"}
    exec(compile(source, "reference_assess.py", "exec"), space)  # noqa: S102
    return space["noise_sigma"]


def low_res(path: Path, scale: int) -> np.ndarray:
    with Image.open(path) as img:
        lr, _ = degrade.make_pair(img.convert("RGB"), scale)
    return np.asarray(lr)


def training_inputs(files: list[Path], scale: int) -> Iterator[tuple[str, np.ndarray]]:
    """As `rule_calibration.section_2`: one generator seeded by the scale, drawn in the same
    order (clean, 3, 5, 10, 10 grey for each photo)."""
    rng = np.random.default_rng(scale)
    for path in files:
        lr = low_res(path, scale)
        for name in ("0", "3", "5", "10", "10 grey"):
            sigma = float(name.split()[0])
            yield name, lr if sigma == 0 else gaussian_noise(lr, sigma, rng,
                                                             gray="grey" in name)


def test_inputs(files: list[Path], scale: int) -> Iterator[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(100 + scale)
    for path in files:
        lr = low_res(path, scale)
        yield "0", lr
        yield "5", gaussian_noise(lr, 5.0, rng)


class Tally:
    """Agreement of two estimators over one group of inputs."""

    def __init__(self) -> None:
        self.count = self.none_differs = self.decision_differs = self.noisy = 0
        self.worst = 0.0

    def add(self, ref: float | None, new: float | None) -> None:
        self.count += 1
        if (ref is None) != (new is None):
            self.none_differs += 1
        elif ref is not None and new is not None and ref > 0:
            self.worst = max(self.worst, abs(new - ref) / ref)
        noisy_ref = ref is not None and ref >= NOISE_SIGMA
        noisy_new = new is not None and new >= NOISE_SIGMA
        self.decision_differs += noisy_ref != noisy_new
        self.noisy += noisy_new

    def row(self, label: str) -> str:
        return (f"| {label} | {self.count} | {self.none_differs} | {self.worst:.1e} | "
                f"{self.noisy} | {self.decision_differs} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default=REFERENCE, help="git commit of the reference")
    ap.add_argument("--limit", type=int, default=None, help="first N images of each set")
    args = ap.parse_args()
    ref = reference_estimate(args.reference)
    train = sorted(find_images(DATA / "train"),
                   key=lambda p: p.relative_to(DATA / "train").as_posix())[:args.limit]
    tests = {name: sorted(find_images(DATA / "test" / name))[:args.limit]
             for name in ("Set14", "BSD100")}
    print(f"# noise estimate check: reference {args.reference} vs the working tree; "
          f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M')}; "
          f"NOISE_SIGMA {NOISE_SIGMA}")
    print("| inputs | count | estimate vs none differs | largest relative difference | "
          "noisy (>= NOISE_SIGMA) | decision differs |")
    print("|---|---|---|---|---|---|")
    total = Tally()
    groups: list[tuple[str, Callable[..., Iterator[tuple[str, np.ndarray]]], list[Path]]] = [
        (f"train ({len(train)})", training_inputs, train),
        *[(f"{name} ({len(files)})", test_inputs, files) for name, files in tests.items()]]
    for label, make, files in groups:
        for scale in (2, 3, 4):
            tallies: dict[str, Tally] = {}
            for noise, x in make(files, scale):
                r, n = ref(x), noise_sigma(x)
                tallies.setdefault(noise, Tally()).add(r, n)
                total.add(r, n)
            for noise, tally in tallies.items():
                print(tally.row(f"{label} x{scale}, added sigma {noise}"), flush=True)
    print(total.row("all"))
    return 0 if total.decision_differs == 0 and total.none_differs == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
