"""The facts every layer shares: what a model needs (`ModelDescriptor`, carried in the
ONNX file), its card (`ModelCard`; both in `ModelInfo`), the shipped models' names, and
one-line reasons for reports. Standard library and numpy only.

The names below are the package's public face: scripts and other packages import them from
here, and the modules behind them may move."""

from __future__ import annotations

from sronnx.core.card import (
    CARD_KEY,
    CalibrationRecord,
    ModelCard,
    ModelFileError,
    ModelInfo,
    SourceRecord,
    TrainingRecord,
    path_name,
)
from sronnx.core.descriptor import (
    METADATA_KEY,
    ModelDescriptor,
    SizeRequirements,
)
from sronnx.core.lazy import (
    lazy_exports,
)
from sronnx.core.reasons import (
    first_line,
)
from sronnx.core.shipped import (
    DEFAULT_SCALE,
    INT8_SUFFIX,
    default_model_name,
    default_models,
    float32_twin,
    read_index,
    resolve_model,
    shipped_models,
)

__all__ = [
    "CARD_KEY",
    "CalibrationRecord",
    "DEFAULT_SCALE",
    "INT8_SUFFIX",
    "METADATA_KEY",
    "ModelCard",
    "ModelDescriptor",
    "ModelFileError",
    "ModelInfo",
    "SizeRequirements",
    "SourceRecord",
    "TrainingRecord",
    "default_model_name",
    "default_models",
    "first_line",
    "float32_twin",
    "lazy_exports",
    "path_name",
    "read_index",
    "resolve_model",
    "shipped_models",
]
