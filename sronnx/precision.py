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

from sronnx.data import centre_crop, load_pairs, to_nchw_float
from sronnx.metrics import psnr_y, quantize

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


def quantize_int8(fp32_path: Path, out_path: Path,
                  images: list[tuple[np.ndarray, np.ndarray]]) -> onnx.ModelProto:
    """Static QDQ int8 (per-channel weights, uint8 activations), calibrated on `images`."""
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
        name = ort.InferenceSession(str(pre), providers=["CPUExecutionProvider"]
                                    ).get_inputs()[0].name
        quantize_static(
            str(pre), str(tmp), _Reader(name, images), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        return onnx.load(str(tmp))
    finally:
        pre.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
