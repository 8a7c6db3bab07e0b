"""The study's convolutional autoencoder with U-Net skips (cae2, cae3, cae4 and variants).

The study fed the network the low-resolution image already brought to the high-resolution
size, so the model upsamples first (bicubic, as a fixed convolution), then restores. Any input
size works: the upsampled image is mirror-padded to the multiple the strides need and the
output cropped back.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from sronnx.archs.common import BicubicUpsample, SRModel, make_activation, pad_to_multiple

# kernel -> (stride, conv padding, transposed-conv padding, output padding)
_GEOMETRY = {4: (2, 1, 1, 0), 6: (3, 2, 2, 1)}
_FINAL_ACTS = ("none", "tanh", "sigmoid", "hardtanh")


@dataclass(frozen=True)
class CAESettings:
    """A CAE's settings, its spec (`CAE` says what each part is).

    Attributes:
        depth: encoder/decoder levels, 2, 3 or 4.
        base: channels of the first level (doubled at each level down).
        kernel: 4 (stride 2) or 6 (stride 3).
        down: "conv" (strided conv) or "pool" (conv + max pool).
        act, final_act: the activation of every layer, and of the last ("none", "tanh",
            "sigmoid" or "hardtanh").
        norm: "none" or "batch".
        bottleneck: "conv" (1x1, fully convolutional) or "fc" (the study's Linear latent of
            `latent` features; a fixed input side of `fixed` pixels, default 256 / scale).
        residual: add the bicubic upsampled input to the output.

    Raises ValueError for a setting the architecture does not have.
    """

    depth: int = 3
    base: int = 64
    kernel: int = 4
    down: str = "conv"
    act: str = "relu"
    final_act: str = "none"
    norm: str = "none"
    bottleneck: str = "conv"
    latent: int = 128
    fixed: int | None = None
    residual: bool = True

    def __post_init__(self) -> None:
        if self.depth not in (2, 3, 4):
            raise ValueError(f"depth must be 2, 3 or 4, got {self.depth}")
        if self.kernel not in _GEOMETRY:
            raise ValueError(f"kernel must be 4 (stride 2) or 6 (stride 3), got {self.kernel}")
        if self.down not in ("conv", "pool"):
            raise ValueError(f"down must be 'conv' or 'pool', got {self.down!r}")
        if self.norm not in ("none", "batch"):
            raise ValueError(f"norm must be 'none' or 'batch', got {self.norm!r}")
        if self.bottleneck not in ("conv", "fc"):
            raise ValueError(f"bottleneck must be 'conv' or 'fc', got {self.bottleneck!r}")
        if self.final_act not in _FINAL_ACTS:
            raise ValueError(f"final_act must be one of {_FINAL_ACTS}, got "
                             f"{self.final_act!r}")


class CAE(SRModel):
    """Encoder: `depth` downsampling layers (strided conv, or conv + max pool); bottleneck:
    1x1 conv (`conv`, fully convolutional) or the study's Linear latent (`fc`, fixed size);
    decoder: transposed convs, each fed the matching encoder map concatenated with the
    previous decoder output; the last maps to 3 channels.
    """

    def __init__(self, scale: int, **settings: Any) -> None:
        """A CAE upscaling by `scale`; `settings`: the `CAESettings` fields (defaults for
        the rest). Raises ValueError for a bad setting, TypeError for an unknown one."""
        super().__init__(scale)
        unknown = [k for k in settings if k not in CAESettings.__dataclass_fields__]
        if unknown:  # as Python words it for a keyword the signature lacks
            raise TypeError(f"CAE.__init__() got an unexpected keyword argument {unknown[0]!r}")
        cfg = CAESettings(**settings)
        depth, base, kernel, down, act = cfg.depth, cfg.base, cfg.kernel, cfg.down, cfg.act
        norm, residual = cfg.norm, cfg.residual
        self.arch_name = f"cae{depth}"
        self._spec = asdict(cfg)
        stride, cpad, tpad, opad = _GEOMETRY[kernel]
        self.multiple = stride**depth
        self.residual = residual
        widths = [base * 2**i for i in range(depth)]
        self.upsample = BicubicUpsample(scale)

        def norm_layer(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if norm == "batch" else nn.Identity()

        self.encoder = nn.ModuleList()
        cin = 3
        for c in widths:
            if down == "conv":
                layers = [nn.Conv2d(cin, c, kernel, stride, cpad)]
            else:
                layers = [nn.Conv2d(cin, c, 3, 1, 1)]
            layers += [norm_layer(c), make_activation(act, c)]
            if down == "pool":
                layers.append(nn.MaxPool2d(stride, stride))
            self.encoder.append(nn.Sequential(*layers))
            cin = c

        deep = widths[-1]
        self.fixed_hw: tuple[int, int] | None = None
        if cfg.bottleneck == "conv":
            self.bottleneck: nn.Module = nn.Sequential(
                nn.Conv2d(deep, deep, 1), norm_layer(deep), make_activation(act, deep)
            )
        else:
            lr = cfg.fixed if cfg.fixed is not None else 256 // scale
            self.fixed_hw = (lr, lr)
            hr = lr * scale
            side = (hr + self.multiple - 1) // self.multiple
            self.bottleneck = _FCBottleneck(deep, side, cfg.latent, act)

        self.decoder = nn.ModuleList()
        outs = list(reversed([3, *widths[:-1]]))  # decoder i maps to these channels
        skips = list(reversed(widths))
        prev = deep
        for i, (skip, cout) in enumerate(zip(skips, outs, strict=True)):
            last = i == depth - 1
            layers = [nn.ConvTranspose2d(skip + prev, cout, kernel, stride, tpad, opad)]
            if last:
                layers.append(make_activation(cfg.final_act, cout))
            else:
                layers += [norm_layer(cout), make_activation(act, cout)]
            self.decoder.append(nn.Sequential(*layers))
            prev = cout

    def spec(self) -> dict[str, Any]:
        return dict(self._spec)

    def fixed_input_size(self) -> tuple[int, int] | None:
        return self.fixed_hw

    def tile_multiple(self) -> int:
        # the encoder's grid is `multiple` output pixels, i.e. multiple/gcd(multiple, scale)
        # input pixels
        return self.multiple // math.gcd(self.multiple, self.scale)

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        if self.fixed_hw is not None and tuple(x.shape[-2:]) != self.fixed_hw:
            h, w = self.fixed_hw
            raise ValueError(
                f"this {self.arch_name} model has an 'fc' bottleneck and takes only {w}x{h} "
                f"inputs, got {x.shape[-1]}x{x.shape[-2]}"
            )
        up = self.upsample(x)
        h, w = up.shape[-2], up.shape[-1]
        y = pad_to_multiple(up, self.multiple)
        feats = []
        for layer in self.encoder:
            y = layer(y)
            feats.append(y)
        y = self.bottleneck(y)
        for layer, skip in zip(self.decoder, reversed(feats), strict=True):
            y = layer(torch.cat([skip, y], dim=1))
        y = y[..., :h, :w]
        return up + y if self.residual else y


class _FCBottleneck(nn.Module):
    """The study's Linear latent layer: flatten, compress to `latent`, expand back."""

    def __init__(self, channels: int, side: int, latent: int, act: str) -> None:
        super().__init__()
        self.shape = (channels, side, side)
        n = channels * side * side
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n, latent),
            make_activation(act if act != "prelu" else "relu"),
            nn.Linear(latent, n),
            make_activation(act if act != "prelu" else "relu"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(x.shape[0], *self.shape)
