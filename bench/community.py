"""Community checkpoints through spandrel: how each architecture exports, its parity, and
the speed of one 640x360 input on ONNX Runtime (CPU) against spandrel's PyTorch model.

Random weights (speed does not depend on them), seeded; settings are each architecture's
standard ones where a 640x360 input runs in reasonable time on the 2-core CPU this was run
on, otherwise smaller ones (the `settings` column says which). Per architecture:
  export     `sronnx.community.export_community` (the CLI's path) and the shape it chose;
  parity     max abs difference against spandrel's PyTorch model at three sizes the size
             rule takes (from the export) and on the 640x360 input itself;
  ort_run    one session.run on the whole 640x360 image (padded to the size rule; for a
             fixed-size export: not possible, left empty);
  ort_tiled  sronnx's `Upscaler` with the model's defaults (tiles, mirrored border, range
             clamp), on the same image as uint8 RGB;
  torch      spandrel's model under torch.no_grad on the same input, same thread count.
Medians of `--rounds` runs after one warm-up. Writes bench/results/community/community.json
and .md.

Run: nice -n 10 python bench/community.py [--rounds 3] [--only SPAN,SAFMN]
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sronnx import community
from sronnx.benchmark import version_of
from sronnx.engine import Upscaler
from sronnx.runtime import load_model

OUT = Path(__file__).resolve().parent / "results" / "community"
THREADS = 2
H, W = 360, 640


def models() -> dict[str, tuple[str, object]]:
    """name -> (settings in words, builder)."""
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.DAT import DAT
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.OmniSR import OmniSR
    from spandrel.architectures.PLKSR import PLKSR
    from spandrel.architectures.RCAN import RCAN
    from spandrel.architectures.SAFMN import SAFMN
    from spandrel.architectures.SPAN import SPAN
    from spandrel.architectures.SwinIR import SwinIR

    return {
        "Compact": ("standard: realesr-animevideov3 (64nf, 16 convs, PReLU) x4",
                    lambda: Compact(num_feat=64, num_conv=16, upscale=4)),
        "SPAN": ("standard: SPAN x4 (48 features)",
                 lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=48, upscale=4)),
        "SAFMN": ("standard: SAFMN x4 (36 dim, 8 blocks)",
                  lambda: SAFMN(dim=36, n_blocks=8, upscaling_factor=4)),
        "OmniSR": ("standard: OmniSR x4 (64 features, 5 residual blocks, window 8)",
                   lambda: OmniSR(num_feat=64, block_num=1, window_size=8, res_num=5,
                                  up_scale=4)),
        "PLKSR": ("smaller: PLKSR-tiny-like x4 (64 dim, 12 blocks, kernel 13); standard "
                  "is 28 blocks, kernel 17",
                  lambda: PLKSR(dim=64, n_blocks=12, kernel_size=13, upscaling_factor=4)),
        "ESRGAN": ("smaller: RRDB x4 (64nf, 2 blocks); standard is 23 blocks (x4plus) or 6 "
                   "(anime_6B)",
                   lambda: ESRGAN(num_filters=64, num_blocks=2, scale=4)),
        "RCAN": ("smaller: RCAN x4 (64 feats, 2 groups x 4 blocks); standard is 10 x 20",
                 lambda: RCAN(scale=4, n_resgroups=2, n_resblocks=4, n_feats=64)),
        "SwinIR": ("smaller: lightweight SwinIR x2 (60 dim, window 8, 2 stages of depth 2); "
                   "standard lightweight is 4 stages of depth 6",
                   lambda: SwinIR(img_size=64, embed_dim=60, depths=[2, 2], num_heads=[6, 6],
                                  window_size=8, upscale=2, upsampler="pixelshuffledirect",
                                  mlp_ratio=2.0, img_range=1.0)),
        "DAT": ("smaller: DAT x2 (60 dim, 1 group of depth 2, split 8x32); DAT-light is "
                "1 group of depth 18",
                lambda: DAT(img_size=64, embed_dim=60, split_size=[8, 32], depth=[2],
                            num_heads=[6], expansion_factor=2.0, upscale=2)),
    }


def _median_time(fn, rounds: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def machine() -> dict[str, str]:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in text.splitlines()
                     if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = "unknown"
    return {"cpu": model, "threads": str(THREADS),
            "date": _dt.date.today().isoformat(), "torch": torch.__version__,
            "onnxruntime": __import__("onnxruntime").__version__,
            "spandrel": version_of("spandrel") or "unknown"}


def bench_one(name: str, words: str, make, rounds: int, folder: Path) -> dict:
    torch.manual_seed(0)
    model = make().eval()
    ckpt = folder / f"{name}.pth"
    torch.save(model.state_dict(), ckpt)
    cm = community.load_community(ckpt)
    t = time.perf_counter()
    result = community.export_community(cm, folder / f"{name}.onnx")
    export_s = time.perf_counter() - t
    card, d = result.card, result.descriptor
    row = {"arch": name, "settings": words, "tags": list(cm.spandrel.tags),
           "scale": cm.scale, "params": card.params, "export_shape": card.export_shape,
           "exporter": card.exporter, "batch": card.batch,
           "rejected": result.tries, "parity_max_abs": card.parity_max_abs,
           "parity_sizes": list(card.parity_sizes or ()), "receptive_field": d.receptive_field,
           "export_s": round(export_s, 1)}
    rng = np.random.default_rng(0)
    img = (rng.random((H, W, 3)) * 255).astype(np.uint8)
    ph, pw = d.size.get_padding(H, W)
    x = img.astype(np.float32).transpose(2, 0, 1)[None] / 255
    xp = np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect")
    with torch.no_grad():
        ref = cm.reference(torch.from_numpy(xp)).numpy()
    with torch.no_grad():
        torch_s = _median_time(lambda: cm.reference(torch.from_numpy(xp)), rounds)
    row["torch_s"] = round(torch_s, 3)
    if d.fixed_size is None:
        loaded = load_model(result.path, threads=THREADS)
        feed = {loaded.input_name: xp}
        got = loaded.session.run(None, feed)[0]
        row["parity_640x360"] = float(f"{float(np.max(np.abs(got - ref))):.3g}")
        row["ort_run_s"] = round(_median_time(lambda: loaded.session.run(None, feed), rounds), 3)
        row["ratio_run"] = round(row["torch_s"] / row["ort_run_s"], 2)
    up = Upscaler(result.path, threads=THREADS)
    row["tile"] = up.tile
    try:
        row["ort_tiled_s"] = round(_median_time(lambda: up.upscale_array(img), rounds), 3)
        row["ratio_tiled"] = round(row["torch_s"] / row["ort_tiled_s"], 2)
    except ValueError as exc:  # a size rule the runtime of this branch does not pad yet
        row["ort_tiled_s"] = None
        row["tiled_note"] = str(exc).splitlines()[0][:160]
    return row


def write(rows: list[dict], info: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "community.json").write_text(json.dumps({"machine": info, "rows": rows},
                                                   indent=2) + "\n")
    lines = ["# Community checkpoints (spandrel): export and 640x360 speed, CPU",
             "",
             f"Machine: {info['cpu']}, {info['threads']} threads; {info['date']}; torch "
             f"{info['torch']}, onnxruntime {info['onnxruntime']}, spandrel "
             f"{info['spandrel']}. Random weights. Times: median of the rounds, seconds for "
             "one 640x360 RGB input.",
             "",
             "| arch | settings | export shape | parity max abs (3 sizes / 640x360) | ORT "
             "whole image s | ORT Upscaler s | PyTorch s | PyTorch / ORT |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['arch']} | {r['settings']} | failed: {r['error']} | | | | | |")
            continue
        shape = r["export_shape"] + (f", batch {r['batch']}" if r["batch"] != "dynamic"
                                     else "") + f" ({r['exporter']})"
        par = f"{r['parity_max_abs']:.1e} / {r.get('parity_640x360', float('nan')):.1e}"
        run = f"{r['ort_run_s']:.2f}" if r.get("ort_run_s") else "-"
        tiled = f"{r['ort_tiled_s']:.2f}" if r.get("ort_tiled_s") else "-"
        ratio = f"{r['ratio_run']:.2f}x" if r.get("ratio_run") else "-"
        if r.get("ratio_tiled"):
            ratio += f" (tiled {r['ratio_tiled']:.2f}x)"
        lines.append(f"| {r['arch']} | {r['settings']} | {shape} | {par} | {run} | {tiled} | "
                     f"{r['torch_s']:.2f} | {ratio} |")
    lines.append("")
    lines.append("PyTorch / ORT above 1: ONNX Runtime is faster. Rejected export candidates "
                 "(and why) are in community.json.")
    (OUT / "community.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    info = machine()
    rows = []
    wanted = [n for n in args.only.split(",") if n]
    with tempfile.TemporaryDirectory() as tmp:
        for name, (words, make) in models().items():
            if wanted and name not in wanted:
                continue
            t = time.perf_counter()
            try:
                row = bench_one(name, words, make, args.rounds, Path(tmp))
            except Exception as exc:  # noqa: BLE001 - one architecture must not stop the rest
                row = {"arch": name, "settings": words,
                       "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
            row["bench_s"] = round(time.perf_counter() - t, 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
            write(rows, info)


if __name__ == "__main__":
    main()
