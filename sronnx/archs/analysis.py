"""Cost and reach of a model, measured on the module itself rather than kept by hand."""

from __future__ import annotations

import torch
from torch import nn


def _probe_size(model: nn.Module, default: int) -> tuple[int, int]:
    fixed = model.fixed_input_size() if hasattr(model, "fixed_input_size") else None
    return tuple(fixed) if fixed else (default, default)


def macs_per_output_pixel(model: nn.Module, size: int = 48) -> float:
    """Multiply-accumulates of convolutions and linear layers per output pixel.

    Counted with forward hooks on a probe input; fixed convolutions (the bicubic upsampler)
    are counted too, since they cost the same at run time.
    """
    total = 0

    def conv_hook(mod: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        x = inputs[0]
        if isinstance(mod, nn.ConvTranspose2d):
            # every input pixel is scattered through the whole kernel
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total += x.numel() // x.shape[0] * k * mod.out_channels // mod.groups
        else:
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total += out.numel() // out.shape[0] * k * mod.in_channels // mod.groups

    def linear_hook(mod: nn.Linear, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += mod.in_features * mod.out_features

    hooks = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d | nn.ConvTranspose2d):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(linear_hook))
    fixed_convs = _count_functional_convs(model)
    h, w = _probe_size(model, size)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.rand(1, 3, h, w))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    pixels = out.shape[-1] * out.shape[-2]
    return (total + fixed_convs(h, w)) / pixels


def _count_functional_convs(model: nn.Module):
    """MACs of the fixed bicubic upsampler (a functional conv that hooks cannot see)."""
    from sronnx.archs.common import BicubicUpsample

    ups = [m for m in model.modules() if isinstance(m, BicubicUpsample)]

    def count(h: int, w: int) -> int:
        return sum(m.scale * m.scale * 25 * m.channels * (h + 4 - 4) * (w + 4 - 4) for m in ups
                   if m.scale > 1)

    return count


def receptive_field(model: nn.Module, size: int = 96) -> int:
    """Side, in input pixels, of the region that influences the centre output pixel.

    Measured from the gradient of one output pixel on a copy of the model whose learned
    weights are replaced by small positive constants, so the answer depends on the structure
    only (zero-initialised or dead units would hide part of it). A result equal to the probe
    size means "at least this" (the whole probe input is seen).
    """
    import copy

    h, w = _probe_size(model, size)
    probe = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for mod in probe.modules():
            if isinstance(mod, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
                mod.weight.fill_(0.5 / mod.weight[0].numel())
                if mod.bias is not None:
                    mod.bias.zero_()
    x = torch.rand(1, 3, h, w, dtype=torch.float64, requires_grad=True)
    y = probe.restore(x) if hasattr(probe, "restore") else probe(x)
    # A strided model sees a different field from each phase of its grid: take the union
    # over one grid period of output pixels, minus the period itself.
    scale = getattr(probe, "scale", 1)
    period = getattr(probe, "multiple", 1)
    cy, cx = y.shape[-2] // 2 // period * period, y.shape[-1] // 2 // period * period
    y[0, :, cy : cy + period, cx : cx + period].sum().backward()
    mask = x.grad.abs().sum(dim=(0, 1)) > 0
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    cols = torch.nonzero(mask.any(dim=0)).flatten()
    if rows.numel() == 0:
        return 0
    extent = int(max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1))
    return max(extent - (period - 1) // scale, 1)
