"""The engine's layouts against the machine's coding limit, with a null model, side by side in
one run: does the staged layout (one model stage, coders on every core: the layout for a GPU)
keep every core coding?

    python bench/engine.py [--images 60] [--repeats 3] [--data DIR] [--provider cpu|cuda]
                           [--json FILE]

On a lent GPU, `--provider cuda` (onnxruntime-gpu installed) runs the engine's model stage on
the GPU: the same rows, the staged layout being the one `sronnx upscale --provider cuda` uses.

The null model is a x2 nearest-neighbour ONNX file (four copies of the input, DepthToSpace):
it costs almost nothing, as the model nearly does on a GPU (about 1 ms per 1080p output on an
H200), so what is left is decoding and encoding. Inputs: BSD100 photos (481x321 or 321x481
PNG; benchmark images, never used for training), written x2 as PNG.

Rows, each the median files/s of `--repeats` runs over the same files:
1. limit: a process pool of one process per core, each file read (`sronnx.io.read_image`),
   doubled by numpy and written (`sronnx.io.write_image`) exactly as the engine writes it:
   the machine's decode+encode limit, with no model and no threads sharing a GIL.
2. ceiling: the same pool, each file decoded, run through the Upscaler with the null model
   (tiles, the model call, the clamp, quantisation) and encoded: the most any layout of the
   engine's work can reach here, where the model's share runs on the same cores. On a GPU
   the model call leaves the CPU; its preparation and finishing (about half the work of the
   null model's pass here) stay on the coders.
3. staged, coders = 1, 2 and every core (`sronnx.engine.run_jobs`, `Layout(coders=N)`):
   the model stage in the calling thread; `coders = 2` is the former layout's two threads.
4. whole files on every core (`workers = cores`, the CPU default).
Prints each row's files/s and its share of the limit and of the ceiling, then the CPU time per
file of the null model's call and of the Upscaler's whole pass (one process, one file after
another).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "test" / "BSD100"


def null_model(path: Path) -> Path:
    """A x2 nearest-neighbour model: Concat(x, x, x, x) on channels, DepthToSpace(2)."""
    import onnx
    from onnx import TensorProto, helper

    from sronnx.core import ModelDescriptor
    from sronnx.export import write_model

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, "H2", "W2"])
    nodes = [helper.make_node("Concat", ["input"] * 4, ["four"], axis=1),
             helper.make_node("DepthToSpace", ["four"], ["output"], blocksize=2, mode="DCR")]
    graph = helper.make_graph(nodes, "nearest_x2", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    descriptor = ModelDescriptor(arch="nearest", scale=2, receptive_field=1)
    return write_model(model, path, card={"spec": "nearest x2 (null model)"},
                       descriptor=descriptor)


def _code_one(args: tuple[str, str]) -> None:
    """Decode, double (nearest), encode: one file of the limit's row."""
    from sronnx.imaging import pil_to_array
    from sronnx.io import read_image, write_image

    src, dst = args
    decoded = read_image(src)
    arr = decoded.pixels if isinstance(decoded.pixels, np.ndarray) else \
        pil_to_array(decoded.pixels)[0]
    out = arr.repeat(2, axis=0).repeat(2, axis=1)
    write_image(dst, out, "PNG", icc_profile=decoded.icc_profile, metadata=decoded.metadata)


_UP = None  # the ceiling row's upscaler, one per pool process


def _open_null(model: str) -> None:
    """Pool initializer of the ceiling row: the null model on one ONNX Runtime thread."""
    global _UP
    from sronnx.engine import Upscaler
    from sronnx.runtime import load_model

    _UP = Upscaler(load_model(model, "cpu", threads=1))


def _upscale_one(args: tuple[str, str]) -> None:
    """Decode, the null model through the Upscaler (tiles, clamp, quantise), encode: one file
    of the ceiling row, the same work as the engine's, with no threads sharing a GIL."""
    from sronnx.imaging import pil_to_array
    from sronnx.io import read_image, write_image

    src, dst = args
    decoded = read_image(src)
    arr = decoded.pixels if isinstance(decoded.pixels, np.ndarray) else \
        pil_to_array(decoded.pixels)[0]
    out = _UP.upscale_array(arr)
    write_image(dst, out, "PNG", icc_profile=decoded.icc_profile, metadata=decoded.metadata)


def model_work(model: Path, files: list[Path]) -> dict[str, float]:
    """CPU milliseconds per file of the model's share, one file after another in this process:
    the null model's call alone and the Upscaler's whole pass (prepare, call, finish)."""
    from sronnx.engine import Upscaler
    from sronnx.imaging import pil_to_array
    from sronnx.io import read_image
    from sronnx.runtime import load_model

    up = Upscaler(load_model(model, "cpu", threads=1))
    arrays = []
    for f in files:
        pixels = read_image(f).pixels
        arrays.append(pixels if isinstance(pixels, np.ndarray) else pil_to_array(pixels)[0])
    calls = [up.tile_pass(a) for a in arrays]
    inputs = [c.prepare(0) for c in calls]
    t = time.process_time()
    for c, x in zip(calls, inputs, strict=True):
        c.run(x)
    run_ms = (time.process_time() - t) / len(files) * 1000
    t = time.process_time()
    for a in arrays:
        up.upscale_array(a)
    pass_ms = (time.process_time() - t) / len(files) * 1000
    return {"model_call_ms": round(run_ms, 2), "upscaler_pass_ms": round(pass_ms, 2),
            "prepare_finish_ms": round(pass_ms - run_ms, 2)}


def ceiling_run(model: Path, files: list[Path], out: Path, cores: int) -> float:
    """Seconds for a process pool to decode, upscale (null model) and encode every file."""
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(f), str(out / f.name)) for f in files]
    with ProcessPoolExecutor(cores, initializer=_open_null, initargs=(str(model),)) as pool:
        list(pool.map(_upscale_one, jobs[:cores]))  # start-up and imports, not timed
        t = time.perf_counter()
        list(pool.map(_upscale_one, jobs, chunksize=1))
        return time.perf_counter() - t


def limit_run(files: list[Path], out: Path, cores: int) -> float:
    """Seconds for the process pool to code every file."""
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(f), str(out / f.name)) for f in files]
    with ProcessPoolExecutor(cores) as pool:
        list(pool.map(_code_one, jobs[:cores]))  # start-up and imports, not timed
        t = time.perf_counter()
        list(pool.map(_code_one, jobs, chunksize=1))
        return time.perf_counter() - t


def engine_run(model: Path, files: list[Path], out: Path, *, workers: int,
               coders: int | None, provider: str = "cpu") -> float:
    """Seconds for `run_jobs` over the files, overwriting earlier outputs."""
    from sronnx.engine import Layout, OutputOptions, Upscaler, plan, run_jobs
    from sronnx.runtime import load_model

    up = Upscaler(load_model(model, provider, threads=1 if provider == "cpu" else None))
    jobs = plan(files, out, OutputOptions("png", 95, 1, ""), False).jobs
    t = time.perf_counter()
    results = run_jobs(up, jobs, OutputOptions("png", 95, 1, ""), existing="overwrite",
                       layout=Layout(workers=workers, coders=coders))
    seconds = time.perf_counter() - t
    bad = [r for r in results if r.status != "done"]
    if bad:
        raise SystemExit(f"{len(bad)} file(s) failed: {bad[0].error}")
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--data", type=Path, default=DATA, help="folder of PNG inputs")
    ap.add_argument("--provider", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args()
    from sronnx.runtime import available_cpus

    cores = available_cpus()
    files = sorted(args.data.glob("*.png"))[: args.images]
    if not files:
        raise SystemExit(f"no images in {args.data}")
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="sronnx-engine-") as tmp:
        tmp_path = Path(tmp)
        model = null_model(tmp_path / "nearest-x2.onnx")
        layouts = {"limit: process pool, no model": None,
                   "ceiling: process pool, the Upscaler's whole work": "ceiling",
                   "staged, coders 1": (1, 1),
                   "staged, coders 2 (the former layout's two threads)": (1, 2)}
        if cores > 2:
            layouts[f"staged, coders {cores} (every core)"] = (1, cores)
        layouts[f"whole files, {cores} workers (CPU default)"] = (cores, None)
        engine_run(model, files[:4], tmp_path / "warm", workers=1, coders=1,
                   provider=args.provider)
        for _ in range(args.repeats):  # interleaved, so drift hits every row alike
            for name, layout in layouts.items():
                out = tmp_path / "out"
                if layout is None:
                    seconds = limit_run(files, out, cores)
                elif layout == "ceiling":
                    seconds = ceiling_run(model, files, out, cores)
                else:
                    seconds = engine_run(model, files, out, workers=layout[0],
                                         coders=layout[1], provider=args.provider)
                rows.setdefault(name, []).append(len(files) / seconds)
        work = model_work(model, files) if args.provider == "cpu" else {}
    limit = statistics.median(rows["limit: process pool, no model"])
    ceiling = statistics.median(rows["ceiling: process pool, the Upscaler's whole work"])
    print(f"{len(files)} PNGs of {args.data.name} -> x2 PNG (null model on {args.provider}), "
          f"{cores} cores, median of "
          f"{args.repeats}; {platform.processor() or platform.machine()}, "
          f"{time.strftime('%Y-%m-%d')}")
    table = []
    for name, values in rows.items():
        rate = statistics.median(values)
        table.append({"layout": name, "files_per_s": round(rate, 2),
                      "share_of_limit": round(rate / limit, 3),
                      "share_of_ceiling": round(rate / ceiling, 3), "runs": values})
        print(f"  {name:<50} {rate:7.2f} files/s  {rate / limit:6.1%} of the limit  "
              f"{rate / ceiling:6.1%} of the ceiling")
    if work:
        print(f"CPU ms per file in this process: the null model's call {work['model_call_ms']}, "
              f"the Upscaler's whole pass {work['upscaler_pass_ms']} (prepare and finish "
              f"{work['prepare_finish_ms']})")
    if args.json:
        args.json.write_text(json.dumps({"cores": cores, "images": len(files),
                                         "provider": args.provider,
                                         "repeats": args.repeats, "rows": table,
                                         "model_work_cpu_ms": work,
                                         "cpu_count": os.cpu_count()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
