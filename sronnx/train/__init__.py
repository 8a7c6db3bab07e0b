"""Training (torch): the data pipeline, training-time degradations, the trainer,
checkpoints and torchrun. `sronnx.train.data` and `degradations` need no torch.

The names below are the package's public face: scripts and other packages import them from
here, and the modules behind them may move."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sronnx.core import lazy_exports

#: public name -> the module that defines it (imported on first use)
_EXPORTS = {
    "CheckpointError": "checkpoint",
    "DataError": "data",
    "Distributed": "distributed",
    "NAMED": "degradations",
    "NotSronnxCheckpoint": "checkpoint",
    "Progress": "trainer",
    "RUN_FILES": "trainer",
    "ResumeMismatchError": "trainer",
    "RunExistsError": "trainer",
    "TrainConfig": "trainer",
    "centre_crop": "data",
    "degrade_named": "degradations",
    "find_images": "data",
    "gaussian_noise": "degradations",
    "jpeg": "degradations",
    "jpeg_bytes": "degradations",
    "load_checkpoint": "checkpoint",
    "load_pairs": "data",
    "load_rgb": "data",
    "model_from_checkpoint": "checkpoint",
    "to_nchw_float": "data",
    "train": "trainer",
}

__all__ = [
    "CheckpointError",
    "DataError",
    "Distributed",
    "NAMED",
    "NotSronnxCheckpoint",
    "Progress",
    "RUN_FILES",
    "ResumeMismatchError",
    "RunExistsError",
    "TrainConfig",
    "centre_crop",
    "degrade_named",
    "find_images",
    "gaussian_noise",
    "jpeg",
    "jpeg_bytes",
    "load_checkpoint",
    "load_pairs",
    "load_rgb",
    "model_from_checkpoint",
    "to_nchw_float",
    "train",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from sronnx.train.checkpoint import (
        CheckpointError,
        NotSronnxCheckpoint,
        load_checkpoint,
        model_from_checkpoint,
    )
    from sronnx.train.data import (
        DataError,
        centre_crop,
        find_images,
        load_pairs,
        load_rgb,
        to_nchw_float,
    )
    from sronnx.train.degradations import (
        NAMED,
        degrade_named,
        gaussian_noise,
        jpeg,
        jpeg_bytes,
    )
    from sronnx.train.distributed import (
        Distributed,
    )
    from sronnx.train.trainer import (
        RUN_FILES,
        Progress,
        ResumeMismatchError,
        RunExistsError,
        TrainConfig,
        train,
    )
