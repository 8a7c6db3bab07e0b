"""The exact rewrite of the output path (`sronnx.export.fusable_output_path`): ONNX Runtime
fuses the skip convolution, the Add and the Clip of every shipped model and of new exports, and
every output value stays what the unfused graph computes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from helpers import data_dir  # noqa: E402
from PIL import Image  # noqa: E402

import sronnx.export.onnx as export_onnx_module  # noqa: E402
from sronnx.archs.analysis import receptive_field  # noqa: E402
from sronnx.archs.registry import create_model  # noqa: E402
from sronnx.export import build_card, export_onnx, fusable_output_path  # noqa: E402

MODELS = Path(__file__).resolve().parents[2] / "sronnx" / "models"


def optimized_ops(model: bytes | str, tmp_path: Path) -> list[tuple[str, str]]:
    """(op type, fused activation) of every node of ONNX Runtime's optimized CPU graph."""
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    opts.log_severity_level = 3
    ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    graph = onnx.load(opts.optimized_model_filepath).graph
    return [(n.op_type, next((a.s.decode() for a in n.attribute if a.name == "activation"), ""))
            for n in graph.node]


def inputs() -> list[np.ndarray]:
    """Two Set5 images, an odd-sized random one and a batch of two, NCHW float32 in [0, 1]."""
    images = [np.asarray(Image.open(p).convert("RGB"), np.float32) / 255
              for p in sorted(data_dir("test", "Set5").glob("*.png"))[:2]]
    rng = np.random.default_rng(3)
    xs = [a.transpose(2, 0, 1)[None].copy() for a in images]
    return xs + [rng.random((1, 3, 37, 21), dtype=np.float32),
                 rng.random((2, 3, 16, 24), dtype=np.float32)]


def outputs(model: bytes | str, xs: list[np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return [session.run(None, {"input": x})[0] for x in xs]


def test_shipped_models_fuse_their_output_path(tmp_path: Path) -> None:
    index = json.loads((MODELS / "index.json").read_text())
    for entry in index["models"]:
        path = MODELS / entry["file"]
        ops = optimized_ops(str(path), tmp_path)
        assert ("FusedConv", "Clip") in ops, entry["file"]
        assert "Add" not in [op for op, _ in ops] and ops[-1][0] == "DepthToSpace", \
            (entry["file"], ops[-4:])
        assert fusable_output_path(onnx.load(str(path))) == [], entry["file"]  # done once


@pytest.mark.parametrize("scale", [2, 3])
def test_new_export_fuses_and_keeps_every_value(scale: int, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    torch.manual_seed(0)
    model = create_model("rsp:channels=16,blocks=2,act=relu", scale).eval()
    card, descriptor = build_card(model, trained=False), model.descriptor(receptive_field(model))
    fused = export_onnx(model, tmp_path / "fused.onnx", card=card, descriptor=descriptor)
    monkeypatch.setattr(export_onnx_module, "fusable_output_path", lambda proto: [])
    plain = export_onnx(model, tmp_path / "plain.onnx", card=card, descriptor=descriptor)

    plain_ops = [op for op, _ in optimized_ops(str(plain), tmp_path)]
    assert plain_ops[-3:] == ["Add", "DepthToSpace", "Clip"]
    fused_ops = optimized_ops(str(fused), tmp_path)
    assert ("FusedConv", "Clip") in fused_ops and fused_ops[-1][0] == "DepthToSpace"
    xs = inputs()
    for a, b in zip(outputs(str(plain), xs), outputs(str(fused), xs), strict=True):
        assert a.shape == b.shape and np.array_equal(a, b)
    # The rewrite of the plain file gives the fused one's graph, and a second pass nothing.
    proto = onnx.load(str(plain))
    assert len(fusable_output_path(proto)) == 3
    assert fusable_output_path(proto) == []
    for a, b in zip(outputs(proto.SerializeToString(), xs), outputs(str(fused), xs),
                    strict=True):
        assert np.array_equal(a, b)


def test_graph_without_the_pattern_is_left_alone(exported_models) -> None:
    proto = onnx.load(str(exported_models("cae2:base=8", 2)))
    before = proto.SerializeToString()
    assert fusable_output_path(proto) == []
    assert proto.SerializeToString() == before
