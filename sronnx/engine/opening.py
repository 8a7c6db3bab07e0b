"""Opening the models for a run, decided in one place: which files (a named model, or the
shipped clean default with its photo and JPEG siblings), at which scale (given, the model's,
or the smallest shipped scale that reaches the output size asked), on which provider (the one
the first session really got), with how many threads, tiled how. The CLI (`sronnx upscale`),
the API (`sronnx.upscale_image`) and the Ray actors call `open_models`; nothing else decides.

    request = ModelRequest(scale=2, provider="auto")
    models = open_models(request)          # models.choice: a ModelChoice, per-file rule
    actors_get = models.pinned()           # the same files, provider and options, by path

Errors: `ModelOpenError` (a RuntimeError), one line naming the model and the reason: an
unknown name or scale, a file that is not a usable model, a provider that cannot run, a model
of another scale than asked, or tiling options the model refuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from sronnx.core import ModelFileError, shipped_models
from sronnx.engine.choice import ModelChoice
from sronnx.engine.profile import tile_profile
from sronnx.engine.upscaler import Upscaler
from sronnx.imaging import needed_factor, pick_scale
from sronnx.runtime import (
    LoadedModel,
    Overrides,
    ProfileFn,
    ProviderError,
    available_cpus,
    open_model,
)

__all__ = ["InputKind", "ModelOpenError", "ModelRequest", "OpenedModels", "open_models",
           "parallelism", "scale_for_sizes"]

#: "auto": the per-file rule (`sronnx.engine.choice`) among the shipped clean, photo and
#: JPEG models; otherwise every file gets that kind's shipped model.
InputKind = Literal["auto", "clean", "photo", "jpeg"]

#: The kinds beside "clean" that the rule opens where the scale ships them.
_SIBLINGS = ("photo", "jpeg")


class ModelOpenError(RuntimeError):
    """The models of a run cannot be opened; the message is one line saying why. `path`: the
    model file when one was opened (a model of another scale than asked), else None."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class ModelRequest:
    """What a run asks for.

    Attributes:
        model: a shipped model name or an .onnx path; None for the shipped defaults.
        scale: 2, 3 or 4; None for the model's own (a named model) or 2 (the defaults; see
            `scale_for_sizes` for the scale an output size needs).
        input_kind: with no `model`, "auto" opens the clean, photo and JPEG models and lets
            each file's kind choose (`ModelChoice`); "clean", "photo" or "jpeg" opens that one
            for every file. Must be "auto" with a named `model`.
        provider: "cpu", "cuda", "tensorrt", "openvino", "dml", "coreml" (refused where
            the session would not really run on it: `sronnx.runtime.providers`) or "auto"
            (CUDA where it can run, else the CPU). TensorRT builds its engine for the shapes
            the tiling makes (`sronnx.engine.profile`).
        threads: ONNX Runtime intra-op threads per session; None for its default.
        overrides: the value range and channel order of a named model made elsewhere.
        tile, overlap, batch, clamp: the `Upscaler`'s tiling (input pixels; None: the
            model's hint), context overlap, tiles per model call and local range clamp.
        files: kind -> .onnx path, opened exactly as given (what `OpenedModels.pinned`
            hands to another process); `model`, `scale` and `input_kind` are then unused.
        only: with `files`, the reason one model serves every file (`ModelChoice.only`).
    """

    model: str | None = None
    scale: int | None = None
    input_kind: InputKind = "auto"
    provider: str = "auto"
    threads: int | None = None
    overrides: Overrides | None = None
    tile: int | None = None
    overlap: int | None = None
    batch: int = 1
    clamp: bool | None = None
    files: Mapping[str, str] | None = None
    only: str | None = None


@dataclass(frozen=True)
class OpenedModels:
    """The sessions of a run.

    Attributes:
        choice: the `ModelChoice` that picks each file's upscaler (its `scale` and
            `provider` are the run's).
        files: kind -> the model file opened for it ("clean" always; "photo", "jpeg" where
            the rule opened them).
        only: why one model serves every file ("--model", "--input-kind photo", "no shipped
            photo model at x3"), or None when the rule chooses per file.
        request: the request, with the provider the sessions really got.
    """

    choice: ModelChoice
    files: dict[str, Path]
    only: str | None
    request: ModelRequest = field(repr=False)

    def pinned(self) -> ModelRequest:
        """A request that opens these very files, on the provider they got, with the same
        threads, options and tiling (for the Ray actors)."""
        return replace(self.request, files={k: str(p) for k, p in self.files.items()},
                       only=self.only, provider=self.choice.provider)


def scale_for_sizes(request: ModelRequest, sizes: Iterable[tuple[int, int]],
                    outscale: float | None = None, width: int | None = None,
                    height: int | None = None) -> int | None:
    """The scale to open for inputs of `sizes` (width, height) resized to `outscale` times or
    `width` x `height`: the request's own scale, or, with no model and no scale, the
    smallest shipped scale whose output reaches the largest factor asked (at most the largest
    shipped). None leaves the choice to `open_models` (2, or the named model's)."""
    if request.model is not None or request.scale is not None:
        return request.scale
    factors = [f for size in sizes if (f := needed_factor(size, outscale, width, height))
               is not None]
    if not factors:
        return None
    return pick_scale(max(factors), (m.scale for m in shipped_models()))


def parallelism(workers: int | None, threads: int | None, on_cpu: bool, pipeline: bool,
                files: int) -> tuple[int, int | None]:
    """(files at once, ONNX Runtime threads per session; None: its default) for a run of
    `files` files, `workers` and `threads` as asked (None: decide). On CPUs a folder runs one
    file per core, each model call on one thread: measured faster than every call spread
    over all cores while decoding and encoding compete for them
    (bench/results/e2e_shipped.txt). `pipeline`: whether decoding, inference and encoding
    overlap (without it, one file at a time unless `workers` says otherwise)."""
    cpus = available_cpus()
    if workers is None:
        workers = min(cpus, files) if on_cpu and pipeline and threads is None else 1
    if threads is None and on_cpu and workers > 1:
        threads = max(1, cpus // workers)
    return workers, threads


def open_models(request: ModelRequest) -> OpenedModels:
    """Open the sessions `request` asks for and wrap them in a `ModelChoice`.

    The clean (or only) model is opened first; the photo and JPEG models of the rule are
    opened on the provider it really got, so that all run on one. Raises ModelOpenError."""
    if request.files is not None:
        return _open_pinned(request)
    if request.model is not None and request.input_kind != "auto":
        raise ModelOpenError("--input-kind chooses among the shipped default models; it "
                             "cannot go with --model")
    first_kind = "clean" if request.input_kind == "auto" else request.input_kind
    profile = tile_profile(request.tile, request.overlap, request.batch)
    path, loaded = _open(request.model, request.scale, request.provider, request.threads,
                         first_kind, request.overrides, profile=profile)
    if request.scale is not None and loaded.info.descriptor.scale != request.scale:
        raise ModelOpenError(f"model {path} is x{loaded.info.descriptor.scale}, "
                             f"not x{request.scale}", path)
    files = {"clean": path}
    sessions = {"clean": loaded}
    if request.model is None and request.input_kind == "auto":
        for kind in _SIBLINGS:
            try:
                files[kind], sessions[kind] = _open(None, request.scale, loaded.provider,
                                                    request.threads, kind, sibling=True,
                                                    profile=profile)
            except LookupError:  # no such model at this scale
                if kind == "photo":
                    break
    upscalers = _upscalers(sessions, request)
    only = None if "photo" in upscalers else _why_one(request, upscalers["clean"].scale)
    choice = _choice(upscalers, {k: p.stem for k, p in files.items()}, only)
    return OpenedModels(choice, files, only, replace(request, provider=loaded.provider))


def _open_pinned(request: ModelRequest) -> OpenedModels:
    """`open_models` for a request naming its files (`OpenedModels.pinned`)."""
    files = {kind: Path(p) for kind, p in (request.files or {}).items()}
    profile = tile_profile(request.tile, request.overlap, request.batch)
    sessions = {}
    for kind, path in files.items():
        options = request.overrides if kind == "clean" else None
        sessions[kind] = _open(str(path), None, request.provider, request.threads,
                               options=options, profile=profile)[1]
    upscalers = _upscalers(sessions, request)
    choice = _choice(upscalers, {k: p.stem for k, p in files.items()}, request.only)
    return OpenedModels(choice, files, request.only, request)


def _open(model: str | None, scale: int | None, provider: str, threads: int | None,
          kind: str = "clean", options: Overrides | None = None, *, sibling: bool = False,
          profile: ProfileFn | None = None) -> tuple[Path, LoadedModel]:
    """`sronnx.runtime.open_model`, its refusals as ModelOpenError; with `sibling` (a photo or
    JPEG model of the rule), LookupError passes: a scale without one is no error. `profile`:
    the shapes TensorRT builds for (`sronnx.engine.profile`)."""
    try:
        return open_model(model, scale, provider, threads, kind, options, profile)
    except LookupError as exc:
        if sibling:
            raise
        raise ModelOpenError(str(exc)) from exc
    except (ModelFileError, ProviderError) as exc:
        raise ModelOpenError(str(exc)) from exc


def _upscalers(sessions: Mapping[str, LoadedModel], request: ModelRequest) -> dict[str, Upscaler]:
    try:
        return {kind: Upscaler(loaded, tile=request.tile, overlap=request.overlap,
                               batch=request.batch, clamp_range=request.clamp)
                for kind, loaded in sessions.items()}
    except ValueError as exc:
        raise ModelOpenError(str(exc)) from exc


def _why_one(request: ModelRequest, scale: int) -> str:
    """Why every file gets the one model (the report names it)."""
    if request.model is not None:
        return "--model"
    if request.input_kind != "auto":
        return f"--input-kind {request.input_kind}"
    return f"no shipped photo model at x{scale}"


def _choice(upscalers: dict[str, Upscaler], names: dict[str, str],
            only: str | None) -> ModelChoice:
    if only is not None:
        return ModelChoice.only(upscalers["clean"], names["clean"], only)
    try:
        return ModelChoice(upscalers, names)
    except ValueError as exc:
        raise ModelOpenError(str(exc)) from exc
