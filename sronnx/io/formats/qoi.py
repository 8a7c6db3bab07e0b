"""QOI (the Quite OK Image format): 8-bit RGB and RGBA, lossless. Pillow reads and writes it;
grey and palette images are written as RGB(A). No metadata, no ICC profile."""

from __future__ import annotations

from PIL import Image

from sronnx.io import registry

__all__ = ["QOI"]


def _prepare(img: Image.Image) -> Image.Image:
    if img.mode in ("RGB", "RGBA"):
        return img
    has_alpha = "A" in img.mode or "transparency" in img.info
    return img.convert("RGBA" if has_alpha else "RGB")


QOI = registry.register_format(registry.ImageFormat(
    "QOI", (".qoi",), choices=("qoi",), prepare=_prepare,
))
