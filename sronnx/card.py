"""The model card and descriptor stored in an ONNX file's metadata, read without torch or onnx.

Metadata keys are part of the embedding contract (see README):
  sronnx.descriptor  JSON of `ModelDescriptor` (scale, channels, value range, size requirement)
  sronnx.card        JSON: sronnx version, architecture spec, training data and steps,
                     validation PSNR, weights hash, parameters, MACs per output pixel
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sronnx.descriptor import METADATA_KEY, ModelDescriptor

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


def metadata_to_info(path: Path, metadata: dict[str, str]) -> ModelInfo:
    if METADATA_KEY not in metadata:
        raise ModelFileError(
            f"{path}: ONNX file has no sronnx descriptor metadata ({METADATA_KEY}); "
            "export it with `sronnx export`"
        )
    try:
        descriptor = ModelDescriptor.from_json(metadata[METADATA_KEY])
        card = json.loads(metadata.get(CARD_KEY, "{}"))
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: unreadable sronnx metadata ({exc})") from exc
    return ModelInfo(Path(path), descriptor, card)
