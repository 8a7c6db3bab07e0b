"""The model card and descriptor stored in an ONNX file's metadata, read without torch or onnx.

Metadata keys are part of the embedding contract (see README):
  sronnx.descriptor  JSON of `ModelDescriptor` (scale, channels, value range, size requirement)
  sronnx.card        JSON: sronnx version, architecture spec, training data and steps,
                     validation PSNR, weights hash, parameters, MACs per output pixel
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sronnx.core.descriptor import ModelDescriptor

CARD_KEY = "sronnx.card"


class ModelFileError(ValueError):
    """An ONNX file that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    descriptor: ModelDescriptor
    card: dict[str, Any]


def path_name(path: str | Path | None) -> str | None:
    """The last component of `path` (a folder or file name; POSIX or Windows separators),
    or None for None and for paths without one ("/", ".", ".."). Cards record these rather
    than paths: a card must not carry the paths of the machine that trained the model."""
    if path is None:
        return None
    name = posixpath.basename(posixpath.normpath(str(path).replace("\\", "/")))
    return None if name in ("", ".", "..") else name
