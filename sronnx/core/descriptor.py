"""What a model needs from its caller, in a form that travels inside the ONNX file.

The runtime reads this back from ONNX metadata without torch, so it must stay a plain
dataclass of JSON-able fields. A model sronnx did not make gets one too, found when it is
loaded (`sronnx.runtime.probe`): nothing downstream asks where a model came from.

The tensor contract a descriptor states (the defaults are sronnx's own exports):
  input  `element_type` N x C x H x W (`layout` "NCHW") or N x H x W x C ("NHWC"),
         C = `in_channels` (3: `channel_order` RGB or BGR; 1: luma, Y of YCbCr; 4: + alpha),
         values in `value_range` (0..1 or 0..255), N fixed at `batch` when it is not 0;
  output the same layout, order and range, `out_channels` channels, `scale` times H and W.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

METADATA_KEY = "sronnx.descriptor"

#: Tensor layouts: batch, channels, height, width in that order, or channels last.
Layout = Literal["NCHW", "NHWC"]
#: The order of a 3-channel model's colour channels.
ChannelOrder = Literal["RGB", "BGR"]
#: The input and output tensors' element type.
ElementType = Literal["float32", "float16", "uint8"]
#: "any": every H, W the `size` rule takes; "fixed": exactly `fixed_size`.
SizeRequirement = Literal["any", "fixed"]

LAYOUTS: tuple[Layout, ...] = get_args(Layout)
CHANNEL_ORDERS: tuple[ChannelOrder, ...] = get_args(ChannelOrder)
ELEMENT_TYPES: tuple[ElementType, ...] = get_args(ElementType)
SIZE_REQUIREMENTS: tuple[SizeRequirement, ...] = get_args(SizeRequirement)
# Bounds on what a descriptor may ask for: it comes from an untrusted file's metadata (or
# its declared shapes), and the runtime pads, tiles and allocates by it outside ONNX
# Runtime's memory cap (a declared minimum of 100000 px made 5.5 GB of padding per image,
# found by review). Generous for real models: fixed sizes seen in the wild are <= 1024.
MAX_SIDE = 8192  # fixed_size and size.minimum, per side, in input pixels
MAX_MULTIPLE = 1024  # size.multiple_of and tile_multiple
MAX_SCALE = 16
MAX_BATCH = 256  # a fixed batch size
MAX_RECEPTIVE_FIELD = 4096  # input pixels; tiles overlap by half of it
MAX_RUN_PIXELS = 1 << 28  # output pixels of the smallest run the model allows (256 MP)


@dataclass(frozen=True)
class SizeRequirements:
    """What input sizes a model takes (after spandrel's `SizeRequirements`): H and W at
    least `minimum`, multiples of `multiple_of`, and equal when `square`. The runtime pads
    a tile that does not fit (mirrored, at its bottom and right) and crops the output."""

    minimum: int = 1
    multiple_of: int = 1
    square: bool = False

    def __post_init__(self) -> None:
        for value in (self.minimum, self.multiple_of):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"bad size requirements: {value!r} is not an integer")
        if self.minimum < 1 or self.multiple_of < 1:
            raise ValueError(f"bad size requirements: minimum={self.minimum}, "
                             f"multiple_of={self.multiple_of} (both must be >= 1)")
        if self.minimum > MAX_SIDE or self.multiple_of > MAX_MULTIPLE:
            raise ValueError(f"bad size requirements: minimum={self.minimum}, "
                             f"multiple_of={self.multiple_of} (at most {MAX_SIDE} and "
                             f"{MAX_MULTIPLE})")

    @property
    def none(self) -> bool:
        """True when every size >= 1 is taken as it is."""
        return self.minimum <= 1 and self.multiple_of == 1 and not self.square

    def get_padding(self, height: int, width: int) -> tuple[int, int]:
        """(rows, columns) to add to an H x W input so that the model takes it; (0, 0)
        when it already does."""
        m = self.multiple_of
        h = -(-max(height, self.minimum) // m) * m
        w = -(-max(width, self.minimum) // m) * m
        if self.square:
            h = w = max(h, w)
        return h - height, w - width


@dataclass(frozen=True)
class ModelDescriptor:
    """Scale, channels, value range, tensor layout and size rule of one super-resolution
    model (the module docstring gives the tensor contract)."""

    arch: str
    """The architecture's name (sronnx's registry name, spandrel's, or "unknown")."""
    scale: int
    """Output pixels per input pixel along each side (1..16)."""
    spec: dict[str, Any] = field(default_factory=dict)
    """The architecture's settings (JSON-able), for the card and `sronnx info`."""
    in_channels: int = 3
    """Input channels: 1 (luma, Y of YCbCr), 3 (colour) or 4 (colour and alpha)."""
    out_channels: int = 3
    """Output channels, as `in_channels`."""
    value_range: tuple[float, float] = (0.0, 1.0)
    """The tensors' value range, (low, high): (0, 1) or (0, 255)."""
    size_requirement: SizeRequirement = "any"
    """"any": every height and width the `size` rule takes; "fixed": exactly `fixed_size`."""
    fixed_size: tuple[int, int] | None = None
    """(H, W) in input pixels with size_requirement "fixed" (at most 8192 each), else None."""
    receptive_field: int = 1
    """Input pixels (one side) an output pixel depends on; tiles overlap by half of it."""
    tile_hint: int = 256
    """A good tile side in input pixels (the runtime tiles by max(this, 512))."""
    tile_multiple: int = 1
    """Tiles start on multiples of this many input pixels for an exact tiled result
    (strided encoders are not shift-invariant)."""
    size: SizeRequirements = field(default_factory=SizeRequirements)
    """The size rule: minimum side, multiple of, square (`SizeRequirements`)."""
    layout: Layout = "NCHW"
    """The tensors' layout."""
    channel_order: ChannelOrder = "RGB"
    """A 3-channel model's channel order."""
    element_type: ElementType = "float32"
    """The tensors' element type."""
    batch: int = 0
    """0: any batch size; otherwise the one batch size the model takes (tiles then run in
    groups of exactly that many)."""
    clamp: bool = True
    """Whether the runtime clamps each output channel to its input neighbourhood's range
    (`sronnx.engine.clamp`): sronnx's own models yes (flat colours exact, no fringes);
    models made elsewhere run as their authors made them unless told otherwise."""

    def __post_init__(self) -> None:
        """Raise ValueError for a descriptor sronnx cannot run: a descriptor comes from a
        file's metadata (untrusted input), so every field is checked before use."""
        self._check_numbers()
        self._check_forms()
        self._check_limits()

    def _check_numbers(self) -> None:
        """Integers where integers belong, sides and scale >= 1."""
        for name in ("scale", "in_channels", "out_channels", "receptive_field", "tile_hint",
                     "tile_multiple", "batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        for name in ("receptive_field", "tile_hint", "tile_multiple"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.fixed_size is not None and (
                len(self.fixed_size) != 2 or min(self.fixed_size) < 1):
            raise ValueError(f"fixed_size must be two sides >= 1, got {self.fixed_size}")
        if self.scale < 1:
            raise ValueError(f"scale must be >= 1, got {self.scale}")

    def _check_forms(self) -> None:
        """The size requirement, layout, channel order, element type, channels and value
        range: ones sronnx knows."""
        if self.size_requirement not in SIZE_REQUIREMENTS:
            raise ValueError(f"unknown size requirement {self.size_requirement!r}")
        if (self.size_requirement == "fixed") != (self.fixed_size is not None):
            raise ValueError("fixed_size must be given exactly when size_requirement is 'fixed'")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.channel_order not in CHANNEL_ORDERS:
            raise ValueError(f"channel_order must be RGB or BGR, got {self.channel_order!r}")
        if self.element_type not in ELEMENT_TYPES:
            raise ValueError(f"element_type must be one of {', '.join(ELEMENT_TYPES)}, "
                             f"got {self.element_type!r}")
        if self.in_channels not in (1, 3, 4) or self.out_channels not in (1, 3, 4):
            raise ValueError(f"a model of {self.in_channels} input and {self.out_channels} "
                             "output channels is not an image model sronnx can run "
                             "(1 luma, 3 RGB, 4 RGBA)")
        lo, hi = self.value_range
        if not hi > lo:
            raise ValueError(f"value_range must rise, got {self.value_range}")

    def _check_limits(self) -> None:
        """The batch, and every size under its limit, the smallest run's output pixels
        included."""
        if self.batch < 0:
            raise ValueError(f"batch must be >= 0 (0: any), got {self.batch}")
        for name, top in (("scale", MAX_SCALE), ("batch", MAX_BATCH),
                          ("receptive_field", MAX_RECEPTIVE_FIELD), ("tile_hint", MAX_SIDE),
                          ("tile_multiple", MAX_MULTIPLE)):
            if getattr(self, name) > top:
                raise ValueError(f"{name} {getattr(self, name)} is over the limit of {top}")
        if self.fixed_size is not None and max(self.fixed_size) > MAX_SIDE:
            fh, fw = self.fixed_size
            raise ValueError(f"a fixed input size of {fw}x{fh} is over the limit of "
                             f"{MAX_SIDE} per side")
        h, w = self.fixed_size or (self.size.minimum, self.size.minimum)
        run = (self.batch or 1) * h * w * self.scale ** 2
        if run > MAX_RUN_PIXELS:
            raise ValueError(f"its smallest run makes {run:,} output pixels ({w}x{h} x"
                             f"{self.scale}, batch {self.batch or 1}), over the limit of "
                             f"{MAX_RUN_PIXELS:,}")

    def check_input_size(self, height: int, width: int) -> None:
        """Raise ValueError with a clear message when the model cannot take this size."""
        if height < 1 or width < 1:
            raise ValueError(f"image size {width}x{height} is empty")
        if self.fixed_size is not None and (height, width) != tuple(self.fixed_size):
            fh, fw = self.fixed_size
            raise ValueError(
                f"model {self.arch} takes only {fw}x{fh} inputs (fixed-size input), "
                f"got {width}x{height}; run it through the tiled upscaler instead"
            )
        if self.size.get_padding(height, width) != (0, 0):
            s = self.size
            raise ValueError(
                f"model {self.arch} takes sizes of at least {s.minimum}, multiples of "
                f"{s.multiple_of}{', square' if s.square else ''}; got {width}x{height}: "
                "run it through the tiled upscaler, which pads and crops")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelDescriptor:
        """The descriptor in `text`; keys it does not know are ignored (a newer writer), and
        missing ones take their defaults (an older one). Raises ValueError or TypeError for
        JSON that is not a descriptor."""
        try:
            raw = json.loads(text)
        except RecursionError:  # "[[[[...": nested deeper than Python's parser recurses
            raise ValueError("the descriptor is JSON nested too deep") from None
        if not isinstance(raw, dict):
            raise ValueError("the descriptor is not a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        data = {k: v for k, v in raw.items() if k in known}
        if data.get("value_range") is not None:
            data["value_range"] = tuple(float(v) for v in data["value_range"])
        if data.get("fixed_size") is not None:
            data["fixed_size"] = tuple(int(v) for v in data["fixed_size"])
        if isinstance(data.get("size"), dict):
            fields = SizeRequirements.__dataclass_fields__
            data["size"] = SizeRequirements(**{k: v for k, v in data["size"].items()
                                               if k in fields})
        elif "size" in data:
            raise ValueError(f"the descriptor's size rule is not an object: {data['size']!r}")
        return cls(**data)
