"""Building blocks shared by the architectures (torch only)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from sronnx.core import ModelDescriptor
from sronnx.imaging import bicubic_phase_kernels

ACTIVATIONS = (
    "relu",
    "leaky_relu",
    "prelu",
    "elu",
    "gelu",
    "softplus",
    "hardtanh",
    "tanh",
    "sigmoid",
    "none",
)


def make_activation(name: str, channels: int = 1) -> nn.Module:
    """The activations compared by the study; `hardtanh` is its saturating linear unit."""
    table = {
        "relu": lambda: nn.ReLU(inplace=False),
        "leaky_relu": lambda: nn.LeakyReLU(0.2),
        "prelu": lambda: nn.PReLU(channels),
        "elu": nn.ELU,
        "gelu": nn.GELU,
        "softplus": nn.Softplus,
        "hardtanh": nn.Hardtanh,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "none": nn.Identity,
    }
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return table[name]()


class BicubicUpsample(nn.Module):
    """Bicubic upsampling by an integer factor as edge padding + depthwise convolution +
    depth-to-space, so that ONNX Runtime runs it at convolution speed (its cubic Resize is
    ten times slower on CPU). Equal to F.interpolate(mode="bicubic") up to float rounding.
    """

    def __init__(self, scale: int, channels: int = 3) -> None:
        super().__init__()
        self.scale = scale
        self.channels = channels
        k1 = torch.from_numpy(bicubic_phase_kernels(scale).copy())
        k2 = torch.einsum("pi,qj->pqij", k1, k1).reshape(scale * scale, 1, 5, 5)
        self.register_buffer("weight", k2.repeat(channels, 1, 1, 1).float(), persistent=False)

    def phases(self, x: torch.Tensor) -> torch.Tensor:
        """The channels*scale^2 sub-pixel phases, before depth-to-space."""
        x = F.pad(x, (2, 2, 2, 2), mode="replicate")
        return F.conv2d(x, self.weight, groups=self.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1:
            return x
        return F.pixel_shuffle(self.phases(x), self.scale)


def mirror_indices(length: torch.Tensor | int, padded: torch.Tensor | int) -> torch.Tensor:
    """Indices 0..padded-1 folded back into 0..length-1 by mirroring (symmetric padding).

    Unlike F.pad(mode="reflect") this works for any pad size, even a 1-pixel input,
    and exports to ONNX as plain arithmetic with dynamic sizes.
    """
    idx = torch.arange(padded)
    # A 0-d tensor, not a Python/symbolic int: the ONNX exporter needs tensor arithmetic here.
    period = torch.full((), 2, dtype=idx.dtype) * length
    idx = torch.remainder(idx, period)
    return torch.where(idx >= period // 2, period - 1 - idx, idx)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Mirror-pad the bottom and right of x so that H and W are multiples of `multiple`."""
    if multiple == 1:
        return x
    h, w = x.shape[-2], x.shape[-1]
    ph = (h + multiple - 1) // multiple * multiple
    pw = (w + multiple - 1) // multiple * multiple
    x = torch.index_select(x, 2, mirror_indices(h, ph))
    return torch.index_select(x, 3, mirror_indices(w, pw))


class SRModel(nn.Module):
    """Base of every architecture: RGB float32 NCHW in [0, 1] in, `scale` times larger out.

    In eval mode the output is clamped to [0, 1], so the exported graph honours the
    embedding contract by itself.
    """

    arch_name: str = ""

    def __init__(self, scale: int) -> None:
        super().__init__()
        if scale not in (1, 2, 3, 4):
            raise ValueError(f"scale must be 1, 2, 3 or 4, got {scale}")
        self.scale = scale

    def spec(self) -> dict[str, Any]:
        """Constructor arguments (without scale) that rebuild this architecture."""
        raise NotImplementedError

    def fixed_input_size(self) -> tuple[int, int] | None:
        return None

    def tile_multiple(self) -> int:
        """Input-pixel grid on which tiles must start for an exact tiled result."""
        return 1

    def has_training_branches(self) -> bool:
        """True when `reparameterize()` would fold training-only branches into kernels."""
        return False

    def reparameterize(self) -> SRModel:
        """Fold training-only branches into the inference form (in place); returns self."""
        return self

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.restore(x)
        if not self.training:
            y = y.clamp(0.0, 1.0)
        return y

    def descriptor(self, receptive_field: int = 1) -> ModelDescriptor:
        fixed = self.fixed_input_size()
        return ModelDescriptor(
            arch=self.arch_name,
            scale=self.scale,
            spec=self.spec(),
            size_requirement="fixed" if fixed else "any",
            fixed_size=fixed,
            receptive_field=receptive_field,
            tile_hint=fixed[0] if fixed else 256,
            tile_multiple=self.tile_multiple(),
        )
