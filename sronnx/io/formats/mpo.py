"""MPO (Multi-Picture Object: a JPEG followed by more pictures, e.g. a 3D camera's second
eye or a phone's depth map): files named `.mpo`. Pillow's JPEG opener opens them (format
"MPO"; Pillow has no opener by that name, hence `pillow_opens=False`); the first picture is
upscaled with the JPEG's EXIF, XMP and ICC profile, and written as JPEG (MPO is read only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from sronnx.io import registry

__all__ = ["MPO"]


def _describe(img: Image.Image, path: Path, notes: list[str]) -> dict[str, Any]:
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        notes.append(f"MPO with {frames} pictures: only the first was upscaled")
    return {}


MPO = registry.register_format(registry.ImageFormat(
    "MPO", (".mpo",), alpha=False, metadata=frozenset({"EXIF", "XMP"}), writable=False,
    output_as="JPEG", pillow_opens=False, describe=_describe,
))
