"""What sronnx records about a community model: its settings, receptive field (impulse
response), descriptor and card."""

from __future__ import annotations

import copy
import datetime as _dt
import warnings
from typing import Any

import torch
from spandrel import ModelTiling

from sronnx import __version__
from sronnx.community.common import (
    LICENSE_NOTE,
    LOADER,
    RF_DELTA,
    RF_PROBE,
    RF_THRESHOLD,
    TILE_HINT,
    TILE_HINT_DISCOURAGED,
    CommunityModel,
    InputSafe,
    Strategy,
)
from sronnx.core import ModelDescriptor, SizeRequirements, path_name
from sronnx.export import count_params, weights_sha256


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, type):
        return value.__name__
    return repr(value)


def settings(cm: CommunityModel) -> dict[str, Any]:
    """spandrel's tags and the settings it read from the weights (its `hyperparameters`),
    JSON-able (classes by name)."""
    hyper = getattr(cm.model, "hyperparameters", None) or {}
    return {"tags": list(cm.spandrel.tags), "purpose": cm.spandrel.purpose,
            "settings": _jsonable(dict(hyper))}


def spec_words(cm: CommunityModel) -> str:
    """Short text for messages and the card's `spec`: e.g. "ESRGAN (64nf, 23nb)"."""
    tags = ", ".join(cm.spandrel.tags)
    return f"{cm.arch} ({tags})" if tags else cm.arch


def probe_size(rule: SizeRequirements, side: int) -> tuple[int, int]:
    """(H, W) of at least `side` that `rule` takes."""
    ph, pw = rule.get_padding(side, side)
    return side + ph, side + pw


def measure_receptive_field(cm: CommunityModel, side: int = RF_PROBE) -> int:
    """Side, in input pixels, of the region around one input pixel whose change moves the
    output, from the impulse response of the PyTorch model on a `side` x `side` random input
    (rounded up to the size rule; float64 when the model takes it): the centre pixel is
    raised by RF_DELTA, and output pixels that move by more than RF_THRESHOLD are mapped back
    to input pixels. The answer is at most the probe's side, which then means "at least this"
    (windowed attention often reaches the whole probe)."""
    model = InputSafe(copy.deepcopy(cm.model).eval())
    h, w = probe_size(cm.size, side)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, cm.spandrel.input_channels, h, w, generator=gen)
    cy, cx = h // 2, w // 2
    diff = None
    for dtype in (torch.float64, torch.float32):
        try:
            probe = model.to(dtype)
            xi = x.to(dtype)
            x2 = xi.clone()
            x2[:, :, cy, cx] = torch.where(x2[:, :, cy, cx] > 0.5, x2[:, :, cy, cx] - RF_DELTA,
                                           x2[:, :, cy, cx] + RF_DELTA)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                diff = (probe(x2) - probe(xi)).abs().amax(dim=(0, 1))
            break
        except (RuntimeError, TypeError):
            continue
    if diff is None:
        return min(h, w)
    moved = torch.nonzero(diff > RF_THRESHOLD)
    if moved.numel() == 0:
        return 1
    s = cm.scale
    rows, cols = moved[:, 0] // s, moved[:, 1] // s
    radius = int(max((rows - cy).abs().max(), (cols - cx).abs().max()))
    return min(2 * radius + 1, min(h, w))


def make_descriptor(cm: CommunityModel, receptive_field: int,
                    fixed: tuple[int, int] | None = None, batch: int = 0) -> ModelDescriptor:
    """sronnx's descriptor of the export: spandrel's scale, channels and size rule."""
    discouraged = cm.spandrel.tiling in (ModelTiling.DISCOURAGED, ModelTiling.INTERNAL)
    return ModelDescriptor(
        arch=cm.arch, scale=cm.scale, spec=settings(cm),
        in_channels=int(cm.spandrel.input_channels),
        out_channels=int(cm.spandrel.output_channels),
        size_requirement="fixed" if fixed else "any", fixed_size=fixed,
        receptive_field=max(1, receptive_field),
        tile_hint=TILE_HINT_DISCOURAGED if discouraged else TILE_HINT,
        size=cm.size, batch=batch,
        clamp=False,  # a model made elsewhere runs as its authors made it (`--clamp` in upscale)
    )


def community_card(cm: CommunityModel, *, strategy: Strategy, parity_max_abs: float,
                   parity_sizes: list[str]) -> dict[str, Any]:
    """The card of a spandrel export: sronnx's common fields (version, arch, spec, scale,
    params, weights_sha256, exported, torch_version) plus the checkpoint's source (file name,
    never a path; its SHA-256; format; loader), licence, export shape and parity."""
    return {
        "sronnx_version": __version__,
        "arch": cm.arch,
        "spec": spec_words(cm),
        "scale": cm.scale,
        "params": count_params(cm.model),
        "trained": True,
        "training": {"note": "a community checkpoint: its training is not known to sronnx"},
        "weights_sha256": weights_sha256(cm.model),
        "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
        "source": {"file": path_name(cm.name), "sha256": cm.sha256, "format": cm.format,
                   "loader": LOADER},
        # spandrel 0.4.2 has no licence field on its architectures or descriptors
        "license": None,
        "license_note": LICENSE_NOTE,
        "tiling": cm.spandrel.tiling.name.lower(),
        "export_shape": strategy.words(cm.size),
        "exporter": "dynamo" if strategy.dynamo else "torchscript",
        "batch": strategy.batch or "dynamic",
        "parity_max_abs": parity_max_abs,
        "parity_sizes": parity_sizes,
    }
