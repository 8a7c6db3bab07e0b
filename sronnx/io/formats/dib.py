"""DIB (a Windows device-independent bitmap, a BMP without its 14-byte file header): read
only, as Pillow's DIB opener reads it; a `.dib` file that has the file header is a BMP and
is read as one. Outputs are BMP (what a DIB is)."""

from __future__ import annotations

from sronnx.io import registry

__all__ = ["DIB"]

DIB = registry.register_format(registry.ImageFormat(
    "DIB", (".dib",), writable=False, output_as="BMP",
))
