"""TGA (Truevision Targa): 8-bit grey, palette, RGB and RGBA (RLE or not). Pillow reads and
writes it; written with RLE compression. No metadata."""

from __future__ import annotations

from typing import Any

from sronnx.io import registry

__all__ = ["TGA"]


def _save_options(kwargs: dict[str, Any], enc: registry.Encoding) -> None:
    kwargs.pop("dpi", None)
    kwargs["compression"] = "tga_rle"


TGA = registry.register_format(registry.ImageFormat(
    "TGA", (".tga", ".icb", ".vda", ".vst"), choices=("tga",), save_options=_save_options,
))
