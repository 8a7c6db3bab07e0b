"""Upscaling: tiling, the local range clamp, the `Upscaler`, the per-file default model
choice, the output plan, the per-file job and its schedulers (local threads and processes,
Ray), and the one-call API. No torch.

The names below are the package's public face: scripts and other packages import them from
here, and the modules behind them may move."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sronnx.core import lazy_exports

#: public name -> the module that defines it (imported on first use)
_EXPORTS = {
    "BLOCKINESS": "choice",
    "DEFAULT_TILE": "upscaler",
    "EngineError": "ray_engine",
    "INSTALL_HINT": "ray_engine",
    "InputKind": "opening",
    "JPEG_MAX_QUALITY": "choice",
    "Layout": "batch",
    "ModelChoice": "choice",
    "ModelOpenError": "opening",
    "ModelRequest": "opening",
    "NOISE_SIGMA": "choice",
    "OpenedModels": "opening",
    "OutputOptions": "planner",
    "PlanError": "planner",
    "RayEngine": "ray_engine",
    "SUB_FOLDER": "planner",
    "TileCallback": "upscaler",
    "ModelInput": "tilepass",
    "TileError": "tilepass",
    "TilePass": "tilepass",
    "Upscaler": "upscaler",
    "VIDEO_BLOCKINESS": "choice",
    "classify": "choice",
    "classify_video": "choice",
    "folder_problem": "planner",
    "image_header": "planner",
    "open_models": "opening",
    "parallelism": "opening",
    "plan": "planner",
    "plan_file": "planner",
    "ray_available": "ray_engine",
    "reason_kind": "planner",
    "remove_parts_of": "ray_engine",
    "run_jobs": "batch",
    "scale_for_sizes": "opening",
    "suffix_problem": "planner",
    "upscale_animation": "animation",
    "upscale_image": "api",
    "upscale_pil": "upscaler",
    "video_model": "video",
    "writes_file": "planner",
}

__all__ = [
    "BLOCKINESS",
    "DEFAULT_TILE",
    "EngineError",
    "INSTALL_HINT",
    "InputKind",
    "JPEG_MAX_QUALITY",
    "Layout",
    "ModelChoice",
    "ModelInput",
    "ModelOpenError",
    "ModelRequest",
    "NOISE_SIGMA",
    "OpenedModels",
    "OutputOptions",
    "PlanError",
    "RayEngine",
    "SUB_FOLDER",
    "TileCallback",
    "TileError",
    "TilePass",
    "Upscaler",
    "VIDEO_BLOCKINESS",
    "classify",
    "classify_video",
    "folder_problem",
    "image_header",
    "open_models",
    "parallelism",
    "plan",
    "plan_file",
    "ray_available",
    "reason_kind",
    "remove_parts_of",
    "run_jobs",
    "scale_for_sizes",
    "suffix_problem",
    "upscale_animation",
    "upscale_image",
    "upscale_pil",
    "video_model",
    "writes_file",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from sronnx.engine.animation import (
        upscale_animation,
    )
    from sronnx.engine.api import (
        upscale_image,
    )
    from sronnx.engine.batch import (
        Layout,
        run_jobs,
    )
    from sronnx.engine.choice import (
        BLOCKINESS,
        JPEG_MAX_QUALITY,
        NOISE_SIGMA,
        VIDEO_BLOCKINESS,
        ModelChoice,
        classify,
        classify_video,
    )
    from sronnx.engine.opening import (
        InputKind,
        ModelOpenError,
        ModelRequest,
        OpenedModels,
        open_models,
        parallelism,
        scale_for_sizes,
    )
    from sronnx.engine.planner import (
        SUB_FOLDER,
        OutputOptions,
        PlanError,
        folder_problem,
        image_header,
        plan,
        plan_file,
        reason_kind,
        suffix_problem,
        writes_file,
    )
    from sronnx.engine.ray_engine import (
        INSTALL_HINT,
        EngineError,
        RayEngine,
        ray_available,
        remove_parts_of,
    )
    from sronnx.engine.tilepass import (
        ModelInput,
        TileError,
        TilePass,
    )
    from sronnx.engine.upscaler import (
        DEFAULT_TILE,
        TileCallback,
        Upscaler,
        upscale_pil,
    )
    from sronnx.engine.video import (
        video_model,
    )
