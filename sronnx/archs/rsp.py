"""A residual sub-pixel network with a bicubic skip: the small, CPU-friendly default.

Body: 3x3 convolutions at low resolution ending in 3*s^2 channels; the bicubic skip is a
fixed convolution producing the same 3*s^2 sub-pixel phases from the input; both are added
before one depth-to-space. So the network learns only the missing detail, and the exported
graph holds no slow Resize node and a single DepthToSpace.

Options for speed and training: `act` relu/leaky_relu let ONNX Runtime fuse the activation
into the convolution (PReLU is not fused); `res` adds an identity branch to every body
convolution during training (RepVGG-style), folded into the kernel by `reparameterize()` at
export so inference still runs one plain convolution per layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from sronnx.archs.common import BicubicUpsample, SRModel, make_activation


class RSP(SRModel):
    arch_name = "rsp"

    def __init__(self, scale: int, channels: int = 32, blocks: int = 6, act: str = "prelu",
                 res: bool = False, deploy: bool = False) -> None:
        super().__init__(scale)
        self._spec = dict(channels=channels, blocks=blocks, act=act, res=res, deploy=deploy)
        self.res = res and not deploy
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1),
                                   make_activation(act, channels)]
        for _ in range(blocks):
            layers += [nn.Conv2d(channels, channels, 3, padding=1),
                       make_activation(act, channels)]
        layers += [nn.Conv2d(channels, 3 * scale * scale, 3, padding=1)]
        self.body = nn.Sequential(*layers)
        self.skip = BicubicUpsample(scale)
        last = layers[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def spec(self) -> dict[str, Any]:
        # defaults of the original (v0.1) form are left out so its specs stay as they were
        spec = dict(self._spec)
        for key, default in (("act", "prelu"), ("res", False), ("deploy", False)):
            if spec[key] == default:
                spec.pop(key)
        return spec

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        layers = list(self.body)
        for i, layer in enumerate(layers):
            if self.res and isinstance(layer, nn.Conv2d) and 0 < i < len(layers) - 1:
                y = layer(y) + y
            else:
                y = layer(y)
        return F.pixel_shuffle(y + self.skip.phases(x), self.scale)

    def has_training_branches(self) -> bool:
        return self.res

    @torch.no_grad()
    def reparameterize(self) -> RSP:
        """Fold the identity branches into the body kernels (in place); returns self."""
        if not self.res:  # nothing to fold: the spec stays as it is
            return self
        convs = [m for m in self.body if isinstance(m, nn.Conv2d)][1:-1]
        for conv in convs:
            c = conv.out_channels
            conv.weight[torch.arange(c), torch.arange(c), 1, 1] += 1.0
        self.res = False
        self._spec["deploy"] = True
        return self
