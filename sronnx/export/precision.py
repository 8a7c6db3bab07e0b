"""Reduced-precision variants of an exported model (float16, static int8 QDQ), each checked
against the float32 model on real calibration images before it is written.

Export side: imports onnx and onnxruntime.quantization.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from sronnx.imaging import psnr_y, quantize
from sronnx.train import centre_crop, load_pairs, to_nchw_float

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
    feeds an activation, and the last one, whose input comes from an activation) and those
    activations. Everything on the output path stays float32: the bicubic skip (its padding
    and convolution), the addition of skip and detail, depth-to-space and the final clamp,
    and so does the input the skip reads. Quantizing those (the first int8 files did) rounds
    the output itself to 256 levels: white 255 came back 254 and a 16-bit ramp kept 4
    levels per row."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    producer: dict[str, onnx.NodeProto] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        for name in node.output:
            producer[name] = node

    outputs = {o.name for o in model.graph.output}

    def is_act(node: onnx.NodeProto | None) -> bool:
        # a Clip whose output is the graph's output is the final clamp, not an activation
        return node is not None and node.op_type in _ACTIVATIONS and \
            not (node.op_type == "Clip" and node.output[0] in outputs)

    chosen: list[str] = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        acts = [c for c in consumers.get(node.output[0], []) if is_act(c)]
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


def quantize_int8(fp32_path: Path, out_path: Path,
                  images: list[tuple[np.ndarray, np.ndarray]]) -> onnx.ModelProto:
    """Static QDQ int8 of the body only (per-channel int8 weights, uint8 activations,
    MinMax calibration on `images`); the output path stays float32 (see `body_nodes`)."""
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
        return model
    finally:
        pre.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
