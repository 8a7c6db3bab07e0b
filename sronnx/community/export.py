"""Exporting a community model: the first shape strategy (dynamic, batch 1, TorchScript,
fixed size) whose ONNX file matches spandrel's PyTorch model at three sizes."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from sronnx.community.common import (
    EXPORT_TOLERANCE,
    FIXED_SIDE,
    CommunityError,
    CommunityExport,
    CommunityModel,
    Strategy,
)
from sronnx.community.describe import (
    community_card,
    make_descriptor,
    measure_receptive_field,
    probe_size,
)
from sronnx.community.loading import innermost_reason
from sronnx.core import ModelCard, SizeRequirements
from sronnx.export import (
    DEFAULT_OPSET,
    INPUT_NAME,
    OUTPUT_NAME,
    Float16Body,
    quiet_exporter,
    write_model,
)


def parity_shapes(rule: SizeRequirements, fixed: tuple[int, int] | None,
                  large: int = 0, batch: int = 0) -> list[tuple[int, int, int]]:
    """(N, H, W) that `rule` takes, unlike the export's dummy: odd sizes, a batch of 2 (of
    `batch` when the file fixes it), and (`large`) one of about `large` x 1.5 `large`; for a
    fixed export its size at N = 1, 2, 1."""
    two = batch or 2
    one = batch or 1
    if fixed:
        return [(one, *fixed), (two, *fixed), (one, *fixed)]
    m = rule.multiple_of
    if m > 1:  # odd multiples
        wanted = [(one, 3 * m, 5 * m), (two, 5 * m, 3 * m), (one, 7 * m, 9 * m)]
    else:
        wanted = [(one, 37, 53), (two, 31, 17), (one, 45, 29)]
    if large:
        wanted.append((one, large, large * 3 // 2))
    out = []
    for n, h, w in wanted:
        ph, pw = rule.get_padding(h, w)
        out.append((n, h + ph, w + pw))
    return out


def _dummy_size(rule: SizeRequirements, fixed: tuple[int, int] | None) -> tuple[int, int]:
    if fixed:
        return fixed
    m = rule.multiple_of
    h, w = (4 * m, 6 * m) if m > 1 else (24, 20)
    ph, pw = rule.get_padding(h, w)
    return h + ph, w + pw


def _dynamic_shapes(rule: SizeRequirements, strategy: Strategy) -> dict:
    dim = torch.export.Dim
    shapes: dict[int, Any] = {} if strategy.batch else {0: dim("batch")}
    if not strategy.fixed:
        m = rule.multiple_of
        if m > 1:
            low = max(1, -(-rule.minimum // m))
            hb = dim("height_blocks", min=low)
            wb = hb if rule.square else dim("width_blocks", min=low)
            shapes[2], shapes[3] = m * hb, m * wb
        else:
            hd = dim("height", min=max(2, rule.minimum))
            shapes[2] = hd
            shapes[3] = hd if rule.square else dim("width", min=max(2, rule.minimum))
    return {"x": shapes}


def _export_proto(model: nn.Module, in_channels: int, rule: SizeRequirements,
                  strategy: Strategy, opset: int) -> onnx.ModelProto:
    h, w = _dummy_size(rule, strategy.fixed)
    # a dynamic batch is traced at 2: at 1, torch.export specializes it in attention nets
    n = strategy.batch or 2
    dummy = torch.rand(n, in_channels, h, w, generator=torch.Generator().manual_seed(1))
    with warnings.catch_warnings(), torch.no_grad(), quiet_exporter(), _quiet_torch(), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if strategy.dynamo:
            program = torch.onnx.export(
                model, (dummy,), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_shapes=_dynamic_shapes(rule, strategy) or None, dynamo=True,
                external_data=False, opset_version=opset, verbose=False, optimize=True)
            proto = program.model_proto
        else:
            axes = {} if strategy.batch else {0: "batch"}
            out_axes = dict(axes)
            if not strategy.fixed:
                axes.update({2: "height", 3: "width"})
                out_axes.update({2: "out_height", 3: "out_width"})
            buffer = io.BytesIO()
            torch.onnx.export(model, (dummy,), buffer, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], opset_version=opset,
                              dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: out_axes},
                              dynamo=False, do_constant_folding=True)
            proto = onnx.load_from_string(buffer.getvalue())
    return proto


@contextlib.contextmanager
def _quiet_torch() -> Any:
    """Hide torch.export's and dynamo's error logs for one export attempt (a rejected
    candidate is reported in one line), then restore the loggers' levels."""
    names = ("torch._dynamo", "torch._guards", "torch.export", "torch.fx.experimental",
             "torch._export", "torch.onnx")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _name_dims(proto: onnx.ModelProto, scale: int, strategy: Strategy) -> None:
    """Readable names for the graph's dynamic input/output dims: batch, height, width,
    s*height..."""
    inp = proto.graph.input[0].type.tensor_type.shape.dim
    out = proto.graph.output[0].type.tensor_type.shape.dim
    if len(inp) != 4 or len(out) != 4:
        return
    if not strategy.batch:
        inp[0].dim_param = out[0].dim_param = "batch"
    if strategy.fixed:
        return
    for i, name in ((2, "height"), (3, "width")):
        inp[i].dim_param = name
        out[i].dim_param = f"{scale}*{name}" if scale != 1 else name


def parity(proto: onnx.ModelProto, model: nn.Module, in_channels: int,
           shapes: list[tuple[int, int, int]], seed: int = 0) -> tuple[float, list[str]]:
    """Max abs difference between ONNX Runtime (CPU) running `proto` and `model` on uniform
    random float32 inputs of `shapes` (N, H, W), and the shapes as words; inf when an output
    shape differs or the session refuses a shape."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(proto.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    run_opts = ort.RunOptions()
    run_opts.log_severity_level = 4
    rng = np.random.default_rng(seed)
    worst = 0.0
    words = []
    for n, h, w in shapes:
        x = rng.random((n, in_channels, h, w), dtype=np.float32)
        words.append(f"{n}x{in_channels}x{h}x{w}")
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).float().numpy()
        try:
            got = sess.run(None, {sess.get_inputs()[0].name: x}, run_opts)[0]
        except Exception:  # noqa: BLE001 - onnxruntime raises its own types
            return math.inf, words
        if got.shape != expected.shape:
            return math.inf, words
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - expected))))
    return worst, words


def fixed_size_for(cm: CommunityModel) -> tuple[int, int]:
    """The one input size of a fixed export: the model's `img_size` when it states one of at
    least FIXED_SIDE, else FIXED_SIDE; rounded up to the size rule."""
    hyper = getattr(cm.model, "hyperparameters", None) or {}
    side = hyper.get("img_size", FIXED_SIDE)
    side = side if isinstance(side, int) and side >= FIXED_SIDE else FIXED_SIDE
    return probe_size(cm.size, side)


def candidates(cm: CommunityModel) -> list[Strategy]:
    """The export strategies in order of preference: dynamic sizes before a fixed size, a
    dynamic batch before batch 1 (window-attention nets such as SwinIR export with a
    symbolic batch that computes wrong results), dynamo before TorchScript."""
    fixed = fixed_size_for(cm)
    return [Strategy(dynamo=True), Strategy(dynamo=True, batch=1),
            Strategy(dynamo=False), Strategy(dynamo=False, batch=1),
            Strategy(dynamo=True, fixed=fixed), Strategy(dynamo=True, fixed=fixed, batch=1),
            Strategy(dynamo=False, fixed=fixed, batch=1)]


class _FoldedConv3XC(nn.Module):
    """SPAN's Conv3XC in eval mode without its per-call re-parameterization: the folded
    3x3 convolution (`eval_conv`) and the optional leaky ReLU. Same output."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        block.update_params()
        self.eval_conv = block.eval_conv
        self.has_relu = bool(block.has_relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.eval_conv(x)
        return torch.nn.functional.leaky_relu(out, 0.05) if self.has_relu else out


def deployable_copy(model: nn.Module) -> nn.Module:
    """A copy of `model` for export, in eval mode: blocks that re-parameterize on every call
    (SPAN's Conv3XC rewrites its conv's weights in forward; torch 2.14's dynamo exporter
    crashes on it) replaced by their folded form. The original is left as it is."""
    folded = copy.deepcopy(model).eval()
    for name, module in list(folded.named_modules()):
        if name and hasattr(module, "update_params") and hasattr(module, "eval_conv") \
                and hasattr(module, "has_relu"):
            parent_name, _, leaf = name.rpartition(".")
            parent = folded.get_submodule(parent_name) if parent_name else folded
            setattr(parent, leaf, _FoldedConv3XC(module))
    return folded


def _body(cm: CommunityModel, fp16: bool) -> nn.Module:
    model = deployable_copy(cm.model)
    if fp16:
        if not cm.spandrel.supports_half:
            raise CommunityError(f"{cm.name}: spandrel marks {cm.arch} as not working in "
                                 "float16; export it in float32")
        return Float16Body(model).eval()
    return model


def export_with(cm: CommunityModel, strategy: Strategy, opset: int = DEFAULT_OPSET,
                fp16: bool = False) -> tuple[onnx.ModelProto, float, list[str]]:
    """One candidate: (proto, parity max abs against the float32 PyTorch model, shapes).
    Raises whatever the exporter raises."""
    body = _body(cm, fp16)
    proto = _export_proto(body, cm.spandrel.input_channels, cm.size, strategy, opset)
    _name_dims(proto, cm.scale, strategy)
    err, words = parity(proto, cm.reference, cm.spandrel.input_channels,
                        parity_shapes(cm.size, strategy.fixed, batch=strategy.batch))
    return proto, err, words


def export_community(cm: CommunityModel, path: str | Path, *, opset: int = DEFAULT_OPSET,
                     strategy: Strategy | None = None, fp16: bool = False,
                     log: Callable[[str], None] | None = None) -> CommunityExport:
    """Export `cm` to `path` (self-contained, card and descriptor in its metadata).

    Without `strategy`, the candidates (`candidates`) are tried in order and the first whose
    ONNX Runtime output matches spandrel's PyTorch model within EXPORT_TOLERANCE at the
    `parity_shapes` is written; `log` hears why each earlier one was rejected. Raises
    CommunityError when none matches.
    """
    path = Path(path)
    precision = "float16" if fp16 else "float32"
    tol = EXPORT_TOLERANCE[precision]
    tries: list[str] = []
    chosen = None
    for cand in [strategy] if strategy else candidates(cm):
        label = cand.label(cm.size)
        try:
            proto, err, words = export_with(cm, cand, opset, fp16)
        except CommunityError:
            raise
        except Exception as exc:  # noqa: BLE001 - exporters raise many types
            tries.append(f"{label}: export failed: {innermost_reason(exc)}")
        else:
            if err <= tol:
                chosen = (cand, proto, err, words)
                break
            tries.append(f"{label}: parity {err:.2e} > {tol:g} at {', '.join(words)}")
        if log:
            log(tries[-1])
    if chosen is None:
        raise CommunityError(f"{cm.name}: no export of {cm.arch} matches spandrel's PyTorch "
                             f"model: {'; '.join(tries)}")
    cand, proto, err, words = chosen
    descriptor = make_descriptor(cm, measure_receptive_field(cm), cand.fixed, cand.batch)
    card = community_card(cm, strategy=cand, parity_max_abs=float(f"{err:.3g}"),
                          parity_sizes=words)
    if fp16:
        card["precision"] = "float16"
    write_model(proto, path, card=card, descriptor=descriptor)
    return CommunityExport(path, ModelCard.from_dict(card), descriptor, cand, tries)
