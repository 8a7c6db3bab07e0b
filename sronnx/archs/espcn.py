"""ESPCN (Shi et al. 2016): features at low resolution, then one sub-pixel convolution."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sronnx.archs.common import SRModel, make_activation


class ESPCN(SRModel):
    """The paper's network (5x5 64, 3x3 32, 3x3 3*s^2, depth-to-space), on RGB."""

    arch_name = "espcn"

    def __init__(self, scale: int, f1: int = 64, f2: int = 32, act: str = "tanh") -> None:
        super().__init__(scale)
        self._spec = dict(f1=f1, f2=f2, act=act)
        self.body = nn.Sequential(
            nn.Conv2d(3, f1, 5, padding=2),
            make_activation(act, f1),
            nn.Conv2d(f1, f2, 3, padding=1),
            make_activation(act, f2),
            nn.Conv2d(f2, 3 * scale * scale, 3, padding=1),
            nn.PixelShuffle(scale),
        )

    def spec(self) -> dict[str, Any]:
        return dict(self._spec)

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
