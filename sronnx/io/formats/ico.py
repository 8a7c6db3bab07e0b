"""ICO and CUR (Windows icons and cursors): read only, the largest picture in the file (what
Pillow opens), with its alpha; outputs are PNG (lossless, keeps alpha)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from sronnx.io import registry

__all__ = ["CUR", "ICO"]


def _describe(img: Image.Image, path: Path, notes: list[str]) -> dict[str, Any]:
    sizes = img.info.get("sizes") or ()
    if len(sizes) > 1:
        notes.append(f"{img.format} with {len(sizes)} pictures: only the largest "
                     f"({img.size[0]}x{img.size[1]}) was upscaled")
    return {}


ICO = registry.register_format(registry.ImageFormat(
    "ICO", (".ico",), writable=False, describe=_describe,
))
CUR = registry.register_format(registry.ImageFormat(
    "CUR", (".cur",), writable=False, describe=_describe,
))
