"""Issue 12's targets, read from a robustness run of `sronnx bench` (its --json rows).

Pools the datasets of the run (Set14 + BSD100: 114 images) by image count: the gain over
bicubic is the mean over all images, the share worse is worse images over all images. Prints,
per scale, one row per model (bicubic left out) with gain and share worse per degradation,
then the targets of issue 12 for the `default` subject (what a user gets without --model)
with met / not met.

    python bench/robust_summary.py bench/results/robustness/photo.json \\
        > bench/results/robustness/photo_summary.md
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

# gain over bicubic in dB the default must reach, per scale; at most 10% of images worse
TARGETS = {
    "jpeg50": {2: 0.7, 3: 0.5, 4: 0.4},
    "jpeg30": {2: 0.5, 3: 0.4, 4: 0.3},
    "noise10": {2: 1.2, 3: 0.9, 4: 0.8},
}
WORSE_MAX = 0.10
# the clean protocol: what a clean PNG gets keeps today's figures within 0.1 dB
CLEAN_BEFORE = {2: 31.99, 3: 28.78, 4: 27.33}  # PSNR-Y, Set14 + BSD100, issue 12
CLEAN_SLACK = 0.1


def pooled(rows: list[dict]) -> dict[tuple[int, str, str], dict[str, float]]:
    """(scale, model, degradation) -> psnr, gain, worse share, images, photo share."""
    acc: dict[tuple[int, str, str], dict[str, float]] = defaultdict(
        lambda: {"psnr": 0.0, "gain": 0.0, "worse": 0.0, "images": 0.0, "photo": 0.0})
    for r in rows:
        if r.get("kind") != "quality" or r.get("degradation") is None:
            continue
        a = acc[(r["scale"], r["model"], r["degradation"])]
        n = r["images"]
        a["psnr"] += r["psnr_y"] * n
        a["gain"] += r["gain_db"] * n
        a["worse"] += r["worse"]
        a["photo"] += (r.get("photo_share") or 0.0) * n
        a["images"] += n
    return {k: {"psnr": v["psnr"] / v["images"], "gain": v["gain"] / v["images"],
                "worse": v["worse"] / v["images"], "images": v["images"],
                "photo": v["photo"] / v["images"]} for k, v in acc.items()}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    rows = json.loads(Path(argv[0]).read_text())
    machine = next((r for r in rows if r.get("kind") == "machine"), {})
    datasets = sorted({r["dataset"] for r in rows if r.get("kind") == "quality"})
    table = pooled(rows)
    print(f"# Robustness, pooled over {' + '.join(datasets)}\n")
    print(f"From `{argv[0]}` (machine: {machine.get('cpu_model', '?')}, "
          f"{machine.get('date', machine.get('timestamp', '?'))}); "
          "`python bench/robust_summary.py` made this file.\n")
    print("Gain of PSNR-Y over bicubic on the same degraded input, dB (share of images worse "
          "than bicubic); `default` is what `sronnx upscale` gives without `--model` (share "
          "given the photo model in the last table).\n")
    for scale in sorted({k[0] for k in table}):
        degs = list(dict.fromkeys(k[2] for k in table if k[0] == scale))
        models = list(dict.fromkeys(k[1] for k in table if k[0] == scale and k[1] != "bicubic"))
        print(f"## x{scale}\n")
        print("| model | " + " | ".join(degs) + " |")
        print("|---|" + "---|" * len(degs))
        for m in models:
            cells = []
            for d in degs:
                v = table.get((scale, m, d))
                cells.append("-" if v is None else f"{v['gain']:+.2f} ({v['worse']:.0%})")
            print(f"| {m} | " + " | ".join(cells) + " |")
        print()
    print("## Issue 12's targets for `default`\n")
    print("| scale | input | target | measured | share worse | met |")
    print("|---|---|---|---|---|---|")
    for scale in sorted({k[0] for k in table}):
        for deg, by_scale in TARGETS.items():
            v = table.get((scale, "default", deg))
            if v is None:
                continue
            ok = v["gain"] >= by_scale[scale] and v["worse"] <= WORSE_MAX
            print(f"| x{scale} | {deg} | >= {by_scale[scale]:+.1f} dB, <= 10% worse | "
                  f"{v['gain']:+.2f} dB | {v['worse']:.0%} | {'yes' if ok else 'no'} |")
        v = table.get((scale, "default", "clean"))
        if v is not None:
            before = CLEAN_BEFORE[scale]
            ok = v["psnr"] >= before - CLEAN_SLACK
            print(f"| x{scale} | clean | PSNR-Y >= {before - CLEAN_SLACK:.2f} (was {before}) | "
                  f"{v['psnr']:.2f} dB | {v['worse']:.0%} | {'yes' if ok else 'no'} |")
    print("\n## Share of images the rule gave the photo model\n")
    degs = list(dict.fromkeys(k[2] for k in table if k[1] == "default"))
    print("| scale | " + " | ".join(degs) + " |")
    print("|---|" + "---|" * len(degs))
    for scale in sorted({k[0] for k in table if k[1] == "default"}):
        cells = [f"{table[(scale, 'default', d)]['photo']:.0%}"
                 if (scale, "default", d) in table else "-" for d in degs]
        print(f"| x{scale} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
