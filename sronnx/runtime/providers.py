"""Execution providers by name: which ONNX Runtime provider each of sronnx's names means,
with which options, how to install it, and whether this onnxruntime build offers it.

    cpu       CPUExecutionProvider        every onnxruntime build
    cuda      CUDAExecutionProvider       onnxruntime-gpu (the gpu extra)
    tensorrt  TensorrtExecutionProvider   onnxruntime-gpu with TensorRT's libraries
    openvino  OpenVINOExecutionProvider   onnxruntime-openvino (device CPU by default)
    dml       DmlExecutionProvider        onnxruntime-directml (Windows)
    coreml    CoreMLExecutionProvider     onnxruntime's macOS wheels

ONNX Runtime quietly runs a session on the CPU when the provider asked for is not in its
build (a warning) or fails to start (a page on standard output, then a CPU session);
`sronnx.runtime.session.load_model` checks what the session really got and refuses instead
(`ProviderError`, one line naming the provider and the reason). Nodes a provider does not
take still run on the CPU provider beside it, as in every ONNX Runtime session.

Settings read from the environment (so that Ray actors and the API see them too):

- `SRONNX_TENSORRT_CACHE`: the folder of TensorRT's built engines and timing cache
  (default `~/.cache/sronnx/tensorrt`); an engine is built once per model and shape profile
  and read back on later runs.
- `SRONNX_OPENVINO_DEVICE`: OpenVINO's `device_type` (default `CPU`; `GPU`, `NPU`, `AUTO:GPU,CPU`
  and the other forms OpenVINO takes).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # onnxruntime is imported where it is used: the CLI's options need only names
    import onnxruntime as ort

#: sronnx's provider names -> ONNX Runtime's
PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}
#: what `--provider` takes: "auto" (CUDA where it really loads, else the CPU) and the names
PROVIDER_CHOICES = ("auto", *PROVIDERS)

#: how to get an onnxruntime build that offers each provider (each replaces `onnxruntime`:
#: they all provide the same module, so only one may be installed)
INSTALL = {
    "cuda": "pip uninstall -y onnxruntime && pip install 'onnxruntime-gpu[cuda,cudnn]'",
    "tensorrt": "pip uninstall -y onnxruntime && pip install 'onnxruntime-gpu[cuda,cudnn]', "
                "plus TensorRT's "
                "libraries matching that onnxruntime-gpu (NVIDIA's tensorrt packages) on the "
                "library path",
    "openvino": "pip uninstall -y onnxruntime && pip install onnxruntime-openvino "
                "(Linux and Windows, x86_64)",
    "dml": "pip uninstall -y onnxruntime && pip install onnxruntime-directml (Windows)",
    "coreml": "pip install onnxruntime on macOS (its wheels for macOS carry CoreML)",
}

TENSORRT_CACHE_ENV = "SRONNX_TENSORRT_CACHE"
OPENVINO_DEVICE_ENV = "SRONNX_OPENVINO_DEVICE"
#: cuDNN's convolution algorithm search on CUDA: EXHAUSTIVE (ONNX Runtime's default: every
#: algorithm timed for each new input shape), HEURISTIC (chosen from cuDNN's heuristics, no
#: timing) or DEFAULT (the default algorithm). Unset: ONNX Runtime's default.
CUDNN_SEARCH_ENV = "SRONNX_CUDNN_SEARCH"
CUDNN_SEARCHES = ("EXHAUSTIVE", "HEURISTIC", "DEFAULT")


@dataclass(frozen=True)
class ShapeProfile:
    """The input shapes an engine is built for (TensorRT's optimization profile): `minimum`,
    `optimal` and `maximum`, each the model input's own shape (e.g. N x C x H x W), every
    run's shape lying between `minimum` and `maximum` axis by axis."""

    minimum: tuple[int, ...]
    optimal: tuple[int, ...]
    maximum: tuple[int, ...]

    def covers(self, shape: tuple[int, ...]) -> bool:
        """Whether a run of `shape` lies within the profile."""
        return len(shape) == len(self.maximum) and all(
            lo <= s <= hi for lo, s, hi in zip(self.minimum, shape, self.maximum,
                                                strict=True))


def check_name(provider: str) -> None:
    """ValueError unless `provider` is "auto" or one of `PROVIDERS`."""
    if provider not in PROVIDER_CHOICES:
        raise ValueError(f"provider must be one of {', '.join(PROVIDER_CHOICES)}, "
                         f"got {provider!r}")


def provider_unavailable_reason(provider: str) -> str | None:
    """None when this onnxruntime build offers `provider` (a name of `PROVIDERS`), else why
    not and how to install one that does. Offered is not yet usable: the session's own
    check (`load_model`) tells whether it starts on a device here."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if PROVIDERS[provider] in available:
        return None
    return (f"this onnxruntime build has no {PROVIDERS[provider]} (available: "
            f"{', '.join(available)}); install one that has: {INSTALL[provider]}")


def openvino_device() -> str:
    """OpenVINO's device_type: `SRONNX_OPENVINO_DEVICE`, default "CPU"."""
    return os.environ.get(OPENVINO_DEVICE_ENV, "").strip() or "CPU"


def cudnn_search() -> str | None:
    """`SRONNX_CUDNN_SEARCH` upper-cased, or None when unset. Raises ValueError for a value
    other than EXHAUSTIVE, HEURISTIC or DEFAULT."""
    text = os.environ.get(CUDNN_SEARCH_ENV, "").strip().upper()
    if not text:
        return None
    if text not in CUDNN_SEARCHES:
        raise ValueError(f"{CUDNN_SEARCH_ENV}={text!r}: expected one of "
                         f"{', '.join(CUDNN_SEARCHES)}")
    return text


def runs_on_cpu(provider: str) -> bool:
    """Whether `provider`'s model calls run on this machine's CPU cores (the CPU provider,
    and OpenVINO on its CPU device), so that files are spread over the cores."""
    return provider == "cpu" or (provider == "openvino" and openvino_device() == "CPU")


def needs_gpu(provider: str) -> bool:
    """Whether `provider` runs on an NVIDIA GPU (a Ray GPU per actor)."""
    return provider in ("cuda", "tensorrt")


def defaults_key(provider: str) -> str:
    """Which of the shipped defaults a provider gets ("cpu": the int8 files, faster on CPUs,
    OpenVINO's included; "cuda": float32, for GPUs, where int8 QDQ gains nothing or is not
    taken)."""
    return "cpu" if provider in ("cpu", "openvino") else "cuda"


def tensorrt_cache_dir() -> Path:
    """TensorRT's engine and timing cache folder (`SRONNX_TENSORRT_CACHE`)."""
    text = os.environ.get(TENSORRT_CACHE_ENV, "").strip()
    return Path(text).expanduser() if text else Path.home() / ".cache" / "sronnx" / "tensorrt"


def provider_options(provider: str, threads: int | None = None,
                     profile: ShapeProfile | None = None,
                     input_name: str | None = None) -> dict[str, str]:
    """ONNX Runtime's options for `provider`: TensorRT's engine cache and, with `profile`
    and `input_name`, its optimization profile; OpenVINO's device (and `threads`, which
    OpenVINO takes as its own option); CUDA's cuDNN algorithm search where
    `SRONNX_CUDNN_SEARCH` sets one (ValueError for an unknown value); none for the others."""
    if provider == "tensorrt":
        cache = tensorrt_cache_dir()
        opts = {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(cache)}
        if profile is not None and input_name is not None:
            for key, shape in (("min", profile.minimum), ("opt", profile.optimal),
                               ("max", profile.maximum)):
                opts[f"trt_profile_{key}_shapes"] = f"{input_name}:{'x'.join(map(str, shape))}"
        return opts
    if provider == "cuda":
        search = cudnn_search()
        return {"cudnn_conv_algo_search": search} if search else {}
    if provider == "openvino":
        opts = {"device_type": openvino_device()}
        if threads:
            opts["num_of_threads"] = str(threads)
        return opts
    return {}


def session_providers(provider: str, threads: int | None = None,
                      profile: ShapeProfile | None = None,
                      input_name: str | None = None) -> list:
    """The `providers` argument of `onnxruntime.InferenceSession` for `provider`: it with
    its options, then the CPU for the nodes it leaves (TensorRT: CUDA, then the CPU)."""
    if provider == "cpu":
        return [PROVIDERS["cpu"]]
    chain: list = [(PROVIDERS[provider],
                    provider_options(provider, threads, profile, input_name))]
    if provider == "tensorrt":
        chain.append(PROVIDERS["cuda"])
    return [*chain, PROVIDERS["cpu"]]


def prepare_options(provider: str, opts: ort.SessionOptions) -> None:
    """Session options a provider requires: DirectML takes no memory pattern and no
    parallel execution (ONNX Runtime's DirectML page)."""
    if provider == "dml":
        import onnxruntime as ort

        opts.enable_mem_pattern = False
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL


def got(provider: str, session: ort.InferenceSession) -> bool:
    """Whether `session` really has `provider` (ONNX Runtime drops one it cannot start)."""
    return PROVIDERS[provider] in session.get_providers()


def fell_back(provider: str, detail: str | None = None) -> str:
    """The refusal for a session that came up without `provider`; `detail`: ONNX Runtime's
    own reason, where it printed one (e.g. "Device GPU is not available")."""
    if provider == "cuda":
        why = ("the CUDA or cuDNN libraries it needs are missing or do not match (see "
               "onnxruntime's CUDA requirements)")
    elif provider == "openvino":
        why = (f"OpenVINO cannot use device {openvino_device()} here ({OPENVINO_DEVICE_ENV} "
               "chooses another)")
    else:
        why = "no usable device or library for it here"
    detail = f": {detail}" if detail else ""
    return (f"onnxruntime offers {PROVIDERS[provider]} but the session came up without it; "
            f"{why}{detail}")


def printed_reason(lines: list[str]) -> str | None:
    """The last error ONNX Runtime printed among `lines` (its log lines on standard error,
    colour codes and all), without the time, place and function that start it; None
    when it printed no error."""
    errors = [line for line in lines if "[E:" in line]
    if not errors:
        return None
    text = re.sub(r"\x1b\[[0-9;]*m", "", errors[-1]).strip()
    return text.rsplit("] ", 1)[-1].strip()[:300] or None
