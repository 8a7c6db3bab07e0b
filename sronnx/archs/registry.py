"""The one registry of architectures: names, their default arguments, and how to build them.

Listing and parsing specs needs no torch; only `create_model` imports the architecture
modules (and so torch). Architecture arguments live here; trained weights and their cards
live with the shipped models (`sronnx.core.shipped`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

#: The scales sronnx trains and exports: every model upscales (no x1 restoration models).
SCALES = (2, 3, 4)


def scale_problem(scale: int) -> str | None:
    """Why `scale` cannot be trained or exported (a sentence), or None when it can."""
    if scale in SCALES:
        return None
    return (f"sronnx models upscale by 2, 3 or 4, not {scale}"
            + (" (x1 restoration models are not supported)" if scale == 1 else ""))


@dataclass(frozen=True)
class ArchEntry:
    name: str
    builder: str  # "module:callable", imported only when a model is built
    summary: str
    defaults: dict[str, Any] = field(default_factory=dict)


def _cae(depth: int) -> ArchEntry:
    return ArchEntry(
        name=f"cae{depth}",
        builder="sronnx.archs.cae:CAE",
        summary=f"the study's conv autoencoder, {depth} encoder/decoder levels, U-Net skips",
        defaults={"depth": depth},
    )


ARCHITECTURES: dict[str, ArchEntry] = {
    e.name: e
    for e in (
        _cae(2),
        _cae(3),
        _cae(4),
        ArchEntry("espcn", "sronnx.archs.espcn:ESPCN", "ESPCN (Shi et al. 2016), sub-pixel conv"),
        ArchEntry("fsrcnn", "sronnx.archs.fsrcnn:FSRCNN", "FSRCNN (Dong et al. 2016), deconv"),
        ArchEntry("rsp", "sronnx.archs.rsp:RSP", "residual sub-pixel net with a bicubic skip"),
    )
}


def _parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low == "null":  # "none" stays a string: it is a value of act, norm, final_act
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split 'cae3:act=gelu,kernel=6,norm=batch' into ('cae3', {...}); validate the name."""
    name, _, rest = spec.partition(":")
    name = name.strip()
    if name not in ARCHITECTURES:
        known = ", ".join(ARCHITECTURES)
        raise ValueError(f"unknown architecture {name!r}; known: {known}")
    kwargs: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"bad spec item {item!r} in {spec!r}: expected key=value")
        kwargs[key.strip()] = _parse_value(value.strip())
    return name, kwargs


def format_spec(name: str, kwargs: dict[str, Any]) -> str:
    extra = {k: v for k, v in kwargs.items() if ARCHITECTURES[name].defaults.get(k) != v}
    if not extra:
        return name
    return name + ":" + ",".join(
        f"{k}={'null' if v is None else v}" for k, v in sorted(extra.items())
    )


def create_model(spec: str, scale: int, **overrides: Any) -> nn.Module:
    """Build an architecture by name or spec string; imports torch."""
    name, kwargs = parse_spec(spec)
    entry = ARCHITECTURES[name]
    module_name, _, attr = entry.builder.partition(":")
    builder = getattr(importlib.import_module(module_name), attr)
    merged = {**entry.defaults, **kwargs, **overrides}
    model = builder(scale=scale, **merged)
    model.arch_name = name
    return model
