"""Latency and throughput of one model on one runtime at a fixed input size.

Warm-up runs are excluded (first calls allocate and pick kernels), the rest are timed one by
one; the median is the figure, p95 shows the tail. ONNX Runtime is imported here, torch only
inside `torch_runner`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sronnx.benchmark.models import BenchModel

# Input size per scale whose output is 1920x1080 (W, H): the default of `sronnx bench`.
FULL_HD = (1920, 1080)


class RuntimeUnavailable(RuntimeError):
    """This runtime cannot run here (or cannot run this model); the message says why."""


@dataclass(frozen=True)
class Timing:
    latencies_s: tuple[float, ...]
    warmup: int

    @property
    def p50(self) -> float:
        return float(np.median(self.latencies_s))

    @property
    def p95(self) -> float:
        return float(np.percentile(self.latencies_s, 95))


def default_input_size(scale: int) -> tuple[int, int]:
    """(W, H) of the input whose output is 1920x1080 at `scale` (rounded down)."""
    return FULL_HD[0] // scale, FULL_HD[1] // scale


def time_calls(fn: Callable[[], Any], warmup: int = 2, repeats: int = 10,
               min_time: float = 1.0, max_repeats: int = 1000) -> Timing:
    """Time `fn` after `warmup` untimed calls: at least `repeats` timed calls, and more (up to
    `max_repeats`) until `min_time` seconds were measured, so fast models get a stable median
    and slow ones do not take forever."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    latencies: list[float] = []
    total = 0.0
    while len(latencies) < repeats or (total < min_time and len(latencies) < max_repeats):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        latencies.append(dt)
        total += dt
    return Timing(tuple(latencies), warmup)


def _input(w: int, h: int) -> np.ndarray:
    """A fixed pseudo-random NCHW float32 input (convolution speed does not depend on it)."""
    return np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)


def ort_runner(model: BenchModel, provider: str, size: tuple[int, int],
               threads: int | None) -> Callable[[], Any]:
    """One inference on onnxruntime's `provider` ("cpu", "cuda", "openvino", ...: see
    `sronnx.runtime.providers`) with `threads` (None: its default), numpy in and out: on a
    GPU that includes the host-device copies, as the upscaler sees them.
    RuntimeUnavailable where the provider cannot run here."""
    from sronnx.runtime import ProviderError, load_model

    try:
        loaded = load_model(model.path, provider, threads)
    except ProviderError as exc:
        raise RuntimeUnavailable(str(exc)) from exc
    x = _input(*size)
    return lambda: loaded.run(x)  # a model made elsewhere: in its own tensor form


def torch_model(model: BenchModel) -> tuple[Any, str]:
    """The PyTorch model of an ONNX card: its own weights when they rebuild exactly
    (`verify.model_from_onnx`), else the registry spec with initial weights (same speed)."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise RuntimeUnavailable("torch is not installed (pip install 'sronnx[train]')") from exc
    if not model.spec:
        raise RuntimeUnavailable(f"{model.name}: no architecture spec in its card")
    from sronnx.archs import create_model

    try:
        from sronnx.export import model_from_onnx
        from sronnx.runtime import load_model

        info = load_model(model.path, "cpu", threads=1).info
        return model_from_onnx(model.path, info), "weights from the ONNX file"
    except Exception:  # noqa: BLE001 - any failure: the spec alone gives the same speed
        pass
    try:
        net = create_model(model.spec, model.scale).eval()
    except (ValueError, TypeError) as exc:
        raise RuntimeUnavailable(f"{model.name}: cannot rebuild {model.spec!r}: {exc}") from exc
    return net, "rebuilt from the spec (initial weights)"


def torch_runner(model: BenchModel, size: tuple[int, int],
                 threads: int | None) -> tuple[Callable[[], Any], str]:
    """PyTorch eager on the CPU. `threads` is set for the process here, once: switching the
    thread pool around every call would be timed too."""
    import torch

    net, note = torch_model(model)
    if threads:
        torch.set_num_threads(threads)
    x = torch.from_numpy(_input(*size))

    def run() -> Any:
        with torch.inference_mode():
            return net(x)

    return run, note


def pillow_runner(scale: int, size: tuple[int, int]) -> Callable[[], Any]:
    """The bicubic baseline (Pillow, single-threaded) on an 8-bit RGB image."""
    from PIL import Image

    from sronnx.imaging import bicubic_upscale

    rgb = (_input(*size)[0].transpose(1, 2, 0) * 255).astype(np.uint8)
    img = Image.fromarray(rgb)
    return lambda: bicubic_upscale(img, scale)


def speed_fields(model: BenchModel, size: tuple[int, int], timing: Timing,
                 threads: int | None) -> dict[str, Any]:
    """The derived figures of a speed row: latency percentiles, MP/s, images/s, GFLOP/s."""
    w, h = size
    out_w, out_h = w * model.scale, h * model.scale
    p50 = timing.p50
    pixels = out_w * out_h
    gflops = (2.0 * model.macs_per_pixel * pixels / p50 / 1e9
              if model.macs_per_pixel is not None else None)
    return {
        "input_size": f"{w}x{h}", "output_size": f"{out_w}x{out_h}", "threads": threads,
        "warmup": timing.warmup, "repeats": len(timing.latencies_s),
        "latency_ms_p50": p50 * 1e3, "latency_ms_p95": timing.p95 * 1e3,
        "mp_per_s": pixels / p50 / 1e6, "images_per_s": 1.0 / p50,
        "params": model.params, "macs_per_pixel": model.macs_per_pixel, "gflops": gflops,
    }
