"""The shipped models with their output path made fusable (`sronnx.export.fusable_output_path`)
against the files before that rewrite, side by side in one run.

    python bench/fusion.py [--base REV] [--repeats 15] [--models NAME ...] [--json FILE]

For each shipped model the rewrite changed, the file as it was at `--base` (git; the commit
before the rewrite, 2f4fd3b, by default) and the shipped file run in ONNX Runtime's CPU
provider on one 640x360 input (BSD100's first photo; a 1280x720 output at x2, 1920x1080 at
x3, 2560x1440 at x4), with 1 thread (as each worker of `sronnx upscale` on a folder) and with
every core, in interleaved rounds: median ms per call, the ratio, and whether the outputs are
identical. Then ONNX Runtime's profile of one thread: the output path's operators (the skip
convolution, Add, Clip, DepthToSpace; FusedConv after) in ms per call, before and after.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from int8_pad import session, side_by_side  # noqa: E402 - bench/, this script's folder

PHOTO = sorted((ROOT.parent / "shared" / "data" / "test" / "BSD100").glob("*.png"))[0]
TAIL = ("FusedConv", "Add", "Clip", "DepthToSpace")


def skip_conv_name(model: bytes, workdir: str) -> str:
    """The name of the skip convolution's node: the one ONNX Runtime fuses with the Add in
    the rewritten file (its optimized graph keeps the Conv's name), "" when none is."""
    import onnx

    so = ort.SessionOptions()
    so.optimized_model_filepath = os.path.join(workdir, "optimized.onnx")
    so.log_severity_level = 3
    ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    fused = [n.name for n in onnx.load(so.optimized_model_filepath).graph.node
             if n.op_type == "FusedConv"]
    return fused[-1] if fused else ""


def tail_ms(model: bytes, x: np.ndarray, workdir: str, skip: str) -> dict[str, float]:
    """ms per call, one thread, of the output path's operators in ONNX Runtime's profile: the
    skip convolution (the node named `skip`), Add, Clip, DepthToSpace and FusedConv."""
    sess = session(model, 1, os.path.join(workdir, "prof"))
    runs = 4
    for _ in range(runs):
        sess.run(None, {"input": x})
    events = json.loads(Path(sess.end_profiling()).read_text())
    total: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        op = e["args"].get("op_name", "")
        if op in TAIL:
            total[op] += e["dur"]
        elif op == "Conv" and e["name"].removesuffix("_kernel_time") == skip:
            total["Conv (skip)"] += e["dur"]
    return {k: v / runs / 1000 for k, v in total.items()}


def old_file(base: str, rel: str) -> bytes | None:
    shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{base}:{rel}"],
                           capture_output=True)
    if shown.returncode != 0:
        why = (shown.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
        print(f"--base {base}: git has no {rel} there: {why}", file=sys.stderr)
        return None
    return shown.stdout


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="2f4fd3b",
                    help="git revision whose model files are the 'before' (default: %(default)s, "
                         "the commit before the rewrite)")
    ap.add_argument("--repeats", type=_positive, default=15,
                    help="timed calls of each file per thread count (default: %(default)s)")
    ap.add_argument("--models", nargs="*", help="shipped model names (default: all)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    from sronnx.core import shipped_models

    unknown = sorted(set(args.models or []) - {m.name for m in shipped_models()})
    if unknown:
        print(f"--models: no shipped model named {', '.join(unknown)} (sronnx models lists "
              "them)", file=sys.stderr)
        return 2

    img = Image.open(PHOTO).convert("RGB").resize((640, 360), Image.LANCZOS)
    x = (np.asarray(img, np.float32).transpose(2, 0, 1)[None] / 255).copy()
    cores = os.cpu_count() or 1
    print(f"# python bench/fusion.py --base {args.base} --repeats {args.repeats}   "
          f"({time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {cores} cores, "
          f"onnxruntime {ort.__version__})")
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for m in shipped_models():
            if args.models and m.name not in args.models:
                continue
            old = old_file(args.base, m.path.relative_to(ROOT).as_posix())
            if old is None:
                return 2
            new = m.path.read_bytes()
            if old == new:
                continue
            row: dict[str, object] = {}
            for threads in (1, cores):
                row[f"{threads}_threads"] = side_by_side(m.name, old, new, x, threads,
                                                         args.repeats)
            skip = skip_conv_name(new, workdir)
            before_t, after_t = tail_ms(old, x, workdir, skip), tail_ms(new, x, workdir, skip)
            row["tail_ms"] = {"before": {k: round(v, 1) for k, v in before_t.items()},
                              "after": {k: round(v, 1) for k, v in after_t.items()}}
            shown = lambda d: ", ".join(f"{k} {v:.1f}" for k, v in sorted(d.items()))  # noqa: E731
            print(f"{'':22s} output path, 1 thread: before {sum(before_t.values()):.1f} ms "
                  f"({shown(before_t)}); after {sum(after_t.values()):.1f} ms "
                  f"({shown(after_t)})")
            results[m.name] = row
    if not results:
        print(f"no shipped file differs from {args.base}'s: nothing to compare")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
