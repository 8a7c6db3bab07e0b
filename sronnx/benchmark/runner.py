"""`sronnx bench` as a library call: resolve what to measure, then produce the rows.

Library code: progress and notes go through a callback, problems are exceptions
(`BenchInputError` for bad inputs, `RuntimeUnavailable` when no requested runtime can run).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sronnx.benchmark import quality, speed
from sronnx.benchmark.machine import machine_info
from sronnx.benchmark.models import BenchInputError, BenchModel, resolve_models
from sronnx.benchmark.rows import make_row
from sronnx.benchmark.speed import RuntimeUnavailable
from sronnx.runtime import available_cpus

RUNTIMES = ("torch", "cpu", "cuda")  # the default: those asked for with no --runtimes
#: every runtime --runtimes takes: PyTorch and each ONNX Runtime provider by sronnx's name
KNOWN_RUNTIMES = ("torch", "cpu", "cuda", "tensorrt", "openvino", "dml", "coreml")


def bicubic(scale: int) -> BenchModel:
    """The baseline as a model: Pillow bicubic, no parameters."""
    return BenchModel(name="bicubic", scale=scale, source="baseline", path=Path("."), params=0)


Event = Callable[[str], None]


@dataclass
class BenchConfig:
    models: Sequence[str] | None = None  # shipped names or .onnx paths; None: all shipped
    datasets: Sequence[str | Path] = ()
    scales: Sequence[int] = (2, 3, 4)
    runtimes: Sequence[str] | None = None  # None: torch (if installed), cpu, cuda (if usable)
    size: tuple[int, int] | None = None  # input (W, H); None: output 1920x1080 per scale
    threads: int | None = None  # None: every CPU this process may use
    warmup: int = 2
    repeats: int = 10
    min_time: float = 1.0
    peer_opencv: str | Path | None = None
    quality: bool = True
    speed: bool = True
    # names of `sronnx.train.degradations.NAMED`; None: the standard protocol only, rows as before
    degradations: Sequence[str] | None = None


@dataclass
class BenchPlan:
    """Everything resolved and checked before anything is measured."""

    models: list[BenchModel]
    peers: list[BenchModel]
    datasets: list[quality.Dataset]
    scales: list[int]
    runtimes: list[str]
    threads: int
    notes: list[str] = field(default_factory=list)
    degradations: list[str] | None = None


def runtime_unavailable_reason(runtime: str) -> str | None:
    """None when `runtime` can run here, else why not."""
    if runtime == "torch":
        if importlib.util.find_spec("torch") is None:
            return "torch is not installed (pip install 'sronnx[train]')"
        return None
    if runtime == "cpu":
        return None
    if runtime in KNOWN_RUNTIMES:
        from sronnx.runtime import provider_unavailable_reason

        return provider_unavailable_reason(runtime)
    raise BenchInputError(f"unknown runtime {runtime!r}; known: {', '.join(KNOWN_RUNTIMES)}")


def _runtimes(requested: Sequence[str] | None, notes: list[str]) -> list[str]:
    explicit = requested is not None
    usable = []
    for rt in dict.fromkeys(requested if explicit else RUNTIMES):
        reason = runtime_unavailable_reason(rt)
        if reason is None:
            usable.append(rt)
        else:
            notes.append(f"skipping runtime {rt}: {reason}")
    if explicit and not usable:
        raise RuntimeUnavailable("; ".join(notes) or "no runtime asked for")
    return usable


def plan(cfg: BenchConfig) -> BenchPlan:
    """Check every input (models, folders, runtimes, sizes) up front, so a bad option fails
    before minutes of measuring."""
    notes: list[str] = []
    scales = sorted(set(cfg.scales))
    if not scales or any(s < 1 for s in scales):
        raise BenchInputError(f"scales must be positive integers, got {list(cfg.scales)}")
    if cfg.size is not None and (cfg.size[0] < 1 or cfg.size[1] < 1):
        raise BenchInputError(f"size must be positive, got {cfg.size[0]}x{cfg.size[1]}")
    if cfg.repeats < 1 or cfg.warmup < 0:
        raise BenchInputError("repeats must be >= 1 and warmup >= 0")
    degradations = _degradations(cfg) if cfg.degradations is not None else None
    models = []
    for m in resolve_models(cfg.models):
        if m.scale in scales:
            models.append(m)
        elif cfg.models and m.source != "rule":  # named on the command line: refuse
            raise BenchInputError(f"--models {m.name} is a x{m.scale} model, not among "
                                  f"--scales {','.join(map(str, scales))}")
        else:
            notes.append(f"skipping {m.name}: scale x{m.scale} is not among --scales")
    peers: list[BenchModel] = []
    if cfg.peer_opencv is not None:
        from sronnx.benchmark.peers import find_peers, opencv_unavailable_reason

        reason = opencv_unavailable_reason()
        if reason:
            raise BenchInputError(f"--peer-opencv: {reason}")
        peers = find_peers(cfg.peer_opencv, scales)
    datasets = [quality.load_dataset(d) for d in cfg.datasets] if cfg.quality else []
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise BenchInputError(f"two datasets share a folder name: {names}")
    runtimes = _runtimes(cfg.runtimes, notes) if cfg.speed else []
    if not datasets and cfg.quality:
        notes.append("no --data: speed only")
    return BenchPlan(models, peers, datasets, scales, runtimes,
                     cfg.threads or available_cpus(), notes, degradations)


def _degradations(cfg: BenchConfig) -> list[str]:
    """The requested degradations, checked against `sronnx.train.degradations.NAMED`, once each."""
    from sronnx.train import NAMED

    names = list(dict.fromkeys(n.strip() for n in cfg.degradations or () if n.strip()))
    known = ", ".join(NAMED)
    if not names:
        raise BenchInputError(f"--degradations: empty list; known: {known}")
    unknown = [n for n in names if n not in NAMED]
    if unknown:
        raise BenchInputError(f"--degradations: unknown {', '.join(map(repr, unknown))}; "
                              f"known: {known}")
    if not cfg.quality:
        raise BenchInputError("--degradations measures quality: it cannot go with --no-quality")
    return names


def quality_rows(p: BenchPlan, on_event: Event) -> list[dict[str, Any]]:
    """Per scale and dataset: bicubic first, then the sronnx models, then the peers."""
    from sronnx.benchmark.peers import opencv_upscaler

    rows = []
    for scale in p.scales:
        subjects: list[tuple[BenchModel, str, quality.UpscaleFn]] = [
            (bicubic(scale), "pillow", quality.bicubic_upscaler(scale))]
        subjects += [(m, "cpu", quality.RuleUpscaler(scale, p.threads) if m.source == "rule"
                      else quality.onnx_upscaler(m, p.threads))
                     for m in p.models if m.scale == scale]
        subjects += [(m, "opencv", opencv_upscaler(m, p.threads))
                     for m in p.peers if m.scale == scale]
        if p.degradations is not None:
            rows += _robust_rows(p, scale, subjects, on_event)
            continue
        for dataset in p.datasets:
            for model, runtime, fn in subjects:
                on_event(f"quality: {model.name} x{scale} on {dataset.name} "
                         f"({len(dataset.images)} images)")
                result = quality.evaluate(fn, dataset, scale)
                rows.append(make_row("quality", model=model.name, source=model.source,
                                     scale=scale, dataset=dataset.name, runtime=runtime,
                                     params=model.params, macs_per_pixel=model.macs_per_pixel,
                                     **result))
    return rows


def _robust_rows(p: BenchPlan, scale: int,
                 subjects: list[tuple[BenchModel, str, quality.UpscaleFn]],
                 on_event: Event) -> list[dict[str, Any]]:
    """Per dataset and degradation: every subject on the same degraded inputs, each image's
    PSNR-Y against bicubic's of the same input (subjects[0] is bicubic)."""
    rows = []
    for dataset in p.datasets:
        for name in p.degradations or ():
            pairs = quality.degraded_pairs(dataset, scale, name)
            baseline = None
            for model, runtime, fn in subjects:
                on_event(f"quality: {model.name} x{scale} on {dataset.name}, {name} "
                         f"({len(pairs)} images)")
                if isinstance(fn, quality.RuleUpscaler):
                    fn.reset()
                scores = quality.score_pairs(fn, pairs, scale)
                baseline = baseline or scores
                share = fn.photo / max(fn.calls, 1) if isinstance(fn, quality.RuleUpscaler) \
                    else None
                rows.append(make_row("quality", model=model.name, source=model.source,
                                     scale=scale, dataset=dataset.name, runtime=runtime,
                                     params=model.params, macs_per_pixel=model.macs_per_pixel,
                                     degradation=name, photo_share=share,
                                     **quality.summarize(scores, baseline)))
    return rows


def _runner(model: BenchModel, runtime: str, size: tuple[int, int],
            threads: int) -> tuple[Callable[[], Any], int | None, str | None]:
    """(callable, threads it uses, note) for one model on one runtime."""
    if runtime == "pillow":
        return speed.pillow_runner(model.scale, size), 1, "Pillow BICUBIC, single-threaded"
    if runtime == "opencv":
        from sronnx.benchmark.peers import opencv_runner

        return opencv_runner(model, size, threads), threads, "OpenCV dnn_superres, CPU"
    if runtime == "torch":
        if model.precision != "float32":  # the rebuilt network would be float32
            raise RuntimeUnavailable(f"a {model.precision} file has no PyTorch twin (a torch "
                                     "row would time the float32 network under its name)")
        fn, note = speed.torch_runner(model, size, threads)
        return fn, threads, f"PyTorch eager, {note}"
    from sronnx.runtime import runs_on_cpu

    if not runs_on_cpu(runtime):  # a GPU's provider: its own threads, copies included
        return speed.ort_runner(model, runtime, size, None), None, \
            "includes host-device copies"
    note = None if runtime == "cpu" else f"ONNX Runtime's {runtime} provider"
    return speed.ort_runner(model, runtime, size, threads), threads, note


def speed_rows(p: BenchPlan, cfg: BenchConfig, on_event: Event) -> list[dict[str, Any]]:
    """Per scale: the bicubic baseline, each model on each runtime, each peer on OpenCV."""
    rows = []
    for scale in p.scales:
        jobs = [(bicubic(scale), "pillow")]
        jobs += [(m, rt) for m in p.models if m.scale == scale and m.source != "rule"
                 for rt in p.runtimes]  # the rule's speed is its two models' own
        jobs += [(m, "opencv") for m in p.peers if m.scale == scale]
        for model, runtime in jobs:
            size = cfg.size or speed.default_input_size(scale)
            note = None
            if model.fixed_size is not None and tuple(size) != model.fixed_size[::-1]:
                size = (model.fixed_size[1], model.fixed_size[0])
                note = "fixed-size model: timed at its own input size"
            try:
                fn, threads, rt_note = _runner(model, runtime, size, p.threads)
            except RuntimeUnavailable as exc:
                on_event(f"skipping {model.name} on {runtime}: {exc}")
                continue
            on_event(f"speed: {model.name} x{scale} on {runtime}, input {size[0]}x{size[1]}")
            timing = speed.time_calls(fn, cfg.warmup, cfg.repeats, cfg.min_time)
            notes = "; ".join(n for n in (rt_note, note) if n) or None
            rows.append(make_row("speed", model=model.name, source=model.source, scale=scale,
                                 runtime=runtime, note=notes,
                                 **speed.speed_fields(model, size, timing, threads)))
    return rows


def run_benchmark(cfg: BenchConfig, on_event: Event | None = None) -> list[dict[str, Any]]:
    """The rows of `sronnx bench`: the machine, then quality, then speed."""
    emit = on_event or (lambda _msg: None)
    p = plan(cfg)
    for note in p.notes:
        emit(note)
    rows: list[dict[str, Any]] = [machine_info(p.threads)]
    if cfg.quality and p.datasets:  # no --data: no quality rows, so no sessions for them
        rows += quality_rows(p, emit)
    if cfg.speed:
        rows += speed_rows(p, cfg, emit)
    return rows
