"""float16 on CUDA keeps the faithful outputs (issue 26).

Each shipped float32 model is rebuilt from its own file's weights (`model_from_onnx`, checked
against the card's weights hash) and exported with float16 weights and arithmetic, float32 in
and out (`export_onnx(..., fp16=True)`). On ONNX Runtime's CUDA provider, through the
shipped upscaler:
- every grey level and the saturated colours come back exactly (as `test_faithful` asks of
  the float32 and int8 files on the CPU), and the model alone keeps greys within +-1;
- Set5 (bench protocol) PSNR-Y within 0.01 dB of the float32 file on the same provider
  (measured on a lent H200: under 0.001 dB, bench/results/cuda), and no output pixel more
  than 2 levels from the float32 file's.
Needs onnxruntime-gpu with a GPU, torch and onnx: skipped otherwise, saying which.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sronnx.core.shipped import shipped_models


def _cuda_reason() -> str | None:
    from sronnx.runtime.session import cuda_unavailable_reason

    return cuda_unavailable_reason()


FLOAT32 = [m for m in shipped_models() if m.precision == "float32" and m.kind == "clean"]
COLOURS = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 128, 0)]


def float16_file(path: Path, folder: Path) -> Path:
    """The float16 twin of a shipped float32 file, written into `folder`."""
    from sronnx.export import export_onnx, model_from_onnx
    from sronnx.runtime import load_model

    info = load_model(path).info
    card = info.card.to_dict()
    card["precision"] = "float16"
    out = folder / f"{path.stem}-fp16.onnx"
    export_onnx(model_from_onnx(path, info), out, card=card, descriptor=info.descriptor,
                fp16=True)
    return out


def check_faithful(path: Path, path16: Path, provider: str) -> None:
    """The checks of this module for one model on `provider`."""
    from PIL import Image

    from sronnx.benchmark import evaluate, load_dataset, onnx_upscaler
    from sronnx.engine import Upscaler
    from sronnx.runtime import load_model

    shipped = Upscaler(load_model(path16, provider))
    model_only = Upscaler(load_model(path16, provider), clamp_range=False)
    s = shipped.scale
    worst = 0
    for g in range(0, 256, 3):
        flat = np.full((12, 12, 3), g, np.uint8)
        assert (shipped.upscale_array(flat) == g).all(), g
        worst = max(worst, int(np.abs(model_only.upscale_array(flat).astype(int) - g).max()))
    assert worst <= 1, f"{path16.name}: a flat grey comes back off by {worst}"
    for colour in COLOURS:
        flat = np.tile(np.asarray(colour, np.uint8), (12, 12, 1))
        assert (shipped.upscale_array(flat) == np.asarray(colour, np.uint8)).all(), colour
    set5 = load_dataset(Path(__file__).resolve().parents[2].parent / "shared" / "data" /
                        "test" / "Set5")
    p32 = evaluate(onnx_upscaler(path, provider=provider), set5, s)["psnr_y"]
    p16 = evaluate(onnx_upscaler(path16, provider=provider), set5, s)["psnr_y"]
    assert abs(p16 - p32) < 0.01, (path.name, p32, p16)
    full = Upscaler(load_model(path, provider))
    for _, arr in set5.images[:2]:
        lr = np.asarray(Image.fromarray(arr).reduce(s))
        diff = np.abs(shipped.upscale_array(lr).astype(int) - full.upscale_array(lr).astype(int))
        assert diff.max() <= 2, (path.name, int(diff.max()))


@pytest.mark.skipif(_cuda_reason() is not None,
                    reason="needs the CUDA execution provider (onnxruntime-gpu and a GPU)")
@pytest.mark.parametrize("model", FLOAT32, ids=lambda m: m.name)
def test_float16_on_cuda_stays_faithful(model, tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="rebuilding the float16 file needs torch")
    pytest.importorskip("onnx", reason="rebuilding the float16 file needs onnx")
    check_faithful(model.path, float16_file(model.path, tmp_path), "cuda")
