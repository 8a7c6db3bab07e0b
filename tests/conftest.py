"""Shared fixtures: real training images, small exported models, the tiny model of the
upscale tests. The helpers they use, and the tests too, are in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import RSP, data_dir


@pytest.fixture(scope="session")
def train_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A handful of real training images (T91), copied so tests stay fast."""
    import shutil

    src = data_dir("train", "T91")
    dst = tmp_path_factory.mktemp("t91_small")
    for p in sorted(src.glob("*.png"))[:6]:
        shutil.copy(p, dst / p.name)
    return dst


@pytest.fixture(scope="session")
def exported_models(tmp_path_factory: pytest.TempPathFactory):
    """Export small models once per session: name -> .onnx path (needs torch)."""
    pytest.importorskip("torch")
    import torch

    from sronnx.archs.analysis import receptive_field
    from sronnx.archs.registry import create_model
    from sronnx.export.onnx import build_card, export_onnx

    folder = tmp_path_factory.mktemp("onnx")
    cache: dict[tuple[str, int], Path] = {}

    def get(spec: str, scale: int) -> Path:
        key = (spec, scale)
        if key not in cache:
            torch.manual_seed(0)
            model = create_model(spec, scale).eval()
            path = folder / f"{spec.replace(':', '_').replace(',', '_').replace('=', '')}" \
                            f"_x{scale}.onnx"
            export_onnx(model, path, card=build_card(model, trained=False),
                        descriptor=model.descriptor(receptive_field(model)))
            cache[key] = path
        return cache[key]

    return get


@pytest.fixture(scope="module")
def model(exported_models) -> Path:
    """The tiny untrained RSP at x2 (exact bicubic), exported once per session."""
    return exported_models(RSP, 2)
