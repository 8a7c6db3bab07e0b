"""Architectures (torch): the registry of names and specs (`create_model`), the study's
convolutional autoencoders, ESPCN, FSRCNN and the residual sub-pixel network, and their
analysis (receptive field, cost).

The names below are the package's public face: scripts and other packages import them from
here, and the modules behind them may move."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sronnx.core import lazy_exports

#: public name -> the module that defines it (imported on first use)
_EXPORTS = {
    "ARCHITECTURES": "registry",
    "create_model": "registry",
    "format_spec": "registry",
    "macs_per_output_pixel": "analysis",
    "parse_spec": "registry",
    "receptive_field": "analysis",
    "scale_problem": "registry",
}

__all__ = [
    "ARCHITECTURES",
    "create_model",
    "format_spec",
    "macs_per_output_pixel",
    "parse_spec",
    "receptive_field",
    "scale_problem",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from sronnx.archs.analysis import (
        macs_per_output_pixel,
        receptive_field,
    )
    from sronnx.archs.registry import (
        ARCHITECTURES,
        create_model,
        format_spec,
        parse_spec,
        scale_problem,
    )
