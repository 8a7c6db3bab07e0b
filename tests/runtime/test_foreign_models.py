"""The "models made elsewhere" of helpers.py, checked with plain ONNX Runtime.

Each converting variant, run on a converted random input, gives the original model's output
(converted back) within a tight tolerance; the size-restricted ones reject what they must;
the models that are not super-resolution models load and have the stated shapes and types.
sronnx's own upscaler is deliberately not used here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import helpers as fm
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from helpers import MODELS

SRC = MODELS / "rsp-x2.onnx"
SCALE = 2
# Batch 2, H != W, both multiples of 8 (for multiple_of).
SHAPE = (2, 3, 24, 32)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the variants are written."""
    if not SRC.is_file():
        pytest.skip(f"shipped model not available: {SRC}")
    return tmp_path_factory.mktemp("foreign")


@pytest.fixture(scope="module")
def original() -> ort.InferenceSession:
    """The shipped model, in ONNX Runtime."""
    return _session(SRC)


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    """A random float32 RGB batch in [0, 1]."""
    return np.random.default_rng(0).random(SHAPE, dtype=np.float32)


def _session(path: Path) -> ort.InferenceSession:
    """An ONNX Runtime session on CPU."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, *arrays: np.ndarray) -> np.ndarray:
    """The session's one output for its inputs, in order."""
    feeds = {i.name: a for i, a in zip(session.get_inputs(), arrays, strict=True)}
    (out,) = session.run(None, feeds)
    return out


def _make(folder: Path, name: str, **kwargs) -> tuple[Path, ort.InferenceSession]:
    """Write variant `name` of the shipped model and open it."""
    fn: Callable[..., Path] = fm.VARIANTS[name]
    path = fn(SRC, folder / f"{name}.onnx", **kwargs)
    assert path == folder / f"{name}.onnx" and path.is_file()
    return path, _session(path)


def _metadata(path: Path) -> dict[str, str]:
    """The model's metadata_props as a dict."""
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(fm.VARIANTS))
def test_valid_same_opset_and_ir(folder: Path, name: str) -> None:
    """Every variant passes the strict checker and keeps the original's opset and IR."""
    path = fm.VARIANTS[name](SRC, folder / f"checked_{name}.onnx")
    model, source = onnx.load(str(path)), onnx.load(str(SRC))
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == source.ir_version
    assert fm._opset(model) == fm._opset(source) == 18
    assert len(model.graph.input) == 1 and len(model.graph.output) == 1
    if name not in ("renamed", "fixed_batch", "range_255"):
        assert not model.metadata_props and model.producer_name == "elsewhere"


def test_strip_metadata(folder: Path, original: ort.InferenceSession, x: np.ndarray) -> None:
    """No metadata, producer "elsewhere", no doc string; the same outputs."""
    path, session = _make(folder, "strip_metadata")
    model = onnx.load(str(path))
    assert not model.metadata_props
    assert model.producer_name == "elsewhere" and model.doc_string == ""
    assert fm.scale_of(model) == SCALE  # from the output's dim names alone
    np.testing.assert_array_equal(_run(session, x), _run(original, x))


def test_renamed(folder: Path, original: ort.InferenceSession, x: np.ndarray) -> None:
    """Input "lr", output "sr", metadata kept; the same outputs."""
    path, session = _make(folder, "renamed")
    assert [i.name for i in session.get_inputs()] == ["lr"]
    assert [o.name for o in session.get_outputs()] == ["sr"]
    assert _metadata(path) == _metadata(SRC)
    np.testing.assert_array_equal(_run(session, x), _run(original, x))


def test_fixed_size(folder: Path, original: ort.InferenceSession) -> None:
    """1 x 3 x 64 x 64 in, 1 x 3 x 128 x 128 out; 48 x 64 (and batch 2) rejected."""
    path, session = _make(folder, "fixed_size")
    assert session.get_inputs()[0].shape == [1, 3, 64, 64]
    assert session.get_outputs()[0].shape == [1, 3, 128, 128]
    assert not _metadata(path)
    x = np.random.default_rng(1).random((1, 3, 64, 64), dtype=np.float32)
    np.testing.assert_allclose(_run(session, x), _run(original, x), rtol=0, atol=1e-6)
    with pytest.raises(Exception, match="(?i)dimension"):
        _run(session, x[:, :, :48])
    with pytest.raises(Exception, match="(?i)dimension"):
        _run(session, np.concatenate([x, x]))
    kept = fm.fixed_size(SRC, folder / "fixed_kept.onnx", height=32, width=48,
                         keep_metadata=True)
    assert _metadata(kept) == _metadata(SRC)
    assert _session(kept).get_outputs()[0].shape == [1, 3, 64, 96]


def test_fixed_batch(folder: Path, original: ort.InferenceSession, x: np.ndarray) -> None:
    """Batch fixed to 1, any height and width; batch 2 rejected."""
    _, session = _make(folder, "fixed_batch")
    assert session.get_inputs()[0].shape == [1, 3, "height", "width"]
    for one in (x[:1], x[:1, :, :17, :9]):
        np.testing.assert_allclose(_run(session, one), _run(original, one), rtol=0, atol=1e-6)
    with pytest.raises(Exception, match="(?i)dimension"):
        _run(session, x)


def test_float16_io(folder: Path, original: ort.InferenceSession, x: np.ndarray) -> None:
    """float16 in and out; the original's output within float16 rounding."""
    _, session = _make(folder, "float16_io")
    half = x.astype(np.float16)
    out = _run(session, half)
    assert out.dtype == np.float16 and out.shape == (2, 3, 48, 64)
    # Of the same (rounded) input: only the output's rounding to float16.
    expected = _run(original, half.astype(np.float32))
    np.testing.assert_allclose(out.astype(np.float32), expected, rtol=0, atol=5e-4)
    # Of the unrounded input: within 2e-3 of [0, 1].
    np.testing.assert_allclose(out.astype(np.float32), _run(original, x), rtol=0, atol=2e-3)


def test_uint8_io(folder: Path, original: ort.InferenceSession, x: np.ndarray) -> None:
    """uint8 in and out; the original's output within one level."""
    _, session = _make(folder, "uint8_io")
    levels = np.round(x * 255).astype(np.uint8)
    out = _run(session, levels)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 48, 64)
    expected = _run(original, levels.astype(np.float32) / 255) * 255
    assert np.abs(out.astype(np.float32) - expected).max() <= 0.5 + 1e-3
    # And as an 8-bit pipeline would do it: at most one level off.
    reference = np.clip(np.round(expected), 0, 255)
    assert np.abs(out.astype(np.int16) - reference.astype(np.int16)).max() <= 1


def test_range_255(folder: Path, original: ort.InferenceSession, x: np.ndarray) -> None:
    """Float 0..255 in and out; the descriptor says so (its other keys kept), or is absent."""
    path, session = _make(folder, "range_255")
    out = _run(session, x * 255)
    np.testing.assert_allclose(out / 255, _run(original, x), rtol=0, atol=1e-5)
    desc, source = (json.loads(_metadata(p)[fm.DESCRIPTOR_KEY]) for p in (path, SRC))
    assert desc["value_range"] == [0.0, 255.0]
    assert {k: v for k, v in desc.items() if k != "value_range"} == \
        {k: v for k, v in source.items() if k != "value_range"}
    bare = fm.range_255(SRC, folder / "range_255_bare.onnx", with_descriptor=False)
    assert not _metadata(bare)


def test_luma(folder: Path, original: ort.InferenceSession, x: np.ndarray) -> None:
    """One channel in and out; the channel mean of the original's output on a grey image."""
    _, session = _make(folder, "luma")
    y = x[:, :1]
    out = _run(session, y)
    assert out.shape == (2, 1, 48, 64)
    grey = _run(original, np.repeat(y, 3, axis=1))
    np.testing.assert_allclose(out, grey.mean(axis=1, keepdims=True), rtol=0, atol=1e-6)


def test_bgr(folder: Path, original: ort.InferenceSession, x: np.ndarray) -> None:
    """BGR in and out: the original's output, channels reversed."""
    _, session = _make(folder, "bgr")
    out = _run(session, np.ascontiguousarray(x[:, ::-1]))
    np.testing.assert_allclose(out[:, ::-1], _run(original, x), rtol=0, atol=1e-6)


def test_nhwc(folder: Path, original: ort.InferenceSession, x: np.ndarray) -> None:
    """N x H x W x 3 in and out: the original's output, transposed."""
    _, session = _make(folder, "nhwc")
    out = _run(session, np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    assert out.shape == (2, 48, 64, 3)
    np.testing.assert_allclose(out.transpose(0, 3, 1, 2), _run(original, x), rtol=0, atol=1e-6)


def test_rgba(folder: Path, original: ort.InferenceSession, x: np.ndarray) -> None:
    """RGBA in and out: RGB as the original, alpha repeated scale x scale."""
    _, session = _make(folder, "rgba")
    alpha = np.random.default_rng(2).random((2, 1, 24, 32), dtype=np.float32)
    out = _run(session, np.concatenate([x, alpha], axis=1))
    assert out.shape == (2, 4, 48, 64)
    np.testing.assert_allclose(out[:, :3], _run(original, x), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out[:, 3:],
                                  alpha.repeat(SCALE, axis=2).repeat(SCALE, axis=3))


def test_multiple_of(folder: Path, original: ort.InferenceSession, x: np.ndarray) -> None:
    """Multiples of 8 only: 24 x 16 works (as the original), 20 x 17 is rejected."""
    _, session = _make(folder, "multiple_of")
    ok = np.ascontiguousarray(x[:, :, :24, :16])
    np.testing.assert_allclose(_run(session, ok), _run(original, ok), rtol=0, atol=1e-6)
    with pytest.raises(Exception, match="(?i)divisible|blocksize|block"):
        _run(session, np.ascontiguousarray(x[:, :, :20, :17]))


def test_not_a_multiple(folder: Path, original: ort.InferenceSession, x: np.ndarray) -> None:
    """The original's output without its last row: 2H - 1 rows."""
    _, session = _make(folder, "not_a_multiple")
    out = _run(session, x)
    assert out.shape == (2, 3, 47, 64)
    np.testing.assert_allclose(out, _run(original, x)[:, :, :-1], rtol=0, atol=1e-6)


def test_not_image_model(tmp_path: Path, x: np.ndarray) -> None:
    """N x 3 x H x W float in, N x 3 (the channel means) out."""
    session = _session(fm.not_image_model(tmp_path / "means.onnx"))
    assert session.get_outputs()[0].shape == ["batch", 3]
    out = _run(session, x)
    assert out.shape == (2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, x.mean(axis=(2, 3)), rtol=1e-5)


def test_two_inputs(tmp_path: Path, x: np.ndarray) -> None:
    """Two float inputs of N x 3 x H x W, one output (their sum)."""
    session = _session(fm.two_inputs(tmp_path / "two.onnx"))
    inputs = session.get_inputs()
    assert len(inputs) == 2 and len(session.get_outputs()) == 1
    assert all(i.type == "tensor(float)" and i.shape == ["batch", 3, "height", "width"]
               for i in inputs)
    np.testing.assert_array_equal(_run(session, x, 1 - x), x + (1 - x))


def test_int32_input(tmp_path: Path) -> None:
    """An int32 N x 3 x H x W input, the same values as float out."""
    session = _session(fm.int32_input(tmp_path / "int32.onnx"))
    assert session.get_inputs()[0].type == "tensor(int32)"
    assert session.get_outputs()[0].type == "tensor(float)"
    values = np.arange(2 * 3 * 4 * 5, dtype=np.int32).reshape(2, 3, 4, 5)
    out = _run(session, values)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, values.astype(np.float32))


@pytest.mark.parametrize("fn", [fm.not_image_model, fm.two_inputs, fm.int32_input])
def test_standalone_valid(tmp_path: Path, fn: Callable[[Path], Path]) -> None:
    """The models built from nothing pass the strict checker, opset 18, IR 10."""
    model = onnx.load(str(fn(tmp_path / "m.onnx")))
    onnx.checker.check_model(model, full_check=True)
    assert fm._opset(model) == 18 and model.ir_version == 10


@pytest.mark.parametrize("scale", [3, 4])
def test_other_scales(tmp_path: Path, scale: int) -> None:
    """The scale is read from the model (descriptor, or dim names once stripped): x3 and x4
    models give fixed sizes and alpha upscaled by their own scale."""
    src = SRC.with_name(f"rsp-x{scale}.onnx")
    if not src.is_file():
        pytest.skip(f"shipped model not available: {src}")
    stripped = onnx.load(str(fm.strip_metadata(src, tmp_path / "bare.onnx")))
    assert fm.scale_of(stripped) == scale
    fixed = _session(fm.fixed_size(src, tmp_path / "fixed.onnx", height=16, width=24))
    assert fixed.get_outputs()[0].shape == [1, 3, 16 * scale, 24 * scale]
    session = _session(fm.rgba(tmp_path / "bare.onnx", tmp_path / "rgba.onnx"))
    rng = np.random.default_rng(3)
    rgb, alpha = rng.random((1, 3, 8, 12), dtype=np.float32), rng.random((1, 1, 8, 12),
                                                                          dtype=np.float32)
    out = _run(session, np.concatenate([rgb, alpha], axis=1))
    np.testing.assert_allclose(out[:, :3], _run(_session(src), rgb), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(out[:, 3:], alpha.repeat(scale, axis=2).repeat(scale, axis=3))
