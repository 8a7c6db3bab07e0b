"""What a benchmark ran on: CPU, instruction sets, library versions and execution providers.

Speed figures mean nothing without the machine, so every report carries this. Versions are
read from package metadata, so reporting torch's version does not import torch.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from sronnx.runtime import available_cpus

# Instruction-set flags of /proc/cpuinfo that matter to convolution kernels, in this order.
ISA_FLAGS = (
    "sse4_2", "avx", "fma", "f16c", "avx2", "avx_vnni", "avx512f", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16",
    "asimd", "sve", "sve2",  # ARM
)


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """CPU model, physical cores and the ISA flags of interest from /proc/cpuinfo text."""
    model = ""
    flags: set[str] = set()
    cores: set[tuple[str, str]] = set()
    physical_id = core_id = ""
    for line in text.splitlines() + [""]:
        if not line.strip():
            if core_id:
                cores.add((physical_id, core_id))
            physical_id = core_id = ""
            continue
        key, _, value = (part.strip() for part in line.partition(":"))
        if key in ("model name", "Model", "cpu model") and not model:
            model = value
        elif key in ("flags", "Features"):
            flags.update(value.split())
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            core_id = value
    return {
        "cpu_model": model,
        "cores_physical": len(cores) or None,
        "isa": [f for f in ISA_FLAGS if f in flags],
    }


def version_of(*distributions: str) -> str | None:
    """Installed version of the first of `distributions` that is installed, else None."""
    for dist in distributions:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _gpu_names() -> list[str]:
    """NVIDIA GPU names from nvidia-smi, when it is there (no torch, no CUDA bindings)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """The machine row of every report (kind "machine")."""
    import onnxruntime as ort

    from sronnx import __version__

    cpuinfo = Path("/proc/cpuinfo")
    cpu = parse_cpuinfo(cpuinfo.read_text()) if cpuinfo.is_file() else {
        "cpu_model": platform.processor() or platform.machine(), "cores_physical": None,
        "isa": []}
    return {
        "kind": "machine",
        **cpu,
        "cores_logical": os.cpu_count(),
        "cores_available": available_cpus(),
        "threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sronnx": __version__,
        "numpy": version_of("numpy"),
        "pillow": version_of("pillow", "Pillow"),
        "onnxruntime": ort.__version__,
        "onnxruntime_package": next((d for d in ("onnxruntime-gpu", "onnxruntime")
                                     if version_of(d)), None),
        "providers": list(ort.get_available_providers()),
        "torch": version_of("torch"),
        "opencv": version_of("opencv-contrib-python-headless", "opencv-contrib-python",
                             "opencv-python-headless", "opencv-python"),
        "gpus": _gpu_names(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def describe(machine: dict[str, Any]) -> str:
    """One line for terminal and Markdown headers."""
    cores = f"{machine.get('cores_logical')} logical"
    if machine.get("cores_physical"):
        cores = f"{machine['cores_physical']} physical / " + cores
    if machine.get("cores_available") != machine.get("cores_logical"):
        cores += f", {machine.get('cores_available')} available"
    parts = [
        f"{machine.get('cpu_model') or 'unknown CPU'} ({cores} cores)",
        "ISA " + (" ".join(machine.get("isa") or []) or "unknown"),
        f"onnxruntime {machine.get('onnxruntime')} "
        f"[{', '.join(p.removesuffix('ExecutionProvider') for p in machine.get('providers', []))}]",
        f"torch {machine.get('torch') or 'not installed'}",
    ]
    if machine.get("opencv"):
        parts.append(f"opencv {machine['opencv']}")
    if machine.get("gpus"):
        parts.append("GPU " + ", ".join(machine["gpus"]))
    if machine.get("threads"):
        parts.append(f"{machine['threads']} threads")
    return "; ".join(parts)
