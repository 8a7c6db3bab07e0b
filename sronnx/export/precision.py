"""Reduced-precision variants of an exported model (float16, static int8 QDQ), each checked
against the float32 model on real calibration images before it is written.

Export side: imports onnx and onnxruntime.quantization.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import onnxruntime as ort

from sronnx.core import ModelDescriptor, path_name
from sronnx.export.fusion import fusable_output_path
from sronnx.imaging import psnr_y, quantize
from sronnx.train import DataError, centre_crop, load_pairs, to_nchw_float

# Default largest PSNR loss (dB, Y channel, calibration images) accepted without --force.
MAX_LOSS_DB = {"float16": 0.05, "int8": 0.3}


def calibration_set(folder: str | Path, scale: int, crop: int = 96, limit: int = 16,
                    fixed: tuple[int, int] | None = None
                    ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(LR float32 1x3xhxw, HR uint8 HxWx3) centre crops of the first `limit` images."""
    pairs = load_pairs(folder, scale)[:limit]
    out = []
    ch, cw = fixed if fixed else (crop, crop)
    for p in pairs:
        h, w = p.lr.shape[:2]
        if fixed and (h < ch or w < cw):
            continue
        lr, hr = centre_crop(p, scale, ch, cw)
        out.append((to_nchw_float(lr), hr))
    if not out:
        raise ValueError(f"{folder}: no calibration images usable at scale {scale}")
    return out


def mean_psnr(model_path: Path, images: list[tuple[np.ndarray, np.ndarray]], scale: int) -> float:
    """Mean Y-PSNR (8-bit output, border = scale) of an ONNX model on ONNX Runtime CPU."""
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    values = []
    for lr, hr in images:
        sr = sess.run(None, {name: lr})[0][0].transpose(1, 2, 0)
        values.append(psnr_y(quantize(sr), hr, border=scale))
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.inf


class _Reader:
    """Feeds calibration inputs to onnxruntime's static quantizer."""

    def __init__(self, input_name: str, images: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self._items = iter([{input_name: lr} for lr, _ in images])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def rewind(self) -> None:  # pragma: no cover - not used by quantize_static's MinMax
        pass


# Activations that end a hidden layer: a convolution followed by one is part of the body.
_ACTIVATIONS = frozenset({"Relu", "LeakyRelu", "PRelu", "Elu", "Gelu", "Softplus", "Tanh",
                          "Sigmoid", "HardSigmoid", "Clip"})
INT8_SCHEME = "body"  # recorded in the card: what the int8 file quantizes


def body_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes static int8 quantizes: the body's convolutions (those whose output
    feeds an activation, and the last one, whose input comes from an activation, unless it
    writes the image itself, as ESPCN's and FSRCNN's do) and those activations. Everything
    on the output path stays float32: the bicubic skip (its padding and convolution), the
    addition of skip and detail, a last convolution that makes the output, depth-to-space
    and the final clamp, and so does the input the skip reads. Quantizing those (the first
    int8 files did) rounds the output itself to 256 levels: white 255 came back 254 and a
    16-bit ramp kept 4 levels per row."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    producer: dict[str, onnx.NodeProto] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        for name in node.output:
            producer[name] = node

    outputs = {o.name for o in model.graph.output}

    def reaches_output(out: str) -> bool:
        # through depth-to-space and the final clamp only (in either order: export moves
        # the clamp before depth-to-space for ONNX Runtime's fusion)
        while out not in outputs:
            after = consumers.get(out, [])
            if len(after) != 1 or after[0].op_type not in ("DepthToSpace", "Clip"):
                return False
            out = after[0].output[0]
        return True

    def is_act(node: onnx.NodeProto | None) -> bool:
        return node is not None and node.op_type in _ACTIVATIONS and \
            not (node.op_type == "Clip" and reaches_output(node.output[0]))

    chosen: list[str] = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        acts = [c for c in consumers.get(node.output[0], []) if is_act(c)]
        if not acts and reaches_output(node.output[0]):
            continue  # it writes the image itself (ESPCN, FSRCNN): quantised, 256 levels
        if acts or is_act(producer.get(node.input[0])):
            chosen.append(node.name)
            chosen += [a.name for a in acts]
    return chosen


def _float_inputs_for_float_nodes(model: onnx.ModelProto, quantized: set[str]) -> None:
    """The quantizer gives every consumer of the graph input its dequantized (8-bit) copy;
    nodes left in float32 (the bicubic skip) read the input itself again."""
    inputs = {i.name for i in model.graph.input}
    for node in model.graph.node:
        if node.name in quantized or node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for k, name in enumerate(node.input):
            base = name.removesuffix("_DequantizeLinear_Output")
            if base != name and base in inputs:
                node.input[k] = base


# ONNX Runtime's int8 convolution (QLinearConv, fused from the QDQ pattern) is slow when its
# output channels are not a multiple of 16. On this machine's CPU (one thread, 640x360 input):
# rsp-x3-int8's last body convolution (27 outputs) took 41.6 ms against 10.4 ms for each of
# its 32-output ones, rsp-x2-int8's (12 outputs) 54.8 ms against 17.4 ms for its 48-output
# ones; padded, 9.9 and 10.9 ms, and the whole models 1.18-1.28x faster
# (bench/results/int8_pad.txt).
INT8_CHANNEL_MULTIPLE = 16


def pad_int8_conv_outputs(model: onnx.ModelProto,
                          multiple: int = INT8_CHANNEL_MULTIPLE) -> list[str]:
    """Give each QDQ convolution whose output channel count is not a multiple of `multiple`
    zero filters up to the next multiple, and slice the extra channels off after its output
    DequantizeLinear. Exact: the added channels are computed apart and dropped, and the
    output's per-tensor scale is unchanged, so the model's outputs are bit-identical. Edits
    `model` in place; returns the names of the convolutions padded."""
    from onnx import helper, numpy_helper

    init = {t.name: t for t in model.graph.initializer}
    nodes = list(model.graph.node)
    outputs = {o.name for o in model.graph.output}
    padded: list[str] = []
    touched: set[str] = set()
    for node in nodes:
        if node.op_type != "Conv" or len(node.input) < 2:
            continue
        weight = node.input[1].removesuffix("_DequantizeLinear_Output")
        if weight + "_quantized" not in init:
            continue
        count = init[weight + "_quantized"].dims[0]
        target = -(-count // multiple) * multiple
        dq = _output_dequantize(nodes, node.output[0])
        if target == count or dq is None or dq.output[0] in outputs:
            continue
        for name in _per_channel_tensors(node, init):
            arr = numpy_helper.to_array(init[name])
            fill = arr[:1] if name.endswith("scale") else np.zeros_like(arr[:1])
            extra = np.repeat(fill, target - count, axis=0)
            init[name].CopyFrom(numpy_helper.from_array(np.concatenate([arr, extra]), name))
        cut = f"{node.name or weight}_channels{target}"
        model.graph.initializer.extend(
            numpy_helper.from_array(np.array([v], np.int64), f"{cut}_{key}")
            for key, v in (("start", 0), ("end", count), ("axis", 1)))
        sliced = f"{dq.output[0]}_sliced{target}"
        for other in nodes:
            for k, name in enumerate(other.input):
                if name == dq.output[0]:
                    other.input[k] = sliced
        position = list(model.graph.node).index(dq) + 1
        model.graph.node.insert(position, helper.make_node(
            "Slice", [dq.output[0], f"{cut}_start", f"{cut}_end", f"{cut}_axis"], [sliced],
            name=f"{cut}_slice"))
        touched.update({node.output[0], node.input[1], node.input[2] if len(node.input) > 2
                        else "", dq.output[0]})
        touched.update(n.output[0] for n in nodes if n.op_type == "QuantizeLinear"
                       and n.input[0] == node.output[0])
        padded.append(node.name or weight)
    _forget_shapes(model, touched)
    return padded


# ...and when it reads 3 channels: rsp-x3-int8's first convolution (3 -> 32) took 19.6 ms
# against 10.8 ms for a 32 -> 32 one (ten times the work); given a fourth, zero channel,
# 8.2 ms; the x2 and x4 files' 25.6-28.4 ms became 8.3-10.3 (bench/results/int8_pad.txt).
INT8_INPUT_MULTIPLE = 4


def pad_int8_conv_inputs(model: onnx.ModelProto,
                         multiple: int = INT8_INPUT_MULTIPLE) -> list[str]:
    """Give each QDQ convolution that reads the quantized graph input, with an input channel
    count that is not a multiple of `multiple`, zero weights for extra input channels, and
    pad its quantized input with channels at the zero point (0.0 once dequantized). Exact:
    the added channels contribute nothing. Only where the input's DequantizeLinear feeds that
    convolution alone. Edits `model` in place; returns the names of the convolutions padded."""
    from onnx import helper, numpy_helper

    init = {t.name: t for t in model.graph.initializer}
    nodes = list(model.graph.node)
    producer = {out: n for n in nodes for out in n.output}
    inputs = {i.name for i in model.graph.input}
    padded: list[str] = []
    for node in nodes:
        if node.op_type != "Conv" or len(node.input) < 2 or \
                any(a.name == "group" and a.i != 1 for a in node.attribute):
            continue
        weight = node.input[1].removesuffix("_DequantizeLinear_Output") + "_quantized"
        dq = producer.get(node.input[0])
        q = producer.get(dq.input[0]) if dq is not None else None
        if weight not in init or dq is None or dq.op_type != "DequantizeLinear" or \
                q is None or q.op_type != "QuantizeLinear" or q.input[0] not in inputs or \
                [n for n in nodes if dq.output[0] in n.input] != [node]:
            continue
        arr = numpy_helper.to_array(init[weight])
        count = arr.shape[1]
        target = -(-count // multiple) * multiple
        if target == count:
            continue
        extra = np.zeros((arr.shape[0], target - count, *arr.shape[2:]), arr.dtype)
        init[weight].CopyFrom(numpy_helper.from_array(np.concatenate([arr, extra], axis=1),
                                                      weight))
        name = f"{node.name or weight}_inputs{target}"
        zero_point = numpy_helper.to_array(init[dq.input[2]]).reshape(())
        rank = 4
        pads = [0] * (2 * rank)
        pads[rank + 1] = target - count  # after the last channel
        model.graph.initializer.extend([
            numpy_helper.from_array(np.array(pads, np.int64), f"{name}_pads"),
            numpy_helper.from_array(zero_point, f"{name}_value")])
        padded_input = f"{dq.input[0]}_{name}"
        model.graph.node.insert(list(model.graph.node).index(dq), helper.make_node(
            "Pad", [dq.input[0], f"{name}_pads", f"{name}_value"], [padded_input],
            name=f"{name}_pad"))
        dq.input[0] = padded_input
        _forget_shapes(model, {dq.output[0], node.input[1]})
        padded.append(node.name or weight)
    return padded


def _forget_shapes(model: onnx.ModelProto, names: set[str]) -> None:
    """Drop the recorded shapes (value_info) of the tensors `names`, which padding changed."""
    kept = [v for v in model.graph.value_info if v.name not in names]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)


def _output_dequantize(nodes: list[onnx.NodeProto], output: str) -> onnx.NodeProto | None:
    """The DequantizeLinear after the QuantizeLinear that reads `output`, if that is its only
    reader (the QDQ pattern ONNX Runtime fuses into QLinearConv)."""
    readers = [n for n in nodes if output in n.input]
    if len(readers) != 1 or readers[0].op_type != "QuantizeLinear":
        return None
    after = [n for n in nodes if readers[0].output[0] in n.input]
    if len(after) != 1 or after[0].op_type != "DequantizeLinear":
        return None
    return after[0]


def _per_channel_tensors(node: onnx.NodeProto, init: dict[str, Any]) -> list[str]:
    """The initializers of a QDQ convolution's weight and bias that hold one entry (or one
    filter) per output channel."""
    names = []
    for base in (node.input[1].removesuffix("_DequantizeLinear_Output"),
                 node.input[2].removesuffix("_DequantizeLinear_Output")
                 if len(node.input) > 2 else ""):
        for suffix in ("_quantized", "_scale", "_zero_point", "_quantized_scale",
                       "_quantized_zero_point"):
            name = base + suffix
            if base and name in init and len(init[name].dims) >= 1:
                names.append(name)
    return names


def quantize_int8(fp32_path: Path, out_path: Path,
                  images: list[tuple[np.ndarray, np.ndarray]]) -> onnx.ModelProto:
    """Static QDQ int8 of the body only (per-channel int8 weights, uint8 activations,
    MinMax calibration on `images`); the output path stays float32 (see `body_nodes`), and
    convolutions get output channels in multiples of 16 and the first one input channels in
    multiples of 4 (`pad_int8_conv_outputs`, `pad_int8_conv_inputs`), and the output path
    is made fusable (`fusion.fusable_output_path`); all three rewrites are exact."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    pre = Path(out_path).with_suffix(".pre.onnx")
    tmp = Path(out_path).with_suffix(".q.onnx")
    try:
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        nodes = body_nodes(onnx.load(str(pre)))
        if not nodes:
            raise ValueError("it has no body to quantize (no convolution feeds or reads an "
                             "activation)")
        name = ort.InferenceSession(str(pre), providers=["CPUExecutionProvider"]
                                    ).get_inputs()[0].name
        quantize_static(
            str(pre), str(tmp), _Reader(name, images), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax, nodes_to_quantize=nodes,
            extra_options={"DedicatedQDQPair": True},
        )
        model = onnx.load(str(tmp))
        _float_inputs_for_float_nodes(model, set(nodes))
        pad_int8_conv_outputs(model)
        pad_int8_conv_inputs(model)
        fusable_output_path(model)
        return model
    finally:
        pre.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


#: The reduced precisions `export_reduced` writes.
Precision = Literal["float16", "int8"]

#: `exporter(path, fp16)`: writes the float32 (fp16 False) or float16 ONNX file of the model
#: at `path` and returns where it is (a float32 file may already exist elsewhere).
Exporter = Callable[[Path, bool], Path]


class PrecisionError(ValueError):
    """A reduced-precision file cannot or may not be written; one line saying why. `check`:
    the measurement, when the refusal is for the PSNR lost."""

    def __init__(self, message: str, check: PrecisionCheck | None = None) -> None:
        super().__init__(message)
        self.check = check


@dataclass(frozen=True)
class PrecisionCheck:
    """A reduced-precision model measured against its float32 form on calibration crops.

    Attributes:
        precision: "float16" or "int8".
        images: how many calibration crops (96 x 96 LR, or the model's fixed size).
        float32_db: mean PSNR-Y (dB, 8-bit output, border = scale) of the float32 model.
        reduced_db: the same for the reduced model.
        limit_db: the largest loss accepted (`MAX_LOSS_DB` unless given).
    """

    precision: Precision
    images: int
    float32_db: float
    reduced_db: float
    limit_db: float

    @property
    def loss_db(self) -> float:
        """PSNR lost against float32 (dB; negative: the reduced model scores higher)."""
        return self.float32_db - self.reduced_db

    def line(self) -> str:
        """The one line `sronnx export` prints for it."""
        return (f"{self.precision}: PSNR-Y on {self.images} calibration crops "
                f"{self.reduced_db:.3f} dB vs float32 {self.float32_db:.3f} dB: change "
                f"{-self.loss_db:+.3f} dB (limit {self.limit_db} dB)")


@dataclass(frozen=True)
class ReducedOptions:
    """How a reduced-precision file is made and checked (`export_reduced`).

    Attributes:
        precision: "float16" or "int8".
        calib: the folder of calibration images (the check's crops; int8's calibration).
        max_loss: the largest PSNR-Y loss accepted against float32, in dB; None for
            `MAX_LOSS_DB[precision]`.
        force: write the file whatever the loss (the check is still made and reported).
        on_check: gets the measurement before any refusal.
    """

    precision: Precision
    calib: str | Path
    max_loss: float | None = None
    force: bool = False
    on_check: Callable[[PrecisionCheck], None] | None = None


def export_reduced(exporter: Exporter, output: str | Path, card: dict[str, Any],
                   descriptor: ModelDescriptor, options: ReducedOptions) -> Path:
    """Write the `options.precision` form of a model to `output` when it loses at most
    `options.max_loss` dB PSNR-Y (default `MAX_LOSS_DB[precision]`) against its float32 form
    on the `options.calib` images (centre crops at the descriptor's scale), with the figures
    in its card.

    `exporter` writes the float32 and float16 files (`Exporter`); int8 is quantized here from
    the float32 file (`quantize_int8`). `options.on_check` gets the measurement before any
    refusal; `options.force` writes it whatever the loss. Returns the written path. Raises
    PrecisionError (unusable calibration folder, a model int8 cannot take, too much loss
    without `force`)."""
    from sronnx.export.onnx import write_model  # onnx's writer; the card and descriptor

    precision, calib = options.precision, options.calib
    scale = descriptor.scale
    limit = MAX_LOSS_DB[precision] if options.max_loss is None else options.max_loss
    try:
        images = calibration_set(calib, scale, fixed=descriptor.fixed_size)
    except (DataError, ValueError) as exc:
        raise PrecisionError(str(exc)) from exc
    with tempfile.TemporaryDirectory() as tmp:
        f32 = exporter(Path(tmp) / "f32.onnx", False)
        if precision == "float16":
            low = exporter(Path(tmp) / "low.onnx", True)
        else:
            low = Path(tmp) / "low.onnx"
            try:
                onnx.save_model(quantize_int8(f32, low, images), str(low))
            except ValueError as exc:  # e.g. a model with no body to quantize
                raise PrecisionError(f"cannot write an int8 model: {exc}") from exc
        check = PrecisionCheck(precision, len(images), mean_psnr(f32, images, scale),
                               mean_psnr(low, images, scale), limit)
        if options.on_check is not None:
            options.on_check(check)
        if check.loss_db > limit and not options.force:
            raise PrecisionError(
                f"refusing to write {output}: {precision} loses {check.loss_db:.3f} dB PSNR "
                f"against float32, more than {limit} dB (--max-psnr-loss to change, --force "
                "to write)", check)
        card = {**card, "precision": precision, "psnr_change_db": round(-check.loss_db, 4),
                "calibration": {"folder": path_name(calib), "images": len(images)}}
        if precision == "int8":
            card["int8"] = INT8_SCHEME
        return write_model(onnx.load(str(low)), output, card=card, descriptor=descriptor)
