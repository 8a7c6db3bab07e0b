"""GIF: at most 256 colours (`sronnx.io.palette`: a palette per image, a reserved
transparent index), still or animated, sides up to 65535; of metadata only a comment (the
comment extensions of the first frame, as Pillow joins them; Pillow writes it back as one).
Pillow allocates the first frame's canvas while it opens the file, so the pixel limit is kept
during the open (`limit_open`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from sronnx.io import metadata as md
from sronnx.io import registry
from sronnx.io.palette import to_gif_palette

__all__ = ["GIF"]


def _describe(img: Image.Image, path: Path, notes: list[str]) -> dict[str, Any]:
    comment = img.info.get("comment")
    if isinstance(comment, (bytes, bytearray)) and comment:
        return {"metadata": {"texts": (md.comment_text(bytes(comment)),)}}
    return {}


GIF = registry.register_format(registry.ImageFormat(
    "GIF", (".gif",), choices=("gif",), magic=(b"GIF8",), max_side=65535, animated=True,
    metadata=frozenset({"COMMENT"}), limit_open=True, prepare=to_gif_palette,
    describe=_describe,
))
