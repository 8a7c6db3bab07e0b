"""Constants, errors and the small types the community modules share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import spandrel
import torch
from spandrel import ImageModelDescriptor
from torch import nn

from sronnx.core import ModelCard, ModelDescriptor, SizeRequirements

LOADER = f"spandrel {spandrel.__version__}"
# file suffix -> the card's source.format
FORMATS = {".pth": "pth", ".pt": "pt", ".ckpt": "ckpt", ".safetensors": "safetensors"}
# parity an export must reach against spandrel's PyTorch model (max abs, [0, 1] units)
EXPORT_TOLERANCE = {"float32": 1e-4, "float16": 2e-2}
# receptive-field probe: input side (rounded up to the size rule), the change of one pixel,
# and the output change that counts: any (outside its field a network's output is
# bit-identical), as the runtime's probe of models made elsewhere (sronnx.runtime.probe)
RF_PROBE = 64
RF_DELTA = 0.25
RF_THRESHOLD = 0.0
# tile side (input pixels) the runtime is advised to use; window-attention nets whose
# authors discourage tiling (spandrel's ModelTiling.DISCOURAGED) get larger tiles
TILE_HINT = 256
TILE_HINT_DISCOURAGED = 512
# fixed exports: the side of the one input size (at least, rounded up to the size rule)
FIXED_SIDE = 64
LICENSE_NOTE = (f"{LOADER} does not report licences: check the terms of the model's source "
                "(weights and architecture) before you distribute it")


class CommunityError(ValueError):
    """A checkpoint sronnx cannot take through spandrel; one line that names the file and the
    reason (unsafe pickle, unknown architecture, not an image model, ...)."""


@dataclass
class CommunityModel:
    """A checkpoint loaded through spandrel. `model` takes float32 N x in_channels x H x W in
    [0, 1] (sizes meeting `size`) and returns N x out_channels x sH x sW (unclamped)."""

    name: str  # file name only (cards never carry paths)
    sha256: str  # of the checkpoint file
    format: str  # pth | pt | ckpt | safetensors
    spandrel: ImageModelDescriptor

    @property
    def model(self) -> nn.Module:
        """spandrel's module itself (some modify their input in place: RCAN's `x *= 255`)."""
        return self.spandrel.model

    @property
    def reference(self) -> nn.Module:
        """The PyTorch model to compare exports with: `model` on a copy of its input."""
        return InputSafe(self.spandrel.model)

    @property
    def arch(self) -> str:
        return str(self.spandrel.architecture.id)

    @property
    def scale(self) -> int:
        return int(self.spandrel.scale)

    @property
    def size(self) -> SizeRequirements:
        """spandrel's size rule in sronnx's form (minimum at least 1)."""
        req = self.spandrel.size_requirements
        return SizeRequirements(minimum=max(1, int(req.minimum)),
                                multiple_of=int(req.multiple_of), square=bool(req.square))


class InputSafe(nn.Module):
    """`model` run on a copy of its input, so a caller's array (e.g. numpy memory shared
    with the tensor) is never changed by a model that writes into its input."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.clone())


@dataclass
class Strategy:
    """How one model is exported: with torch's `dynamo` exporter (else the TorchScript one),
    at a `fixed` (H, W) or None for dynamic sizes, and with a fixed `batch` (0: dynamic)."""

    dynamo: bool
    fixed: tuple[int, int] | None = None
    batch: int = 0

    def words(self, size: SizeRequirements) -> str:
        """The card's `export_shape`."""
        if self.fixed:
            return f"fixed {self.fixed[0]}x{self.fixed[1]}"
        if size.multiple_of > 1:
            return f"dynamic, padded to multiples of {size.multiple_of}"
        return "dynamic"

    def label(self, size: SizeRequirements) -> str:
        """words, batch and exporter, for messages."""
        batch = f", batch {self.batch}" if self.batch else ""
        return f"{self.words(size)}{batch} ({'dynamo' if self.dynamo else 'torchscript'})"


@dataclass
class CommunityExport:
    path: Path
    card: ModelCard  # the card written into the file
    descriptor: ModelDescriptor
    strategy: Strategy
    tries: list[str]  # one line per rejected candidate, with the reason
