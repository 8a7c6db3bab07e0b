"""The README's "real photos" figure: crops of bicubic | sronnx | original (HR), per scale.

For a few real photos (BSD100 by default; add Set14 with --data), at each scale 2, 3 and 4,
with the shipped default model on CPUs (`sronnx.core.shipped.resolve_model(None, scale)`) unless
--model overrides it:

    python bench/crops.py                       # from the repository root: the committed figure
    python bench/crops.py --images-per-scale 4 --model 3=rsp-x3 \\
        --data ../shared/data/test/BSD100 ../shared/data/test/Set14 --out /tmp/crops

The protocol is the benchmark's (`sronnx bench`): `degrade.make_pair` (HR cropped to a
multiple of the scale, antialiased bicubic downscale), bicubic = `degrade.bicubic_upscale`,
sronnx = `Upscaler(model, provider="cpu").upscale(lr)` on the whole LR image (8-bit output),
PSNR on BT.601 Y (`metrics.psnr_y`). The whole-image PSNR uses `scale` border pixels, as the
benchmark's per-image figures; the crop's PSNR is over every pixel of the crop (border 0),
the crop window being chosen inside the scored area (at least `scale` pixels from the edges).

Images: the photos of the --data folders in sorted order ("FOLDER/name"), shuffled by a
fixed --seed; each scale takes the next --images-per-scale of them (distinct images across
scales while the pool lasts). The crop: a --crop x --crop HR window (rounded down to a
multiple of the scale, its corner on the scale's grid, so it matches an exact LR window),
the window of a grid of candidates (stride crop / 4) with the largest sum of HR gradient
magnitude on Y: where the photo has the most detail. The same window for all three panels,
each enlarged --zoom times with nearest neighbour so the pixels stay visible.

Writes OUT/crops_x{2,3,4}.png (rows = images, columns = bicubic | sronnx | original) and
OUT/crops.json (per image and scale: the crop box, PSNR-Y of bicubic and sronnx on the crop
and on the whole image, the model file), and prints a table. Needs only numpy, Pillow and
sronnx (onnxruntime); no torch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from sronnx.core import resolve_model, shipped_models  # noqa: E402
from sronnx.engine import Upscaler  # noqa: E402
from sronnx.imaging import degrade, metrics  # noqa: E402
from sronnx.train import find_images  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "test"
DEFAULT_DATA = [DATA / "BSD100"]
DEFAULT_OUT = ROOT / "bench" / "results" / "crops"
SCALES = (2, 3, 4)

# Figure layout (pixels of the output PNG).
GAP = 6  # between panels and between rows
LABEL_H = 20  # the text strip over each panel
TITLE_H = 26  # the figure's title strip
FONT_SIZE = 13
TITLE_SIZE = 15
BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)
MUTED = (90, 90, 90)


@dataclass
class CropResult:
    scale: int
    image: str  # "FOLDER/file"
    size: tuple[int, int]  # (w, h) of the HR image after the crop to a multiple of the scale
    box: tuple[int, int, int, int]  # HR crop (left, top, right, bottom)
    lr_box: tuple[int, int, int, int]  # the same window in the LR image
    bicubic_crop_psnr_y: float
    sronnx_crop_psnr_y: float
    bicubic_psnr_y: float  # whole image, `scale` border pixels cropped (the benchmark's)
    sronnx_psnr_y: float
    model: str


def parse_models(specs: list[str]) -> dict[int, str]:
    """["3=path.onnx", "2=rsp-x2"] -> {3: "path.onnx", 2: "rsp-x2"}."""
    out: dict[int, str] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or not key.strip().isdigit() or not value.strip():
            raise SystemExit(f"--model wants SCALE=NAME|FILE (e.g. 3=rsp-x3), got {spec!r}")
        out[int(key)] = value.strip()
    return out


def list_images(folders: list[Path]) -> list[tuple[str, Path]]:
    """("FOLDER/name", path) for every image of the folders, in sorted order."""
    found: list[tuple[str, Path]] = []
    for folder in folders:
        if not folder.is_dir():
            raise SystemExit(f"no such folder: {folder}")
        found += [(f"{folder.name}/{p.relative_to(folder).as_posix()}", p)
                  for p in find_images(folder)]
    if not found:
        raise SystemExit(f"no images in {', '.join(map(str, folders))}")
    return found


def choose_images(pool: list[tuple[str, Path]], scales: list[int], per_scale: int,
                  seed: int) -> dict[int, list[tuple[str, Path]]]:
    """A fixed shuffle of the sorted pool; each scale takes the next `per_scale` images
    (wrapping around when the pool is smaller than all scales need)."""
    order = list(pool)
    random.Random(seed).shuffle(order)
    n = min(per_scale, len(order))
    return {s: [order[(k * n + i) % len(order)] for i in range(n)] for k, s in enumerate(scales)}


def gradient_magnitude(rgb: np.ndarray) -> np.ndarray:
    """|grad Y| (central differences, edges replicated) of an HxWx3 uint8 image."""
    y = metrics.rgb_to_y(rgb)
    gy, gx = np.gradient(y)
    return np.hypot(gx, gy)


def detail_window(hr: np.ndarray, crop: int, scale: int) -> tuple[int, int, int, int]:
    """The crop x crop window with the largest sum of gradient magnitude among a grid of
    candidates (stride ~crop / 4), corners on multiples of `scale`, at least `scale` pixels
    from every edge (inside the area the benchmark scores). Ties: the first in row order."""
    h, w = hr.shape[:2]
    lo = scale
    hi_x, hi_y = w - scale - crop, h - scale - crop
    if hi_x < lo or hi_y < lo:
        raise ValueError(f"image of {w}x{h} is too small for a {crop} px crop at x{scale}")
    stride = max(scale, (crop // 4) // scale * scale)

    def starts(hi: int) -> list[int]:
        top = hi // scale * scale  # the last corner on the grid
        return sorted(set(range(lo, top + 1, stride)) | {top})

    g = gradient_magnitude(hr)
    integral = np.zeros((h + 1, w + 1), dtype=np.float64)
    integral[1:, 1:] = g.cumsum(0).cumsum(1)
    best, best_box = -1.0, (lo, lo, lo + crop, lo + crop)
    for y0 in starts(hi_y):
        for x0 in starts(hi_x):
            y1, x1 = y0 + crop, x0 + crop
            total = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
            if total > best:
                best, best_box = float(total), (x0, y0, x1, y1)
    return best_box


def crop_arr(a: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return a[y0:y1, x0:x1]


def load_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def make_figure(scale: int, model_label: str, rows: list[tuple[CropResult, list[np.ndarray]]],
                zoom: int) -> Image.Image:
    """Rows = images; columns = bicubic | sronnx | original, each under a text label."""
    font, title_font = load_font(FONT_SIZE), load_font(TITLE_SIZE)
    side = rows[0][1][0].shape[0] * zoom
    width = 3 * side + 4 * GAP
    row_h = LABEL_H + side
    height = TITLE_H + len(rows) * (row_h + GAP) + GAP
    fig = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(fig)
    draw.text((GAP, 5), f"x{scale}   bicubic | sronnx ({model_label}) | original (HR)",
              fill=INK, font=title_font)
    for i, (r, panels) in enumerate(rows):
        top = TITLE_H + i * (row_h + GAP)
        x0, y0, x1, y1 = r.box
        labels = [
            (f"{r.image}  bicubic  {r.bicubic_crop_psnr_y:.2f} dB", INK),
            (f"sronnx  {r.sronnx_crop_psnr_y:.2f} dB "
             f"({r.sronnx_crop_psnr_y - r.bicubic_crop_psnr_y:+.2f})", INK),
            (f"original (HR)  {x1 - x0}x{y1 - y0} px at ({x0}, {y0})", MUTED),
        ]
        for j, (panel, (text, colour)) in enumerate(zip(panels, labels, strict=True)):
            left = GAP + j * (side + GAP)
            draw.text((left + 1, top + 3), text, fill=colour, font=font)
            big = Image.fromarray(panel).resize((side, side), Image.NEAREST)
            fig.paste(big, (left, top + LABEL_H))
    return fig


def model_label(path: Path) -> str:
    """The shipped name for a shipped file, else the path as given."""
    for m in shipped_models():
        if m.path.resolve() == path.resolve():
            return m.name
    return str(path)


def display_path(path: Path) -> str:
    """Relative to the repository root where it is in the checkout or beside it."""
    full = path.resolve()
    if full.is_relative_to(ROOT.parent):
        return Path(os.path.relpath(full, ROOT)).as_posix()
    return str(path)


def run_scale(scale: int, model: str | None, images: list[tuple[str, Path]], crop: int,
              threads: int | None) -> tuple[Path, list[tuple[CropResult, list[np.ndarray]]]]:
    path = resolve_model(model, scale, "cpu")
    up = Upscaler(path, provider="cpu", threads=threads)
    if up.scale != scale:
        raise SystemExit(f"--model for x{scale} is a x{up.scale} model: {path}")
    side = crop // scale * scale
    rows = []
    for name, file in images:
        with Image.open(file) as img:
            lr, hr_img = degrade.make_pair(img, scale)
        hr = np.asarray(hr_img)
        bic = np.asarray(degrade.bicubic_upscale(lr, scale))
        sr = np.asarray(up.upscale(lr).convert("RGB"))
        box = detail_window(hr, side, scale)
        crops = [crop_arr(a, box) for a in (bic, sr, hr)]
        r = CropResult(
            scale=scale, image=name, size=hr_img.size, box=box,
            lr_box=tuple(v // scale for v in box),  # type: ignore[arg-type]
            bicubic_crop_psnr_y=metrics.psnr_y(crops[0], crops[2], border=0),
            sronnx_crop_psnr_y=metrics.psnr_y(crops[1], crops[2], border=0),
            bicubic_psnr_y=metrics.psnr_y(bic, hr, border=scale),
            sronnx_psnr_y=metrics.psnr_y(sr, hr, border=scale),
            model=display_path(path),
        )
        rows.append((r, crops))
    return path, rows


def save_png(fig: Image.Image, path: Path) -> int:
    fig.save(path, optimize=True)
    return path.stat().st_size


def print_table(results: list[CropResult]) -> None:
    head = (f"{'scale':>5}  {'image':<20} {'crop box (l,t,r,b)':<22} "
            f"{'crop bic':>8} {'crop sr':>8} {'gain':>6}   {'img bic':>8} {'img sr':>8} "
            f"{'gain':>6}")
    print(head)
    print("-" * len(head))
    for r in results:
        box = ",".join(map(str, r.box))
        print(f"{'x' + str(r.scale):>5}  {r.image:<20} {box:<22} "
              f"{r.bicubic_crop_psnr_y:8.2f} {r.sronnx_crop_psnr_y:8.2f} "
              f"{r.sronnx_crop_psnr_y - r.bicubic_crop_psnr_y:+6.2f}   "
              f"{r.bicubic_psnr_y:8.2f} {r.sronnx_psnr_y:8.2f} "
              f"{r.sronnx_psnr_y - r.bicubic_psnr_y:+6.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, nargs="+", default=DEFAULT_DATA,
                    help="folders of HR photos (default: ../shared/data/test/BSD100)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="output folder (default: bench/results/crops)")
    ap.add_argument("--images-per-scale", type=int, default=3, help="rows per figure (3)")
    ap.add_argument("--scales", type=int, nargs="+", default=list(SCALES),
                    choices=SCALES, help="scales (2 3 4)")
    ap.add_argument("--model", action="append", default=[], metavar="SCALE=NAME|FILE",
                    help="model for a scale instead of the shipped CPU default "
                         "(repeatable, e.g. --model 3=rsp-x3 --model 4=my.onnx)")
    ap.add_argument("--crop", type=int, default=96,
                    help="HR crop side in pixels, rounded down to a multiple of the scale (96)")
    ap.add_argument("--zoom", type=int, default=3, help="nearest-neighbour enlargement (3)")
    ap.add_argument("--seed", type=int, default=0, help="image choice (0)")
    ap.add_argument("--threads", type=int, default=1,
                    help="ONNX Runtime intra-op threads (1; 0 = its default)")
    args = ap.parse_args(argv)
    if args.images_per_scale < 1 or args.zoom < 1 or args.crop < 2 * max(args.scales):
        raise SystemExit("--images-per-scale and --zoom must be >= 1, --crop >= 2 x scale")
    overrides = parse_models(args.model)
    unknown = set(overrides) - set(args.scales)
    if unknown:
        raise SystemExit(f"--model given for scale(s) not run: {sorted(unknown)}")

    t0 = time.perf_counter()
    chosen = choose_images(list_images(args.data), args.scales, args.images_per_scale,
                           args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    results: list[CropResult] = []
    figures: dict[str, Any] = {}
    models: dict[str, Any] = {}
    for scale in args.scales:
        path, rows = run_scale(scale, overrides.get(scale), chosen[scale], args.crop,
                               args.threads or None)
        label = model_label(path)
        fig = make_figure(scale, label, rows, args.zoom)
        png = args.out / f"crops_x{scale}.png"
        size = save_png(fig, png)
        figures[str(scale)] = {"file": png.name, "pixels": list(fig.size), "bytes": size}
        models[str(scale)] = {"name": label, "file": display_path(path),
                              "default": scale not in overrides}
        results += [r for r, _ in rows]

    report = {
        "what": "crops of bicubic | sronnx | original (HR) on real photos, per scale",
        "command": "python " + " ".join([display_path(Path(__file__))] + (
            sys.argv[1:] if argv is None else argv)),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "protocol": {
            "pair": "sronnx.imaging.degrade.make_pair (crop to a multiple of the scale, "
                    "antialiased bicubic downscale)",
            "bicubic": "sronnx.imaging.degrade.bicubic_upscale",
            "sronnx": "sronnx.engine.upscaler.Upscaler(model, provider='cpu').upscale(lr)",
            "psnr_y": "sronnx.imaging.metrics.psnr_y on 8-bit RGB; whole image: border = scale; "
                      "crop: border 0 (the crop lies inside the scored area)",
            "crop": "largest sum of HR gradient magnitude on Y over a grid of candidate "
                    "windows (stride crop / 4, corners on the scale's grid)",
        },
        "data": [display_path(p) for p in args.data],
        "seed": args.seed,
        "images_per_scale": args.images_per_scale,
        "crop": args.crop,
        "zoom": args.zoom,
        "models": models,
        "figures": figures,
        "results": [asdict(r) for r in results],
    }
    (args.out / "crops.json").write_text(json.dumps(report, indent=2) + "\n")

    print_table(results)
    print()
    for s, f in figures.items():
        print(f"x{s}: {models[s]['name']} ({models[s]['file']}) -> "
              f"{display_path(args.out / f['file'])}  {f['pixels'][0]}x{f['pixels'][1]}, "
              f"{f['bytes'] / 1024:.0f} KiB")
    print(f"{display_path(args.out / 'crops.json')}  ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
