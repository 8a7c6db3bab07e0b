"""FSRCNN (Dong et al. 2016): shrink, map, expand at low resolution, deconvolve at the end."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sronnx.archs.common import SRModel


class FSRCNN(SRModel):
    """FSRCNN(d=56, s=12, m=4) on RGB; the 9x9 deconvolution gives exactly scale x size."""

    arch_name = "fsrcnn"

    def __init__(self, scale: int, d: int = 56, s: int = 12, m: int = 4) -> None:
        super().__init__(scale)
        self._spec = dict(d=d, s=s, m=m)
        layers: list[nn.Module] = [nn.Conv2d(3, d, 5, padding=2), nn.PReLU(d)]
        layers += [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            layers += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        layers += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.body = nn.Sequential(*layers)
        self.deconv = nn.ConvTranspose2d(
            d, 3, 9, stride=scale, padding=4, output_padding=scale - 1
        )
        nn.init.normal_(self.deconv.weight, std=0.001)
        nn.init.zeros_(self.deconv.bias)

    def spec(self) -> dict[str, Any]:
        return dict(self._spec)

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.body(x))
