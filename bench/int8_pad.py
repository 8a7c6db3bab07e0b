"""int8 convolutions with output channels padded to multiples of 16 and the first one's
input channels to multiples of 4, against the files before padding, side by side in one run
(`sronnx.export.pad_int8_conv_outputs`, `pad_int8_conv_inputs`).

    python bench/int8_pad.py [--base REV] [--repeats 15] [--json FILE]

For each shipped int8 model that padding changed, the file as it was at `--base` (git; the
commit before the padding, 9d8dd6d, by default) and the shipped file run in ONNX Runtime's CPU
provider on one 640x360 input (BSD100's first photo; a 1280x720 output at x2, 1920x1080 at x3),
with 1 thread (as each worker of `sronnx upscale` on a folder) and with every core, in
interleaved rounds: median ms per call, the ratio, and whether the outputs are identical. Then
ONNX Runtime's profile of one thread: the first and the slowest int8 convolution's time in
each file, and the median of the others.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
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
PHOTO = sorted((ROOT.parent / "shared" / "data" / "test" / "BSD100").glob("*.png"))[0]


def session(model: bytes | str, threads: int, profile: str | None = None
            ) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    # as sronnx's sessions (added after bench/results/int8_pad.txt was made): without it, the
    # idle session's pool threads spin after each run and slow the other one on 2 threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = profile
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def side_by_side(name: str, old: bytes, new: bytes, x: np.ndarray, threads: int,
                 repeats: int) -> dict[str, object]:
    """The files `old` and `new` timed in interleaved calls on `x` with `threads` threads:
    median ms of each and whether their outputs are identical, printed on one line."""
    a, b = session(old, threads), session(new, threads)
    same = bool(np.array_equal(a.run(None, {"input": x})[0], b.run(None, {"input": x})[0]))
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(repeats):
        for sess, out in ((a, ta), (b, tb)):
            t = time.perf_counter()
            sess.run(None, {"input": x})
            out.append((time.perf_counter() - t) * 1000)
    before, after = statistics.median(ta), statistics.median(tb)
    print(f"{name:22s} {threads} thread(s): {before:6.1f} -> {after:6.1f} ms per 640x360 "
          f"input ({before / after:.2f}x), outputs {'identical' if same else 'DIFFER'}")
    return {"before_ms": round(before, 1), "after_ms": round(after, 1), "identical": same}


def conv_ms(model: bytes, x: np.ndarray, workdir: str) -> dict[str, float]:
    """ms per call of each int8 convolution (QLinearConv) in ONNX Runtime's profile."""
    sess = session(model, 1, os.path.join(workdir, "prof"))
    for _ in range(4):
        sess.run(None, {"input": x})
    events = json.loads(Path(sess.end_profiling()).read_text())
    total: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["args"].get("op_name") == "QLinearConv":
            total[e["name"].removesuffix("_kernel_time")] += e["dur"]
    return {k: v / 4 / 1000 for k, v in total.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="9d8dd6d")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from sronnx.core import shipped_models

    img = Image.open(PHOTO).convert("RGB").resize((640, 360), Image.LANCZOS)
    x = (np.asarray(img, np.float32).transpose(2, 0, 1)[None] / 255).copy()
    cores = os.cpu_count() or 1
    print(f"# python bench/int8_pad.py --base {args.base} --repeats {args.repeats}   "
          f"({time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {cores} cores, "
          f"onnxruntime {ort.__version__})")
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for m in shipped_models():
            if m.precision != "int8":
                continue
            rel = m.path.relative_to(ROOT).as_posix()
            shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{args.base}:{rel}"],
                                   capture_output=True)
            if shown.returncode != 0:
                why = (shown.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
                print(f"--base {args.base}: git has no {rel} there: {why}", file=sys.stderr)
                return 2
            old = shown.stdout
            new = m.path.read_bytes()
            if old == new:
                continue
            row: dict[str, object] = {}
            for threads in (1, cores):
                row[f"{threads}_threads"] = side_by_side(m.name, old, new, x, threads,
                                                         args.repeats)
            before_c, after_c = conv_ms(old, x, workdir), conv_ms(new, x, workdir)
            first = next(iter(before_c))
            slow = max(before_c, key=before_c.get)
            row["profile_ms"] = {k: [round(before_c[k], 1), round(after_c.get(k, 0.0), 1)]
                                 for k in before_c}
            others = [v for k, v in after_c.items() if k not in (first, slow)]
            print(f"{'':18s} profile, 1 thread, before -> after: first convolution "
                  f"{before_c[first]:.1f} -> {after_c.get(first, float('nan')):.1f} ms, "
                  f"slowest ({slow}) {before_c[slow]:.1f} -> "
                  f"{after_c.get(slow, float('nan')):.1f} ms; the others after: median "
                  f"{statistics.median(others):.1f} ms")
            results[m.name] = row
    if not results:
        print(f"no shipped int8 file differs from {args.base}'s: nothing to compare")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
