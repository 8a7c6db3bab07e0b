"""Training checkpoints: weights plus everything export needs, loaded without unpickling code.

A checkpoint is a plain dict of tensors, numbers and strings saved with torch.save and read
back with `weights_only=True`, so a malicious file cannot run code on load.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sronnx.archs import create_model
from sronnx.core import first_line

FORMAT = "sronnx-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file."""


class NotSronnxCheckpoint(CheckpointError):
    """A file that is not an sronnx checkpoint at all (another format, or a pickle that
    needs more than tensors); `sronnx export` then tries it as a community checkpoint."""


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so a killed run never leaves a broken file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if _is_torchscript(path):  # a program: torch.load would hand it to torch.jit.load
        raise NotSronnxCheckpoint(f"{path}: a TorchScript archive, not an sronnx checkpoint")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols and zip files
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
        raise NotSronnxCheckpoint(f"{path}: not a loadable sronnx checkpoint ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NotSronnxCheckpoint(f"{path}: not an sronnx checkpoint")
    for key in ("arch", "spec", "scale", "model"):
        if key not in data:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    return data


def _is_torchscript(path: Path) -> bool:
    """Whether `path` is a TorchScript archive (a zip with code and constants)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in archive.namelist())


def model_from_checkpoint(data: dict[str, Any], path: str | Path = "checkpoint") -> nn.Module:
    """Rebuild the architecture from the stored spec and load the weights. Raises
    CheckpointError (naming `path`) when the spec or the weights do not fit: an unknown
    architecture, settings it does not take, tensors of other shapes, non-finite weights."""
    try:
        model = create_model(data["arch"], int(data["scale"]), **data["spec"])
        model.load_state_dict(data["model"])
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        first = first_line(exc, 300)
        raise CheckpointError(f"{path}: damaged checkpoint: {first}") from exc
    if not all(torch.isfinite(t).all() for t in model.state_dict().values()
               if t.is_floating_point()):
        raise CheckpointError(f"{path}: damaged checkpoint: NaN or infinite weights")
    return model.eval()
