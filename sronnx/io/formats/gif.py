"""GIF: at most 256 colours (`sronnx.io.palette`: a palette per image, a reserved
transparent index), still or animated, sides up to 65535, no metadata. Pillow allocates the
first frame's canvas while it opens the file, so the pixel limit is kept during the open
(`limit_open`)."""

from __future__ import annotations

from sronnx.io import registry
from sronnx.io.palette import to_gif_palette

__all__ = ["GIF"]

GIF = registry.register_format(registry.ImageFormat(
    "GIF", (".gif",), choices=("gif",), magic=(b"GIF8",), max_side=65535, animated=True,
    limit_open=True, prepare=to_gif_palette,
))
