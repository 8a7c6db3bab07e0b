"""The runtime matrix of `sronnx verify --runtimes`: one ONNX file on several runtimes, the
same inputs, each output against one reference, each runtime held to its own bound.

Runtimes (`RUNTIMES`): ort (ONNX Runtime CPU, Python); ort-cuda, ort-tensorrt, ort-openvino,
ort-dml and ort-coreml (ONNX Runtime's providers of those names, `sronnx.runtime.providers`,
where the installed onnxruntime offers them and the session really runs on them);
onnx-reference (onnx.reference, small inputs only); opencv (cv2.dnn); ort-web
(onnxruntime-web's WebAssembly build under Node, from web/node_modules); ort-node
(onnxruntime-node, from examples/node/node_modules); ncnn (converted with pnnx, run with
ncnn's Python binding). A runtime that is not installed is reported "not installed"; one
that cannot load the file (ncnn and int8 QDQ, onnx.reference and DequantizeLinear-18, an
old OpenCV and dynamic shapes) "unsupported" with the reason; neither counts as a failure.
A runtime that loads the file and gives an output outside its bound is a FAIL.

Every heavy import (onnx, cv2, ncnn, torch through pnnx) happens inside the function that
needs it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sronnx.core import first_line
from sronnx.web import KIT, find_ort_web, install_command

ROOT = Path(__file__).resolve().parents[2]  # the checkout (examples/ is not in the wheel)
NODE_RUNNER = KIT / "verify_runner.mjs"
ORT_NODE_DIR = ROOT / "examples" / "node" / "node_modules" / "onnxruntime-node"

#: ONNX Runtime's providers other than the CPU, as runtimes of the matrix: "ort-NAME"
PROVIDER_RUNTIMES = ("ort-cuda", "ort-tensorrt", "ort-openvino", "ort-dml", "ort-coreml")
RUNTIMES = ("ort", *PROVIDER_RUNTIMES, "onnx-reference", "opencv", "ort-web", "ort-node", "ncnn")
# In-process and cheap (a few seconds on a shipped model): the default of `sronnx verify`.
# ort-web (WebAssembly: about 3 s per 640x360 run on 2 cores), ort-node (a Node process)
# and ncnn (a pnnx conversion) come with --runtimes all or by name.
DEFAULT_RUNTIMES = ("ort", "ort-cuda", "onnx-reference", "opencv")
# The name each runtime has in `sronnx.export.verify.criterion`.
CRITERION_NAME = {"ort": "onnxruntime-cpu",
                  **{r: f"onnxruntime-{r.removeprefix('ort-')}" for r in PROVIDER_RUNTIMES}}
TIMING_SHAPE = (1, 3, 360, 640)
TIMING_REPEATS = 3
NODE_TIMEOUT_S = 600


class Unsupported(RuntimeError):
    """The runtime is installed but cannot load or run this file (a known limit, not a
    wrong result)."""


@dataclass
class RuntimeRow:
    """One runtime's line of the matrix. `status`: "ok", "FAIL", "unsupported" or
    "not installed"; max_abs (in [0, inf]) and psnr_db (dB, peak 1) are the worst over the
    cases; latency_ms is the median 1x3x360x640 run (None when not timed)."""

    runtime: str
    version: str
    precision: str
    status: str
    bound: str = ""
    max_abs: float | None = None
    psnr_db: float | None = None
    latency_ms: float | None = None
    cases: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"

    def to_json(self) -> dict:
        d = asdict(self)
        for key in ("max_abs", "psnr_db"):
            if d[key] is not None and not math.isfinite(d[key]):
                d[key] = str(d[key])
        return d


def parse_runtimes(text: str | None) -> list[str]:
    """'ort,opencv' -> ['ort', 'opencv']; None -> DEFAULT_RUNTIMES; 'all' -> RUNTIMES.
    Raises ValueError naming an unknown runtime."""
    if text is None:
        return list(DEFAULT_RUNTIMES)
    names: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part == "all":
            names += [r for r in RUNTIMES if r not in names]
            continue
        if part not in RUNTIMES:
            raise ValueError(f"unknown runtime {part!r}; known: {', '.join(RUNTIMES)}, all")
        if part not in names:
            names.append(part)
    return names


# ---- availability -----------------------------------------------------------------------

def _node() -> str | None:
    return shutil.which("node")


def _package_version(folder: Path) -> str | None:
    try:
        return json.loads((folder / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _ort_folder(kind: str) -> Path | None:
    """onnxruntime-web's package folder (the web kit's or the runtime cache's) for "web",
    examples/node's onnxruntime-node for "node"; None when it is not there."""
    return find_ort_web() if kind == "web" else ORT_NODE_DIR


def installed(runtime: str) -> tuple[str | None, str]:
    """(version, "") when `runtime` can run here, else (None, why not)."""
    if runtime == "ort" or runtime in PROVIDER_RUNTIMES:
        import onnxruntime as ort

        if runtime != "ort":
            from sronnx.runtime import PROVIDERS, provider_unavailable_reason

            if provider_unavailable_reason(runtime.removeprefix("ort-")):
                name = PROVIDERS[runtime.removeprefix("ort-")]
                return None, f"no {name} in this onnxruntime build"
        return ort.__version__, ""
    if runtime == "onnx-reference":
        try:
            import onnx
        except ImportError:
            return None, "onnx is not installed (pip install 'sronnx[train]')"
        return onnx.__version__, ""
    if runtime == "opencv":
        try:
            import cv2
        except ImportError:
            return None, "cv2 is not installed (pip install 'sronnx[opencv]')"
        if not hasattr(cv2, "dnn"):
            return None, "this cv2 has no dnn module"
        return cv2.__version__, ""
    if runtime in ("ort-web", "ort-node"):
        if _node() is None:
            return None, "node is not on PATH"
        folder = _ort_folder("web" if runtime == "ort-web" else "node")
        version = None if folder is None else _package_version(folder)
        if version is None or folder is None or not NODE_RUNNER.is_file():
            return None, (f"onnxruntime-web is missing ({install_command()})"
                          if runtime == "ort-web" else
                          "no onnxruntime-node in examples/node/node_modules "
                          "(npm ci in examples/node)")
        if runtime == "ort-node" and not any((folder / "bin").glob("napi-v*/*/*/*.node")):
            return None, "onnxruntime-node has no native binding in its bin folder"
        return version, ""
    if runtime == "ncnn":
        try:
            import ncnn
            import pnnx  # noqa: F401 - its executable converts the file
        except ImportError:
            return None, "ncnn and pnnx are not installed (pip install 'sronnx[targets]')"
        return ncnn.__version__, ""
    raise ValueError(f"unknown runtime {runtime!r}")


def _pnnx_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pnnx")
    except PackageNotFoundError:
        return "?"


# ---- cases ------------------------------------------------------------------------------

def matrix_cases(descriptor, precision: str, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """float32 NCHW inputs in [0, 1]: 1x3x37x53, 1x3x17x31, 2x3x37x53 and 1x3x360x640 (the
    one timed), each grown to the size rule of `descriptor` (a ModelDescriptor) when it
    has one; a fixed-size model gets its size at batch 1 and 2, a fixed-batch model that
    batch. int8 models get smooth random images (`sronnx.export.verify.smooth_random`), others
    uniform noise."""
    from sronnx.export.verify import smooth_random

    rng = np.random.default_rng(seed)
    fixed = descriptor.fixed_size
    if fixed:
        shapes = [(1, 3, *fixed), (2, 3, *fixed)]
    else:
        shapes = []
        for n, c, h, w in [(1, 3, 37, 53), (1, 3, 17, 31), (2, 3, 37, 53), TIMING_SHAPE]:
            ph, pw = descriptor.size.get_padding(h, w)
            shapes.append((n, c, h + ph, w + pw))
    if descriptor.batch:
        shapes = list(dict.fromkeys((descriptor.batch, *s[1:]) for s in shapes))
    cases = []
    for shape in shapes:
        x = (smooth_random(rng, shape) if precision == "int8"
             else rng.random(shape, dtype=np.float32))
        cases.append(("x".join(map(str, shape)), x))
    return cases


# ---- runners: (model, inputs, index to time, repeats) -> (outputs, latency ms) ---------

Runner = Callable[[Path, Sequence[np.ndarray], int | None, int], tuple[list, float | None]]


def _timed(fn: Callable[[np.ndarray], np.ndarray], inputs: Sequence[np.ndarray],
           timed: int | None, repeats: int) -> tuple[list[np.ndarray], float | None]:
    """Run `fn` on every input; the `timed` one `repeats` more times, median in ms (the
    first, untimed run warms it up)."""
    outs = [fn(x) for x in inputs]
    latency = None
    if timed is not None:
        ms = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(inputs[timed])
            ms.append((time.perf_counter() - t0) * 1000)
        latency = statistics.median(ms)
    return outs, latency


def _run_ort(provider: str) -> Runner:
    def run(path, inputs, timed, repeats):
        from sronnx.runtime import ProviderError, load_model

        try:
            loaded = load_model(path, provider)
        except ProviderError as exc:  # offered, but no device or library for it here
            raise Unsupported(str(exc)) from exc
        name = loaded.input_name
        return _timed(lambda x: loaded.session.run(None, {name: x})[0], inputs, timed, repeats)
    return run


def _run_reference(path, inputs, timed, repeats):
    from onnx.reference import ReferenceEvaluator

    try:
        evaluator = ReferenceEvaluator(str(path))
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
        raise Unsupported(first_line(exc)) from exc
    name = evaluator.input_names[0]
    return _timed(lambda x: evaluator.run(None, {name: x})[0], inputs, None, 0)


def _run_opencv(path, inputs, timed, repeats):
    """cv2.dnn in a process of its own (`sronnx.export.opencv_worker`: OpenCV 5.0.0 keeps layer
    registrations per process, and `cv2.dnn_superres` replaces DepthToSpace for every ONNX
    net read after it)."""
    with tempfile.TemporaryDirectory(prefix="sronnx-opencv-") as tmp:
        ins, outs = [], []
        for i, x in enumerate(inputs):
            ins.append(str(Path(tmp) / f"in{i}.npy"))
            outs.append(str(Path(tmp) / f"out{i}.npy"))
            np.save(ins[-1], np.ascontiguousarray(x))
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"model": str(path), "inputs": ins, "outputs": outs,
                                   "timed": timed, "repeats": repeats}))
        answer = _worker_answer([sys.executable, "-m", "sronnx.export.opencv_worker", str(job)],
                                "the OpenCV worker")
        if "error" in answer:
            verb = "load" if answer["stage"] == "load" else "run"
            raise Unsupported(f"cv2.dnn cannot {verb} it: {answer['error']}")
        return [np.load(o) for o in outs], answer["ms"]


def _worker_answer(cmd: list[str], what: str) -> dict:
    """Run a runtime's worker process (`cmd`) and return the JSON object on the last line of
    its standard output; RuntimeError naming `what` when it printed none."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=NODE_TIMEOUT_S)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip()[-300:]}") from exc



def _run_node(kind: str) -> Runner:
    def run(path, inputs, timed, repeats):
        folder = _ort_folder(kind)
        with tempfile.TemporaryDirectory(prefix="sronnx-node-") as tmp:
            cases = []
            for i, x in enumerate(inputs):
                if x.dtype != np.float32:
                    raise Unsupported("the Node runner feeds float32 inputs only")
                src = Path(tmp) / f"in{i}.bin"
                np.ascontiguousarray(x).astype("<f4").tofile(src)
                cases.append({"input": str(src), "shape": list(x.shape),
                              "output": str(Path(tmp) / f"out{i}.bin"),
                              "repeat": 1 + (repeats if i == timed else 0)})
            job = Path(tmp) / "job.json"
            threads = 1 if kind == "web" else (os.cpu_count() or 1)
            job.write_text(json.dumps({"model": str(path), "threads": threads,
                                       "cases": cases}))
            answer = _worker_answer([_node() or "node", str(NODE_RUNNER), kind, str(folder),
                                     str(job)], "node runner")
            if "error" in answer:
                if answer.get("stage") == "load":
                    raise Unsupported(f"cannot load it: {answer['error'][:200]}")
                raise RuntimeError(answer["error"][:300])
            outs = [np.fromfile(c["output"], dtype="<f4").reshape(o["shape"])
                    for c, o in zip(cases, answer["outputs"], strict=True)]
            latency = None
            if timed is not None:
                latency = statistics.median(answer["outputs"][timed]["ms"][1:])
            return outs, latency
    return run


def _run_ncnn(path, inputs, timed, repeats):
    with tempfile.TemporaryDirectory(prefix="sronnx-ncnn-") as tmp:
        sample = inputs[0]
        param, weights = convert_to_ncnn(path, Path(tmp), "model",
                                         input_shape=tuple(sample.shape[1:]))
        net = load_ncnn(param, weights)
        return _timed(lambda x: run_ncnn(net, x), inputs, timed, repeats)


RUNNERS: dict[str, Runner] = {
    "ort": _run_ort("cpu"), **{r: _run_ort(r.removeprefix("ort-")) for r in PROVIDER_RUNTIMES},
    "onnx-reference": _run_reference,
    "opencv": _run_opencv, "ort-web": _run_node("web"), "ort-node": _run_node("node"),
    "ncnn": _run_ncnn,
}


# ---- ncnn through pnnx ------------------------------------------------------------------

NCNN_INPUT, NCNN_OUTPUT = "data", "output"


class ConversionError(RuntimeError):
    """pnnx could not convert the ONNX file to ncnn."""


def _pnnx_executable() -> str:
    import pnnx

    return pnnx.EXEC_PATH


def convert_to_ncnn(onnx_path: Path, folder: Path, name: str,
                    input_shape: tuple[int, int, int] = (3, 37, 53),
                    fp16: bool = False) -> tuple[Path, Path]:
    """Convert `onnx_path` with pnnx into `folder`/NAME.param and NAME.bin (float32 weights
    unless `fp16`), the input blob renamed `data` and the output blob `output` (the names
    realesrgan-ncnn-vulkan and Upscayl feed and read). `input_shape` (C, H, W) is pnnx's
    trace shape; the convolutional graph it writes takes any size. Raises Unsupported for
    an int8 QDQ file (ncnn has no DequantizeLinear), ConversionError when pnnx fails."""
    import onnx

    proto = onnx.load(str(onnx_path), load_external_data=False)
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in proto.graph.node):
        raise Unsupported("ncnn does not load QDQ (int8 QuantizeLinear/DequantizeLinear) "
                          "models; convert the float32 file")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sronnx-pnnx-") as tmp:
        src = Path(tmp) / "model.onnx"
        shutil.copyfile(onnx_path, src)
        c, h, w = input_shape
        h2, w2 = h + 11, w + 7
        shape = f"[1,{c},{h},{w}]"
        cmd = [_pnnx_executable(), str(src), f"inputshape={shape}",
               f"inputshape2=[1,{c},{h2},{w2}]", f"fp16={1 if fp16 else 0}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=600)
        param_src, bin_src = Path(tmp) / "model.ncnn.param", Path(tmp) / "model.ncnn.bin"
        if proc.returncode != 0 or not param_src.is_file() or not bin_src.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise ConversionError(f"pnnx could not convert {onnx_path}: {' | '.join(tail)}")
        param, weights = folder / f"{name}.param", folder / f"{name}.bin"
        param.write_text(rename_ncnn_blobs(param_src.read_text()))
        shutil.copyfile(bin_src, weights)
    return param, weights


def rename_ncnn_blobs(text: str, inp: str = NCNN_INPUT, out: str = NCNN_OUTPUT) -> str:
    """An ncnn .param text with its one input blob (and Input layer) named `inp` and the
    output blob of its last layer named `out`. Raises ConversionError for a graph with
    other than one input and one output."""
    lines = text.splitlines()
    if len(lines) < 3 or lines[0].strip() != "7767517":
        raise ConversionError("not an ncnn .param file (magic 7767517)")
    layers = [ln.split() for ln in lines[2:] if ln.strip()]
    inputs = [t for t in layers if t[0] == "Input"]
    if len(inputs) != 1:
        raise ConversionError(f"the graph has {len(inputs)} inputs; one is needed")
    old_in = inputs[0][4]
    consumed = {b for t in layers for b in t[4:4 + int(t[2])]}
    produced = [b for t in layers for b in t[4 + int(t[2]):4 + int(t[2]) + int(t[3])]]
    outputs = [b for b in produced if b not in consumed]
    if len(outputs) != 1:
        raise ConversionError(f"the graph has {len(outputs)} outputs; one is needed")
    renames = {old_in: inp, outputs[0]: out}
    new = lines[:2]
    for t in layers:
        nb, nt = int(t[2]), int(t[3])
        blobs = [renames.get(b, b) for b in t[4:4 + nb + nt]]
        layer_name = inp if t[0] == "Input" else t[1]
        new.append(" ".join([t[0], layer_name, t[2], t[3], *blobs, *t[4 + nb + nt:]]))
    return "\n".join(new) + "\n"


def load_ncnn(param: Path, weights: Path, threads: int | None = None):
    """An ncnn.Net (CPU, float32 storage and arithmetic) of `param`/`weights`; raises
    Unsupported when ncnn refuses either file."""
    import ncnn

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads or os.cpu_count() or 1
    # full float32 on the CPU (ncnn stores and computes in float16/bf16 where it can)
    for flag in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic",
                 "use_bf16_storage"):
        if hasattr(net.opt, flag):
            setattr(net.opt, flag, False)
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        raise Unsupported(f"ncnn cannot load {param.name}")
    return net


def run_ncnn(net, x: np.ndarray) -> np.ndarray:
    """float32 N x C x H x W -> the `output` blob for each image, stacked (ncnn runs one
    image at a time). Raises RuntimeError when extraction fails."""
    import ncnn

    outs = []
    for image in x:
        ex = net.create_extractor()
        ex.input(NCNN_INPUT, ncnn.Mat(np.ascontiguousarray(image, dtype=np.float32)))
        ret, mat = ex.extract(NCNN_OUTPUT)
        if ret != 0:
            raise RuntimeError(f"ncnn extract failed ({ret})")
        outs.append(np.array(mat))
    return np.stack(outs)


# ---- the matrix -------------------------------------------------------------------------

def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def plain_input(descriptor) -> str | None:
    """None when the model takes sronnx's own tensor form (float32 NCHW RGB in [0, 1],
    3 -> 3 channels), which the matrix feeds; else what it takes instead."""
    d = descriptor
    if (d.in_channels == 3 and d.out_channels == 3 and d.layout == "NCHW"
            and d.element_type == "float32" and tuple(d.value_range) == (0.0, 1.0)):
        return None
    return (f"{d.layout} {d.element_type} {d.in_channels}->{d.out_channels} channels in "
            f"{list(d.value_range)}")


def run_matrix(model_path: Path, runtimes: Sequence[str], precision: str,
               reference: Callable[[np.ndarray], np.ndarray],
               descriptor, timing: bool = True, tolerance: float | None = None,
               progress: Callable[[str], None] | None = None) -> list[RuntimeRow]:
    """Run `model_path` (float32 N x 3 x H x W in [0, 1] -> N x 3 x sH x sW) on each of
    `runtimes` with `matrix_cases(descriptor)`, compare every output with `reference(x)`
    (the PyTorch model, or the float32 file on onnxruntime), and hold it to
    `sronnx.export.verify.criterion(precision, runtime, tolerance)`. onnx-reference gets the small
    cases only. The 640x360 case is timed per runtime (median of `TIMING_REPEATS` runs, in
    ms) when `timing`; `progress` hears each runtime's name as it starts. Returns one row
    per runtime, never raises for a runtime's failure."""
    from sronnx.export.verify import criterion

    cases = matrix_cases(descriptor, precision)
    timing_label = "x".join(map(str, cases[-1][1].shape))
    expected: dict[str, np.ndarray] = {}

    def want(label: str, x: np.ndarray) -> np.ndarray:
        if label not in expected:
            expected[label] = np.asarray(reference(x), dtype=np.float64)
        return expected[label]

    rows = []
    for runtime in runtimes:
        version, why = installed(runtime)
        if version is None:
            rows.append(RuntimeRow(runtime, "", precision, "not installed", note=why))
            continue
        mine = [(label, x) for label, x in cases
                if not (runtime == "onnx-reference" and x.shape[2] * x.shape[3] > 24 * 32)]
        mine = mine or cases[:1]  # a fixed-size model: onnx.reference takes its size
        big = [i for i, (label, _) in enumerate(mine)
               if label == timing_label and descriptor.fixed_size is None]
        timed = big[0] if (timing and big and runtime != "onnx-reference") else None
        tol, min_psnr, words = criterion(precision, CRITERION_NAME.get(runtime, runtime),
                                         tolerance)
        if progress:
            progress(runtime)
        row = RuntimeRow(runtime, version, precision, "ok", bound=words,
                         cases=[label for label, _ in mine])
        if runtime == "ort-web":
            row.note = "WebAssembly in Node, 1 thread"
        elif runtime == "ncnn":
            row.note = f"via pnnx {_pnnx_version()}, float32 weights, CPU"
        try:
            outs, row.latency_ms = RUNNERS[runtime](Path(model_path), [x for _, x in mine],
                                                    timed, TIMING_REPEATS)
        except Unsupported as exc:
            row.status, row.note, row.cases = "unsupported", str(exc), []
        except Exception as exc:  # noqa: BLE001 - a runtime may fail anywhere: that is a FAIL
            row.status, row.note = "FAIL", f"error: {type(exc).__name__}: {first_line(exc)}"
        else:
            _score(row, mine, outs, want, (tol, min_psnr))
        rows.append(row)
    return rows


def _score(row: RuntimeRow, cases: list[tuple[str, np.ndarray]], outs: Sequence[np.ndarray],
           want: Callable[[str, np.ndarray], np.ndarray],
           bound: tuple[float | None, float | None]) -> None:
    """Set `row`'s worst max abs error and PSNR (dB) over `cases` against `want(label, x)`,
    and FAIL it, naming each case, where an output has another shape or is outside `bound`
    (largest max abs error, smallest PSNR; None: no such bound)."""
    tol, min_psnr = bound
    worst_abs, worst_psnr, bad = 0.0, math.inf, []
    for (label, x), got in zip(cases, outs, strict=True):
        expected = want(label, x)
        if got.shape != expected.shape:
            bad.append(f"{label}: shape {tuple(got.shape)} != {tuple(expected.shape)}")
            worst_abs, worst_psnr = math.inf, -math.inf
            continue
        err = float(np.max(np.abs(got.astype(np.float64) - expected)))
        psnr = _psnr(got, expected)
        worst_abs, worst_psnr = max(worst_abs, err), min(worst_psnr, psnr)
        if not ((tol is None or err <= tol) and (min_psnr is None or psnr >= min_psnr)):
            bad.append(f"{label}: max abs {err:.2e}, PSNR {psnr:.1f} dB")
    row.max_abs, row.psnr_db = worst_abs, worst_psnr
    if bad:
        row.status = "FAIL"
        row.note = "; ".join(bad)


def format_rows(rows: Sequence[RuntimeRow]) -> list[str]:
    """The matrix as aligned text lines (no trailing newline)."""
    out = [f"  {'runtime':<15} {'version':<22} {'precision':<9} {'max abs err':>11} "
           f"{'PSNR dB':>8} {'640x360 ms':>10}  {'status':<6} bound / note"]
    for r in rows:
        if r.status in ("not installed", "unsupported"):
            out.append(f"  {r.runtime:<15} {r.version or '-':<22} {r.precision:<9} "
                       f"{'':>11} {'':>8} {'':>10}  {r.status}: {r.note}")
            continue
        err = "-" if r.max_abs is None else f"{r.max_abs:.2e}"
        psnr = ("-" if r.psnr_db is None else "inf" if r.psnr_db == math.inf
                else f"{r.psnr_db:.1f}")
        lat = "-" if r.latency_ms is None else f"{r.latency_ms:.0f}"
        note = r.bound + (f"; {r.note}" if r.note else "")
        out.append(f"  {r.runtime:<15} {r.version:<22} {r.precision:<9} {err:>11} {psnr:>8} "
                   f"{lat:>10}  {r.status:<6} {note}")
    return out
