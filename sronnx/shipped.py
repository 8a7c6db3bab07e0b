"""The pretrained models that ship inside the package, and how names resolve to files.

Torch-free: the files are plain ONNX with their cards in metadata. `index.json` beside them
lists each model's name, scale and file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

DEFAULT_SCALE = 2


@dataclass(frozen=True)
class ShippedModel:
    name: str
    scale: int
    path: Path
    summary: str


def shipped_models() -> list[ShippedModel]:
    folder = Path(str(resources.files("sronnx.models")))
    index = folder / "index.json"
    if not index.is_file():
        return []
    entries = json.loads(index.read_text())
    return [ShippedModel(e["name"], int(e["scale"]), folder / e["file"], e.get("summary", ""))
            for e in entries]


def default_model_name(scale: int = DEFAULT_SCALE) -> str:
    for m in shipped_models():
        if m.scale == scale:
            return m.name
    raise LookupError(f"no shipped model for scale {scale}")


def resolve_model(model: str | Path | None, scale: int | None = None) -> Path:
    """A shipped name, an .onnx path, or None (the default model for `scale`) -> a file path."""
    if model is None:
        model = default_model_name(scale or DEFAULT_SCALE)
    text = str(model)
    for m in shipped_models():
        if text == m.name:
            return m.path
    path = Path(text)
    if path.suffix.lower() == ".onnx" or path.exists():
        return path
    names = ", ".join(m.name for m in shipped_models()) or "none"
    raise LookupError(f"unknown model {text!r}: not an .onnx file, nor a shipped model ({names})")
