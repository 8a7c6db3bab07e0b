"""PCX (ZSoft Paintbrush): read only (1, 8-bit palette and 24-bit RGB); outputs are PNG."""

from __future__ import annotations

from sronnx.io import registry

__all__ = ["PCX"]

PCX = registry.register_format(registry.ImageFormat("PCX", (".pcx",), writable=False))
