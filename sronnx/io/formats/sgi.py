"""SGI (Silicon Graphics .sgi/.rgb/.rgba/.bw): read only (8-bit grey, RGB, RGBA; 16-bit
grey); outputs are PNG."""

from __future__ import annotations

from sronnx.io import registry

__all__ = ["SGI"]

SGI = registry.register_format(registry.ImageFormat(
    "SGI", (".sgi", ".rgb", ".rgba", ".bw"), writable=False,
))
