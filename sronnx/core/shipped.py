"""The pretrained models that ship inside the package, and how names resolve to files.

Torch-free: the files are plain ONNX with their cards in metadata. `index.json` beside them
lists each model's name, scale, file and precision, and which model is the default for each
scale on each execution provider: an int8 file where it is much faster on CPUs and loses
little (ONNX Runtime's CUDA provider gains nothing from int8 QDQ, so CUDA gets float32).

Defaults come per input kind (`sronnx.engine.choice`): `defaults` for clean inputs and
`photo_defaults` (same shape) for JPEG-compressed and noisy ones; the upscaler picks one per
file by the rule of `sronnx.engine.choice`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

DEFAULT_SCALE = 2
INT8_SUFFIX = "-int8"  # NAME-int8 is NAME quantized (export/ship.py writes both)


@dataclass(frozen=True)
class ShippedModel:
    name: str
    scale: int
    path: Path
    summary: str
    precision: str = "float32"
    kind: str = "clean"  # the input kind it is made for (sronnx.engine.choice)
    set5_psnr_y: float | None = None  # this file's own Set5 PSNR-Y (dB) when it shipped


def read_index(path: Path) -> dict:
    """An index.json as {"models": [...], "defaults": {...}}; an absent file is empty."""
    if not path.is_file():
        return {"models": [], "defaults": {}}
    data = json.loads(path.read_text())
    if isinstance(data, list):  # the first format: a bare list, first model per scale wins
        data = {"models": data, "defaults": {}}
    return data


@functools.cache
def _index() -> tuple[Path, dict]:
    """The package's own index, read once per process."""
    folder = Path(str(resources.files("sronnx.models")))
    return folder, read_index(folder / "index.json")


def float32_twin(name: str) -> ShippedModel | None:
    """The shipped float32 model an int8 shipped model was quantized from (NAME-int8 ->
    NAME), or None."""
    base = name.removesuffix(INT8_SUFFIX)
    if base == name:
        return None
    return next((m for m in shipped_models() if m.name == base), None)


def shipped_models() -> list[ShippedModel]:
    folder, data = _index()
    return [ShippedModel(e["name"], int(e["scale"]), folder / e["file"], e.get("summary", ""),
                         e.get("precision", "float32"), e.get("kind", "clean"),
                         e.get("set5_psnr_y"))
            for e in data["models"]]


def default_model_name(scale: int = DEFAULT_SCALE, provider: str = "cpu",
                       kind: str = "clean") -> str:
    """The shipped model `sronnx upscale` uses for `scale` on `provider` ("cpu" or "cuda":
    the index's keys; `sronnx.runtime.providers.defaults_key` maps every provider to one)
    for inputs of `kind` ("clean" or "photo", see `sronnx.engine.choice`). LookupError
    when there is none (a photo model is never stood in for by a clean one)."""
    _, data = _index()
    if kind in ("photo", "jpeg"):
        chosen = data.get(f"{kind}_defaults", {}).get(str(scale), {}).get(provider)
        if chosen:
            return chosen
        have = sorted(int(k) for k, v in data.get(f"{kind}_defaults", {}).items()
                      if v.get(provider))
        where = f"they ship for x{', x'.join(map(str, have))}" if have else "none ship"
        raise LookupError(f"no shipped {kind} model for x{scale} ({where}); use another "
                          "--scale, or --input-kind auto or clean")
    if kind != "clean":
        raise ValueError(f"input kind must be clean, photo or jpeg, got {kind!r}")
    chosen = data["defaults"].get(str(scale), {}).get(provider)
    if chosen:
        return chosen
    for m in shipped_models():
        if m.scale == scale and m.precision == "float32" and m.kind == "clean":
            return m.name
    raise LookupError(f"no shipped model for scale {scale}")


def default_models(scale: int = DEFAULT_SCALE, provider: str = "cpu") -> dict[str, str]:
    """{"clean": NAME, "photo": NAME, "jpeg": NAME}: the model each input kind gets at
    `scale` on `provider` without --model; "jpeg" is the photo model where no JPEG model
    ships. LookupError when the scale has no clean or no photo model."""
    names = {k: default_model_name(scale, provider, k) for k in ("clean", "photo")}
    try:
        names["jpeg"] = default_model_name(scale, provider, "jpeg")
    except LookupError:
        names["jpeg"] = names["photo"]
    return names


def resolve_model(model: str | Path | None, scale: int | None = None,
                  provider: str = "cpu", kind: str = "clean") -> Path:
    """A shipped name, an .onnx path, or None (the default model for `scale` on `provider`
    for inputs of `kind`) -> a file path."""
    if model is None:
        model = default_model_name(scale or DEFAULT_SCALE, provider, kind)
    text = str(model)
    if not text.strip():
        raise LookupError("empty model name: give a shipped model name (sronnx models lists "
                          "them) or an .onnx path")
    for m in shipped_models():
        if text == m.name:
            return m.path
    path = Path(text)
    if path.suffix.lower() == ".onnx" or path.exists():
        return path
    names = ", ".join(m.name for m in shipped_models()) or "none"
    raise LookupError(f"unknown model {text!r}: not an .onnx file, nor a shipped model ({names})")
