"""The pretrained models that ship inside the package, and how names resolve to files.

Torch-free: the files are plain ONNX with their cards in metadata. `index.json` beside them
lists each model's name, scale, file and precision, and which model is the default for each
scale on each execution provider: an int8 file where it is much faster on CPUs and loses
little (ONNX Runtime's CUDA provider gains nothing from int8 QDQ, so CUDA gets float32).
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
    precision: str = "float32"


def _index() -> tuple[Path, dict]:
    folder = Path(str(resources.files("sronnx.models")))
    index = folder / "index.json"
    if not index.is_file():
        return folder, {"models": [], "defaults": {}}
    data = json.loads(index.read_text())
    if isinstance(data, list):  # the first format: a bare list, first model per scale wins
        data = {"models": data, "defaults": {}}
    return folder, data


def shipped_models() -> list[ShippedModel]:
    folder, data = _index()
    return [ShippedModel(e["name"], int(e["scale"]), folder / e["file"], e.get("summary", ""),
                         e.get("precision", "float32")) for e in data["models"]]


def default_model_name(scale: int = DEFAULT_SCALE, provider: str = "cpu") -> str:
    """The shipped model `sronnx upscale` uses for `scale` on `provider` ("cpu" or "cuda")."""
    _, data = _index()
    chosen = data["defaults"].get(str(scale), {}).get(provider)
    if chosen:
        return chosen
    for m in shipped_models():
        if m.scale == scale and m.precision == "float32":
            return m.name
    raise LookupError(f"no shipped model for scale {scale}")


def resolve_model(model: str | Path | None, scale: int | None = None,
                  provider: str = "cpu") -> Path:
    """A shipped name, an .onnx path, or None (the default model for `scale` on `provider`)
    -> a file path."""
    if model is None:
        model = default_model_name(scale or DEFAULT_SCALE, provider)
    text = str(model)
    for m in shipped_models():
        if text == m.name:
            return m.path
    path = Path(text)
    if path.suffix.lower() == ".onnx" or path.exists():
        return path
    names = ", ".join(m.name for m in shipped_models()) or "none"
    raise LookupError(f"unknown model {text!r}: not an .onnx file, nor a shipped model ({names})")
