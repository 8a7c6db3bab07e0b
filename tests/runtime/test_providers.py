"""Providers by name, never a silent fallback: a provider this onnxruntime build does not
offer, or that cannot start on a device here, is refused in one line naming it and the
reason (exit 2), by the CLI, the library and the API; OpenVINO, where installed
(onnxruntime-openvino replaces onnxruntime), matches the CPU provider within the runtime
matrix's bounds. Real onnxruntime throughout: the refusals run wherever the provider is
absent (CI: all but cpu), the OpenVINO checks where it is installed."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import MODELS, data_dir

from sronnx.core import shipped_models
from sronnx.runtime import PROVIDERS, ProviderError, load_model, provider_unavailable_reason

NAMED = ("cuda", "tensorrt", "openvino", "dml", "coreml")
BIRD = data_dir("test", "Set5") / "bird.png"


def _absent(provider: str):
    """Skip unless this onnxruntime build lacks `provider` (its refusal is what is tested)."""
    return pytest.mark.skipif(provider_unavailable_reason(provider) is None,
                              reason=f"this onnxruntime build offers {PROVIDERS[provider]}")


def _run(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sronnx", *map(str, args)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def _one_line_refusal(r: subprocess.CompletedProcess, provider: str) -> str:
    """The single line of a refusal naming `provider`, exit 2, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"--provider {provider}" in lines[0] and PROVIDERS[provider] in lines[0], lines[0]
    assert "Traceback" not in r.stderr and "\x1b[" not in r.stderr
    return lines[0]


@pytest.mark.parametrize("provider", [pytest.param(p, marks=_absent(p)) for p in NAMED])
def test_upscale_refuses_a_provider_not_installed(provider: str, tmp_path: Path) -> None:
    """`sronnx upscale --provider X` without X: one line saying it is not in this build and
    how to install it, exit 2, no output written (no quiet CPU run)."""
    out = tmp_path / "out"
    line = _one_line_refusal(_run("upscale", BIRD, "-o", out, "--provider", provider),
                             provider)
    assert "this onnxruntime build has no" in line and "install" in line
    assert not (out / "bird.png").exists()


@pytest.mark.parametrize("provider", [pytest.param(p, marks=_absent(p)) for p in NAMED])
def test_library_and_api_refuse_a_provider_not_installed(provider: str) -> None:
    """`load_model` and `sronnx.upscale_image` raise ProviderError rather than run on the
    CPU."""
    import sronnx

    with pytest.raises(ProviderError, match=f"--provider {provider}: .*{PROVIDERS[provider]}"):
        load_model(MODELS / "rsp-x2.onnx", provider)
    with pytest.raises(ProviderError, match=PROVIDERS[provider]):
        sronnx.upscale_image(np.zeros((8, 8, 3), np.uint8), provider=provider)


@pytest.mark.parametrize("provider", [pytest.param("tensorrt", marks=_absent("tensorrt")),
                                      pytest.param("dml", marks=_absent("dml"))])
def test_verify_refuses_a_provider_not_installed(provider: str) -> None:
    """`sronnx verify --provider X` without X: exit 2, the reason in one line."""
    pytest.importorskip("torch")
    r = _run("verify", "rsp-x2", "--provider", provider, "--no-reference", "--runtimes", "ort")
    assert r.returncode == 2, r.stderr
    assert PROVIDERS[provider] in r.stderr and "Traceback" not in r.stderr


def test_unknown_provider_name_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="provider must be one of"):
        load_model(MODELS / "rsp-x2.onnx", "vulkan")
    r = _run("upscale", BIRD, "-o", "unused", "--provider", "vulkan")
    assert r.returncode == 2 and "vulkan" in r.stderr


# ---- OpenVINO, where onnxruntime-openvino is the installed onnxruntime -------------------

needs_openvino = pytest.mark.skipif(
    provider_unavailable_reason("openvino") is not None,
    reason="onnxruntime-openvino is not the installed onnxruntime (it replaces onnxruntime: "
           "README, Providers)")


def _smooth(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random 1 x 3 x h x w image in [0, 1] (the matrix's int8 inputs are smooth)."""
    rng = np.random.default_rng(seed)
    small = rng.random((3, h // 4 + 2, w // 4 + 2), dtype=np.float32)
    big = small.repeat(4, axis=1).repeat(4, axis=2)[:, :h, :w]
    return np.ascontiguousarray(big[None])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


@needs_openvino
@pytest.mark.parametrize("name", [m.name for m in shipped_models()])
def test_openvino_matches_the_cpu_provider(name: str) -> None:
    """Every shipped model on OpenVINO (device CPU) against its float32 file on the CPU
    provider, held to the runtime matrix's bounds: float32 max abs <= 1e-4; int8 PSNR
    against float32 >= 30 dB. The session really runs on OpenVINO."""
    from sronnx.export.verify import INT8_MIN_PSNR_DB

    m = next(s for s in shipped_models() if s.name == name)
    loaded = load_model(m.path, "openvino")
    assert loaded.provider == "openvino"
    assert loaded.session.get_providers()[0] == PROVIDERS["openvino"]
    twin = MODELS / f"{name.removesuffix('-int8')}.onnx"
    reference = load_model(twin, "cpu")
    for x in (_smooth(37, 53), _smooth(64, 96, seed=1)):
        got, want = loaded.run(x), reference.run(x)
        assert got.shape == want.shape
        if m.precision == "int8":
            assert _psnr(got, want) >= INT8_MIN_PSNR_DB, name
        else:
            assert float(np.abs(got - want).max()) <= 1e-4, name


@needs_openvino
def test_openvino_upscale_and_a_device_that_is_not_there(tmp_path: Path) -> None:
    """The CLI on OpenVINO writes the image; a device OpenVINO does not have here is refused
    in one line naming it (exit 2), not run on the CPU."""
    r = _run("upscale", BIRD, "-o", tmp_path / "ok", "--provider", "openvino")
    assert r.returncode == 0, r.stderr
    assert "on OPENVINO" in r.stderr and (tmp_path / "ok" / "bird.png").is_file()
    r = _run("upscale", BIRD, "-o", tmp_path / "no", "--provider", "openvino",
             env={"SRONNX_OPENVINO_DEVICE": "GPU.97"})
    line = _one_line_refusal(r, "openvino")
    assert "GPU.97" in line and "SRONNX_OPENVINO_DEVICE" in line
    assert not (tmp_path / "no" / "bird.png").exists()



def test_cudnn_search_is_passed_to_cuda_or_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """SRONNX_CUDNN_SEARCH becomes the CUDA provider's cudnn_conv_algo_search (any case);
    unset, ONNX Runtime's own default stands; an unknown value is refused, naming it."""
    from sronnx.runtime.providers import CUDNN_SEARCH_ENV, provider_options

    monkeypatch.delenv(CUDNN_SEARCH_ENV, raising=False)
    assert provider_options("cuda") == {}
    monkeypatch.setenv(CUDNN_SEARCH_ENV, " heuristic ")
    assert provider_options("cuda") == {"cudnn_conv_algo_search": "HEURISTIC"}
    assert "cudnn_conv_algo_search" not in provider_options("tensorrt")
    monkeypatch.setenv(CUDNN_SEARCH_ENV, "fastest")
    with pytest.raises(ValueError, match="SRONNX_CUDNN_SEARCH='FASTEST': expected one of"):
        provider_options("cuda")
