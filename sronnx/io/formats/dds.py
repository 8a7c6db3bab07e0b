"""DDS (DirectDraw Surface textures): read only, the top mipmap level as Pillow decodes it
(uncompressed and BC1-BC7/DXT block formats, with alpha); outputs are PNG."""

from __future__ import annotations

from sronnx.io import registry

__all__ = ["DDS"]

DDS = registry.register_format(registry.ImageFormat("DDS", (".dds",), writable=False))
