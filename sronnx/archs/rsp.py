"""A residual sub-pixel network with a bicubic skip: the small, CPU-friendly default.

Body: 3x3 convolutions with PReLU at low resolution, a sub-pixel (depth-to-space) output,
added to a bicubic upsampling of the input computed as a fixed convolution, so the network
only learns the missing detail and the exported graph holds no slow Resize node.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sronnx.archs.common import BicubicUpsample, SRModel


class RSP(SRModel):
    arch_name = "rsp"

    def __init__(self, scale: int, channels: int = 32, blocks: int = 6) -> None:
        super().__init__(scale)
        self._spec = dict(channels=channels, blocks=blocks)
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), nn.PReLU(channels)]
        for _ in range(blocks):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU(channels)]
        layers += [nn.Conv2d(channels, 3 * scale * scale, 3, padding=1),
                   nn.PixelShuffle(scale)]
        self.body = nn.Sequential(*layers)
        self.skip = BicubicUpsample(scale)
        last = layers[-2]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def spec(self) -> dict[str, Any]:
        return dict(self._spec)

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)
