"""Peak memory of `sronnx upscale` on a 6000x6000 image at x2 on the CPU (a recipe, not a test).

Generates a 6000x6000 RGB PNG (smooth gradients, rings and noise, so it compresses like a
photo rather than like flat colour), then for each --tile value runs the real CLI in a fresh
subprocess and reports that run's peak resident memory: each measurement runs in its own
wrapper process whose only child is the CLI, read with
resource.getrusage(RUSAGE_CHILDREN).ru_maxrss. The 12000x12000 output alone is 432 MB; the
budget is 2.5 GB, PNG encoding included.

    .venv/bin/python bench/memory_6000.py                 # shipped x2 model, or an export
    .venv/bin/python bench/memory_6000.py --model M.onnx --tiles 128,512 --size 6000
    .venv/bin/python bench/memory_6000.py --modes RGBA,L --tiles 512   # the alpha, grey paths

Without --model it uses the shipped x2 model when there is one, else exports an untrained
`rsp` (the default architecture's size; weights do not change memory) with torch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BUDGET_MB = 2500
WRAPPER = """
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)
"""


def make_image(path: Path, size: int, mode: str = "RGB") -> None:
    """A photo-like size x size PNG (RGB, RGBA with a soft alpha ramp, or L)."""
    from PIL import Image

    from sronnx.io import write_png

    rng = np.random.default_rng(0)
    img = np.empty((size, size, 3), dtype=np.uint8)
    x = np.linspace(0, 1, size, dtype=np.float32)
    for y0 in range(0, size, 500):
        y = np.linspace(y0 / size, min(y0 + 500, size) / size, min(500, size - y0),
                        endpoint=False, dtype=np.float32)[:, None]
        r = np.sqrt((x[None, :] - 0.5) ** 2 + (y - 0.5) ** 2)
        for ch, phase in enumerate((0.0, 2.0, 4.0)):
            v = 0.5 + 0.35 * np.sin(40 * r + phase) * np.cos(7 * x[None, :] + 3 * y)
            v += rng.normal(0, 0.03, v.shape).astype(np.float32)
            img[y0 : y0 + v.shape[0], :, ch] = np.clip(v * 255, 0, 255).astype(np.uint8)
    if mode == "RGBA":
        ramp = np.clip(np.abs(np.linspace(-3, 3, size, dtype=np.float32)) - 1, 0, 1)
        alpha = np.broadcast_to((255 * (1 - ramp)).astype(np.uint8)[None, :], (size, size))
        img = np.dstack([img, alpha])
    elif mode == "L":
        img = np.ascontiguousarray(img[:, :, 1])
    with open(path, "wb") as fh:
        write_png(fh, img, compress_level=1)
    Image.open(path).verify()


def pick_model(folder: Path, spec: str) -> Path:
    from sronnx.core import resolve_model

    try:
        return resolve_model(None, 2, "cpu")  # what `sronnx upscale` uses on this machine
    except LookupError:
        pass
    import torch

    from sronnx.archs import create_model, receptive_field
    from sronnx.export import build_card, export_onnx

    torch.manual_seed(0)
    model = create_model(spec, 2).eval()
    path = folder / "model_x2.onnx"
    export_onnx(model, path, card=build_card(model, trained=False),
                descriptor=model.descriptor(receptive_field(model)))
    return path


def measure(inp: Path, out: Path, model: Path, tile: int) -> dict:
    cmd = [sys.executable, "-c", "import sys; from sronnx.cli import main; sys.exit(main())",
           "upscale", str(inp), "-o", str(out), "--model", str(model), "--provider", "cpu",
           "--tile", str(tile), "--overwrite", "--quiet"]
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"wrapper failed: {res.stderr}")
    maxrss_kb, rc = (int(v) for v in res.stdout.split())
    return {"tile": tile, "rc": rc, "peak_rss_mb": round(maxrss_kb / 1024, 1),
            "seconds": round(seconds, 1), "stderr": res.stderr.strip()[-500:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--spec", default="rsp", help="architecture exported when no model is given")
    ap.add_argument("--tiles", default="128,512")
    ap.add_argument("--size", type=int, default=6000)
    ap.add_argument("--modes", default="RGB", help="comma-separated: RGB, RGBA, L")
    ap.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        folder = Path(tmp)
        model = args.model or pick_model(folder, args.spec)
        print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs, python {platform.python_version()}")
        print(f"model: {model.name}; x2 on CPU; budget {BUDGET_MB} MB of peak RSS")
        rows, ok = [], True
        for mode in args.modes.split(","):
            inp = folder / mode / f"gen_{args.size}_{mode}.png"
            inp.parent.mkdir()
            make_image(inp, args.size, mode)
            print(f"input: {args.size}x{args.size} {mode} PNG ({inp.stat().st_size / 1e6:.1f} MB)")
            for tile in (int(t) for t in args.tiles.split(",")):
                r = measure(inp, folder / "out", model, tile)
                out = folder / "out" / inp.name
                r["mode"], r["output"] = mode, _describe(out) if out.is_file() else None
                rows.append(r)
                good = r["rc"] == 0 and r["peak_rss_mb"] < BUDGET_MB and r["output"] is not None
                ok &= good
                print(f"  {mode:4s} --tile {tile:4d}: peak RSS {r['peak_rss_mb']:7.1f} MB, "
                      f"{r['seconds']:6.1f} s, exit {r['rc']}, output {r['output']}  "
                      f"{'OK' if good else 'OVER BUDGET OR FAILED'}")
                if r["rc"] != 0:
                    print(r["stderr"])
        print(json.dumps({"size": args.size, "model": model.name, "budget_mb": BUDGET_MB,
                          "ok": ok, "runs": [{k: v for k, v in r.items() if k != "stderr"}
                                             for r in rows]}))
    return 0 if ok else 1


def _describe(path: Path) -> str:
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        im = Image.open(path)
    with im:
        return f"{im.size[0]}x{im.size[1]} {im.mode} ({path.stat().st_size / 1e6:.0f} MB)"


if __name__ == "__main__":
    sys.exit(main())
