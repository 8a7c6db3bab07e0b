"""What a model needs from its caller, in a form that travels inside the ONNX file.

The runtime reads this back from ONNX metadata without torch, so it must stay a plain
dataclass of JSON-able fields.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

METADATA_KEY = "sronnx.descriptor"


@dataclass(frozen=True)
class ModelDescriptor:
    """Scale, channels, value range and size requirement of one super-resolution model."""

    arch: str
    scale: int
    spec: dict[str, Any] = field(default_factory=dict)
    in_channels: int = 3
    out_channels: int = 3
    value_range: tuple[float, float] = (0.0, 1.0)
    # "any": every H, W >= 1; "fixed": exactly fixed_size (H, W).
    size_requirement: str = "any"
    fixed_size: tuple[int, int] | None = None
    receptive_field: int = 1
    tile_hint: int = 256
    # Tiles must start on multiples of this many input pixels for an exact tiled result
    # (strided encoders are not shift-invariant).
    tile_multiple: int = 1

    def __post_init__(self) -> None:
        if self.scale < 1:
            raise ValueError(f"scale must be >= 1, got {self.scale}")
        if self.size_requirement not in ("any", "fixed"):
            raise ValueError(f"unknown size requirement {self.size_requirement!r}")
        if (self.size_requirement == "fixed") != (self.fixed_size is not None):
            raise ValueError("fixed_size must be given exactly when size_requirement is 'fixed'")

    def check_input_size(self, height: int, width: int) -> None:
        """Raise ValueError with a clear message when the model cannot take this size."""
        if height < 1 or width < 1:
            raise ValueError(f"image size {width}x{height} is empty")
        if self.fixed_size is not None and (height, width) != tuple(self.fixed_size):
            fh, fw = self.fixed_size
            raise ValueError(
                f"model {self.arch} takes only {fw}x{fh} inputs (fixed-size 'fc' bottleneck), "
                f"got {width}x{height}; run it through the tiled upscaler instead"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelDescriptor:
        raw = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        data = {k: v for k, v in raw.items() if k in known}
        if data.get("value_range") is not None:
            data["value_range"] = tuple(data["value_range"])
        if data.get("fixed_size") is not None:
            data["fixed_size"] = tuple(data["fixed_size"])
        return cls(**data)
