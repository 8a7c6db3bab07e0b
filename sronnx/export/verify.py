"""Numerical parity of an exported model with the PyTorch model it came from.

Like onnxsim's `compare`: the same random inputs through both runtimes, at shapes other than
the export's dummy input (odd sizes, a batch of 2, one large size), plus real images when
given, plus ONNX's reference evaluator on a small input as an independent runtime.
Export side: imports torch and onnx.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from sronnx.archs import create_model
from sronnx.core import ModelInfo, first_line

DEFAULT_TOLERANCE = {"float32": 1e-4, "float16": 2e-2}
# ONNX Runtime's CUDA provider runs float32 convolutions in TF32 on Ampere and newer GPUs
# (10-bit mantissa products): trained sronnx models differ from PyTorch's float32 by up to
# 6.1e-4 there (H200, bench/results/cuda), a sixth of an 8-bit level.
CUDA_FLOAT32_TOLERANCE = 1e-3
# int8 outputs are judged by PSNR against float32: a max-abs bound says little about
# quantization noise. Their random inputs are smooth random images (`smooth_random`), not
# uniform noise: a model trained to remove noise (the photo models of issue 12) answers
# uniform noise with activations far outside any calibration (rsp-x4-photo-int8: 22 dB
# there, 44-48 dB on degraded images), which says nothing about the file.
INT8_MIN_PSNR_DB = 30.0


def criterion(precision: str, runtime: str, tolerance: float | None = None
              ) -> tuple[float | None, float | None, str]:
    """(max abs error, min PSNR dB, words) a comparison on `runtime` must meet.

    `tolerance` overrides the default bound. Defaults: float32 1e-4, or 1e-3 on
    onnxruntime-cuda and onnxruntime-tensorrt (TF32, which TensorRT also takes by default);
    float16 2e-2; int8 a PSNR floor of 30 dB against float32.
    """
    if tolerance is not None:
        tol, min_psnr = tolerance, None
    elif precision == "int8":
        tol, min_psnr = None, INT8_MIN_PSNR_DB
    elif precision == "float32" and runtime in ("onnxruntime-cuda", "onnxruntime-tensorrt"):
        tol, min_psnr = CUDA_FLOAT32_TOLERANCE, None
    else:
        tol, min_psnr = DEFAULT_TOLERANCE.get(precision), None
    words = (f"max abs error <= {tol:g}" if tol is not None
             else f"PSNR against float32 >= {min_psnr:g} dB")
    return tol, min_psnr, words


class VerifyError(ValueError):
    """Verification cannot run (no matching PyTorch weights, unusable file) or fails before
    any comparison. `code`: the exit code it means (2: verification cannot run; 1: the file
    fails it)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Comparison:
    case: str  # e.g. "random 2x3x37x53"
    runtime: str  # onnxruntime-cpu | onnxruntime-cuda | onnx-reference
    max_abs: float
    psnr_db: float
    ok: bool
    note: str = ""


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def model_from_onnx(path: Path, info: ModelInfo) -> nn.Module:
    """Rebuild the PyTorch model from the card's spec and the file's own initializers.

    Trusted only when the rebuilt weights hash to the card's `weights_sha256`.
    """
    from sronnx.export.onnx import weights_sha256

    card = info.card
    if card.spec is None:
        raise VerifyError(f"{path}: no architecture spec in the card; pass --checkpoint")
    if (card.precision or "float32") != "float32":
        raise VerifyError(f"{path}: {card.precision} files cannot give back their float32 "
                          "weights; pass --checkpoint")
    model = create_model(card.spec, info.descriptor.scale)
    proto = onnx.load(str(path))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    state = model.state_dict()
    for key in state:
        if key in inits and inits[key].size == state[key].numel():
            state[key] = torch.from_numpy(inits[key].copy()).reshape(state[key].shape)
    # PReLU slopes are stored under generated names: take them in graph order.
    prelu_keys = [f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.PReLU)]
    slopes = [node.input[1] for node in proto.graph.node if node.op_type == "PRelu"]
    if len(prelu_keys) == len(slopes):
        for key, init_name in zip(prelu_keys, slopes, strict=True):
            if init_name in inits and inits[init_name].size == state[key].numel():
                state[key] = torch.from_numpy(inits[init_name].copy()).reshape(state[key].shape)
    model.load_state_dict(state)
    model.eval()
    if weights_sha256(model) != card.weights_sha256:
        raise VerifyError(f"{path}: could not rebuild weights matching the card's hash from the "
                          "file; pass --checkpoint")
    return model


def float32_twin_file(path: Path) -> Path | None:
    """The float32 file an int8 file was quantized from, or None when there is none: for a
    shipped model its shipped float32 twin (`sronnx.core.shipped.float32_twin`), otherwise
    NAME.onnx beside NAME-int8.onnx when that file exists (export/ship.py writes both)."""
    from sronnx.core import INT8_SUFFIX, float32_twin, shipped_models

    resolved = Path(path).resolve()
    for m in shipped_models():
        if m.path.resolve() == resolved:
            twin = float32_twin(m.name)
            return twin.path if twin is not None else None
    if path.stem.endswith(INT8_SUFFIX):
        sibling = path.with_name(path.stem.removesuffix(INT8_SUFFIX) + path.suffix)
        if sibling.is_file():
            return sibling
    return None


def model_from_float32_twin(path: Path, info: ModelInfo) -> tuple[nn.Module, Path]:
    """The PyTorch model of an int8 file, rebuilt from its float32 twin (`float32_twin_file`)
    with `model_from_onnx`, and the twin's path.

    The int8 file cannot give back its float32 weights, but its card keeps their hash: the
    twin is trusted only when its own card, and the weights rebuilt from it, hash the same.
    Raises VerifyError when there is no twin or it holds other weights.
    """
    from sronnx.core import ModelFileError
    from sronnx.runtime import load_model

    twin = float32_twin_file(path)
    if twin is None:
        raise VerifyError(f"{path}: {info.card.precision} files cannot give back their "
                          "float32 weights, and it has no float32 twin (NAME.onnx beside "
                          "NAME-int8.onnx): export the float32 file beside it, or pass "
                          "--checkpoint")
    try:
        twin_info = load_model(twin).info
    except ModelFileError as exc:
        raise VerifyError(f"{path}: its float32 twin is unusable: {exc}") from exc
    if ((twin_info.card.precision or "float32") != "float32"
            or twin_info.descriptor.scale != info.descriptor.scale
            or twin_info.card.weights_sha256 != info.card.weights_sha256):
        raise VerifyError(f"{path}: {twin} is not its float32 twin (another precision, scale "
                          "or weights_sha256 in its card); pass --checkpoint")
    return model_from_onnx(twin, twin_info), twin


def smooth_random(rng: np.random.Generator, shape: tuple[int, int, int, int],
                  cell: int = 6) -> np.ndarray:
    """float32 NCHW in [0, 1]: uniform random values on a grid of `cell` pixels, bilinearly
    interpolated, plus uniform noise of +-2/255: an image-like random input (smooth areas,
    edges at every scale below the cell, a little sensor noise)."""
    n, c, h, w = shape
    gh, gw = h // cell + 2, w // cell + 2
    grid = rng.random((n, c, gh, gw), dtype=np.float32)
    y = np.arange(h, dtype=np.float32) / cell
    x = np.arange(w, dtype=np.float32) / cell
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    top = grid[:, :, y0][:, :, :, x0] * (1 - fx) + grid[:, :, y0][:, :, :, x0 + 1] * fx
    low = grid[:, :, y0 + 1][:, :, :, x0] * (1 - fx) + grid[:, :, y0 + 1][:, :, :, x0 + 1] * fx
    out = top * (1 - fy) + low * fy + (rng.random(shape, dtype=np.float32) - 0.5) * (4 / 255)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def test_cases(info: ModelInfo, seed: int = 0, large: int = 256,
               precision: str = "float32") -> list[tuple[str, np.ndarray]]:
    """Random inputs at sizes unlike the export's dummy (24x20): odd, batch 2, tiny, large.
    Uniform noise, except for int8 files: smooth random images (`smooth_random`)."""
    rng = np.random.default_rng(seed)
    fixed = info.descriptor.fixed_size
    if fixed:
        shapes = [(1, *fixed), (2, *fixed)]
    else:
        shapes = [(1, 37, 53), (2, 31, 17), (1, 1, 1), (1, 2, 5), (1, 64, 48),
                  (1, large, large * 3 // 2)]
    if precision == "int8":
        return [(f"random smooth {n}x3x{h}x{w}", smooth_random(rng, (n, 3, h, w)))
                for n, h, w in shapes]
    return [(f"random {n}x3x{h}x{w}", rng.random((n, 3, h, w), dtype=np.float32))
            for n, h, w in shapes]


def image_cases(folder: Path, info: ModelInfo, limit: int = 3) -> list[tuple[str, np.ndarray]]:
    from sronnx.train import find_images, load_rgb

    cases = []
    for p in find_images(folder)[:limit]:
        arr = load_rgb(p)
        if info.descriptor.fixed_size:
            fh, fw = info.descriptor.fixed_size
            if arr.shape[0] < fh or arr.shape[1] < fw:
                continue
            arr = arr[:fh, :fw]
        else:
            arr = arr[:256, :256]
        cases.append((f"image {p.name} {arr.shape[1]}x{arr.shape[0]}",
                      arr.astype(np.float32).transpose(2, 0, 1)[None] / 255.0))
    return cases


@dataclass(frozen=True)
class CompareOptions:
    """What `compare` holds its runs to, and the onnx.reference run.

    Attributes:
        precision: the file's precision ("float32", "float16" or "int8"), which picks each
            runtime's bound (`criterion`).
        runtime: the ONNX Runtime session as the results name it (onnxruntime-cpu, -cuda).
        fixed: the model takes one fixed size (the small input is then the first case whole).
        reference: also run one small input through onnx.reference.
        tolerance: the largest absolute difference accepted; None for the criterion's.
        reference_input: the small input (a model with a size rule); None for the first case
            cut to 6 x 7.
    """

    precision: str
    runtime: str
    fixed: bool
    reference: bool = True
    tolerance: float | None = None
    reference_input: np.ndarray | None = None


def compare(model_path: Path, torch_model: nn.Module, session, cases,
            options: CompareOptions) -> list[Comparison]:
    """Run every case (label, float32 NCHW array) through PyTorch and the ONNX Runtime
    `session`, and (`options.reference`) one small input through onnx.reference as an
    independent runtime; each runtime is held to its own `criterion`. The small input is
    `options.reference_input` when given (a model with a size rule), else the first case cut
    to 6 x 7 (or whole, `options.fixed`). An onnx.reference that cannot run the file is a
    skipped row (ok, with the reason as its note)."""
    precision, runtime, tolerance = options.precision, options.runtime, options.tolerance
    fixed, reference_input = options.fixed, options.reference_input
    results = []
    name = session.get_inputs()[0].name

    def record(label: str, rt: str, got: np.ndarray, expected: np.ndarray) -> None:
        if got.shape != expected.shape:
            results.append(Comparison(label, rt, math.inf, -math.inf, False))
            return
        err = float(np.max(np.abs(got.astype(np.float64) - expected)))
        psnr = _psnr(got, expected)
        tol, min_psnr, _ = criterion(precision, rt, tolerance)
        ok = (tol is None or err <= tol) and (min_psnr is None or psnr >= min_psnr)
        results.append(Comparison(label, rt, err, psnr, ok))

    for label, x in cases:
        with torch.no_grad():
            expected = torch_model(torch.from_numpy(x)).numpy()
        record(label, runtime, session.run(None, {name: x})[0], expected)
    if options.reference:
        from onnx.reference import ReferenceEvaluator

        x = cases[0][1][:1]
        small = np.ascontiguousarray(x if fixed else x[:, :, :6, :7]
                                     if reference_input is None else reference_input)
        label = "random " + "x".join(str(d) for d in small.shape)
        try:
            got = ReferenceEvaluator(str(model_path)).run(None, {name: small})[0]
        except (RuntimeError, NotImplementedError) as exc:
            # e.g. onnx.reference has no DequantizeLinear for opset 18 (int8 models)
            reason = first_line(exc, 120)
            results.append(Comparison(label, "onnx-reference", math.nan, math.nan, True,
                                      f"skipped: {reason}"))
            return results
        with torch.no_grad():
            expected = torch_model(torch.from_numpy(small)).numpy()
        record(label, "onnx-reference", got, expected)
    return results


_NUMPY_TYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8}
# ONNX Runtime against onnx.reference on a model made elsewhere, by its element type
REFERENCE_TOLERANCE = {"float32": 1e-4, "float16": 1e-2, "uint8": 1.0}


def foreign_inputs(descriptor, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Small random inputs shaped as a model's own input (`descriptor`: layout, element
    type, channels, value range, fixed size, fixed batch): its smallest size its rule takes
    (at least 8 x 9, or its fixed size), then one a little larger when its size is free.
    Values are uniform in the value range (whole numbers for uint8)."""
    rng = np.random.default_rng(seed)
    lo, hi = descriptor.value_range
    if descriptor.fixed_size:
        sizes = [tuple(descriptor.fixed_size)]
    else:
        sizes = []
        for h, w in ((max(8, descriptor.size.minimum), max(9, descriptor.size.minimum)),
                     (max(13, descriptor.size.minimum), max(11, descriptor.size.minimum))):
            ph, pw = descriptor.size.get_padding(h, w)
            sizes.append((h + ph, w + pw))
    n = descriptor.batch or 1
    c = descriptor.in_channels
    cases = []
    for h, w in sizes:
        shape = (n, c, h, w) if descriptor.layout == "NCHW" else (n, h, w, c)
        x = lo + (hi - lo) * rng.random(shape)
        dtype = _NUMPY_TYPES[descriptor.element_type]
        x = np.rint(x).astype(dtype) if descriptor.element_type == "uint8" else x.astype(dtype)
        cases.append((f"random {'x'.join(map(str, shape))} {descriptor.element_type}", x))
    return cases


def compare_with_reference(model_path: Path, session, cases: list[tuple[str, np.ndarray]],
                           runtime: str, tolerance: float | None = None) -> list[Comparison]:
    """ONNX Runtime against onnx.reference (an independent runtime) on `cases`, for a model
    that has no PyTorch source to compare with; the bound is `tolerance` or
    REFERENCE_TOLERANCE of the output's element type (in the model's own units)."""
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(str(model_path))
    name = session.get_inputs()[0].name
    results = []
    for label, x in cases:
        got = session.run(None, {name: x})[0]
        try:
            expected = evaluator.run(None, {name: x})[0]
        except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
            reason = first_line(exc, 120)
            results.append(Comparison(label, "onnx-reference", math.nan, math.nan, True,
                                      f"skipped: {reason}"))
            continue
        if got.shape != expected.shape:
            results.append(Comparison(label, runtime, math.inf, -math.inf, False,
                                      f"shapes differ: {got.shape} vs {expected.shape}"))
            continue
        kind = str(got.dtype)
        tol = tolerance if tolerance is not None else REFERENCE_TOLERANCE.get(kind, 1e-4)
        a, b = got.astype(np.float64), expected.astype(np.float64)
        err = float(np.max(np.abs(a - b))) if a.size else 0.0
        peak = 255.0 if kind == "uint8" else max(1.0, float(np.max(np.abs(b))) if b.size else 1)
        mse = float(np.mean((a - b) ** 2)) if a.size else 0.0
        psnr = math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)
        results.append(Comparison(label, f"{runtime} vs onnx-reference", err, psnr,
                                  err <= tol))
    return results
