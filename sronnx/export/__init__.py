"""From a trained model to a verified ONNX file: export with the descriptor and card
(`onnx`), int8 and float16 (`precision`), other runtimes' files (`targets`), parity with
PyTorch (`verify`) and the runtime matrix (`matrix`). Imports torch and onnx.

The names below are the package's public face: scripts and other packages import them from
here, and the modules behind them may move."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sronnx.core import lazy_exports

#: public name -> the module that defines it (imported on first use)
_EXPORTS = {
    "CompareOptions": "verify",
    "DEFAULT_OPSET": "onnx",
    "ExportOptions": "checkpoint",
    "ExportPrecision": "checkpoint",
    "Exported": "checkpoint",
    "Exporter": "precision",
    "Float16Body": "onnx",
    "INPUT_NAME": "onnx",
    "INT8_SCHEME": "precision",
    "MAX_LOSS_DB": "precision",
    "OUTPUT_NAME": "onnx",
    "Precision": "precision",
    "PrecisionCheck": "precision",
    "PrecisionError": "precision",
    "ReducedOptions": "precision",
    "RUNTIMES": "matrix",
    "TargetError": "targets",
    "VerifyError": "verify",
    "build_card": "onnx",
    "calibration_set": "precision",
    "check_onnx_file": "onnx",
    "compare": "verify",
    "compare_with_reference": "verify",
    "count_params": "onnx",
    "criterion": "verify",
    "deployable": "onnx",
    "export_architecture": "checkpoint",
    "export_checkpoint": "checkpoint",
    "export_model": "checkpoint",
    "export_onnx": "onnx",
    "export_reduced": "precision",
    "foreign_inputs": "verify",
    "format_rows": "matrix",
    "image_cases": "verify",
    "mean_psnr": "precision",
    "model_from_float32_twin": "verify",
    "model_from_onnx": "verify",
    "parse_runtimes": "matrix",
    "parse_size": "targets",
    "plain_input": "matrix",
    "quantize_int8": "precision",
    "quiet_exporter": "onnx",
    "run_matrix": "matrix",
    "test_cases": "verify",
    "training_record": "checkpoint",
    "weights_sha256": "onnx",
    "write_described": "described",
    "write_model": "onnx",
    "write_target": "targets",
}

__all__ = [
    "CompareOptions",
    "DEFAULT_OPSET",
    "ExportOptions",
    "ExportPrecision",
    "Exported",
    "Exporter",
    "Float16Body",
    "INPUT_NAME",
    "INT8_SCHEME",
    "MAX_LOSS_DB",
    "OUTPUT_NAME",
    "Precision",
    "PrecisionCheck",
    "PrecisionError",
    "RUNTIMES",
    "ReducedOptions",
    "TargetError",
    "VerifyError",
    "build_card",
    "calibration_set",
    "check_onnx_file",
    "compare",
    "compare_with_reference",
    "count_params",
    "criterion",
    "deployable",
    "export_architecture",
    "export_checkpoint",
    "export_model",
    "export_onnx",
    "export_reduced",
    "foreign_inputs",
    "format_rows",
    "image_cases",
    "mean_psnr",
    "model_from_float32_twin",
    "model_from_onnx",
    "parse_runtimes",
    "parse_size",
    "plain_input",
    "quantize_int8",
    "quiet_exporter",
    "run_matrix",
    "test_cases",
    "training_record",
    "weights_sha256",
    "write_described",
    "write_model",
    "write_target",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from sronnx.export.checkpoint import (
        Exported,
        ExportOptions,
        ExportPrecision,
        export_architecture,
        export_checkpoint,
        export_model,
        training_record,
    )
    from sronnx.export.described import (
        write_described,
    )
    from sronnx.export.matrix import (
        RUNTIMES,
        format_rows,
        parse_runtimes,
        plain_input,
        run_matrix,
    )
    from sronnx.export.onnx import (
        DEFAULT_OPSET,
        INPUT_NAME,
        OUTPUT_NAME,
        Float16Body,
        build_card,
        check_onnx_file,
        count_params,
        deployable,
        export_onnx,
        quiet_exporter,
        weights_sha256,
        write_model,
    )
    from sronnx.export.precision import (
        INT8_SCHEME,
        MAX_LOSS_DB,
        Exporter,
        Precision,
        PrecisionCheck,
        PrecisionError,
        ReducedOptions,
        calibration_set,
        export_reduced,
        mean_psnr,
        quantize_int8,
    )
    from sronnx.export.targets import (
        TargetError,
        parse_size,
        write_target,
    )
    from sronnx.export.verify import (
        CompareOptions,
        VerifyError,
        compare,
        compare_with_reference,
        criterion,
        foreign_inputs,
        image_cases,
        model_from_float32_twin,
        model_from_onnx,
        test_cases,
    )
