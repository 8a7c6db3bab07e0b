"""The int8 CPU files before and after issue 11, beside their float32 originals, in one run:
speed, quality and faithfulness.

    python bench/int8_faithful.py [--old-rev 5beae30] [--rounds 9] [--json F] [--md F]

For each shipped scale: the float32 file, the int8 file of `--old-rev` (read with `git show`:
the first scheme, every node quantized) and the int8 file now shipped (the body only).
- speed: median ms of one ONNX Runtime CPU call whose output is 1920x1080 (2 threads), the
  models interleaved round by round so that all see the same machine;
- quality: PSNR-Y on Set5 and Set14 (`sronnx bench`'s protocol);
- faithfulness, through the Upscaler with the range clamp off (the model's own output,
  with mirrored borders): the worst error over flat images of every grey level and of the 8
  corner colours of the RGB cube; distinct values and the largest step along a row of a
  16-bit ramp 20000..21000 over 256 pixels; the fewest levels any row keeps of an 8-bit ramp
  100..164.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "test"


def faithfulness(path: Path) -> dict:
    from sronnx.engine import Upscaler
    from sronnx.runtime import load_model

    up = Upscaler(load_model(path, "cpu", 1), clamp_range=False)
    grey = max(int(np.abs(up.upscale_array(np.full((16, 16), g, np.uint8)).astype(int) - g)
                   .max()) for g in range(256))
    colour = 0
    for c in itertools.product((0, 255), repeat=3):
        out = up.upscale_array(np.tile(np.array(c, np.uint8), (16, 16, 1))).astype(int)
        colour = max(colour, int(np.abs(out - np.array(c)).max()))
    ramp = np.tile(np.linspace(20000, 21000, 256).round().astype(np.uint16), (8, 1))
    row = up.upscale_array(ramp)[4 * up.scale].astype(np.int64)
    ramp8 = np.tile(np.linspace(100, 164, 256).round().astype(np.uint8), (8, 1))
    levels = min(len(np.unique(r)) for r in up.upscale_array(ramp8))
    return {"flat_grey_max_error": grey, "flat_colour_max_error": colour,
            "ramp16_distinct": len(np.unique(row)),
            "ramp16_max_step": int(np.abs(np.diff(row)).max()), "ramp8_levels_of_65": levels}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-rev", default="5beae30",
                    help="git revision holding the first int8 files (default: before issue 11)")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--md", type=Path, default=None)
    args = ap.parse_args()

    from sronnx.benchmark import (
        default_input_size,
        evaluate,
        load_dataset,
        machine_info,
        onnx_upscaler,
    )
    from sronnx.core import INT8_SUFFIX, shipped_models
    from sronnx.runtime import load_model

    tmp = Path(tempfile.mkdtemp(prefix="sronnx-int8-"))
    rows: list[dict] = []
    for m in shipped_models():
        if m.precision != "float32":
            continue
        old = tmp / f"{m.name}{INT8_SUFFIX}-old.onnx"
        rel = f"sronnx/models/{m.name}{INT8_SUFFIX}.onnx"
        old.write_bytes(subprocess.run(["git", "-C", str(ROOT), "show", f"{args.old_rev}:{rel}"],
                                       check=True, capture_output=True).stdout)
        new = m.path.with_name(f"{m.name}{INT8_SUFFIX}.onnx")
        for kind, path in (("float32", m.path), ("int8 before", old), ("int8 now", new)):
            rows.append({"scale": m.scale, "kind": kind, "file": path.name, "path": path})
    sets = {n: load_dataset(DATA / n) for n in ("Set5", "Set14")}
    for row in rows:
        for name, data in sets.items():
            row[name] = round(evaluate(onnx_upscaler(row["path"]), data, row["scale"])
                              ["psnr_y"], 3)
        row.update(faithfulness(row["path"]))
        print({k: v for k, v in row.items() if k != "path"}, flush=True)
    calls = []
    for row in rows:
        w, h = default_input_size(row["scale"])
        loaded = load_model(row["path"], "cpu", 2)
        x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
        feed, names = {loaded.input_name: x}, [loaded.output_name]
        loaded.session.run(names, feed)
        calls.append((row, lambda s=loaded.session, n=names, f=feed: s.run(n, f), []))
    for _ in range(args.rounds):
        for _, fn, times in calls:
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    for row, _, times in calls:
        row["ms_1080p"] = round(1000 * float(np.median(times)), 1)
    for row in rows:
        base = next(r for r in rows if r["scale"] == row["scale"] and r["kind"] == "float32")
        row["speedup_vs_float32"] = round(base["ms_1080p"] / row["ms_1080p"], 2)
        row["set5_change_db"] = round(row["Set5"] - base["Set5"], 3)
        del row["path"]
    info = machine_info()
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    command = "python bench/int8_faithful.py " + " ".join(sys.argv[1:])
    head = (f"{command} ({stamp}; {info['cpu_model']}, {info.get('cores_physical')} cores; "
            f"onnxruntime CPU, 2 threads, median of {args.rounds} interleaved rounds)")
    lines = [f"# {head}", "",
             "| scale | file | ms per 1080p output | vs float32 | Set5 | Set14 | Set5 change | "
             "flat grey max error | flat colour max error | 16-bit ramp distinct / max step |"
             " 8-bit ramp levels of 65 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| x{r['scale']} | {r['file']} ({r['kind']}) | {r['ms_1080p']} | "
                     f"{r['speedup_vs_float32']}x | {r['Set5']:.3f} | {r['Set14']:.3f} | "
                     f"{r['set5_change_db']:+.3f} | {r['flat_grey_max_error']} | "
                     f"{r['flat_colour_max_error']} | {r['ramp16_distinct']} / "
                     f"{r['ramp16_max_step']} | {r['ramp8_levels_of_65']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        args.md.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"command": command, "date": stamp, "machine": info,
                                         "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
