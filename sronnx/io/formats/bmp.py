"""BMP: 8-bit only, no alpha (flattened over white; a palette is written as it is), no
metadata. Pillow reads and writes it; nothing of its own."""

from __future__ import annotations

from sronnx.io import registry

__all__ = ["BMP"]

BMP = registry.register_format(registry.ImageFormat(
    "BMP", (".bmp",), choices=("bmp",), magic=(b"BM",), alpha=False,
    modes=("1", "L", "RGB", "P"),
))
