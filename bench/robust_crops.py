"""Issue 12's crop sheet: input | bicubic | old default | new default | original, on
JPEG-compressed and noisy inputs, per scale.

For real photos never used in training (BSD100 by default), at each scale 2, 3 and 4 and
each --degradations name (`sronnx.train.degradations.NAMED`, default jpeg50, jpeg30, noise10):

* input: the degraded LR image (`degrade_named`, seeded by the image's index in the sorted
  folder, as `sronnx bench` seeds it) enlarged with nearest neighbour;
* bicubic: `degrade.bicubic_upscale` of that input;
* old default: the clean shipped model on CPUs (`default_model_name(scale, "cpu")`), what
  `sronnx upscale` gave before the photo models;
* new default: the model `sronnx upscale` gives that input now (clean, photo or JPEG), by
  the rule of
  `sronnx.engine.choice` from the input as a file has it (a JPEG's tables, a PNG's noise);
* original: the HR image.

Every panel goes through `Upscaler(model, provider="cpu").upscale` on the whole LR image.
The crop is the window of the HR image with the most detail (`bench/crops.py`'s
`detail_window`), the same for all panels, enlarged --zoom times. PSNR-Y: over the crop
(border 0) on the panels, and over the whole image (border = scale) in crops.json.

    python bench/robust_crops.py                  # from the repository root
    python bench/robust_crops.py --images 3 --degradations jpeg50,noise10 --out /tmp/rc

Writes OUT/crops_x{2,3,4}.png and OUT/crops.json; prints a table. numpy, Pillow and
onnxruntime only (no torch).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
sys.path.insert(0, str(ROOT / "bench"))

from crops import (  # noqa: E402
    BACKGROUND,
    FONT_SIZE,
    GAP,
    INK,
    LABEL_H,
    MUTED,
    TITLE_H,
    TITLE_SIZE,
    choose_images,
    crop_arr,
    detail_window,
    list_images,
    load_font,
)

from sronnx.core import default_models, resolve_model  # noqa: E402
from sronnx.engine import Upscaler, classify  # noqa: E402
from sronnx.imaging import degrade, metrics  # noqa: E402
from sronnx.io import jpeg_quality  # noqa: E402
from sronnx.train import NAMED, degrade_named  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "test"
DEFAULT_OUT = ROOT / "bench" / "results" / "robustness"
COLUMNS = ("input", "bicubic", "old default", "new default", "original")


def sheet(scale: int, rows: list[tuple[dict, list[np.ndarray]]], zoom: int) -> Image.Image:
    """Rows = (image, degradation); columns = COLUMNS, each under a text label."""
    font, title_font = load_font(FONT_SIZE), load_font(TITLE_SIZE)
    side = rows[0][1][0].shape[0] * zoom
    width = len(COLUMNS) * side + (len(COLUMNS) + 1) * GAP
    row_h = LABEL_H + side
    fig = Image.new("RGB", (width, TITLE_H + len(rows) * (row_h + GAP) + GAP), BACKGROUND)
    draw = ImageDraw.Draw(fig)
    draw.text((GAP, 5), f"x{scale}   " + " | ".join(COLUMNS), fill=INK, font=title_font)
    for i, (r, panels) in enumerate(rows):
        top = TITLE_H + i * (row_h + GAP)
        labels = [
            (f"{r['image']} {r['degradation']}", MUTED),
            (f"bicubic {r['crop']['bicubic']:.2f} dB", INK),
            (f"{r['old_model']} {r['crop']['old']:.2f} "
             f"({r['crop']['old'] - r['crop']['bicubic']:+.2f})", INK),
            (f"{r['new_model']} {r['crop']['new']:.2f} "
             f"({r['crop']['new'] - r['crop']['bicubic']:+.2f})", INK),
            ("original (HR)", MUTED),
        ]
        for j, (panel, (text, colour)) in enumerate(zip(panels, labels, strict=True)):
            left = GAP + j * (side + GAP)
            draw.text((left + 1, top + 3), text, fill=colour, font=font)
            fig.paste(Image.fromarray(panel).resize((side, side), Image.NEAREST),
                      (left, top + LABEL_H))
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, nargs="+", default=[DATA / "BSD100"])
    ap.add_argument("--degradations", default="jpeg50,jpeg30,noise10")
    ap.add_argument("--images", type=int, default=2, help="images per scale")
    ap.add_argument("--crop", type=int, default=96, help="HR crop side")
    ap.add_argument("--zoom", type=int, default=2)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.degradations.split(",") if n.strip()]
    if unknown := [n for n in names if n not in NAMED]:
        raise SystemExit(f"unknown degradation(s) {unknown}; known: {', '.join(NAMED)}")
    pool = list_images(args.data)
    index = {name: i for i, (name, _) in enumerate(pool)}  # bench's seed: the sorted index
    chosen = choose_images(pool, [2, 3, 4], args.images, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    records = []
    for scale in (2, 3, 4):
        models = default_models(scale, "cpu")  # "jpeg": the photo model where none ships
        ups = {k: Upscaler(resolve_model(n), provider="cpu", threads=args.threads)
               for k, n in models.items()}
        rows = []
        for name, file in chosen[scale]:
            with Image.open(file) as img:
                hr_img = img.convert("RGB")
            for deg in names:
                lr, hr_crop = degrade_named(deg, hr_img, scale, seed=index[name])
                hr = np.asarray(hr_crop)
                fmt = getattr(lr, "format", None)
                quality = jpeg_quality(getattr(lr, "quantization", None)) \
                    if fmt == "JPEG" else None
                choice = classify(np.asarray(lr), fmt, quality)
                lr_rgb = lr.convert("RGB")
                big = np.asarray(lr_rgb.resize(hr_crop.size, Image.NEAREST))
                bic = np.asarray(degrade.bicubic_upscale(lr_rgb, scale))
                old = np.asarray(ups["clean"].upscale(lr_rgb))
                new = np.asarray(ups[choice.kind].upscale(lr_rgb))
                box = detail_window(hr, args.crop // scale * scale, scale)
                panels = [crop_arr(a, box) for a in (big, bic, old, new, hr)]
                rec = {
                    "scale": scale, "image": name, "degradation": deg, "box": box,
                    "old_model": models["clean"], "new_model": models[choice.kind],
                    "rule": choice.reason,
                    "crop": {k: metrics.psnr_y(p, panels[4], border=0) for k, p in
                             zip(("bicubic", "old", "new"), panels[1:4], strict=True)},
                    "image_psnr_y": {k: metrics.psnr_y(a, hr, border=scale) for k, a in
                                     (("bicubic", bic), ("old", old), ("new", new))},
                }
                rows.append((rec, panels))
                records.append(rec)
        fig = sheet(scale, rows, args.zoom)
        fig.save(args.out / f"crops_x{scale}.png", optimize=True)
    meta = {"command": "python bench/robust_crops.py " + " ".join(argv or sys.argv[1:]),
            "machine": platform.processor() or platform.machine(),
            "date": time.strftime("%Y-%m-%d"), "crops": records}
    (args.out / "crops.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{'x':>2} {'image':<16} {'input':<8} {'new model (rule)':<38} "
          f"{'bicubic':>8} {'old':>7} {'new':>7}  (whole image PSNR-Y dB)")
    for r in records:
        p = r["image_psnr_y"]
        print(f"{r['scale']:>2} {r['image']:<16} {r['degradation']:<8} "
              f"{r['new_model'] + ' (' + r['rule'] + ')':<38} {p['bicubic']:>8.2f} "
              f"{p['old']:>7.2f} {p['new']:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
