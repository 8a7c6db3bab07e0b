"""One call to upscale one image: `sronnx.upscale_image`.

Torch-free (onnxruntime, numpy, Pillow). The model session is opened once and kept for later
calls with the same model, scale and provider, so calling it in a loop costs no reloads.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

from sronnx.core import ModelFileError
from sronnx.engine.choice import ModelChoice
from sronnx.engine.opening import InputKind, ModelOpenError, ModelRequest, open_models
from sronnx.engine.upscaler import Upscaler, upscale_pil
from sronnx.imaging import pil_to_array
from sronnx.io import jpeg_quality
from sronnx.runtime import ProviderError

__all__ = ["upscale_image"]


@functools.lru_cache(maxsize=4)
def _models(model: str | None, scale: int | None, provider: str,
            input_kind: InputKind) -> ModelChoice:
    """The models for (model, scale, provider, input kind), opened once through the one
    decision of a run's models (`open_models`): with no model, the shipped default of
    `input_kind` ("auto": clean, photo and JPEG, chosen per image) for `scale` on the provider
    the session really gets. Raises ValueError when a named model is not of `scale` (None:
    any), and what `open_model` raises for the rest."""
    try:
        opened = open_models(ModelRequest(model, scale, "auto" if model else input_kind,
                                          provider))
    except ModelOpenError as exc:
        if isinstance(exc.__cause__, (LookupError, ModelFileError, ProviderError)):
            raise exc.__cause__ from None
        raise ValueError(str(exc)) from exc
    return opened.choice


def _pick(models: ModelChoice, image: Image.Image | np.ndarray
          ) -> tuple[Upscaler, tuple[np.ndarray, str] | None]:
    """The upscaler for this image: the only one, or the per-file rule's (`classify`) on its
    pixels, and for a PIL image its format and JPEG tables; with the PIL image's array and
    mode when the rule made them (`pil_to_array`), so that the upscale does not make them
    again."""
    if models.fixed is not None:
        return models.upscalers["clean"], None  # type: ignore[return-value]
    converted = None
    if isinstance(image, Image.Image):
        converted = pil_to_array(image)
        choice = models.choose(converted[0], image.format,
                               jpeg_quality(getattr(image, "quantization", None)))
    else:
        choice = models.choose(np.asarray(image))
    return models.upscalers[choice.kind], converted  # type: ignore[return-value]


def _default_scale(outscale: float | None) -> int:
    """The scale of the shipped model to run when neither a scale nor a model is named: the
    CLI's rule for `outscale` (the smallest shipped scale at least that large, at most the
    largest shipped), else 2."""
    from sronnx.core import DEFAULT_SCALE, shipped_models
    from sronnx.imaging import pick_scale

    if outscale is None:
        return DEFAULT_SCALE
    return pick_scale(outscale, (m.scale for m in shipped_models()))


def upscale_image(image: Image.Image | np.ndarray, scale: int | None = None,
                  model: str | Path | None = None, provider: str = "cpu",
                  outscale: float | None = None, *,
                  input_kind: InputKind = "clean") -> Image.Image | np.ndarray:
    """Upscale one image and return the same type: a PIL image in, a PIL image out (the same
    kind: see `Upscaler.upscale`, with the ICC profile and DPI in `info`); a numpy array in
    (HxW or HxWxC, C = 1..4; uint8, uint16 or float in [0, 1]), an array of the same dtype and
    channels out.

    scale: which model runs: the shipped model made for 2, 3 or 4 times. None (the default):
        2, or with `outscale` the smallest shipped scale at least `outscale` (at most 4), or
        the scale of `model`.
    model: a shipped model name (`sronnx models` lists them) or an .onnx path; None: the
        shipped default of `input_kind` for `scale` on `provider`.
    input_kind: with no `model`, which shipped model: "clean" (the default), "photo" (JPEG
        and noisy photos), "jpeg" (JPEG-compressed inputs, where the scale ships one, else
        the photo model), or "auto": the CLI's per-file rule (`sronnx.engine.classify`) on
        this image's pixels, and for a PIL image its format and JPEG quantization tables.
    provider: "cpu", "cuda", "tensorrt", "openvino", "dml", "coreml" or "auto" (see
        `sronnx.runtime.session.load_model` and `sronnx.runtime.providers`).
    outscale: the output's size factor, any positive number: the model runs, then its result
        is resampled to (round(w * outscale), round(h * outscale)), Lanczos where that is
        larger than the model's output, area averaging where smaller. None: the model's own
        `scale` times.

    Pixels are taken as given (EXIF orientation is not applied: call
    `PIL.ImageOps.exif_transpose` first). Raises ValueError for what `Upscaler.upscale`
    refuses, a `scale` the model does not have, or an `outscale` that is not a positive number;
    LookupError for an unknown model name or scale; `sronnx.core.card.ModelFileError` for a file
    that is not a usable model; `sronnx.runtime.session.ProviderError` when the provider
    asked for cannot run here (never a quiet run on the CPU instead).
    """
    from sronnx.imaging import resize_array, size_problem

    if (problem := size_problem(outscale, None, None)) is not None:
        raise ValueError(problem.replace("-s/--outscale", "outscale"))
    if model is None and scale is None:
        scale = _default_scale(outscale)
    up, converted = _pick(_models(None if model is None else str(model), scale, provider,
                                  input_kind), image)
    if isinstance(image, Image.Image):
        out = upscale_pil(up, image, converted=converted)
        if outscale is None:
            return out
        return _resize_pil(out, image, outscale)
    arr = np.asarray(image)
    out = up.upscale_array(arr)
    if outscale is None:
        return out
    h, w = arr.shape[:2]
    return resize_array(out, (max(1, round(w * outscale)), max(1, round(h * outscale))))


def _resize_pil(out: Image.Image, source: Image.Image, outscale: float) -> Image.Image:
    """`out` (the model's result for `source`) resampled to `outscale` times `source`, of the
    same mode, with the ICC profile kept and the DPI scaled by the real factor."""
    from sronnx.imaging import array_to_pil, pil_to_array, resize_array

    w, h = source.size
    size = (max(1, round(w * outscale)), max(1, round(h * outscale)))
    if out.size == size:
        return out
    arr, mode = pil_to_array(out)
    resized = array_to_pil(resize_array(arr, size), mode)
    for key in ("icc_profile",):
        if out.info.get(key):
            resized.info[key] = out.info[key]
    if source.info.get("dpi"):
        dx, dy = (float(v) for v in source.info["dpi"])
        resized.info["dpi"] = (dx * size[0] / w, dy * size[1] / h)
    return resized
