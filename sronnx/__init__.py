"""sronnx: small super-resolution models, trained in PyTorch, run anywhere through ONNX.

Importing sronnx never imports torch: the inference path needs only onnxruntime, numpy
and Pillow. `import sronnx` stays light: the upscaling names below load onnxruntime only
when first used.

    from sronnx import Upscaler, upscale_image

    big = upscale_image(Image.open("photo.png"))            # the shipped x2 model
    up = Upscaler("rsp-x4-int8")                              # one model, many images
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it, imported on first use (PEP 562)
_LAZY = {
    "Upscaler": "sronnx.engine.upscaler",
    "upscale_image": "sronnx.engine.api",
}

__all__ = ["Upscaler", "__version__", "upscale_image"]

if TYPE_CHECKING:  # pragma: no cover
    from sronnx.engine import Upscaler, upscale_image


def __getattr__(name: str) -> Any:
    """`sronnx.Upscaler` and `sronnx.upscale_image`, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sronnx' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
