"""ONNX Runtime providers side by side in one run: each shipped model's inference, and the
folder job of `bench/e2e.py` through `sronnx upscale --provider`, on every provider asked
for, interleaved round by round so that a busy machine's drift falls on all alike.

    python bench/providers.py --providers cpu,openvino [--models rsp-x3-int8,rsp-x3]
                              [--images 20] [--rounds 3] [--json FILE]
                              [--other-python LABEL=PYTHON ...]

Run from an environment whose onnxruntime offers every provider named (onnxruntime-openvino
offers cpu and openvino: README, Providers). Prints, per model, the median milliseconds of
one 1920x1080 output on each provider and each one's speed against the first; then the
folder (20 BSD100 photos at 640x360, x3 to 1920x1080, PNG in and out, the shipped x3 default
of each provider unless --folder-model says) in images per second and against the first.
--other-python adds the CPU provider of another interpreter (another venv, e.g. the main one
with plain onnxruntime) under LABEL: in each round of a model, one subprocess that opens the
model there and times it the same way; in each folder round, its `sronnx upscale --provider
cpu`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e import make_inputs  # noqa: E402 - the e2e bench's own folder of inputs

from sronnx.benchmark import default_input_size, describe, machine_info, time_calls  # noqa: E402
from sronnx.core import resolve_model, shipped_models  # noqa: E402
from sronnx.runtime import (  # noqa: E402
    defaults_key,
    load_model,
    provider_unavailable_reason,
)

_OTHER = """
import sys
import numpy as np
from sronnx.benchmark import default_input_size, time_calls
from sronnx.runtime import load_model
loaded = load_model(sys.argv[1], "cpu", int(sys.argv[3]) if sys.argv[3] != "None" else None)
w, h = default_input_size(int(sys.argv[2]))
x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
print(time_calls(lambda: loaded.run(x), warmup=1, repeats=3, min_time=0.0).p50 * 1000)
"""


def _other_ms(python: str, path: Path, scale: int, threads: int | None) -> float:
    """One round's median ms of the model on another interpreter's CPU provider."""
    out = subprocess.run([python, "-c", _OTHER, str(path), str(scale), str(threads)],
                         capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def model_rows(names: list[str], providers: list[str], threads: int | None, rounds: int,
               others: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
    """name -> provider (or `others` label) -> median ms of one 1080p output, `rounds`
    interleaved rounds of `time_calls` (each round's median; the median of those)."""
    out: dict[str, dict[str, float]] = {}
    others = others or {}
    for name in names:
        m = next(s for s in shipped_models() if s.name == name)
        w, h = default_input_size(m.scale)
        x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
        sessions = {p: load_model(m.path, p, threads) for p in providers}
        times: dict[str, list[float]] = {p: [] for p in [*providers, *others]}
        for _ in range(rounds):
            for p, loaded in sessions.items():
                t = time_calls(lambda loaded=loaded, x=x: loaded.run(x), warmup=1, repeats=3,
                               min_time=0.0)
                times[p].append(t.p50 * 1000)
            for label, python in others.items():
                times[label].append(_other_ms(python, m.path, m.scale, threads))
        out[name] = {p: float(np.median(v)) for p, v in times.items()}
        first = out[name][providers[0]]
        print(f"{name} ({m.precision}): " + ", ".join(
            f"{p} {ms:.0f} ms ({first / ms:.2f}x)" for p, ms in out[name].items()), flush=True)
    return out


def folder_rows(providers: list[str], model: str | None, images: int, rounds: int,
                tmp: Path, others: dict[str, str] | None = None) -> dict[str, dict]:
    """contender -> {"model", "seconds": [...], "images_per_s"}: `sronnx upscale --provider`
    on the folder for each provider (and `--provider cpu` under each of `others`: label ->
    another Python), each round running every contender once, in turn."""
    inputs = make_inputs(tmp / "in", images)
    runs = {p: (sys.executable, p) for p in providers}
    runs.update({label: (python, "cpu") for label, python in (others or {}).items()})
    files = {k: resolve_model(model, 3, defaults_key(p)) for k, (_, p) in runs.items()}
    seconds: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for k, (python, p) in runs.items():
            cmd = [python, "-m", "sronnx", "upscale", str(tmp / "in"), "-o",
                   str(tmp / f"out-{len(seconds[k])}-{p}"), "--model", str(files[k]),
                   "--provider", p, "--quiet", "--overwrite"]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True)
            seconds[k].append(time.perf_counter() - t0)
    res = {p: {"model": files[p].name, "seconds": s,
               "images_per_s": len(inputs) / float(np.median(s))} for p, s in seconds.items()}
    first = res[next(iter(runs))]["images_per_s"]
    print(f"folder: {len(inputs)} images 640x360 -> 1920x1080, PNG, median of {rounds} "
          "rounds: " + ", ".join(f"{p} ({r['model']}) {r['images_per_s']:.2f} img/s "
                                 f"({r['images_per_s'] / first:.2f}x)" for p, r in res.items()),
          flush=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--providers", default="cpu,openvino")
    ap.add_argument("--models", default="rsp-x2-int8,rsp-x2,rsp-x3-int8,rsp-x3,rsp-x4-int8,"
                                        "rsp-x4")
    ap.add_argument("--folder-model", default=None,
                    help="default: each provider's shipped x3 default")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--other-python", action="append", default=[], metavar="LABEL=PYTHON",
                    help="also run the folder with --provider cpu under this interpreter")
    args = ap.parse_args()
    others = dict(o.split("=", 1) for o in args.other_python)
    providers = [p.strip() for p in args.providers.split(",") if p.strip()]
    for p in providers:
        if p != "cpu" and (why := provider_unavailable_reason(p)):
            sys.exit(f"--providers {p}: {why}")
    threads = args.threads
    cpus = len(os.sched_getaffinity(0))
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "providers": providers,
                 "machine": describe(machine_info(threads or cpus)), "threads": threads}
    print(res["machine"], flush=True)
    names = [n for n in args.models.split(",") if n]
    res["models_ms"] = model_rows(names, providers, threads, args.rounds, others)
    with tempfile.TemporaryDirectory() as tmp:
        res["folder"] = folder_rows(providers, args.folder_model, args.images, args.rounds,
                                    Path(tmp), others)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
