"""Pixel arithmetic: image kinds to arrays and back (`modes`), bicubic kernels, resizing,
what an input has been through (`assess`: JPEG quality, noise, blockiness), the evaluation
protocol's degradation and metrics. numpy and Pillow only.

The names below are the package's public face: scripts and other packages import them from
here, and the modules behind them may move."""

from __future__ import annotations

from sronnx.imaging.assess import (
    blockiness,
    noise_sigma,
)
from sronnx.imaging.degrade import (
    bicubic_upscale,
)
from sronnx.imaging.interpolation import (
    ALPHA_MARGIN,
    bicubic_phase_kernels,
    bicubic_upscale_plane,
)
from sronnx.imaging.metrics import (
    mse_rgb,
    psnr_y,
    quantize,
)
from sronnx.imaging.modes import (
    array_to_pil,
    full_scale,
    is_grey16,
    pil_to_array,
    unpremultiply,
)
from sronnx.imaging.resize import (
    needed_factor,
    pick_scale,
    resize_array,
    size_problem,
    target_size,
)

__all__ = [
    "ALPHA_MARGIN",
    "array_to_pil",
    "bicubic_phase_kernels",
    "bicubic_upscale",
    "bicubic_upscale_plane",
    "blockiness",
    "full_scale",
    "is_grey16",
    "mse_rgb",
    "needed_factor",
    "noise_sigma",
    "pick_scale",
    "pil_to_array",
    "psnr_y",
    "quantize",
    "resize_array",
    "size_problem",
    "target_size",
    "unpremultiply",
]
