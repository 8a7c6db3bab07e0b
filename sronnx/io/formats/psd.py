"""PSD (Photoshop): read only, the flattened composite Pillow reads (8-bit; layers are not
composited again), with its ICC profile, EXIF, XMP and IPTC where Pillow finds them; outputs
are PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from sronnx.io import registry

__all__ = ["PSD"]


def _describe(img: Image.Image, path: Path, notes: list[str]) -> dict[str, Any]:
    layers = len(getattr(img, "layers", None) or ())
    if layers:
        notes.append(f"PSD with {layers} layers: the flattened composite was upscaled")
    return {}


PSD = registry.register_format(registry.ImageFormat(
    "PSD", (".psd",), writable=False, describe=_describe,
))
