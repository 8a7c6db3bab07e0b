"""Export targets beyond the plain ONNX file (`sronnx export --target`).

ncnn: MODEL.param / MODEL.bin through pnnx (float32 weights unless fp16), the input blob
named `data` and the output blob `output`, the file named NAME-xS (the names
realesrgan-ncnn-vulkan and Upscayl use), checked with ncnn's Python binding against ONNX
Runtime after writing.

opencv-legacy: an ONNX copy that OpenCV 4.6-4.10's importer takes: a fixed input size
(1 x 3 x H x W; the dynamic DepthToSpace fails there) and every constant Clip (opset 11+
Clip with min/max inputs, which those versions reject) rewritten as Relu, Mul and Add:
clip(x, lo, hi) = hi - relu((hi - lo) - relu(x - lo)), exact in float32 for [0, 1]. The
copy's descriptor says fixed size and batch 1, so the sronnx runtime tiles it.

Imports onnx, onnxruntime, ncnn and pnnx inside the functions that need them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TARGETS = ("onnx", "ncnn", "opencv-legacy")
DEFAULT_LEGACY_SIZE = (128, 128)  # (H, W): a 128 x 128 tile; the runtime tiles with overlap


class TargetError(ValueError):
    """The model cannot be written for the target (the message says why)."""


@dataclass
class TargetResult:
    """What a target wrote: `files`, and the check after writing (max abs difference with
    ONNX Runtime on `checked_shape`, against `bound`)."""

    files: list[Path]
    checked_shape: tuple[int, ...]
    max_abs: float
    bound: float

    @property
    def ok(self) -> bool:
        return self.max_abs <= self.bound


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (H, W), each 8..4096. Raises TargetError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not m:
        raise TargetError(f"size {text!r}: expected WxH, e.g. 128x128")
    w, h = int(m.group(1)), int(m.group(2))
    if not (8 <= w <= 4096 and 8 <= h <= 4096):
        raise TargetError(f"size {text!r}: width and height must be 8..4096")
    return h, w


def _ort_output(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _descriptor_and_card(path: Path):
    from sronnx.runtime import load_model

    info = load_model(path).info
    return info.descriptor, info.card


def ncnn_name(stem: str, scale: int) -> str:
    """The file stem Upscayl and realesrgan-ncnn-vulkan read the scale from: `stem` when it
    already names it as a word (rsp-x2, realesr-x4plus), else STEM-xS."""
    if re.search(rf"(^|[-_.])x{scale}($|[-_.a-z])", stem):
        return stem
    return f"{stem}-x{scale}"


def export_ncnn(onnx_path: Path, output: Path, fp16: bool = False,
                stem: str | None = None) -> TargetResult:
    """Write `onnx_path` (a float32 or float16 sronnx-style model, N x 3 x H x W in [0, 1])
    as ncnn files: `output` is NAME.param (NAME.bin beside it) or a folder, which then gets
    `ncnn_name(stem or the model's stem, scale)`.param/.bin. Checked after writing on a
    1 x 3 x 37 x 53 input (or the fixed size) against ONNX Runtime: max abs 1e-4 with
    float32 weights, 2e-2 with `fp16` weights. Raises TargetError for an int8 (QDQ) file, a
    failed conversion, or a model whose input is not float32 NCHW RGB."""
    from sronnx.export.matrix import (
        ConversionError,
        Unsupported,
        convert_to_ncnn,
        load_ncnn,
        plain_input,
        run_ncnn,
    )

    onnx_path, output = Path(onnx_path), Path(output)
    descriptor, card = _descriptor_and_card(onnx_path)
    other = plain_input(descriptor)
    if other:
        raise TargetError(f"{onnx_path}: takes {other}; the ncnn target writes models that "
                          "take float32 NCHW RGB in [0, 1]")
    if output.suffix == ".param":
        folder, name = output.parent, output.stem
    else:
        folder = output
        name = ncnn_name(stem or onnx_path.stem, descriptor.scale)
    fixed = descriptor.fixed_size
    h, w = fixed if fixed else (37, 53)
    try:
        param, weights = convert_to_ncnn(onnx_path, folder, name, input_shape=(3, h, w),
                                         fp16=fp16)
        net = load_ncnn(param, weights)
    except (Unsupported, ConversionError) as exc:
        raise TargetError(str(exc)) from exc
    x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    got = run_ncnn(net, x)
    want = _ort_output(onnx_path, x)
    err = (float(np.max(np.abs(got.astype(np.float64) - want))) if got.shape == want.shape
           else float("inf"))
    bound = 2e-2 if fp16 or card.precision == "float16" else 1e-4
    return TargetResult([param, weights], tuple(x.shape), err, bound)


def _constant(proto, name: str) -> np.ndarray | None:
    import onnx

    for init in proto.graph.initializer:
        if init.name == name:
            return onnx.numpy_helper.to_array(init)
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            for attr in node.attribute:
                if attr.name == "value":
                    return onnx.numpy_helper.to_array(attr.t)
    return None


def _rewrite_clips(proto) -> int:
    """Replace each Clip with constant min/max inputs by Relu/Mul/Add; returns how many.
    Raises TargetError for a Clip whose bounds are not constants."""
    import onnx
    from onnx import helper, numpy_helper

    count = 0
    nodes = []
    for i, node in enumerate(proto.graph.node):
        if node.op_type != "Clip" or len(node.input) <= 1:
            nodes.append(node)
            continue
        lo = _constant(proto, node.input[1]) if len(node.input) > 1 and node.input[1] else None
        hi = _constant(proto, node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if (len(node.input) > 1 and node.input[1] and lo is None) or (
                len(node.input) > 2 and node.input[2] and hi is None):
            raise TargetError(f"Clip {node.name}: bounds are not constants")
        lo_v = float(lo) if lo is not None else None
        hi_v = float(hi) if hi is not None else None
        src, out, tag = node.input[0], node.output[0], f"legacy_clip{i}"
        steps: list = []

        def const(value: float, label: str, tag: str = tag) -> str:
            name = f"{tag}_{label}"
            proto.graph.initializer.append(
                numpy_helper.from_array(np.array(value, dtype=np.float32), name))
            return name

        cur = src
        if lo_v is not None and lo_v != 0.0:
            steps.append(helper.make_node("Add", [cur, const(-lo_v, "neg_lo")], [f"{tag}_a"]))
            cur = f"{tag}_a"
        base = lo_v if lo_v is not None else None
        if base is None:  # only an upper bound: hi - relu(hi - x)
            steps.append(helper.make_node("Mul", [cur, const(-1.0, "m1")], [f"{tag}_n"]))
            steps.append(helper.make_node("Add", [f"{tag}_n", const(hi_v, "hi")], [f"{tag}_d"]))
            steps.append(helper.make_node("Relu", [f"{tag}_d"], [f"{tag}_r"]))
            steps.append(helper.make_node("Mul", [f"{tag}_r", const(-1.0, "m2")], [f"{tag}_s"]))
            steps.append(helper.make_node("Add", [f"{tag}_s", const(hi_v, "hi2")], [out]))
        elif hi_v is None:  # only a lower bound: relu(x - lo) + lo
            if lo_v == 0.0:
                steps.append(helper.make_node("Relu", [cur], [out]))
            else:
                steps.append(helper.make_node("Relu", [cur], [f"{tag}_r"]))
                steps.append(helper.make_node("Add", [f"{tag}_r", const(lo_v, "lo")], [out]))
        else:  # hi - relu((hi - lo) - relu(x - lo))
            steps.append(helper.make_node("Relu", [cur], [f"{tag}_r1"]))
            steps.append(helper.make_node("Mul", [f"{tag}_r1", const(-1.0, "m1")], [f"{tag}_n"]))
            steps.append(helper.make_node("Add", [f"{tag}_n", const(hi_v - lo_v, "span")],
                                          [f"{tag}_d"]))
            steps.append(helper.make_node("Relu", [f"{tag}_d"], [f"{tag}_r2"]))
            steps.append(helper.make_node("Mul", [f"{tag}_r2", const(-1.0, "m2")], [f"{tag}_s"]))
            steps.append(helper.make_node("Add", [f"{tag}_s", const(hi_v, "hi")], [out]))
        for k, step in enumerate(steps):
            step.name = f"{tag}_{k}"
        nodes += steps
        count += 1
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    used = {i for n in proto.graph.node for i in n.input}
    keep = [i for i in proto.graph.initializer if i.name in used]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)
    onnx.checker.check_model(proto)
    return count


def export_opencv_legacy(onnx_path: Path, output: Path,
                         size: tuple[int, int] = DEFAULT_LEGACY_SIZE) -> TargetResult:
    """Write an ONNX copy of `onnx_path` for OpenCV 4.6-4.10's importer to `output`: input
    fixed at 1 x 3 x H x W (`size` (H, W)), output 1 x 3 x sH x sW, constant Clips rewritten
    as Relu/Mul/Add; the card gains `"target": "opencv-legacy"`, the descriptor says fixed
    size and batch 1 (the sronnx runtime tiles it). Checked after writing on ONNX Runtime
    against the original at that size (max abs 1e-4; 2e-2 for a float16 file). Raises
    TargetError for an int8 (QDQ) file, a model with a fixed size of its own or a
    non-constant Clip."""
    import dataclasses

    import onnx

    from sronnx.export.onnx import write_model

    onnx_path, output = Path(onnx_path), Path(output)
    descriptor, card = _descriptor_and_card(onnx_path)
    if descriptor.fixed_size and tuple(descriptor.fixed_size) != tuple(size):
        raise TargetError(f"{onnx_path}: has its own fixed size {descriptor.fixed_size}")
    proto = onnx.load(str(onnx_path))
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in proto.graph.node):
        raise TargetError(f"{onnx_path}: an int8 QDQ model; OpenCV 4.x is given the float32 "
                          "file (opencv-legacy copies float32 and float16 models)")
    h, w = size
    s = descriptor.scale
    dims_in = proto.graph.input[0].type.tensor_type.shape.dim
    dims_out = proto.graph.output[0].type.tensor_type.shape.dim
    for dim, value in zip(dims_in, (1, descriptor.in_channels, h, w), strict=True):
        dim.Clear()
        dim.dim_value = value
    for dim, value in zip(dims_out, (1, descriptor.out_channels, s * h, s * w), strict=True):
        dim.Clear()
        dim.dim_value = value
    del proto.graph.value_info[:]
    clips = _rewrite_clips(proto)
    proto = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    new_descriptor = dataclasses.replace(descriptor, size_requirement="fixed",
                                         fixed_size=(h, w), batch=1)
    new_card = {**card.to_dict(), "target": "opencv-legacy",
                "target_note": f"fixed input 1x3x{h}x{w}; {clips} Clip rewritten as Relu"}
    write_model(proto, output, card=new_card, descriptor=new_descriptor)
    x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    got, want = _ort_output(output, x), _ort_output(onnx_path, x)
    err = float(np.max(np.abs(got.astype(np.float64) - want)))
    bound = 2e-2 if card.precision == "float16" else 1e-4
    return TargetResult([output], tuple(x.shape), err, bound)


def write_target(onnx_path: Path, target: str, output: Path, fp16: bool = False,
                 size: tuple[int, int] = DEFAULT_LEGACY_SIZE,
                 stem: str | None = None) -> TargetResult:
    """Dispatch to `export_ncnn` or `export_opencv_legacy`. Raises TargetError."""
    if target == "ncnn":
        return export_ncnn(onnx_path, output, fp16=fp16, stem=stem)
    if target == "opencv-legacy":
        return export_opencv_legacy(onnx_path, output, size=size)
    raise TargetError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
