"""What gets measured: shipped models, .onnx files and peers, with their cost from the card.

Torch-free: an sronnx model's card (in its ONNX metadata) carries its parameters and
multiply-accumulates per output pixel, so nothing needs rebuilding to report them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class BenchInputError(ValueError):
    """A model, folder or option the benchmark cannot use; the message says which and why."""


@dataclass(frozen=True)
class BenchModel:
    """One model to measure at its one scale."""

    name: str
    scale: int
    # "shipped", "file" (an .onnx path), "peer" (OpenCV dnn_superres) or "rule" (the
    # default-model rule: per input the clean or photo default, `quality.RuleUpscaler`)
    source: str
    path: Path
    params: int | None = None
    macs_per_pixel: float | None = None  # per output pixel
    spec: str | None = None  # registry spec of an sronnx model: rebuilds it in torch
    fixed_size: tuple[int, int] | None = None  # (H, W) input of a fixed-size model
    algorithm: str | None = None  # OpenCV dnn_superres algorithm name of a peer
    precision: str = "float32"  # the ONNX file's weights: float32, float16 or int8


def describe_onnx(path: Path, name: str, source: str) -> BenchModel:
    """A BenchModel from an sronnx ONNX file's metadata (read through onnxruntime)."""
    from sronnx.core import ModelFileError
    from sronnx.runtime import load_model

    try:
        loaded = load_model(path, "cpu", threads=1)
    except ModelFileError as exc:
        raise BenchInputError(str(exc)) from exc
    card, d = loaded.info.card, loaded.info.descriptor
    params, macs = card.params, card.macs_per_pixel
    return BenchModel(
        name=name, scale=d.scale, source=source, path=Path(path),
        params=int(params) if params is not None else None,
        macs_per_pixel=float(macs) if macs is not None else None,
        spec=card.spec,
        fixed_size=tuple(d.fixed_size) if d.fixed_size else None,
        precision=card.precision or "float32",
    )


RULE = "default"  # --models name of the default-model rule


def rule_models() -> list[BenchModel]:
    """One "default" subject per scale that has both a clean and a photo shipped default."""
    from sronnx.core import default_model_name, shipped_models

    out = []
    for scale in sorted({m.scale for m in shipped_models()}):
        try:
            default_model_name(scale, "cpu", "photo")
        except LookupError:
            continue
        out.append(BenchModel(name=RULE, scale=scale, source="rule", path=Path(".")))
    return out


def resolve_models(names: Sequence[str] | None) -> list[BenchModel]:
    """Shipped names or .onnx paths; None or empty means every shipped model."""
    from sronnx.core import resolve_model, shipped_models

    shipped = {m.name: m for m in shipped_models()}
    if not names:
        return [describe_onnx(m.path, m.name, "shipped") for m in shipped.values()]
    models = []
    for text in names:
        if text == RULE:
            models += rule_models()
            continue
        if text in shipped:
            models.append(describe_onnx(shipped[text].path, text, "shipped"))
            continue
        try:
            path = resolve_model(text)
        except LookupError as exc:
            raise BenchInputError(str(exc)) from exc
        models.append(describe_onnx(path, Path(text).stem, "file"))
    seen: set[tuple[str, int]] = set()
    for m in models:
        if (m.name, m.scale) in seen:
            raise BenchInputError(f"two models named {m.name!r} at x{m.scale}; rename a file")
        seen.add((m.name, m.scale))
    return models
