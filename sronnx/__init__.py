"""sronnx: small super-resolution models, trained in PyTorch, run anywhere through ONNX.

Importing sronnx never imports torch: the inference path needs only onnxruntime, numpy
and Pillow.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
