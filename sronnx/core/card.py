"""The model card and descriptor stored in an ONNX file's metadata, read without torch or onnx.

Metadata keys are part of the embedding contract (see README):
  sronnx.descriptor  JSON of `ModelDescriptor` (scale, channels, value range, size requirement)
  sronnx.card        JSON of `ModelCard`: sronnx version, architecture spec, training data and
                     steps, validation PSNR, weights hash, parameters, MACs per output pixel,
                     precision (and the float16 / int8 check), where a community model came
                     from, an export target

The writers (`sronnx.export.build_card`, `sronnx.export.export_reduced`,
`sronnx.community.community_card`, the export targets) build the card as a plain dict and
`sronnx.export.write_model` stores it as JSON with sorted keys; readers get it back typed as a
`ModelCard`, checked as untrusted input (a card comes from a file). `ModelCard.to_dict` gives
back exactly the dict it was read from, unknown keys included, so a card read and written
again is the same JSON.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from sronnx.core.descriptor import ModelDescriptor

CARD_KEY = "sronnx.card"

#: The number format of a model's weights and arithmetic (inputs and outputs stay float32).
Precision = Literal["float32", "float16", "int8"]
#: What an int8 file quantizes: "body", the convolutions between the first and the last.
Int8Scheme = Literal["body"]
#: The torch.onnx exporter that wrote a community model.
Exporter = Literal["dynamo", "torchscript"]

PRECISIONS: tuple[Precision, ...] = get_args(Precision)
INT8_SCHEMES: tuple[Int8Scheme, ...] = get_args(Int8Scheme)
EXPORTERS: tuple[Exporter, ...] = get_args(Exporter)


class ModelFileError(ValueError):
    """An ONNX file that cannot be used; the message names the file and the reason."""


# -- checking one value: each takes (key, value) and gives the value to keep or raises --------

Check = Callable[[str, Any], Any]


def _refuse(key: str, what: str, value: Any) -> ModelFileError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return ModelFileError(f"the card's {key} must be {what}, got {shown}")


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _refuse(key, "a string", value)
    return value


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(key, "an integer", value)
    return value


def _number(key: str, value: Any) -> float:
    """An int or a float, kept as it is (43167.0 stays a float, 3 an int: the round trip)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refuse(key, "a number", value)
    return value


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _refuse(key, "true or false", value)
    return value


def _texts(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _refuse(key, "a list of strings", value)
    return tuple(value)


def _text_or_texts(key: str, value: Any) -> str | tuple[str, ...]:
    return value if isinstance(value, str) else _texts(key, value)


def _integer_or_text(key: str, value: Any) -> int | str:
    return value if isinstance(value, str) else _integer(key, value)


def _object(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _refuse(key, "a JSON object", value)
    return value


def _one_of(choices: tuple[str, ...]) -> Check:
    def check(key: str, value: Any) -> str:
        if value not in choices:
            raise _refuse(key, f"one of {', '.join(choices)}", value)
        return value
    return check


def _record(cls: type[_Record]) -> Check:
    def check(key: str, value: Any) -> _Record:
        return cls.from_dict(_object(key, value), prefix=f"{key}.")
    return check


# -- records: a JSON object with typed fields, unknown keys kept -------------------------------

@dataclass(frozen=True)
class _Record:
    """A JSON object read into typed fields: each known key checked by `_CHECKS`, a missing
    key or a null read as None, unknown keys kept in `extra`; `to_dict` gives the object
    back, its keys in their order."""

    _CHECKS: ClassVar[dict[str, Check]] = {}

    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)
    """The keys this version of sronnx does not know (a newer writer's, a study's), with
    their values as read: nothing in a card is lost."""
    keys: tuple[str, ...] = field(default=(), kw_only=True, repr=False)
    """The keys as read, in their order: `to_dict` writes them back in this order, a null
    value included (a key read as null and a missing one both read None). Empty for a
    record made in code: `to_dict` then writes the fields that are not None, then `extra`."""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], prefix: str = ""):
        """The record in `raw` (a parsed JSON object). Raises ModelFileError naming the key
        (as `prefix` + key) for a value of the wrong type."""
        if not isinstance(raw, Mapping):
            raise ModelFileError(f"the card{' ' + prefix.rstrip('.') if prefix else ''} "
                                 "is not a JSON object")
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in raw.items():
            check = cls._CHECKS.get(key)
            if check is None:
                extra[key] = value
            elif value is not None:
                known[key] = check(prefix + key, value)
        return cls(**known, extra=extra, keys=tuple(raw))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object this record holds: for one read by `from_dict`, exactly what it
        was read from (equal, and with its keys in the same order)."""
        names = [f.name for f in fields(self) if f.name in self._CHECKS]
        order = list(self.keys) or [n for n in names if getattr(self, n) is not None]
        order += [n for n in names if n not in order and getattr(self, n) is not None]
        order += [k for k in self.extra if k not in order]
        return {key: _plain(getattr(self, key) if key in self._CHECKS else self.extra[key])
                for key in order}


def _plain(value: Any) -> Any:
    """A field's value as JSON data: records as objects, tuples as lists."""
    if isinstance(value, _Record):
        return value.to_dict()
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True)
class TrainingRecord(_Record):
    """The card's `training`: how the weights were made (`sronnx.export.training_record`
    writes it from a checkpoint; the architecture study and untrained exports write their
    own). Every field may be None: a card says what its writer knew."""

    _CHECKS: ClassVar[dict[str, Check]] = {
        "checkpoint": _text, "run": _text, "init": _text, "data": _text,
        "val": _text_or_texts, "steps": _integer, "train_seconds": _number,
        "val_psnr_y": _number, "batch": _integer, "patch": _integer, "loss": _text,
        "lr": _number, "seed": _integer, "degradation": _object, "note": _text,
        "study": _text,
    }

    checkpoint: str | None = None
    """The checkpoint's file name (cards written before names-only may hold a relative
    path, e.g. "export/runs/.../best.pt")."""
    run: str | None = None
    """The training run's folder name."""
    init: str | None = None
    """The checkpoint a fine-tuning run started from (file name); None for a run from
    scratch."""
    data: str | None = None
    """The training images' folder name. Cards written before names-only may hold the
    training machine's path (e.g. "/work/main/.gpu/data/train"); it is kept as written, not
    used."""
    val: str | tuple[str, ...] | None = None
    """The validation images: a folder name, words ("held-out part of data"), or the
    study's folders (a list)."""
    steps: int | None = None
    """Optimizer steps trained."""
    train_seconds: float | None = None
    """Wall-clock training time, in seconds."""
    val_psnr_y: float | None = None
    """PSNR on the luma (Y of YCbCr) of the validation images, in dB, of these weights."""
    batch: int | None = None
    """Training patches per step."""
    patch: int | None = None
    """The side of a training patch, in high-resolution pixels."""
    loss: str | None = None
    """The training loss's name ("l1", ...)."""
    lr: float | None = None
    """The learning rate (peak, when scheduled)."""
    seed: int | None = None
    """The random seed of the run."""
    degradation: dict[str, Any] | None = None
    """How low-resolution inputs were made from the images: {"name": "bicubic"} or a
    degradation's settings with their ranges (`sronnx.train`'s `describe()`)."""
    note: str | None = None
    """Words instead of a record: an untrained model, a community checkpoint."""
    study: str | None = None
    """The architecture study's variant these weights were trained as."""


@dataclass(frozen=True)
class CalibrationRecord(_Record):
    """The card's `calibration`: the images a float16 / int8 file was checked (and int8
    calibrated) on."""

    _CHECKS: ClassVar[dict[str, Check]] = {"folder": _text, "images": _integer}

    folder: str | None = None
    """The images' folder name (cards written before names-only may hold a path)."""
    images: int | None = None
    """How many images were used."""


@dataclass(frozen=True)
class SourceRecord(_Record):
    """The card's `source`: the checkpoint a community model was exported from."""

    _CHECKS: ClassVar[dict[str, Check]] = {"file": _text, "sha256": _text, "format": _text,
                                           "loader": _text}

    file: str | None = None
    """The checkpoint's file name (never a path)."""
    sha256: str | None = None
    """SHA-256 of the checkpoint file, 64 hex digits."""
    format: str | None = None
    """The checkpoint's format, its file suffix ("pth", "safetensors", ...)."""
    loader: str | None = None
    """What read it ("spandrel 0.4.2")."""


@dataclass(frozen=True)
class ModelCard(_Record):
    """What an ONNX file says about its model (metadata key `sronnx.card`), read as untrusted
    input: `from_json` / `from_dict` refuse a value of the wrong type (ModelFileError naming
    the key), read a missing key or a null as None, and keep unknown keys in `extra`;
    `to_dict` gives back exactly the dict read. A model made elsewhere has an empty card
    (every field None), or one with only `producer`."""

    _CHECKS: ClassVar[dict[str, Check]] = {
        "sronnx_version": _text, "arch": _text, "spec": _text, "scale": _integer,
        "params": _integer, "macs_per_pixel": _number, "trained": _flag,
        "training": _record(TrainingRecord), "weights_sha256": _text, "exported": _text,
        "torch_version": _text, "precision": _one_of(PRECISIONS),
        "psnr_change_db": _number, "calibration": _record(CalibrationRecord),
        "int8": _one_of(INT8_SCHEMES), "init_seed": _integer, "source": _record(SourceRecord),
        "license": _text, "license_note": _text, "tiling": _text, "export_shape": _text,
        "exporter": _one_of(EXPORTERS), "batch": _integer_or_text,
        "parity_max_abs": _number, "parity_sizes": _texts, "target": _text,
        "target_note": _text, "producer": _text,
    }

    # every card sronnx writes
    sronnx_version: str | None = None
    """The sronnx version that wrote the file."""
    arch: str | None = None
    """The architecture's name (sronnx's registry name, or spandrel's)."""
    spec: str | None = None
    """The architecture and its settings as one string: the form `--arch` takes for
    sronnx's own ("rsp:blocks=8,channels=48"), words for a community model."""
    scale: int | None = None
    """Output pixels per input pixel along each side (the descriptor's is the one used)."""
    params: int | None = None
    """Weights (parameters) of the model."""
    macs_per_pixel: float | None = None
    """Multiply-accumulates per output pixel (the deployable form; not for community
    models)."""
    trained: bool | None = None
    """False for initial weights exported for speed measurements."""
    training: TrainingRecord | None = None
    """How the weights were trained (`TrainingRecord`)."""
    weights_sha256: str | None = None
    """SHA-256 of the float32 weights (`sronnx.export.weights_sha256`: sorted names,
    little-endian float32), 64 hex digits: the float32 file and its float16 / int8 twins
    carry the same one."""
    exported: str | None = None
    """When the file was written: ISO 8601, UTC, to the second."""
    torch_version: str | None = None
    """The torch version that exported it."""
    precision: Precision | None = None
    """The weights' and arithmetic's number format; every sronnx file states it (None: a
    card without it, read as float32)."""
    # float16 and int8 files
    psnr_change_db: float | None = None
    """The reduced file's PSNR-Y minus float32's on the calibration images, in dB (negative:
    a loss)."""
    calibration: CalibrationRecord | None = None
    """The images that check measured on (`CalibrationRecord`)."""
    int8: Int8Scheme | None = None
    """What an int8 file quantizes ("body")."""
    # untrained exports
    init_seed: int | None = None
    """The seed the untrained weights were drawn with."""
    # community (spandrel) exports
    source: SourceRecord | None = None
    """The checkpoint a community model came from (`SourceRecord`); None for sronnx's own."""
    license: str | None = None
    """The checkpoint's licence when known (spandrel states none: None)."""
    license_note: str | None = None
    """Words on the licence: where to find it."""
    tiling: str | None = None
    """spandrel's tiling advice, lower case ("supported", "discouraged", "internal")."""
    export_shape: str | None = None
    """The export's input shape in words ("dynamic", "fixed 64x64", ...)."""
    exporter: Exporter | None = None
    """The torch.onnx exporter that wrote it."""
    batch: int | str | None = None
    """The export's batch size: a number, or "dynamic"."""
    parity_max_abs: float | None = None
    """The largest absolute difference from spandrel's PyTorch model on test images, in
    [0, 1] pixel values."""
    parity_sizes: tuple[str, ...] | None = None
    """The test image sizes ("64x64", ...) the parity was measured at."""
    # export targets
    target: str | None = None
    """The runtime a target copy is made for ("opencv-legacy"); None for the ONNX file."""
    target_note: str | None = None
    """What that target changed (fixed input shape, rewritten operators)."""
    # models made elsewhere
    producer: str | None = None
    """The producer named in a foreign file's header ("pytorch 2.1"); sronnx adds it when
    it loads a model without a card."""

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        """The card in `text` (the `sronnx.card` metadata). Raises ModelFileError for text
        that is not JSON, JSON nested too deep, not an object, or a value of the wrong type
        (the message names the key)."""
        try:
            raw = json.loads(text)
        except RecursionError:  # "[[[[...": nested deeper than Python's parser recurses
            raise ModelFileError("the card is JSON nested too deep") from None
        except ValueError as exc:
            raise ModelFileError(f"the card is not JSON ({exc})") from exc
        return cls.from_dict(raw)

    def to_json(self) -> str:
        """The card as `sronnx.export.write_model` stores it: JSON, keys sorted."""
        return json.dumps(self.to_dict(), sort_keys=True)


@dataclass(frozen=True)
class ModelInfo:
    """A model file and what it says about itself."""

    path: Path
    """The .onnx file."""
    descriptor: ModelDescriptor
    """What the model needs (from its metadata, or found when it was loaded)."""
    card: ModelCard
    """Its card; empty (every field None) for a model made elsewhere."""


def path_name(path: str | Path | None) -> str | None:
    """The last component of `path` (a folder or file name; POSIX or Windows separators),
    or None for None and for paths without one ("/", ".", ".."). Cards record these rather
    than paths: a card must not carry the paths of the machine that trained the model."""
    if path is None:
        return None
    name = posixpath.basename(posixpath.normpath(str(path).replace("\\", "/")))
    return None if name in ("", ".", "..") else name
