"""Every CUDA check of issues 3, 4 and 7 in one run, for a lent GPU (CI never has one).

For each model: parity of ONNX Runtime CUDA with PyTorch (`sronnx verify --provider cuda`;
the float16 file against the float32 file), inference time of PyTorch eager CUDA (float32,
float16) against ONNX Runtime CUDA (numpy in and out, I/O binding, I/O binding + CUDA
graph, float16), and
the float16 file's Set5 PSNR-Y beside the float32 file's (bench protocol). Then
`sronnx upscale --provider cuda` on a folder. Each check is fenced: one failure is
reported and the rest go on.

    python bench/cuda_checks.py --models A.onnx[:A16.onnx] ... --set5 DIR --folder DIR --out DIR

`--device cpu` runs the same code on the CPU providers (to test this script without a GPU).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np


def median_ms(fn, sync, warmup: int = 5, repeats: int = 30) -> dict[str, float]:
    """sronnx bench's timer, each call synchronized with the device."""
    from sronnx.benchmark import time_calls

    t = time_calls(lambda: (fn(), sync()), warmup=warmup, repeats=repeats, min_time=0.0)
    return {"p50_ms": t.p50 * 1000, "min_ms": min(t.latencies_s) * 1000, "runs": repeats}


def fenced(results: dict[str, Any], key: str, fn, *args) -> None:
    t0 = time.time()
    try:
        results[key] = fn(*args)
    except Exception as exc:  # noqa: BLE001 - report and go on
        results[key] = {"error": f"{type(exc).__name__}: {exc}",
                        "trace": traceback.format_exc()[-2000:]}
    print(f"[{time.time() - t0:6.1f} s] {key}: {json.dumps(results[key])[:400]}", flush=True)


def environment(device: str) -> dict[str, Any]:
    import onnxruntime as ort
    import torch

    env = {"python": platform.python_version(), "onnxruntime": ort.__version__,
           "ort_providers": ort.get_available_providers(), "torch": torch.__version__,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
        try:
            query = ["nvidia-smi", "--format=csv,noheader",
                     "--query-gpu=name,driver_version,memory.total,clocks.max.sm"]
            env["nvidia_smi"] = subprocess.run(query, capture_output=True, text=True,
                                               timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            env["nvidia_smi"] = str(exc)
    return env


def verify(path: Path, device: str, images: str | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "sronnx", "verify", str(path), "--provider", device]
    if images:
        cmd += ["--images", images]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return {"exit": r.returncode, "output": (r.stdout + r.stderr)[-3000:]}


def speed(path: Path, path16: Path | None, device: str) -> dict[str, Any]:
    import onnxruntime as ort
    import torch

    from sronnx.benchmark import default_input_size, describe_onnx, torch_model
    from sronnx.runtime import PROVIDERS, session_options

    bm = describe_onnx(path, path.stem, "file")
    w, h = default_input_size(bm.scale)
    x_np = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    dev = torch.device(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    torch.backends.cudnn.benchmark = True
    net, note = torch_model(bm)
    net = net.to(dev).eval()
    x_t = torch.from_numpy(x_np).to(dev)
    out: dict[str, Any] = {"input": f"{w}x{h}", "output": f"{w * bm.scale}x{h * bm.scale}",
                           "torch_weights": note}

    with torch.inference_mode():
        out["torch_eager_fp32"] = median_ms(lambda: net(x_t), sync)
        out["torch_eager_fp32_host_io"] = median_ms(
            lambda: net(torch.from_numpy(x_np).to(dev)).cpu().numpy(), sync)
        if device == "cuda":  # a copy: .half() in place would round the float32 weights
            net16, x16 = copy.deepcopy(net).half(), x_t.half()
            out["torch_eager_fp16"] = median_ms(lambda: net16(x16), sync)

    provider = PROVIDERS[device]

    def session(p: Path, options: dict[str, str] | None = None) -> ort.InferenceSession:
        providers = [(provider, options or {})] if device == "cuda" else [provider]
        s = ort.InferenceSession(str(p), session_options(), providers=providers)
        if provider not in s.get_providers():
            raise RuntimeError(f"session fell back to {s.get_providers()}")
        return s

    def bound(s: ort.InferenceSession, x: np.ndarray):
        """I/O binding: input copied to the device once, output left there."""
        io = s.io_binding()
        xv = ort.OrtValue.ortvalue_from_numpy(x, device, 0)
        io.bind_ortvalue_input(s.get_inputs()[0].name, xv)
        yv = ort.OrtValue.ortvalue_from_shape_and_type(
            [1, 3, h * bm.scale, w * bm.scale], np.float32, device, 0)
        io.bind_ortvalue_output(s.get_outputs()[0].name, yv)
        return io, xv, yv

    s32 = session(path)
    names, feed = [s32.get_outputs()[0].name], {s32.get_inputs()[0].name: x_np}
    out["ort_numpy_io_fp32"] = median_ms(lambda: s32.run(names, feed), lambda: None)
    io, xv, yv = bound(s32, x_np)
    out["ort_iobinding_fp32"] = median_ms(lambda: s32.run_with_iobinding(io), lambda: None)
    got = yv.numpy()
    ref = s32.run(names, feed)[0]
    out["iobinding_vs_numpy_max_abs"] = float(np.abs(got - ref).max())
    with torch.inference_mode():
        t_ref = net(x_t).float().cpu().numpy()
    out["ort_vs_torch_max_abs"] = float(np.abs(ref - t_ref).max())
    if device == "cuda":
        sg = session(path, {"enable_cuda_graph": "1"})
        iog, xg, yg = bound(sg, x_np)
        sg.run_with_iobinding(iog)  # the first run captures the graph
        out["ort_iobinding_cudagraph_fp32"] = median_ms(lambda: sg.run_with_iobinding(iog),
                                                        lambda: None)
        out["cudagraph_vs_numpy_max_abs"] = float(np.abs(yg.numpy() - ref).max())
    if path16 is not None:
        s16 = session(path16)
        io16, x16v, y16v = bound(s16, x_np)
        out["ort_iobinding_fp16"] = median_ms(lambda: s16.run_with_iobinding(io16), lambda: None)
        out["fp16_vs_fp32_max_abs"] = float(np.abs(y16v.numpy() - ref).max())
    best_ort = min(v["p50_ms"] for k, v in out.items()
                   if k.startswith("ort_iobinding") and "fp32" in k)
    out["ratio_torch_fp32_over_best_ort_fp32"] = out["torch_eager_fp32"]["p50_ms"] / best_ort
    return out


def fp16_quality(path: Path, path16: Path, set5: str, device: str) -> dict[str, Any]:
    """Set5 PSNR-Y (bench protocol) of the float16 file beside the float32 file, both on
    ONNX Runtime `device`, whole images."""
    from sronnx.benchmark import evaluate, load_dataset, onnx_upscaler
    from sronnx.runtime import load_model

    data = load_dataset(set5)
    scale = load_model(path).info.descriptor.scale
    res = {label: evaluate(onnx_upscaler(p, provider=device), data, scale)
           for label, p in (("fp32", path), ("fp16", path16))}
    res["psnr_change_db"] = res["fp16"]["psnr_y"] - res["fp32"]["psnr_y"]
    return res


def upscale_folder(model: Path, folder: str, device: str, tmp: Path) -> dict[str, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / f"upscaled_{model.stem}"
    report = tmp / f"upscale_{model.stem}.json"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "sronnx", "upscale", folder, "-o", str(out),
                        "--model", str(model), "--provider", device, "--json", str(report)],
                       capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t0
    files = sorted(out.glob("*")) if out.exists() else []
    return {"exit": r.returncode, "wall_s": wall, "outputs": len(files),
            "tail": (r.stdout + r.stderr)[-800:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True,
                    help="FP32.onnx or FP32.onnx:FP16.onnx")
    ap.add_argument("--set5", default=None)
    ap.add_argument("--folder", default=None, help="a folder for sronnx upscale")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/sronnx_cuda_checks"),
                    help="where `sronnx upscale` writes its images")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    fenced(results, "environment", environment, args.device)
    for item in args.models:
        p32, _, p16s = item.partition(":")
        path, path16 = Path(p32), Path(p16s) if p16s else None
        key = path.stem
        fenced(results, f"{key}/verify_fp32", verify, path, args.device, args.set5)
        fenced(results, f"{key}/speed", speed, path, path16, args.device)
        if path16 and args.set5:
            fenced(results, f"{key}/fp16_quality", fp16_quality, path, path16, args.set5,
                   args.device)
        if args.folder:
            fenced(results, f"{key}/upscale_folder", upscale_folder, path, args.folder,
                   args.device, args.scratch)
        (args.out / "cuda_checks.json").write_text(json.dumps(results, indent=2))
    print(summary(results))
    (args.out / "cuda_checks.txt").write_text(summary(results))
    return 0


def summary(results: dict[str, Any]) -> str:
    lines = ["model | check | figure"]
    for key, val in results.items():
        if not isinstance(val, dict):
            continue
        if "error" in val:
            lines.append(f"{key} | ERROR | {val['error'][:200]}")
        elif key.endswith("/speed"):
            for k, v in val.items():
                if isinstance(v, dict) and "p50_ms" in v:
                    lines.append(f"{key} | {k} | {v['p50_ms']:.3f} ms")
                elif isinstance(v, float):
                    lines.append(f"{key} | {k} | {v:.4g}")
        elif key.endswith("fp16_quality"):
            lines.append(f"{key} | Set5 PSNR-Y fp32 {val['fp32']['psnr_y']:.3f} fp16 "
                         f"{val['fp16']['psnr_y']:.3f} | change {val['psnr_change_db']:+.4f} dB")
        elif "exit" in val:
            lines.append(f"{key} | exit {val['exit']} | {val.get('wall_s', '')}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
