"""The runtime matrix (`sronnx verify --runtimes all`) of every shipped model, float32 and
int8: per model and runtime the version, precision, max abs error and PSNR against the
PyTorch model (rebuilt from the file, or for int8 from its float32 twin), the bound, ok or
FAIL, and the median latency of one 1x3x360x640 input (3 runs after the accuracy run),
all runtimes measured side by side in the same process. Writes bench/results/runtimes.md
and runtimes.json, with the machine (lscpu model name, cores) and the date.

Run: nice -n 10 python bench/runtimes.py [--only rsp-x2,rsp-x3-int8] [--runtimes LIST]
         [--merge [--note TEXT]]

--merge adds the rows of the runtimes asked for to the committed runtimes.json (replacing
that runtime's earlier rows) instead of rewriting it, with this run's date, machine and
--note: for a runtime that needs another install, e.g. ort-openvino from a venv where
onnxruntime-openvino replaces onnxruntime (README, Providers).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from sronnx.core import shipped_models
from sronnx.export import (
    RUNTIMES,
    model_from_float32_twin,
    model_from_onnx,
    parse_runtimes,
    run_matrix,
)
from sronnx.runtime import load_model

OUT = Path(__file__).resolve().parent / "results"


def machine() -> str:
    """lscpu's model name and the number of cores this process may use."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(ln.split(":", 1)[1].strip() for ln in text.splitlines()
                    if ln.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        name = platform.processor() or "unknown CPU"
    return f"{name}, {len(os.sched_getaffinity(0))} cores"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="comma-separated shipped model names")
    ap.add_argument("--runtimes", default="all", help=f"of {', '.join(RUNTIMES)} (or all)")
    ap.add_argument("--merge", action="store_true",
                    help="add these runtimes' rows to the committed matrix")
    ap.add_argument("--note", default="", help="with --merge: what to say of this run")
    args = ap.parse_args()
    runtimes = parse_runtimes(args.runtimes)
    only = set(args.only.split(",")) if args.only else None
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    results = []
    started = time.time()
    for m in shipped_models():
        if only and m.name not in only:
            continue
        info = load_model(m.path).info
        precision = info.card.precision or "float32"
        if precision == "int8":
            model, _ = model_from_float32_twin(m.path, info)
        else:
            model = model_from_onnx(m.path, info)

        def reference(x: np.ndarray, model=model) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(x)).numpy()

        t0 = time.time()
        rows = run_matrix(m.path, runtimes, precision, reference, info.descriptor)
        print(f"{m.name} ({precision}): {time.time() - t0:.0f} s", flush=True)
        for r in rows:
            print(f"  {r.runtime:<15} {r.status:<13} {r.max_abs} {r.psnr_db} {r.latency_ms} "
                  f"{r.note[:100]}", flush=True)
        results.append({"model": m.name, "precision": precision,
                        "rows": [r.to_json() for r in rows]})
    meta = {"date": _dt.date.today().isoformat(), "machine": machine(),
            "python": platform.python_version(), "runtimes": runtimes,
            "seconds": round(time.time() - started)}
    if args.merge:
        meta, results = merged(json.loads((OUT / "runtimes.json").read_text()), meta,
                               results, args.note)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "runtimes.json").write_text(json.dumps({"meta": meta, "models": results},
                                                  indent=1) + "\n")
    (OUT / "runtimes.md").write_text(markdown(meta, results))
    print(f"wrote {OUT / 'runtimes.md'} and runtimes.json")


def merged(old: dict, meta: dict, results: list[dict], note: str) -> tuple[dict, list[dict]]:
    """The committed matrix `old` ({"meta", "models"}) with this run's rows (`results`, of
    the runtimes in `meta`) in place of those runtimes' earlier rows, each model's rows in
    `RUNTIMES` order; its meta keeps the first run's and lists this one under "added"."""
    ran = set(meta["runtimes"])
    order = {r: k for k, r in enumerate(RUNTIMES)}
    models = {res["model"]: res for res in old["models"]}
    for res in results:
        base = models.setdefault(res["model"], {**res, "rows": []})
        rows = [r for r in base["rows"] if r["runtime"] not in ran] + res["rows"]
        base["rows"] = sorted(rows, key=lambda r: order.get(r["runtime"], len(order)))
    first = old["meta"]
    added = [a for a in first.get("added", []) if not ran & set(a["runtimes"])]
    first["added"] = [*added, {**meta, "note": note}]
    return first, list(models.values())


def _num(v, fmt: str) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return "inf" if v == math.inf else format(v, fmt)


def markdown(meta: dict, results: list[dict]) -> str:
    """The results as a Markdown table per model, plus a summary of failures."""
    versions: dict[str, str] = {}
    for res in results:
        for r in res["rows"]:
            if r["version"]:
                versions[r["runtime"]] = r["version"]
    lines = [
        "# Runtime matrix of the shipped models",
        "",
        f"{meta['date']}, {meta['machine']}, Python {meta['python']}; `bench/runtimes.py` "
        f"({meta['seconds']} s). Versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
        "Inputs 1x3x37x53, 1x3x17x31, 2x3x37x53 and 1x3x360x640 (onnx-reference: 1x3x17x31 "
        "only; int8: smooth random images), each output against the PyTorch model (int8: "
        "of the float32 twin). Bounds: float32 max abs 1e-4; int8 PSNR against float32 >= "
        "30 dB. Max abs and PSNR are the worst over the inputs; latency is the median of 3 "
        "runs of the 640x360 input, all runtimes side by side in one process (ort and "
        "ort-node: 2 threads; ort-web: WebAssembly, 1 thread; opencv and ncnn: their "
        "default, 2 threads).",
        *[line for a in meta.get("added", []) for line in (
            "", f"Rows of {', '.join(a['runtimes'])} added {a['date']} by `bench/runtimes.py "
                f"--merge` ({a['seconds']} s, {a['machine']}, Python {a['python']}): "
                f"{a['note']}.")],
        "",
        "| model | runtime | precision | max abs | PSNR dB | 640x360 ms | status |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    fails = []
    for res in results:
        for r in res["rows"]:
            status = r["status"]
            if status in ("unsupported", "not installed"):
                status = f"{status}: {r['note'][:70]}"
            elif status == "FAIL":
                fails.append(f"{res['model']} on {r['runtime']}: {r['note']}")
            lines.append(f"| {res['model']} | {r['runtime']} | {r['precision']} | "
                         f"{_num(r['max_abs'], '.1e')} | {_num(r['psnr_db'], '.1f')} | "
                         f"{_num(r['latency_ms'], '.0f')} | {status} |")
    lines += ["", f"FAIL: {len(fails)}" + (":" if fails else ".")]
    lines += [f"- {f}" for f in fails]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
