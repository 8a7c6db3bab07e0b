"""The README's video picture: one frame crop as input (nearest-upscaled) | bicubic | sronnx |
ground truth, for a clean (FFV1) and a heavily compressed (H.264 CRF 33) source at x2.

    python bench/video_crop.py                  # writes bench/results/video_crop.png (+ .json)

The clip is made as bench/video_quality.py makes its clips (`clip_frames`, `downscale`,
`encode` from there): a 240x240 window of one test photo (Set14 zebra by default; test data
is only shown here, never used to choose anything) panning 4 pixels right and 1 down a frame,
24 frames, bicubic-downscaled by 2 and encoded losslessly (FFV1) or as H.264 (libx264 CRF 33,
4:2:0). Each clip goes through `sronnx upscale` (the CLI, its defaults: the model the video
rule picks, H.264 CRF 18 output); bicubic is Pillow's on the decoded input frame. The crop:
the `--crop`-pixel output window with the most luma gradient in the middle frame, the same
for every panel, each enlarged `--zoom` times with nearest neighbour. Under each panel its
PSNR-Y on the crop against the ground truth (every crop pixel, no border).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from video_quality import DATA, bicubic, clip_frames, decode, downscale, encode  # noqa: E402

from sronnx.imaging import metrics  # noqa: E402

SOURCES = (("FFV1 (lossless)", "ffv1", None), ("H.264 CRF 33", "libx264", 33))


def best_window(frame: np.ndarray, crop: int, margin: int) -> tuple[int, int]:
    """(y, x) of the `crop`-square window of `frame` (at least `margin` from the edges, on a
    grid of crop/4) with the largest sum of luma gradient magnitude."""
    y = metrics.rgb_to_y(frame)
    g = np.abs(np.diff(y, axis=0))[:, :-1] + np.abs(np.diff(y, axis=1))[:-1, :]
    best, where = -1.0, (margin, margin)
    step = max(crop // 4, 1)
    for y0 in range(margin, g.shape[0] - crop - margin, step):
        for x0 in range(margin, g.shape[1] - crop - margin, step):
            s = float(g[y0:y0 + crop, x0:x0 + crop].sum())
            if s > best:
                best, where = s, (y0, x0)
    return where


def panel(img: np.ndarray, zoom: int, label: str) -> Image.Image:
    """`img` enlarged `zoom` times (nearest) above a line of text."""
    big = Image.fromarray(img).resize((img.shape[1] * zoom, img.shape[0] * zoom), Image.NEAREST)
    out = Image.new("RGB", (big.width, big.height + 28), "white")
    out.paste(big, (0, 0))
    ImageDraw.Draw(out).text((4, big.height + 6), label, fill="black")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", type=Path, default=DATA / "test" / "Set14" / "zebra.png")
    ap.add_argument("--crop", type=int, default=96, help="output pixels")
    ap.add_argument("--zoom", type=int, default=3)
    ap.add_argument("--frame", type=int, default=12)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "video_crop.png")
    args = ap.parse_args()
    gt = clip_frames(args.image, 240, 24, "pan")
    lr = downscale(gt, 2)
    y0, x0 = best_window(gt[args.frame], args.crop, 4)
    rows, facts = [], []
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        for i, (_, codec, crf) in enumerate(SOURCES):
            (src / f"s{i}.mkv").write_bytes(encode(lr, codec, crf))
        done = subprocess.run([sys.executable, "-m", "sronnx", "upscale", str(src), "-o",
                               str(dst), "--json", str(Path(tmp) / "r.json")],
                              capture_output=True, text=True,
                              env=os.environ | {"PYTHONPATH": str(ROOT)})
        if done.returncode != 0:
            raise SystemExit(done.stdout + done.stderr)
        report = {Path(f["input"]).name: f
                  for f in json.loads((Path(tmp) / "r.json").read_text())["files"]}
        for i, (label, _, _) in enumerate(SOURCES):
            inp = decode(src / f"s{i}.mkv")[0][args.frame]
            out = decode(dst / f"s{i}.mkv")[0][args.frame]
            truth = gt[args.frame][y0:y0 + args.crop, x0:x0 + args.crop]
            cut = {"input (nearest)": np.repeat(np.repeat(inp, 2, 0), 2, 1),
                   "bicubic": bicubic(2)(inp), "sronnx": out}
            cut = {k: v[y0:y0 + args.crop, x0:x0 + args.crop] for k, v in cut.items()}
            model = report[f"s{i}.mkv"]["model"]
            row = [panel(v, args.zoom, f"{label}: {k}"
                         + (f" ({model})" if k == "sronnx" else "")
                         + f"  {metrics.psnr_y(v, truth, 0):.2f} dB")
                   for k, v in cut.items()]
            row.append(panel(truth, args.zoom, "ground truth"))
            rows.append(row)
            facts.append({"source": label, "model": model,
                          "model_reason": report[f"s{i}.mkv"]["model_reason"],
                          **{f"psnr_y_{k}": metrics.psnr_y(v, truth, 0)
                             for k, v in cut.items()}})
    w, h = rows[0][0].size
    sheet = Image.new("RGB", (w * 4 + 12, h * len(rows) + 4 * (len(rows) - 1)), "white")
    for r, row in enumerate(rows):
        for c, p in enumerate(row):
            sheet.paste(p, (c * (w + 4), r * (h + 4)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out, optimize=True)
    meta = {"command": "python bench/video_crop.py", "image": str(args.image.relative_to(DATA)),
            "frame": args.frame, "crop_box_yx": [y0, x0, args.crop], "rows": facts}
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
