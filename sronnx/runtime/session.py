"""ONNX Runtime sessions for sronnx models, with the execution provider checked, not assumed.

ONNX Runtime silently falls back to the CPU when the CUDA provider cannot load; sronnx asks
the session which providers it really got and refuses to pretend.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from sronnx.core import ModelDescriptor, ModelFileError, ModelInfo, first_line
from sronnx.runtime.memory import (
    DEFAULT_MODEL_MEMORY,
    MEMORY_ENV,
    memory_refusal,
    model_memory_limit,
)
from sronnx.runtime.probe import Overrides, RunTimeout, describe_model, quiet_call
from sronnx.runtime.providers import (
    PROVIDERS,
    ShapeProfile,
    check_name,
    defaults_key,
    fell_back,
    got,
    prepare_options,
    printed_reason,
    provider_unavailable_reason,
    session_providers,
)

#: a function of the model's needs giving the shapes an engine is built for (TensorRT)
ProfileFn = Callable[[ModelDescriptor], ShapeProfile | None]

_TRIAL_PIXELS = 1 << 18  # the load's trial run: at most 512 x 512 pixels in all
_TRIAL_OUTPUT_PIXELS = 1 << 22  # and at most 4 megapixels out


class ProviderError(RuntimeError):
    """The requested execution provider cannot run here; the message says what is missing."""


@dataclass
class LoadedModel:
    """An open model: its session, what it needs (`info.descriptor`) and where each of those
    facts came from (`sources`: field -> "metadata", "session", "option", "probe" or
    "default"; see `sronnx.runtime.probe`)."""

    session: ort.InferenceSession
    info: ModelInfo
    provider: str  # "cpu", "cuda", "tensorrt", ...: what the session really runs on
    input_name: str
    output_name: str
    sources: dict[str, str] = field(default_factory=dict)

    def run(self, x: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """float32 N x 3 x H x W RGB in [0, 1] (and N x H x W alpha, or None) -> float32
        N x 3 x sH x sW RGB, nominally in [0, 1], whatever element type, layout, channels,
        range, batch or size rule the model itself wants (`sronnx.runtime.adapter`).
        Raises what onnxruntime raises, and ValueError for an output of the wrong shape."""
        from sronnx.runtime.adapter import run_model

        d = self.info.descriptor
        names = [self.output_name]
        if _plain(d) and not (d.size.get_padding(*x.shape[2:]) != (0, 0)):
            return self.session.run(names, {self.input_name: np.ascontiguousarray(x)})[0]
        return run_model(lambda t: self.session.run(names, {self.input_name: t})[0], x, d,
                         alpha)


def _plain(d) -> bool:
    """The upscaler's own tensor form: nothing to convert."""
    return (d.in_channels == 3 and d.out_channels == 3 and d.layout == "NCHW"
            and d.channel_order == "RGB" and d.element_type == "float32"
            and tuple(d.value_range) == (0.0, 1.0) and d.batch == 0)


def cuda_unavailable_reason() -> str | None:
    """None when the CUDA provider is offered by this onnxruntime build, else why not."""
    return provider_unavailable_reason("cuda")


@functools.cache
def _preload_cuda_libraries() -> None:
    """Let onnxruntime-gpu find CUDA and cuDNN installed as pip packages (nvidia-*), which
    it does not search by itself unless torch was imported first."""
    preload = getattr(ort, "preload_dlls", None)  # onnxruntime >= 1.21
    if preload is None:
        return
    with contextlib.redirect_stdout(io.StringIO()):  # it prints hints; the session check speaks
        try:
            preload()
        except Exception:  # noqa: BLE001 - missing libraries surface when the session loads
            pass


@functools.cache
def _limited_arena(limit: int) -> bool:
    """Register, once per process, a CPU arena that refuses to grow past `limit` bytes;
    False when ONNX Runtime does not take it (sessions then keep their own arenas)."""
    try:
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                                 ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(info, ort.OrtArenaCfg(limit, -1, -1, -1))
    except Exception:  # noqa: BLE001 - an older build or one already registered
        return False
    return True


def session_options(threads: int | None = None, provider: str = "cpu") -> ort.SessionOptions:
    """ONNX Runtime's session options for sronnx: full graph optimization, fatal-only
    logging, the model memory limit, `threads` intra-op threads, and what `provider`
    requires (`sronnx.runtime.providers.prepare_options`)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # fatal only: a refused file's error is raised and reported in one line naming the file;
    # ONNX Runtime's own coloured log line for it would come first, without the file's name
    opts.log_severity_level = 4
    limit = model_memory_limit()
    if limit and _limited_arena(limit):
        opts.add_session_config_entry("session.use_env_allocators", "1")
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    # Idle intra-op threads would spin-wait between and within runs, taking a core from the
    # decoding and encoding threads that sronnx runs beside the model: off, measured on a video
    # at 720p x2 (2 cores, quiet): the pipeline 1.06 -> 1.17 frames/s, its CPU 1.79 -> 1.56 s a
    # frame, the model alone unchanged (1.48 / 1.53 frames/s). bench/results/video.txt
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    prepare_options(provider, opts)
    return opts


def _check_model_file(path: Path) -> None:
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if not path.is_file():
        raise ModelFileError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: empty file, not an ONNX model")


def load_model(path: str | Path, provider: str = "cpu", threads: int | None = None,
               options: Overrides | None = None, profile: ProfileFn | None = None
               ) -> LoadedModel:
    """Open an ONNX super-resolution model on `provider`: "cpu", "cuda", "tensorrt",
    "openvino", "dml", "coreml" (`sronnx.runtime.providers`) or "auto".

    An sronnx file's needs come from its metadata; a model made elsewhere is probed
    (`sronnx.runtime.probe`), and `options` say what no probe can find (value range,
    channel order). A named provider raises ProviderError, one line naming it and the
    reason, unless the session really runs on it: never a quiet CPU session. "auto" takes
    CUDA when it really loads, otherwise the CPU (the caller reports which). `profile`, for
    TensorRT: the shapes its engine is built for, from the model's needs (the tile plan:
    `sronnx.engine.opening`); without it TensorRT builds for the shapes it meets.
    Raises ModelFileError, naming the file and the reason, for a file that is missing, not
    ONNX, or not a model sronnx can run; ValueError for an unknown provider name.
    """
    path = Path(path)
    check_name(provider)
    _check_model_file(path)
    model_memory_limit()  # a bad SRONNX_MODEL_MEMORY is the setting's fault, not the file's
    want = intended_provider(provider)
    if want != "cpu" and (reason := provider_unavailable_reason(want)):
        raise ProviderError(f"--provider {want}: {reason}")
    if want in ("cuda", "tensorrt"):
        _preload_cuda_libraries()
    shapes = None
    if want == "tensorrt" and profile is not None:  # the model's needs first, on the CPU
        cpu_session = _session(path, "cpu", threads)
        descriptor = _describe(path, cpu_session, options, trial=False)[0]
        del cpu_session
        shapes = profile(descriptor)
    with _ort_stderr(want != "cpu") as printed:
        session = _session(path, want, threads, shapes, auto=provider == "auto")
    if not got(want, session):
        if provider != "auto":
            raise ProviderError(f"--provider {want}: {fell_back(want, printed_reason(printed))}")
        want = "cpu"
    elif printed:  # a provider that started and had something to say: passed on, unchanged
        sys.stderr.write("\n".join(printed) + "\n")
    descriptor, card, sources, names = _describe(path, session, options)
    return LoadedModel(
        session=session,
        info=ModelInfo(path, descriptor, card),
        provider=want,
        input_name=names[0],
        output_name=names[1],
        sources=sources,
    )


@contextlib.contextmanager
def _ort_stderr(capture: bool) -> Iterator[list[str]]:
    """With `capture`, the lines written on file descriptor 2 inside the block (ONNX
    Runtime's own log of a provider that fails to start: it says why, on its own line and
    in colour, then quietly gives a CPU session), in the list it yields once the block
    ends; without, nothing changes."""
    lines: list[str] = []
    if not capture:
        yield lines
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(ln for ln in tmp.read().decode("utf-8", "replace").splitlines()
                         if ln.strip())


def _session(path: Path, provider: str, threads: int | None,
             profile: ShapeProfile | None = None, auto: bool = False
             ) -> ort.InferenceSession:
    """An ONNX Runtime session of `path` on `provider` (with the CPU for the nodes it leaves)
    and ONNX Runtime's own fallback off: a provider that cannot start raises here. Where
    the provider fails and a CPU session of the file opens, the provider is at fault
    (ProviderError; with `auto`, that CPU session is returned); where neither opens, the
    file is (ModelFileError)."""
    name = None if profile is None else _input_name(path, threads)
    try:
        session = ort.InferenceSession(
            str(path), session_options(threads, provider),
            providers=session_providers(provider, threads, profile, name), enable_fallback=0)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
        if provider == "cpu":
            raise ModelFileError(f"{path}: {_load_failure(exc)}") from exc
        cpu = _session(path, "cpu", threads)  # raises ModelFileError for the file's fault
        if auto:
            return cpu
        raise ProviderError(f"--provider {provider}: {PROVIDERS[provider]} failed to start: "
                            f"{_ort_reason(exc)}") from exc
    # a failed run is the model's fault, not the provider's: no "EP Error ... retrying" pages
    session.disable_fallback()
    return session


def _input_name(path: Path, threads: int | None) -> str:
    """The model's first input name (read from a CPU session)."""
    return _session(path, "cpu", threads).get_inputs()[0].name


def _describe(path: Path, session: ort.InferenceSession, options: Overrides | None,
              trial: bool = True
              ) -> tuple[ModelDescriptor, object, dict[str, str], tuple[str, str]]:
    """(descriptor, card, sources, (input name, output name)) of the model in `session`
    (`describe_model`), checked by a trial run unless `trial` is False; ModelFileError
    naming the file where either fails."""
    try:
        descriptor, card, sources = describe_model(session, str(path), options)
        if trial:
            _trial_run(session, descriptor, str(path))
        names = (session.get_inputs()[0].name, session.get_outputs()[0].name)
    except RunTimeout as exc:  # a probe or the trial run that never ends
        raise ModelFileError(f"{path}: refused: {exc}") from exc
    except UnicodeError as exc:  # onnxruntime decodes names, dims and types as it is asked
        raise ModelFileError(f"{path}: not a loadable ONNX model (names, dims or types that "
                             f"are not UTF-8 text: {str(exc)[:200]})") from exc
    except ModelFileError:
        raise
    except ValueError as exc:  # a descriptor the session's shapes make impossible
        raise ModelFileError(f"{path}: not a model sronnx can run ({first_line(exc)})") from exc
    return descriptor, card, sources, names


def _trial_run(session: ort.InferenceSession, d, path: str) -> None:
    """One run on a small uniform grey image, so that a model that cannot keep its word is
    refused at load (ModelFileError), not on every image: one asking for more memory than
    allowed, one that runs past `probe.LOAD_RUN_SECONDS`, one whose output is not the size
    its descriptor says (metadata saying x2 on a x1.5 graph) or not finite (NaN). Other
    failures are left to the run that meets them (the probe already ran models made
    elsewhere). Skipped for a fixed size over 512 x 512 pixels in or 4 megapixels out (the
    descriptor bounds what one run may make: `descriptor.MAX_RUN_PIXELS`)."""
    from sronnx.runtime.adapter import run_model

    if d.fixed_size is not None:
        h, w = d.fixed_size
    else:
        h = w = max(16, d.size.minimum)
    ph, pw = d.size.get_padding(h, w)
    pixels = (d.batch or 1) * (h + ph) * (w + pw)
    if pixels > _TRIAL_PIXELS or pixels * d.scale ** 2 > _TRIAL_OUTPUT_PIXELS:
        return  # no small run: the first image's run tells
    x = np.full((1, 3, h, w), 0.5, dtype=np.float32)
    alpha = np.ones((1, h, w), dtype=np.float32) if d.in_channels == 4 else None
    try:
        with np.errstate(all="ignore"):  # a declared range near float's limits overflows
            y = run_model(quiet_call(session), x, d, alpha)
    except RunTimeout:
        raise
    except ValueError as exc:  # the output is not what the descriptor promises
        raise ModelFileError(f"{path}: refused: {first_line(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types
        if reason := memory_refusal(exc):
            raise ModelFileError(f"{path}: refused: on a {w}x{h} image {reason}") from exc
        return
    want = (1, 3, h * d.scale, w * d.scale)
    if y.shape != want:
        raise ModelFileError(f"{path}: refused: on a {w}x{h} image it returns "
                             f"{y.shape[3]}x{y.shape[2]}, not the x{d.scale} its metadata "
                             f"says ({w * d.scale}x{h * d.scale})")
    if not np.isfinite(y).all():
        raise ModelFileError(f"{path}: refused: it returns NaN or infinite values on a "
                             f"uniform grey {w}x{h} image")


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask, which containers restrict)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def intended_provider(provider: str) -> str:
    """What `provider` asks for on this machine: "auto" is "cuda" where this onnxruntime
    build offers CUDA, else "cpu"; a provider name is itself."""
    if provider == "auto":
        return "cuda" if cuda_unavailable_reason() is None else "cpu"
    return provider


def open_model(model: str | Path | None, scale: int | None = None, provider: str = "cpu",
               threads: int | None = None, kind: str = "clean",
               options: Overrides | None = None, profile: ProfileFn | None = None
               ) -> tuple[Path, LoadedModel]:
    """A shipped name, an .onnx path, or None, opened on `provider`: (file, session).
    `options` (value range, channel order) apply to a named model, `profile` to TensorRT
    (see `load_model`).

    None takes the shipped default for `scale` and input `kind` ("clean" or "photo", see
    `sronnx.engine.choice`) *on the provider the session really got* (an int8 file on
    CPUs and OpenVINO, float32 on GPUs: `sronnx.runtime.providers.defaults_key`), so
    "auto" falling back to the CPU gets the CPU's default rather than CUDA's.
    """
    from sronnx.core import resolve_model, shipped_models

    if model is not None:
        path = resolve_model(model, scale)
        try:
            return path, load_model(path, provider, threads, options, profile)
        except ModelFileError as exc:
            text = str(model)
            base = text[:-len(".onnx")] if text.lower().endswith(".onnx") else None
            if base and not path.exists() and \
                    any(m.name == base for m in shipped_models()):
                raise ModelFileError(f"{exc} (did you mean the shipped model {base}?)") from exc
            raise
    wanted = intended_provider(provider)
    path = resolve_model(None, scale, defaults_key(wanted), kind)
    loaded = load_model(path, provider, threads, profile=profile)
    if defaults_key(loaded.provider) != defaults_key(wanted):  # "auto" fell back to the CPU
        path = resolve_model(None, scale, defaults_key(loaded.provider), kind)
        loaded = load_model(path, "cpu", threads)
    return path, loaded


# ONNX Runtime's load errors nest ("[ONNXRuntimeError] : 1 : FAIL : Exception during
# initialization: /onnxruntime_src/...cc:79 onnxruntime::Initializer::Initializer(...)
# [ONNXRuntimeError] : 1 : FAIL : tensorprotoutils.cc:2080 ResolveExternalData... REASON"):
# the reason is after the last status prefix and the source location that starts it.
_ORT_STATUS = re.compile(r"\[ONNXRuntimeError\] : \d+ : \w+ : ")
_ORT_WHERE = re.compile(r"^(?:Exception during initialization: )?(?:/\S+\.cc:\d+ \S+\([^)]*\) )?"
                        r"(?:\w+\.cc:\d+ \w+ )?")


def _ort_reason(exc: BaseException) -> str:
    """ONNX Runtime's own reason for `exc`, without its status prefixes and source
    locations, at most 300 characters on one line."""
    text = first_line(exc, 2000)
    return _ORT_WHERE.sub("", _ORT_STATUS.split(text)[-1]).strip()[:300] or text[:300]


def _load_failure(exc: BaseException) -> str:
    """Why ONNX Runtime could not open a model file, in words: where its external data
    points (outside the model's folder, a missing file, past the end of the file), else
    ONNX Runtime's own reason without its status prefixes and source locations."""
    text = first_line(exc, 2000)
    reason = _ort_reason(exc)
    low = text.lower()
    if "escapes model directory" in low or "absolute path not allowed" in low:
        return f"refused: its external data must lie inside the model's folder ({reason})"
    if "external data path does not exist" in low:
        return f"its external data file is missing ({reason})"
    if "external" in low and ("out of bounds" in low or "size mismatch" in low):
        return f"its external data does not match its file ({reason})"
    return f"not a loadable ONNX model ({reason})"


__all__ = ["DEFAULT_MODEL_MEMORY", "MEMORY_ENV", "PROVIDERS", "LoadedModel", "ProfileFn",
           "ProviderError", "available_cpus",
           "cuda_unavailable_reason", "intended_provider", "load_model", "memory_refusal",
           "model_memory_limit", "open_model", "session_options"]
