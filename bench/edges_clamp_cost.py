"""What the mirrored edges and the local range clamp (issue 11) cost, side by side in one run.

    python bench/edges_clamp_cost.py [--images 20] [--rounds 5] [--out FILE]

The CPU default of each scale through the Upscaler, on BSD100 photos cut to 640x360 (the
end-to-end benchmark's inputs) and on a 640x360 screenshot-like image (flat panels, pure
green, magenta and cyan buttons, text lines), three ways, interleaved image by image: as
shipped (mirrored edges + range clamp), with the edges only, and with neither (the model's
zero padding, as before). Prints the median seconds per image of each and their ratios, how
many output pixels the clamp changed on the photos and on the screenshot, and the mean PSNR-Y
on Set5 and Set14 as shipped and with neither (the bench protocol's `scale` border cropped,
and the whole image: the edges are where they differ).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TEST = ROOT.parent / "shared" / "data" / "test"
DATA = TEST / "BSD100"


def quality(ways: dict, scale: int) -> str:
    """Mean PSNR-Y on Set5 and Set14 of each way, protocol border and whole image."""
    from sronnx.benchmark import load_dataset
    from sronnx.imaging import degrade, metrics

    parts = []
    for name in ("Set5", "Set14"):
        data = load_dataset(TEST / name)
        for key in ("shipped", "neither"):
            cut, whole = [], []
            for _, arr in data.images:
                lr, hr = degrade.make_pair(Image.fromarray(arr), scale)
                sr, hr = ways[key].upscale_array(np.asarray(lr)), np.asarray(hr)
                cut.append(metrics.psnr_y(sr, hr, border=scale))
                whole.append(metrics.psnr_y(sr, hr, border=0))
            parts.append(f"{name} {key} {np.mean(cut):.3f} (whole image {np.mean(whole):.3f})")
    return "; ".join(parts)


def photos(count: int) -> list[np.ndarray]:
    out = []
    for p in sorted(DATA.glob("*.png"))[:count]:
        img = Image.open(p).convert("RGB").resize((640, 427), Image.Resampling.BICUBIC)
        out.append(np.asarray(img)[33:393].copy())
    return out


def screenshot() -> np.ndarray:
    img = np.full((360, 640, 3), 245, dtype=np.uint8)
    img[:40] = (40, 60, 90)  # a title bar
    img[60:340, 20:200] = (230, 230, 235)  # a side panel
    # saturated buttons: the colours the models drift on by one level (bench/int8_faithful)
    img[80:140, 40:180] = (0, 255, 0)
    img[160:220, 40:180] = (255, 0, 255)
    img[240:300, 40:180] = (0, 255, 255)
    rng = np.random.default_rng(0)
    for y in range(70, 330, 14):  # lines of "text"
        for x0 in range(220, 600, 60):
            w = int(rng.integers(20, 55))
            img[y : y + 8, x0 : x0 + w] = 30
    return img


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    from sronnx.benchmark import machine_info
    from sronnx.core import default_model_name, resolve_model
    from sronnx.engine import Upscaler
    from sronnx.runtime import load_model

    info = machine_info()
    lines = [f"# python bench/edges_clamp_cost.py {' '.join(sys.argv[1:])} "
             f"({time.strftime('%Y-%m-%d', time.gmtime())}; {info['cpu_model']}, "
             f"{info['cores_physical']} cores; ONNX Runtime CPU, 2 threads; median over "
             f"{args.rounds} rounds of the per-image total)"]
    pics = photos(args.images)
    shot = screenshot()
    for scale in (2, 3, 4):
        name = default_model_name(scale, "cpu")
        loaded = load_model(resolve_model(name), "cpu", 2)
        ways = {"shipped": Upscaler(loaded),
                "edges only": Upscaler(loaded, clamp_range=False),
                "neither": Upscaler(loaded, border=0, clamp_range=False)}
        totals: dict[str, list[float]] = {k: [] for k in ways}
        for _ in range(args.rounds):
            for key, up in ways.items():
                t = time.perf_counter()
                for arr in pics:
                    up.upscale_array(arr)
                totals[key].append(time.perf_counter() - t)
        med = {k: float(np.median(v)) / len(pics) for k, v in totals.items()}
        changed_photo = sum(int((ways["shipped"].upscale_array(a)
                                 != ways["edges only"].upscale_array(a)).any(axis=2).sum())
                            for a in pics[:5])
        s_out, e_out = ways["shipped"].upscale_array(shot), ways["edges only"].upscale_array(shot)
        changed_shot = int((s_out != e_out).any(axis=2).sum())
        lines.append(
            f"x{scale} {name}: {1000 * med['shipped']:.1f} ms per 640x360 photo as shipped, "
            f"{1000 * med['edges only']:.1f} edges only, {1000 * med['neither']:.1f} neither: "
            f"shipped/neither {med['shipped'] / med['neither']:.3f}, range clamp "
            f"{med['shipped'] / med['edges only']:.3f}, edges "
            f"{med['edges only'] / med['neither']:.3f}; "
            f"output pixels the clamp changed: {changed_photo} of "
            f"{5 * 360 * 640 * scale * scale} on 5 photos, {changed_shot} of "
            f"{360 * 640 * scale * scale} on the screenshot")
        print(lines[-1], flush=True)
        lines.append(f"x{scale} {name} PSNR-Y: {quality(ways, scale)}")
        print(lines[-1], flush=True)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
