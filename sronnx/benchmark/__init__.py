"""The benchmark behind `sronnx bench`: quality and speed rows per model, dataset and runtime.

One module per job: `machine` (what the numbers were measured on), `models` (what is
measured), `quality` (the published evaluation protocol), `speed` (latency and throughput per
runtime), `peers` (OpenCV's dnn_superres, for comparison), `rows` (the result schema),
`runner` (puts them together), `report` and `plot` (terminal, JSON, Markdown, PNG), and the
architecture study (`recipe`, `study`, `study_report`).

Quality and speed on ONNX Runtime need no torch: torch is imported only for the `torch`
runtime and by the study, which trains.

The names below are the package's public face: scripts and other packages import them from
here, and the modules behind them may move."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sronnx.core import lazy_exports

#: public name -> the module that defines it (imported on first use)
_EXPORTS = {
    "BenchConfig": "runner",
    "BenchInputError": "models",
    "RecipeError": "recipe",
    "RuntimeUnavailable": "speed",
    "StudyError": "study",
    "bicubic_upscaler": "quality",
    "default_input_size": "speed",
    "describe": "machine",
    "describe_onnx": "models",
    "estimate": "study",
    "evaluate": "quality",
    "format_markdown": "report",
    "format_text": "report",
    "load_dataset": "quality",
    "load_recipe": "recipe",
    "machine_info": "machine",
    "onnx_upscaler": "quality",
    "run_benchmark": "runner",
    "run_study": "study",
    "sibling_path": "plot",
    "time_calls": "speed",
    "torch_model": "speed",
    "version_of": "machine",
    "write_json": "report",
    "write_plot": "plot",
    "write_robustness_plot": "plot",
}

__all__ = [
    "BenchConfig",
    "BenchInputError",
    "RecipeError",
    "RuntimeUnavailable",
    "StudyError",
    "bicubic_upscaler",
    "default_input_size",
    "describe",
    "describe_onnx",
    "estimate",
    "evaluate",
    "format_markdown",
    "format_text",
    "load_dataset",
    "load_recipe",
    "machine_info",
    "onnx_upscaler",
    "run_benchmark",
    "run_study",
    "sibling_path",
    "time_calls",
    "torch_model",
    "version_of",
    "write_json",
    "write_plot",
    "write_robustness_plot",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from sronnx.benchmark.machine import (
        describe,
        machine_info,
        version_of,
    )
    from sronnx.benchmark.models import (
        BenchInputError,
        describe_onnx,
    )
    from sronnx.benchmark.plot import (
        sibling_path,
        write_plot,
        write_robustness_plot,
    )
    from sronnx.benchmark.quality import (
        bicubic_upscaler,
        evaluate,
        load_dataset,
        onnx_upscaler,
    )
    from sronnx.benchmark.recipe import (
        RecipeError,
        load_recipe,
    )
    from sronnx.benchmark.report import (
        format_markdown,
        format_text,
        write_json,
    )
    from sronnx.benchmark.runner import (
        BenchConfig,
        run_benchmark,
    )
    from sronnx.benchmark.speed import (
        RuntimeUnavailable,
        default_input_size,
        time_calls,
        torch_model,
    )
    from sronnx.benchmark.study import (
        StudyError,
        estimate,
        run_study,
    )
