"""Export a PyTorch model to one self-contained ONNX file with dynamic N, H, W and its card.

torch.onnx's dynamo exporter writes weights to MODEL.onnx.data beside the model unless told
otherwise; an embedder who copies only the .onnx then has a broken model. Here the weights
always go inside the file.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from sronnx import __version__
from sronnx.archs import format_spec
from sronnx.core import CARD_KEY, METADATA_KEY, ModelDescriptor
from sronnx.export.fusion import fusable_output_path

INPUT_NAME = "input"
OUTPUT_NAME = "output"
DEFAULT_OPSET = 18


def deployable(model: nn.Module) -> nn.Module:
    """The inference form of `model`: training-only branches folded (a copy when that changes
    anything, so the caller's model is left as it was). Idempotent."""
    if getattr(model, "has_training_branches", lambda: False)():
        import copy

        return copy.deepcopy(model).reparameterize().eval()
    return model.eval()


def weights_sha256(model: nn.Module) -> str:
    """Hash of the state dict (sorted names, float32 little-endian bytes)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().float().numpy().astype("<f4").tobytes())
    return digest.hexdigest()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_card(model: nn.Module, *, trained: bool, training: dict[str, Any] | None = None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from sronnx.archs import macs_per_output_pixel

    model = deployable(model)
    return {
        "sronnx_version": __version__,
        "arch": model.arch_name,
        "spec": format_spec(model.arch_name, model.spec()),
        "scale": model.scale,
        "params": count_params(model),
        "macs_per_pixel": macs_per_output_pixel(model),
        "trained": trained,
        "training": training or {"note": "untrained: initial weights, for speed measurements"},
        "weights_sha256": weights_sha256(model),
        "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
        **(extra or {}),
    }


class Float16Body(nn.Module):
    """Runs the wrapped model in float16 behind float32 input and output, so callers and the
    embedding contract stay float32 while the convolutions run in half precision."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.half()).float()


def export_onnx(model: nn.Module, path: Path, *, card: dict[str, Any],
                descriptor: ModelDescriptor, opset: int = DEFAULT_OPSET,
                fp16: bool = False) -> Path:
    """Write `model` to `path` (no side file) with dynamic batch/height/width and metadata.

    With `fp16` the weights and arithmetic are float16, input and output stay float32.
    """
    path = Path(path)
    model = deployable(model)
    if fp16:
        import copy

        model = Float16Body(copy.deepcopy(model)).eval()
        card = {**card, "precision": "float16"}
    fixed = descriptor.fixed_size
    h, w = fixed if fixed else (24, 20)
    dummy = torch.rand(1, 3, h, w)
    if fixed:
        dynamic = {"x": {0: torch.export.Dim("batch")}}
    else:
        dynamic = {"x": {0: torch.export.Dim("batch"), 2: torch.export.Dim("height"),
                         3: torch.export.Dim("width")}}
    with warnings.catch_warnings(), torch.no_grad(), quiet_exporter():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, (dummy,), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=dynamic, dynamo=True, external_data=False, opset_version=opset,
            verbose=False, optimize=True,
        )
    proto = program.model_proto
    wrote = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if wrote != opset:
        raise OpsetError(f"the exporter cannot write this model at opset {opset} (an operator "
                         f"it uses has no conversion below opset {wrote}): ask --opset "
                         f"{wrote} or later; nothing written")
    _name_dims(proto, descriptor.scale, fixed)
    fusable_output_path(proto)
    write_model(proto, path, card=card, descriptor=descriptor)
    return path


class OpsetError(RuntimeError):
    """The exporter could not write the model at the opset asked for."""


def write_model(proto: onnx.ModelProto, path: Path, *, card: dict[str, Any],
                descriptor: ModelDescriptor) -> Path:
    """Stamp the card and descriptor into `proto`, save it self-contained, check it fully."""
    path = Path(path)
    card = {"precision": "float32", **card}
    props = {METADATA_KEY: descriptor.to_json(), CARD_KEY: json.dumps(card, sort_keys=True)}
    del proto.metadata_props[:]
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "sronnx"
    proto.producer_version = __version__
    proto.doc_string = (
        f"sronnx {card.get('spec')} x{descriptor.scale} ({card['precision']}): "
        f"input 'input' float32 N x 3 x H x W "
        f"RGB in [0, 1]; output 'output' float32 N x 3 x {descriptor.scale}H x "
        f"{descriptor.scale}W RGB in [0, 1]."
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save_model(proto, str(tmp), save_as_external_data=False)
    tmp.replace(path)
    check_onnx_file(path)
    return path


def check_onnx_file(path: Path) -> list[str]:
    """onnx.checker (full check), and symbolic output shape from ONNX shape inference."""
    path = Path(path)
    if path.with_name(path.name + ".data").exists():
        raise ValueError(f"{path}: a side file {path.name}.data exists; the model must be "
                         "self-contained")
    onnx.checker.check_model(str(path), full_check=True)
    inferred = onnx.shape_inference.infer_shapes(onnx.load(str(path)), strict_mode=True)
    dims = inferred.graph.output[0].type.tensor_type.shape.dim
    return [d.dim_param or str(d.dim_value) for d in dims]


@contextlib.contextmanager
def quiet_exporter():
    """Hide the exporter's per-run notices (e.g. "torchvision is not installed") for the
    duration of one export, then restore the loggers as they were."""
    # the registration notices; the version converter's traceback and the exporter's notice
    # when an opset below its own cannot be reached (export_onnx says so in one line)
    names = ("torch.onnx._internal.exporter._registration", "onnxscript.version_converter",
             "torch.onnx._internal.exporter._compat")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _name_dims(proto: onnx.ModelProto, scale: int, fixed: tuple[int, int] | None) -> None:
    """Give the graph's input/output dims readable names: batch, height, width, s*height..."""
    inp = proto.graph.input[0].type.tensor_type.shape.dim
    out = proto.graph.output[0].type.tensor_type.shape.dim
    inp[0].dim_param = out[0].dim_param = "batch"
    if fixed:
        return
    for i, name in ((2, "height"), (3, "width")):
        inp[i].dim_param = name
        out[i].dim_param = f"{scale}*{name}" if scale != 1 else name
