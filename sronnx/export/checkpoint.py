"""From a training checkpoint (or an untrained architecture) to one ONNX file, with its card,
its descriptor and, for float16 and int8, the quality check against float32: what `sronnx
export` does for sronnx's own checkpoints, as a library call (`export/ship.py` makes the
shipped models with it).

Errors: `sronnx.train.CheckpointError` (a file that is no usable checkpoint; its subclass
`NotSronnxCheckpoint` for a community one, which `sronnx.community` exports), ValueError for
an unknown architecture or scale, `PrecisionError` for a reduced file refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import torch

from sronnx.archs import create_model, receptive_field, scale_problem
from sronnx.core import ModelCard, ModelDescriptor, path_name
from sronnx.export.onnx import DEFAULT_OPSET, build_card, deployable, export_onnx
from sronnx.export.precision import PrecisionCheck, ReducedOptions, export_reduced
from sronnx.train import CheckpointError, load_checkpoint, model_from_checkpoint

__all__ = ["ExportOptions", "ExportPrecision", "Exported", "export_architecture",
           "export_checkpoint", "export_model", "training_record"]

#: float32, or a reduced precision checked against it (`sronnx.export.precision`).
ExportPrecision = Literal["float32", "float16", "int8"]


@dataclass(frozen=True)
class ExportOptions:
    """How a model is exported (`export_model`, `export_checkpoint`, `export_architecture`).

    Attributes:
        precision: "float32", or "float16" / "int8" checked against float32 on `calib`.
        calib: the folder of calibration images; needed for a reduced precision.
        max_loss: the largest PSNR-Y loss accepted against float32, in dB; None for
            `MAX_LOSS_DB[precision]`.
        force: write a reduced file whatever its loss.
        opset: the ONNX opset of the file.
        on_check: gets the float16 / int8 measurement before any refusal.
    """

    precision: ExportPrecision = "float32"
    calib: str | Path | None = None
    max_loss: float | None = None
    force: bool = False
    opset: int = DEFAULT_OPSET
    on_check: Callable[[PrecisionCheck], None] | None = None

    def reduced(self) -> ReducedOptions:
        """The `export_reduced` options of a float16 or int8 export. Raises ValueError
        without calibration images."""
        if self.calib is None:
            raise ValueError(f"{self.precision} needs calibration images (calib)")
        return ReducedOptions(self.precision, self.calib,  # type: ignore[arg-type]
                              self.max_loss, self.force, self.on_check)


@dataclass(frozen=True)
class Exported:
    """A written model.

    Attributes:
        path: the .onnx file.
        card: the model's card with its precision, typed (`sronnx.core.ModelCard`); the
            card in a float16 / int8 file also holds the check's figures (`check`).
        descriptor: what the model needs (written into it too).
        check: the float16 / int8 measurement against float32; None for float32.
    """

    path: Path
    card: ModelCard
    descriptor: ModelDescriptor
    check: PrecisionCheck | None = None

    def summary(self) -> str:
        """The `wrote ...` line of `sronnx export`: size, parameters, bytes per parameter,
        spec, scale and input shape."""
        size = self.path.stat().st_size
        params = self.card.params or 0
        fixed = self.descriptor.fixed_size
        shape = (f"fixed input size {fixed[1]}x{fixed[0]} (fc bottleneck)" if fixed
                 else "dynamic batch, height and width")
        return (f"wrote {self.path} ({size / 1e6:.2f} MB, {params:,} params, "
                f"{size / max(params, 1):.2f} bytes/param) {self.card.spec} "
                f"x{self.descriptor.scale}, {shape}")


def training_record(data: dict[str, Any], checkpoint: str | Path) -> dict[str, Any]:
    """The card's `training` section from a checkpoint's contents: names only, never the
    paths of the machine that trained (a card travels)."""
    cfg = data.get("config", {})
    training = {
        "checkpoint": path_name(checkpoint), "run": path_name(cfg.get("out")),
        "data": path_name(data.get("data")), "val": path_name(data.get("val")),
        "steps": int(data["step"]), "train_seconds": round(float(data.get("wall_s", 0)), 1),
        # the validation PSNR of these very weights (best.pt is saved as it improves)
        "val_psnr_y": data.get("val_psnr_y"),
        "batch": cfg.get("batch"), "patch": cfg.get("patch"), "loss": cfg.get("loss"),
        "lr": cfg.get("lr"), "seed": cfg.get("seed"),
        # how the training LR was made, with its ranges (runs from before: bicubic)
        "degradation": data.get("degradation") or {"name": cfg.get("degradation", "bicubic")},
    }
    if cfg.get("init"):  # fine-tuned from this checkpoint
        training["init"] = path_name(cfg["init"])
    return training


def export_checkpoint(checkpoint: str | Path, output: str | Path,
                      options: ExportOptions | None = None) -> Exported:
    """Export an sronnx training checkpoint to `output` (see `export_model`; `options`: float32
    at the default opset when None). Raises CheckpointError (NotSronnxCheckpoint for a
    community checkpoint) before writing."""
    data = load_checkpoint(checkpoint)
    if problem := scale_problem(int(data["scale"])):
        raise CheckpointError(f"{checkpoint}: a x{data['scale']} checkpoint; {problem}")
    model = deployable(model_from_checkpoint(data, checkpoint))
    card = build_card(model, trained=True, training=training_record(data, checkpoint))
    return export_model(model, card, output, options)


def export_architecture(arch: str, scale: int, output: str | Path, *, seed: int = 0,
                        options: ExportOptions | None = None) -> Exported:
    """Export an untrained `arch` spec at `scale`, its weights drawn with `seed` (see
    `export_model` for `options`). Raises ValueError (or TypeError) for an unknown
    architecture or setting."""
    torch.manual_seed(seed)
    model = deployable(create_model(arch, scale))
    card = build_card(model, trained=False, extra={"init_seed": seed})
    return export_model(model, card, output, options)


def export_model(model: torch.nn.Module, card: dict[str, Any], output: str | Path,
                 options: ExportOptions | None = None) -> Exported:
    """Write `model` (deployable form) with `card` and its descriptor to `output`: float32, or
    float16 / int8 when it loses at most `options.max_loss` dB against float32 on the
    `options.calib` images (`export_reduced`; `options.on_check` gets the figures). `options`
    None: float32 at `DEFAULT_OPSET`. ValueError when a reduced precision has no `calib`."""
    options = options or ExportOptions()
    precision, opset = options.precision, options.opset
    descriptor = model.descriptor(receptive_field=receptive_field(model))
    if precision == "float32":
        path = export_onnx(model, output, card=card, descriptor=descriptor, opset=opset)
        return Exported(path, ModelCard.from_dict({"precision": "float32", **card}),
                        descriptor)
    reduced = options.reduced()
    checks: list[PrecisionCheck] = []

    def exporter(path: Path, fp16: bool) -> Path:
        return export_onnx(model, path, card=card, descriptor=descriptor, opset=opset,
                           fp16=fp16)

    def keep(check: PrecisionCheck) -> None:
        checks.append(check)
        if options.on_check is not None:
            options.on_check(check)

    path = export_reduced(exporter, output, card, descriptor, replace(reduced, on_check=keep))
    written = {**card, "precision": precision}
    return Exported(path, ModelCard.from_dict(written), descriptor,
                    checks[0] if checks else None)
