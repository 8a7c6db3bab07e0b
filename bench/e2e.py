"""End-to-end throughput of `sronnx upscale` on a folder, beside a naive loop and OpenCV
(the performance issue's targets), every figure measured side by side in one run.

    python bench/e2e.py [--model NAME|FILE] [--provider cpu|openvino|...] [--images 20]
                        [--json FILE] [--workdir DIR]

The model is `sronnx upscale --scale 3`'s default on the provider (rsp-x3-int8 on CPUs and
OpenVINO) unless --model says. --provider (default cpu) runs sections 1, 2 (`sronnx upscale`)
and 5 on that ONNX Runtime provider; the naive loop stays on ONNX Runtime's CPU provider.
1. Model efficiency: ONNX Runtime CPU on the 1080p-output input, as 2 x MACs / s, against
   the machine's float32 matrix-multiply rate (2048^3: the faster of ONNX Runtime's MatMul
   with the same threads and numpy's BLAS),
   for the model and, where it is int8, for its float32 original.
2. A folder of real images whose x3 outputs are 1920x1080 (BSD100 photos resized to 640x427
   and centre-cropped to 640x360; benchmark images, never used for training), PNG in, PNG
   out: `sronnx upscale` (a subprocess, as users run it, its bytecode written first as an
   install's is: `precompile`) against a naive sequential loop
   (Pillow open -> numpy -> the same model in a default InferenceSession -> Pillow save with
   default settings) and OpenCV dnn_superres ESPCN x3 (cv2.imread -> upsample -> imwrite).
3. End-to-end efficiency: wall time against the CPU time of the run / cores, with the
   per-stage times from the run's JSON report.
4. Peak resident memory of the `sronnx upscale` run.
5. int8: each shipped int8 model (static QDQ, calibrated on T91 crops) against its float32
   original: inference throughput (1080p output) and Set5 PSNR.
Needs the train extra (onnx) for 1 and 5 and opencv-contrib-python-headless for the peer.
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
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PEERS = ROOT.parent / "shared" / "peers" / "opencv_dnn_superres"

WRAPPER = """
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(u.ru_maxrss, u.ru_utime + u.ru_stime, rc)
"""


def median_time(fn, repeats: int = 7, warmup: int = 2) -> float:
    """Median seconds of `repeats` calls after `warmup` (sronnx bench's own timer)."""
    from sronnx.benchmark import time_calls

    return time_calls(fn, warmup=warmup, repeats=repeats, min_time=0.0).p50


def make_inputs(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for src in sorted((DATA / "test" / "BSD100").glob("*.png"))[:count]:
        img = Image.open(src).convert("RGB")
        if img.height > img.width:
            img = img.transpose(Image.Transpose.ROTATE_90)
        img = img.resize((640, round(640 * img.height / img.width)), Image.LANCZOS)
        top = (img.height - 360) // 2
        img = img.crop((0, top, 640, top + 360))
        path = folder / src.name
        img.save(path)
        paths.append(path)
    return paths


def matmul_gflops(threads: int) -> float:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    n = 2048
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    # IR 10: what every onnxruntime sronnx takes reads (onnx 1.23 writes 14 by default,
    # which onnxruntime-openvino 1.24 refuses)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              ir_version=10)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    a = np.random.rand(n, n).astype(np.float32)
    t = median_time(lambda: sess.run(None, {"a": a, "b": a}), repeats=5)
    # numpy's BLAS as a second opinion: the reference is the faster of the two
    t_np = median_time(lambda: a @ a, repeats=5)
    return 2 * n**3 / min(t, t_np) / 1e9


def ort_session(path: Path, threads: int, provider: str = "cpu"):
    """The model on ONNX Runtime `provider` with `threads`, as sronnx opens it."""
    from sronnx.runtime import load_model

    return load_model(path, provider, threads).session


def naive_loop(model: Path, inputs: list[Path], out: Path) -> float:
    """The loop a user would write first: default session, default PNG settings."""
    import onnxruntime as ort

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sess = ort.InferenceSession(str(model))
    for p in inputs:
        x = np.asarray(Image.open(p).convert("RGB"), dtype=np.float32)
        x = (x / 255.0).transpose(2, 0, 1)[None]
        y = sess.run(None, {"input": x})[0][0].transpose(1, 2, 0)
        Image.fromarray(np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)).save(out / p.name)
    return time.perf_counter() - t0


def opencv_loop(inputs: list[Path], out: Path, threads: int) -> float:
    import cv2

    cv2.setNumThreads(threads)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    sr.readModel(str(PEERS / "ESPCN_x3.pb"))
    sr.setModel("espcn", 3)
    for p in inputs:
        cv2.imwrite(str(out / p.name), sr.upsample(cv2.imread(str(p))))
    return time.perf_counter() - t0


def precompile() -> None:
    """Write sronnx's bytecode (__pycache__), as pip does when it installs the wheel. Without
    it, an environment with PYTHONDONTWRITEBYTECODE=1 (this machine's) compiles sronnx's
    modules from source in every `sronnx upscale` run: 0.14 s of a 0.67 s single-image run,
    which no installed copy pays."""
    import sronnx

    subprocess.run([sys.executable, "-m", "compileall", "-q",
                    str(Path(sronnx.__file__).parent)], check=True)


def sronnx_run(model: Path, folder: Path, out: Path, report: Path,
               provider: str = "cpu") -> dict:
    cmd = [sys.executable, "-m", "sronnx", "upscale", str(folder), "-o", str(out), "--model",
           str(model), "--provider", provider, "--quiet", "--overwrite", "--json", str(report)]
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    maxrss_kb, cpu_s, rc = res.stdout.split()
    if int(rc) != 0:
        raise SystemExit(f"sronnx upscale failed: {res.stderr}")
    files = json.loads(report.read_text())["files"]
    stages = {k: sum(f["stages"].get(k, 0.0) for f in files) for k in ("decode", "infer",
                                                                        "encode")}
    return {"wall_s": wall, "cpu_s": float(cpu_s), "peak_rss_mb": int(maxrss_kb) / 1024,
            "stages_s": stages}


def set5_psnr(model: Path, scale: int, provider: str = "cpu") -> float:
    """Set5 PSNR-Y by the bench protocol (the figure index.json and `sronnx bench` state),
    the model on `provider`."""
    from sronnx.benchmark import evaluate, load_dataset, onnx_upscaler

    return evaluate(onnx_upscaler(model, provider=provider),
                    load_dataset(DATA / "test" / "Set5"), scale)["psnr_y"]


def _int8_pairs() -> list[tuple[Path, Path, int]]:
    """(float32 file, int8 file, scale) of every shipped int8 model."""
    from sronnx.core import float32_twin, shipped_models

    return [(o.path, m.path, m.scale) for m in shipped_models()
            if m.precision == "int8" and (o := float32_twin(m.name)) is not None]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="default: the CPU default for x3")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--provider", default="cpu",
                    help="ONNX Runtime provider of sronnx's runs (cpu, openvino, cuda, ...)")
    ap.add_argument("--rounds", type=int, default=3, help="folder runs of each kind (median)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    from sronnx.benchmark import describe, machine_info
    from sronnx.core import resolve_model
    from sronnx.runtime import defaults_key, load_model

    model = resolve_model(args.model, 3, defaults_key(args.provider))
    info = load_model(model).info
    scale = info.descriptor.scale
    res: dict = {"date": time.strftime("%Y-%m-%d"), "model": str(model.name),
                 "machine": describe(machine_info(args.threads)), "threads": args.threads,
                 "provider": args.provider}
    print(f"{res['machine']}; provider {args.provider}")
    print(f"model {model.name}: {info.card.spec} x{scale}, "
          f"{info.card.precision or 'float32'}")
    precompile()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        _efficiency(res, model, info, args.threads, args.provider)
        _folder_runs(res, model, Path(tmp), args)
        _int8(res, args.threads, args.provider)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


def _efficiency(res: dict, model: Path, info, threads: int, provider: str = "cpu") -> None:
    """1. The model's (and its int8 twin's) GFLOP/s on a 1080p output against a float32
    matmul's, into `res`."""
    from sronnx.benchmark import default_input_size

    scale, macs = info.descriptor.scale, float(info.card.macs_per_pixel)
    w, h = default_input_size(scale)
    x = np.random.rand(1, 3, h, w).astype(np.float32)
    res["matmul_gflops"] = matmul_gflops(threads)
    res["efficiency"] = {}
    candidates = [model]
    twin = next((f for f, q, _ in _int8_pairs() if q == model), None)
    if twin is not None:
        candidates.append(twin)
    for m in candidates:
        sess = ort_session(m, threads, provider)
        t = median_time(lambda sess=sess: sess.run(None, {"input": x}))
        rate = 2 * macs * 1920 * 1080 / t / 1e9
        res["efficiency"][m.name] = {"gflops": rate, "latency_ms": t * 1000}
        print(f"1. {m.name}: {rate:.1f} GFLOP/s ({t * 1000:.0f} ms per 1080p output) vs "
              f"float32 matmul {res['matmul_gflops']:.1f} GFLOP/s: "
              f"{rate / res['matmul_gflops']:.0%} (target >= 80%)")


def _folder_runs(res: dict, model: Path, tmp: Path, args: argparse.Namespace) -> None:
    """2.-4. The folder of `args.images` images through a naive loop, `sronnx upscale` and
    OpenCV, interleaved `args.rounds` times: images per second, wall against CPU time, stage
    sums and peak memory of the median sronnx run, into `res`."""
    inputs = make_inputs(tmp / "in", args.images)
    n = len(inputs)
    res["images"] = n
    # the three folder runs, interleaved, --rounds times: the median of each (this kind
    # of machine drifts by tens of percent between minutes)
    naive_t, opencv_t, runs = [], [], []
    # each run starts after os.sync(): the last run's written files are flushed outside
    # every timed window, not inside whichever run comes next
    for _ in range(args.rounds):
        os.sync()
        naive_t.append(naive_loop(model, inputs, tmp / "naive"))
        os.sync()
        runs.append(sronnx_run(model, tmp / "in", tmp / "sronnx", tmp / "report.json",
                               args.provider))
        os.sync()
        try:
            opencv_t.append(opencv_loop(inputs, tmp / "opencv", args.threads))
        except ImportError:
            pass
    runs.sort(key=lambda r: r["wall_s"])
    run = runs[len(runs) // 2]
    naive = float(np.median(naive_t))
    res["naive_s"], res["sronnx"] = naive, run
    res["rounds"] = {"naive_s": naive_t, "sronnx_wall_s": [r["wall_s"] for r in runs],
                     "opencv_s": opencv_t}
    res["opencv_s"] = float(np.median(opencv_t)) if opencv_t else None
    ips = {k: n / v for k, v in (("naive", naive), ("sronnx", run["wall_s"]),
                                 ("opencv", res["opencv_s"])) if v}
    print(f"2. {n} images 640x360 -> 1920x1080, PNG, median of {args.rounds} rounds: "
          f"sronnx {ips['sronnx']:.2f} img/s, "
          f"naive loop {ips['naive']:.2f} ({ips['sronnx'] / ips['naive']:.2f}x, target "
          f">= 2.5x)" + (f", OpenCV ESPCN x3 {ips['opencv']:.2f} "
                         f"({ips['sronnx'] / ips['opencv']:.2f}x, target >= 1.5x)"
                         if "opencv" in ips else ""))
    bound = run["cpu_s"] / args.threads
    st = run["stages_s"]
    print(f"3. wall {run['wall_s']:.1f} s vs CPU {run['cpu_s']:.1f} s / {args.threads} cores"
          f" = {bound:.1f} s: {run['wall_s'] / bound:.2f}x (target <= 1.25x); stage wall "
          f"sums: decode {st['decode']:.1f} s, infer {st['infer']:.1f} s, encode "
          f"{st['encode']:.1f} s")
    print(f"4. peak RSS {run['peak_rss_mb']:.0f} MB (target < 1024 MB)")


def _int8(res: dict, threads: int, provider: str = "cpu") -> None:
    """5. Each shipped int8 model's speed-up over its float32 twin and their Set5 PSNR-Y,
    into `res`."""
    from sronnx.benchmark import default_input_size

    res["int8"] = {}
    for fp32, q, sc in _int8_pairs():
        xs = np.random.rand(1, 3, *reversed(default_input_size(sc))).astype(np.float32)
        s32, s8 = ort_session(fp32, threads, provider), ort_session(q, threads, provider)
        t32 = median_time(lambda s32=s32, xs=xs: s32.run(None, {"input": xs}))
        t8 = median_time(lambda s8=s8, xs=xs: s8.run(None, {"input": xs}))
        p32, p8 = set5_psnr(fp32, sc, provider), set5_psnr(q, sc, provider)
        res["int8"][q.name] = {"speedup": t32 / t8, "ms_fp32": t32 * 1000,
                               "ms_int8": t8 * 1000, "psnr_fp32": p32, "psnr_int8": p8}
        print(f"5. {q.name}: {t32 / t8:.2f}x float32 inference ({t8 * 1000:.0f} vs "
              f"{t32 * 1000:.0f} ms; target >= 1.8x), Set5 PSNR-Y {p8:.2f} vs {p32:.2f} dB "
              f"({p8 - p32:+.3f}, target within 0.15)")

if __name__ == "__main__":
    sys.exit(main())
