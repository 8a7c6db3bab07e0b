"""The folder job on a GPU against the machine's decode+encode limit: one prepared script for
a lent GPU (issue 26), every figure side by side in one run.

    python bench/gpu_folder.py [--provider cuda] [--scales 2,4] [--count 1000]
                               [--sets Set14,BSD100] [--cudnn-search unset,HEURISTIC]
                               [--data ../shared/data] [--out TMP/gpu_folder]

Folders (PNG in, PNG out; speed only, so the test sets serve as they are): Set14, BSD100
and a folder of `--count` images made from the training images (each as it is, then under
the square's other 7 symmetries: both orientations, as in people's folders). For each
folder and scale:
- `sronnx upscale FOLDER -o OUT --scale S --provider P --json REPORT` as users run it (a
  subprocess): images/s, ms per image of each stage from the report (decode, infer,
  encode: sums over files, which overlap in time), and the GPU's busy % over the run
  (`nvidia-smi --query-gpu=utilization.gpu` every 100 ms; absent without nvidia-smi);
- with each `--cudnn-search` setting (SRONNX_CUDNN_SEARCH: unset, i.e. ONNX Runtime's
  EXHAUSTIVE, which times every algorithm for each new input shape, and HEURISTIC);
- the machine's decode+encode limit: what the same files cost outside the model, measured
  one file at a time in this process (sronnx's reader on the input, sronnx's PNG writer on
  the run's own output, at the run's compress level 1), spread over every core:
  cores / (decode + encode seconds per image). The target: the folder job at >= 90% of it.
Prints one line per run and writes bench.json (and the runs' reports) into --out; exits 1
when a run failed, 2 for an unknown provider. With the defaults: 3 folders x 2 scales x 2
cuDNN settings = 12 runs. `--provider cpu --scales 2 --count 20 --sets Set5 --cudnn-search
unset` tries the script on a CPU in a minute (the full default set takes tens of minutes on
2 cores).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def train_folder(train: Path, folder: Path, count: int) -> Path:
    """`count` PNGs made from the images under `train`: each image as it is, then mirrored,
    flipped and turned (the 8 symmetries of the square), image after image, until there are
    enough (291 training images give up to 2,328 distinct files, of both orientations)."""
    shutil.rmtree(folder, ignore_errors=True)  # a reused --out: exactly `count` files
    folder.mkdir(parents=True)
    sources = sorted(p for p in train.rglob("*") if p.suffix.lower() in (".png", ".bmp",
                                                                         ".jpg", ".jpeg"))
    if not sources:
        raise SystemExit(f"no images under {train}")
    ops = [None, *Image.Transpose]
    made = 0
    for op in ops:
        for src in sources:
            if made == count:
                return folder
            img = Image.open(src).convert("RGB")
            (img if op is None else img.transpose(op)).save(folder / f"{made:04d}.png")
            made += 1
    return folder


class GpuBusy:
    """Samples `nvidia-smi`'s utilization.gpu every 100 ms while in the `with` block; `mean`
    is the average % (None without nvidia-smi or samples)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.proc: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None

    def __enter__(self) -> GpuBusy:
        if shutil.which("nvidia-smi"):
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 "-lms", "100"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.samples.append(float(line.split(",")[0]))
            except ValueError:
                pass

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.samples)) if self.samples else None


def sronnx_run(folder: Path, out: Path, report: Path, scale: int, provider: str,
               search: str | None = None) -> dict:
    env = dict(os.environ)
    env.pop("SRONNX_CUDNN_SEARCH", None)
    if search:
        env["SRONNX_CUDNN_SEARCH"] = search
    cmd = [sys.executable, "-m", "sronnx", "upscale", str(folder), "-o", str(out), "--scale",
           str(scale), "--provider", provider, "--quiet", "--overwrite", "--json", str(report)]
    with GpuBusy() as busy:
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
        wall = time.perf_counter() - t
    if res.returncode != 0:
        return {"error": (res.stderr or res.stdout).strip().splitlines()[-1:]}
    files = json.loads(report.read_text())["files"]
    done = [f for f in files if f.get("status") == "done"]
    stages = {k: sum(f["stages"].get(k, 0.0) for f in done) / max(len(done), 1) * 1000
              for k in ("decode", "infer", "encode")}
    return {"files": len(done), "wall_s": wall, "images_per_s": len(done) / wall,
            "stage_ms_per_image": stages, "gpu_busy_pct": busy.mean}


def coding_limit(folder: Path, out: Path, sample: int = 100) -> dict:
    """Decode (input) + encode (the run's output) seconds per image, one file at a time, on
    up to `sample` files; the limit is every core doing only that."""
    from sronnx.io import read_image, write_png

    pairs = [(p, out / p.name) for p in sorted(folder.glob("*.png")) if (out / p.name).exists()]
    pairs = pairs[:sample]
    dec = enc = 0.0
    for src, made in pairs:
        t = time.perf_counter()
        read_image(src)
        dec += time.perf_counter() - t
        arr = np.asarray(Image.open(made))
        t = time.perf_counter()
        write_png(io.BytesIO(), arr, compress_level=1)
        enc += time.perf_counter() - t
    n = max(len(pairs), 1)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    per_image = (dec + enc) / n
    return {"files": len(pairs), "decode_ms": dec / n * 1000, "encode_ms": enc / n * 1000,
            "cores": cores, "images_per_s": cores / per_image if per_image else None}


def _one(folder: Path, work: Path, args: argparse.Namespace, key: str, scale: int,
         search: str | None) -> dict:
    """One folder job and its limit; prints its line."""
    tag = "".join(c if c.isalnum() else "_" for c in key)
    out = work / f"out_{tag}"
    run = sronnx_run(folder, out, args.out / f"report_{tag}.json", scale, args.provider,
                     search)
    if "error" in run:
        print(f"{key}: sronnx upscale failed: {run['error']}", flush=True)
        return run
    limit = coding_limit(folder, out)
    run["limit"] = limit
    share = run["images_per_s"] / limit["images_per_s"] if limit["images_per_s"] else None
    run["of_limit"] = share
    st = run["stage_ms_per_image"]
    busy = run["gpu_busy_pct"]
    print(f"{key}: {run['files']} files, {run['images_per_s']:.1f} images/s; stage sums per "
          f"image: decode {st['decode']:.1f} ms, infer {st['infer']:.1f} ms, encode "
          f"{st['encode']:.1f} ms; GPU busy {'n/a' if busy is None else f'{busy:.0f}%'}; "
          f"decode+encode limit {limit['images_per_s']:.1f} images/s "
          f"({limit['decode_ms']:.1f} + {limit['encode_ms']:.1f} ms x {limit['cores']} "
          f"cores): {share:.0%} of it (target >= 90%)", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--provider", default="cuda", help="sronnx's --provider (default cuda)")
    ap.add_argument("--scales", default="2,4", help="comma-separated scales (default 2,4)")
    ap.add_argument("--count", type=int, default=1000,
                    help="files in the folder made from the training images (default 1000)")
    ap.add_argument("--sets", default="Set14,BSD100",
                    help="comma-separated folders under DATA/test (default Set14,BSD100)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                    help="holds train/ and test/ (default ../shared/data)")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "gpu_folder",
                    help="bench.json, the reports and the work files (default "
                         "TMP/gpu_folder)")
    ap.add_argument("--cudnn-search", default="unset,HEURISTIC",
                    help="comma-separated SRONNX_CUDNN_SEARCH settings to run each folder "
                         "with: unset (ONNX Runtime's own, EXHAUSTIVE), EXHAUSTIVE, "
                         "HEURISTIC, DEFAULT (default: unset,HEURISTIC)")
    args = ap.parse_args()
    from sronnx.runtime import PROVIDERS

    if args.provider not in PROVIDERS:
        print(f"--provider {args.provider}: expected one of {', '.join(PROVIDERS)}",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    import onnxruntime as ort

    folders = {name: args.data / "test" / name for name in args.sets.split(",") if name}
    work = args.out / "work"
    folders[f"{args.count} training images"] = train_folder(args.data / "train",
                                                           work / "train", args.count)
    gpu = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("nvidia-smi") else "no nvidia-smi"
    head = (f"# python bench/gpu_folder.py {' '.join(sys.argv[1:])}   "
            f"({time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, "
            f"{platform.node()}, {os.cpu_count()} CPUs, {gpu}, onnxruntime {ort.__version__} "
            f"{ort.get_available_providers()})")
    print(head, flush=True)
    results: dict = {"header": head, "runs": {}}
    for name, folder in folders.items():
        for scale in (int(s) for s in args.scales.split(",")):
            for search in args.cudnn_search.split(","):
                search = None if search.strip().lower() in ("", "unset") else search
                key = f"{name} x{scale}" + (f" [cuDNN {search}]" if search else "")
                run = _one(folder, work, args, key, scale, search)
                results["runs"][key] = run
    (args.out / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    failed = [k for k, r in results["runs"].items() if "error" in r]
    if failed:
        print(f"{len(failed)} of {len(results['runs'])} run(s) failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
