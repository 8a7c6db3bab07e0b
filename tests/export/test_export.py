"""`sronnx export` / `sronnx verify`: one self-contained file, dynamic sizes, proven parity."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from helpers import invoke  # noqa: E402

from sronnx.core.card import ModelFileError  # noqa: E402
from sronnx.export import pad_int8_conv_outputs  # noqa: E402
from sronnx.export.onnx import check_onnx_file  # noqa: E402
from sronnx.runtime.session import cuda_unavailable_reason, load_model  # noqa: E402

# Small widths where the full ones are slow; every family of the registry.
SPECS = ["cae2:base=8", "cae3:base=8", "cae4:base=8,kernel=6", "espcn", "fsrcnn",
         "rsp:channels=16,blocks=2,res=true,act=relu"]


# Each family once, the scales in turn (every scale twice or more; FSRCNN's transposed
# convolution at an even stride too): the scale changes only the last layer's shape, and
# 18 export + verify pairs cost over two minutes of the suite.
CASES = [(spec, (2, 3, 4)[i % 3]) for i, spec in enumerate(SPECS)] + [("fsrcnn", 2)]


@pytest.mark.parametrize(("spec", "scale"), CASES)
def test_every_architecture_exports_and_verifies(spec: str, scale: int, tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    code, text = invoke("export", "--arch", spec, "--scale", str(scale), "-o", str(out))
    assert code == 0, text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no side file
    assert check_onnx_file(out) == ["batch", "3", f"{scale}*height", f"{scale}*width"]
    code, text = invoke("verify", str(out))
    assert code == 0, text
    assert "onnx-reference" in text and "random 1x3x1x1" in text and "random 2x3x31x17" in text


def test_an_opset_the_exporter_cannot_reach_is_refused(tmp_path: Path) -> None:
    """--opset 17: torch's exporter writes 18 and converts down; ESPCN converts, rsp's Pad
    does not. That rsp file was written at opset 18 after a converter traceback, exit 0
    (found by a new user); it is now refused in one line, nothing written."""
    out = tmp_path / "e.onnx"
    code, text = invoke("export", "--arch", "espcn", "--scale", "2", "--opset", "17",
                        "-o", str(out))
    assert code == 0, text
    assert [o.version for o in onnx.load(str(out)).opset_import if o.domain in ("", "ai.onnx")] \
        == [17]
    out = tmp_path / "r.onnx"
    code, text = invoke("export", "--arch", "rsp:channels=8,blocks=1", "--scale", "2",
                        "--opset", "17", "-o", str(out))
    assert code == 1 and "cannot write this model at opset 17" in text, text
    assert "--opset 18 or later" in text and "Traceback" not in text, text
    assert not out.exists()


def test_file_is_about_four_bytes_per_parameter(tmp_path: Path) -> None:
    out = tmp_path / "cae3.onnx"
    code, text = invoke("export", "--arch", "cae3", "--scale", "2", "-o", str(out))
    assert code == 0, text
    params = load_model(out).info.card.params
    ratio = out.stat().st_size / params
    assert 4.0 <= ratio < 4.05, ratio
    assert not (tmp_path / "cae3.onnx.data").exists()


def test_model_runs_with_only_onnxruntime_and_numpy(exported_models) -> None:
    model = exported_models("cae3:base=8", 3)
    code = textwrap.dedent(f"""
        import sys
        import numpy as np, onnxruntime as ort
        s = ort.InferenceSession({str(model)!r}, providers=["CPUExecutionProvider"])
        for shape in [(1, 3, 37, 53), (2, 3, 17, 9), (1, 3, 1, 1), (1, 3, 100, 7)]:
            x = np.random.rand(*shape).astype(np.float32)
            y = s.run(["output"], {{"input": x}})[0]
            n, c, h, w = shape
            assert y.shape == (n, 3, 3 * h, 3 * w), y.shape
            assert y.dtype == np.float32 and 0 <= y.min() and y.max() <= 1
        meta = s.get_modelmeta().custom_metadata_map
        assert "sronnx.descriptor" in meta and "sronnx.card" in meta
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "sronnx"))
        assert not loaded, loaded
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_fixed_size_model_exports_fixed_and_refuses_others(tmp_path: Path) -> None:
    out = tmp_path / "fc.onnx"
    spec = "cae2:base=8,bottleneck=fc,fixed=16,latent=16"
    code, text = invoke("export", "--arch", spec, "--scale", "2", "-o", str(out))
    assert code == 0, text
    assert "fixed input size 16x16" in text
    loaded = load_model(out)
    assert loaded.info.descriptor.size_requirement == "fixed"
    assert loaded.info.descriptor.fixed_size == (16, 16)
    assert loaded.session.get_inputs()[0].shape == ["batch", 3, 16, 16]
    y = loaded.session.run(None, {"input": np.random.rand(2, 3, 16, 16).astype(np.float32)})[0]
    assert y.shape == (2, 3, 32, 32)
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        loaded.session.run(None, {"input": np.random.rand(1, 3, 17, 16).astype(np.float32)})
    code, text = invoke("verify", str(out))
    assert code == 0, text


def test_checkpoint_export_card_info_and_verify(train_images: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, text = invoke("train", "--arch", "rsp:channels=8,blocks=1", "--scale", "2", "--data",
                        str(train_images), "--steps", "4", "--batch", "2", "--patch", "24",
                        "--val-every", "2", "--out", str(run), "--threads", "1")
    assert code == 0, text
    out = tmp_path / "trained.onnx"
    code, text = invoke("export", str(run / "last.pt"), "-o", str(out))
    assert code == 0, text
    card = load_model(out).info.card
    assert card.trained is True and card.training.steps == 4
    assert card.spec == "rsp:blocks=1,channels=8" and len(card.weights_sha256) == 64
    code, text = invoke("info", str(out))
    assert code == 0 and "weights_sha256" in text and "2*height" in text
    code, text = invoke("verify", str(out), "--checkpoint", str(run / "last.pt"),
                        "--images", str(train_images))
    assert code == 0, text
    assert "image " in text
    # A checkpoint whose weights differ from the card is refused.
    other = tmp_path / "other"
    code, _ = invoke("train", "--arch", "rsp:channels=8,blocks=1", "--scale", "2", "--data",
                     str(train_images), "--steps", "2", "--batch", "2", "--patch", "24",
                     "--out", str(other), "--seed", "5", "--threads", "1")
    assert code == 0
    code, text = invoke("verify", str(out), "--checkpoint", str(other / "last.pt"))
    assert code == 1 and "do not match" in text


def test_untrained_card_says_so(exported_models) -> None:
    card = load_model(exported_models("espcn", 2)).info.card
    assert card.trained is False and "untrained" in card.training.note


def test_fp16_export_runs_on_cpu(train_images: Path, tmp_path: Path) -> None:
    out = tmp_path / "h.onnx"
    code, text = invoke("export", "--arch", "rsp:channels=16,blocks=2", "--scale", "3",
                        "--fp16", "--calib", str(train_images), "-o", str(out))
    assert code == 0, text
    assert "float16: PSNR-Y" in text
    loaded = load_model(out)
    assert loaded.info.card.precision == "float16"
    assert any(i.data_type == onnx.TensorProto.FLOAT16
               for i in onnx.load(str(out)).graph.initializer)
    y = loaded.session.run(None, {"input": np.random.rand(2, 3, 21, 13).astype(np.float32)})[0]
    assert y.shape == (2, 3, 63, 39) and y.dtype == np.float32 and np.isfinite(y).all()


def test_int8_export_reports_loss_and_refuses_beyond_limit(train_images: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "q.onnx"
    code, text = invoke("export", "--arch", "espcn", "--scale", "2", "--int8", "--calib",
                        str(train_images), "-o", str(out), "--max-psnr-loss", "5")
    assert code == 0, text
    assert "int8: PSNR-Y" in text
    model = onnx.load(str(out))
    assert any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    loaded = load_model(out)
    assert loaded.info.card.precision == "int8"
    x = np.random.rand(1, 3, 19, 23).astype(np.float32)
    y = loaded.session.run(None, {"input": x})[0]
    assert y.shape == (1, 3, 38, 46)
    # The body's convolutions quantised with output channels in multiples of 16 (64, 32)
    # and the first one's inputs padded to 4; the last one, which writes the image, stays
    # float32 with the final clamp, which stays a float Clip (moved before depth-to-space
    # for ONNX Runtime's fusion, it was once taken for an activation and quantised).
    weights = {i.name: i for i in model.graph.initializer}
    quantized = [weights[n.input[1].removesuffix("_DequantizeLinear_Output") + "_quantized"]
                 for n in model.graph.node if n.op_type == "Conv"
                 and n.input[1].endswith("_DequantizeLinear_Output")]
    assert len(quantized) == 2 and all(w.dims[0] % 16 == 0 for w in quantized)
    assert quantized[0].dims[1] == 4  # the first reads RGB and a zero channel
    ops = [n.op_type for n in model.graph.node]
    assert ops[-3:] == ["Conv", "Clip", "DepthToSpace"] and ops[-4] != "DequantizeLinear"
    # quantised, the last convolution's output had 256 levels: a smooth ramp came back in
    # about 100 values, where float32 gives thousands
    ramp = np.tile(np.linspace(0.2, 0.8, 512, dtype=np.float32), (3, 16, 1))[None]
    assert len(np.unique(loaded.session.run(None, {"input": ramp})[0])) > 5000
    # padding the quantised outputs again, to 40, keeps every output value
    assert len(pad_int8_conv_outputs(model, multiple=40)) == 2
    again = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert np.array_equal(again.run(None, {"input": x})[0], y)
    refused = tmp_path / "refused.onnx"
    code, text = invoke("export", "--arch", "espcn", "--scale", "2", "--int8", "--calib",
                        str(train_images), "-o", str(refused), "--max-psnr-loss", "-1")
    assert code == 1 and "refusing to write" in text
    assert not refused.exists()


def test_untrusted_model_files(tmp_path: Path, exported_models) -> None:
    good = exported_models("espcn", 2).read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelFileError, match="truncated.onnx"):
        load_model(truncated)
    junk = tmp_path / "junk.onnx"
    junk.write_text("print('hello')")
    with pytest.raises(ModelFileError, match="junk.onnx"):
        load_model(junk)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        load_model(empty)
    # External data that points outside the model's folder is refused.
    from onnx import TensorProto, helper

    (tmp_path / "secret.bin").write_bytes(np.ones(4, np.float32).tobytes())
    (tmp_path / "models").mkdir()
    for location in ("../secret.bin", str(tmp_path / "secret.bin")):
        w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4],
                        data_location=TensorProto.EXTERNAL)
        w.external_data.add(key="location", value=location)
        graph = helper.make_graph(
            [helper.make_node("Add", ["x", "w"], ["y"])], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [w])
        path = tmp_path / "models" / "escape.onnx"
        path.write_bytes(helper.make_model(graph).SerializeToString())
        with pytest.raises(ModelFileError, match="(?i)escape.onnx.*external data"):
            load_model(path)
    code, text = invoke("verify", str(junk))
    assert code == 2 and "junk.onnx" in text


@pytest.mark.skipif(cuda_unavailable_reason() is None, reason="CUDA is available here")
def test_verify_cuda_without_cuda_exits_2(exported_models) -> None:
    code, text = invoke("verify", str(exported_models("espcn", 2)), "--provider", "cuda")
    assert code == 2 and "CUDA" in text


@pytest.mark.skipif(cuda_unavailable_reason() is not None,
                    reason="needs the CUDA execution provider (onnxruntime-gpu and a GPU)")
def test_cuda_parity(exported_models) -> None:
    code, text = invoke("verify", str(exported_models("rsp:channels=16,blocks=2", 2)),
                        "--provider", "cuda")
    assert code == 0, text
    assert "onnxruntime-cuda" in text
