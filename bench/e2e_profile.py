"""Where the CPU folder job's time goes: `sronnx upscale` on bench/e2e.py's folder, one file
after another in one thread (--no-pipeline --workers 1 --threads 1), under cProfile, with
the functions grouped into the job's stages (numpy's own methods, astype, reduce, clip and
repeat, count with clamp/quantise/paste, where most of them run). The profile that chose
issue 26's levers.

    python bench/e2e_profile.py [--images 20] [--model NAME] [--top 25]

The folder: 20 BSD100 photos at 640x360 (bench/e2e.py's `make_inputs`), x3 to 1920x1080 PNG
with the default model choice (per file). Prints seconds and shares of the whole run per
stage (the model, PNG deflate, clamp/quantise/paste, the per-file rule's assessment,
decoding, start-up imports) and the `--top` functions by own time. A single thread, so the
shares are of CPU time; the real run spreads the same work over the cores. Every thread is
profiled (the files run on one worker thread), and time spent waiting on locks and in the
thread machinery (and the stderr relay thread's blocking read) is left out.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# (stage, substrings of "file:function" whose own time counts for it), first match wins
STAGES = [
    ("model (ONNX Runtime run)", ("onnxruntime_pybind11_state.run",)),
    ("PNG deflate + row filter", ("png.py:", "crc32", "zlib.Compress")),
    ("clamp, quantise, paste (engine/tilepass, clamp)", ("tilepass.py", "clamp.py",
                                                         "_methods.py:", "'repeat'",
                                                         "'astype'", "'reduce'")),
    ("per-file rule's assessment (imaging/assess)", ("assess.py", "eigvalsh", "argsort",
                                                     "_function_base_impl.py")),
    ("decoding (Pillow)", ("ImagingDecoder", "PngImagePlugin", "ImageFile.py")),
    ("start-up: imports, compile", ("importlib", "marshal", "_imp.", "compile",
                                    "builtins.exec", "__build_class__")),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--model", default=None, help="default: the per-file choice at x3")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    import e2e

    from sronnx.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        e2e.make_inputs(folder, args.images)
        argv = ["upscale", str(folder), "-o", str(Path(tmp) / "out"), "--no-pipeline",
                "--workers", "1", "--threads", "1", "--quiet", "--overwrite"]
        argv += ["--model", args.model] if args.model else ["--scale", "3"]
        profiles = [cProfile.Profile()]

        def in_new_thread(*_: object) -> None:  # --no-pipeline runs the files on a worker
            profiles.append(cProfile.Profile())  # thread: profile every thread started
            profiles[-1].enable()

        threading.setprofile(in_new_thread)
        t = time.perf_counter()
        try:
            profiles[0].runcall(cli, argv, standalone_mode=False)
        except SystemExit as exc:  # the command ends the way it ends for users
            if exc.code:
                raise
        finally:
            threading.setprofile(None)
        wall = time.perf_counter() - t
    stats = pstats.Stats(profiles[0], stream=io.StringIO())
    for extra in profiles[1:]:
        stats.add(extra)
    # waiting, not work: locks, the thread machinery, the stderr relay's blocking read
    waits = ("acquire' of '_thread.lock", "method 'acquire'", "threading.py", "thread.py:",
             "posix.read", "cmessages.py")
    rows = []
    for (file, line, func), (_, _, own, _, _) in stats.stats.items():
        name = f"{file}:{line}({func})" if line else f"{file}({func})"
        if not any(w in name for w in waits):  # the calling thread waiting for the worker
            rows.append((own, name))
    total = sum(own for own, _ in rows)
    sums = {name: 0.0 for name, _ in STAGES}
    other = 0.0
    for own, name in rows:
        stage = next((s for s, keys in STAGES if any(k in name for k in keys)), None)
        if stage is None:
            other += own
        else:
            sums[stage] += own
    print(f"# python bench/e2e_profile.py --images {args.images}"
          f"{' --model ' + args.model if args.model else ''}   "
          f"({time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())})")
    print(f"{args.images} images 640x360 -> 1920x1080 PNG, one thread, no pipeline: "
          f"{wall:.2f} s wall under the profiler, {total:.2f} s of profiled own time")
    for name, s in [*sums.items(), ("everything else", other)]:
        print(f"  {name:50s} {s:6.2f} s  {s / total:6.1%}  "
              f"{s / args.images * 1000:6.1f} ms per image")
    print(f"top {args.top} functions by own time:")
    for own, name in sorted(rows, reverse=True)[: args.top]:
        print(f"  {own:6.3f} s  {name.replace(str(ROOT) + '/', '')[-100:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
