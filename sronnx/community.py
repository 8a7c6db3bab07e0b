"""Community PyTorch checkpoints (ESRGAN, Real-ESRGAN Compact, SwinIR, SPAN, ...) through
spandrel: load safely, describe, export to one self-contained ONNX file, check parity.

Loading never runs code from the file: pickles (.pth, .pt, .ckpt) go through spandrel's
restricted unpickler, which allows only the globals a state dict needs (OrderedDict, tensor
rebuilding, storages) and refuses anything else (e.g. `os.system` in a `__reduce__`);
TorchScript archives (programs, not weights) are refused before torch could dispatch them
to `torch.jit.load`; .safetensors holds tensors only. spandrel then recognises the
architecture and its settings from the weights alone (`spandrel.ModelLoader`).

Exports take input "input" float32 N x C x H x W in [0, 1] (C = the model's 1, 3 or 4
channels) and give "output" float32 N x C' x sH x sW, unclamped (spandrel clamps to [0, 1]
after the model; so do sronnx's runtime and its image writers). The shape is found per model
(`export_community`): dynamic N, H, W with torch's dynamo exporter, else with the TorchScript
exporter, else a fixed H x W that the runtime tiles; each candidate must match spandrel's
PyTorch model at three sizes other than the dummy's before it is taken.

This module imports torch, onnx and spandrel; nothing under `sronnx.runtime` imports it.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import io
import logging
import math
import pickle
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import spandrel
import torch
from spandrel import ImageModelDescriptor, ModelTiling, UnsupportedModelError
from torch import nn

from sronnx import __version__
from sronnx.card import path_name
from sronnx.descriptor import ModelDescriptor, SizeRequirements
from sronnx.onnx_export import (
    DEFAULT_OPSET,
    INPUT_NAME,
    OUTPUT_NAME,
    _Float16Body,
    _quiet_exporter,
    count_params,
    weights_sha256,
    write_model,
)

LOADER = f"spandrel {spandrel.__version__}"
# file suffix -> the card's source.format
FORMATS = {".pth": "pth", ".pt": "pt", ".ckpt": "ckpt", ".safetensors": "safetensors"}
# parity an export must reach against spandrel's PyTorch model (max abs, [0, 1] units)
EXPORT_TOLERANCE = {"float32": 1e-4, "float16": 2e-2}
# receptive-field probe: input side (rounded up to the size rule), the change of one pixel,
# and the output change that counts: any (outside its field a network's output is
# bit-identical), as the runtime's probe of models made elsewhere (sronnx.runtime.probe)
RF_PROBE = 64
RF_DELTA = 0.25
RF_THRESHOLD = 0.0
# tile side (input pixels) the runtime is advised to use; window-attention nets whose
# authors discourage tiling (spandrel's ModelTiling.DISCOURAGED) get larger tiles
TILE_HINT = 256
TILE_HINT_DISCOURAGED = 512
# fixed exports: the side of the one input size (at least, rounded up to the size rule)
FIXED_SIDE = 64
LICENSE_NOTE = (f"{LOADER} does not report licences: check the terms of the model's source "
                "(weights and architecture) before you distribute it")


class CommunityError(ValueError):
    """A checkpoint sronnx cannot take through spandrel; one line that names the file and the
    reason (unsafe pickle, unknown architecture, not an image model, ...)."""


@dataclass
class CommunityModel:
    """A checkpoint loaded through spandrel. `model` takes float32 N x in_channels x H x W in
    [0, 1] (sizes meeting `size`) and returns N x out_channels x sH x sW (unclamped)."""

    name: str  # file name only (cards never carry paths)
    sha256: str  # of the checkpoint file
    format: str  # pth | pt | ckpt | safetensors
    spandrel: ImageModelDescriptor

    @property
    def model(self) -> nn.Module:
        """spandrel's module itself (some modify their input in place: RCAN's `x *= 255`)."""
        return self.spandrel.model

    @property
    def reference(self) -> nn.Module:
        """The PyTorch model to compare exports with: `model` on a copy of its input."""
        return InputSafe(self.spandrel.model)

    @property
    def arch(self) -> str:
        return str(self.spandrel.architecture.id)

    @property
    def scale(self) -> int:
        return int(self.spandrel.scale)

    @property
    def size(self) -> SizeRequirements:
        """spandrel's size rule in sronnx's form (minimum at least 1)."""
        req = self.spandrel.size_requirements
        return SizeRequirements(minimum=max(1, int(req.minimum)),
                                multiple_of=int(req.multiple_of), square=bool(req.square))


class InputSafe(nn.Module):
    """`model` run on a copy of its input, so a caller's array (e.g. numpy memory shared
    with the tensor) is never changed by a model that writes into its input."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.clone())


@dataclass
class Strategy:
    """How one model is exported: with torch's `dynamo` exporter (else the TorchScript one),
    at a `fixed` (H, W) or None for dynamic sizes, and with a fixed `batch` (0: dynamic)."""

    dynamo: bool
    fixed: tuple[int, int] | None = None
    batch: int = 0

    def words(self, size: SizeRequirements) -> str:
        """The card's `export_shape`."""
        if self.fixed:
            return f"fixed {self.fixed[0]}x{self.fixed[1]}"
        if size.multiple_of > 1:
            return f"dynamic, padded to multiples of {size.multiple_of}"
        return "dynamic"

    def label(self, size: SizeRequirements) -> str:
        """words, batch and exporter, for messages."""
        batch = f", batch {self.batch}" if self.batch else ""
        return f"{self.words(size)}{batch} ({'dynamo' if self.dynamo else 'torchscript'})"


@dataclass
class CommunityExport:
    path: Path
    card: dict[str, Any]
    descriptor: ModelDescriptor
    strategy: Strategy
    tries: list[str]  # one line per rejected candidate, with the reason


# -- loading -----------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _first_line(exc: BaseException) -> str:
    """The first line of the innermost cause of `exc` (exporters wrap the real reason),
    without terminal colour codes, at most 200 characters."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]


def load_state_dict(path: str | Path) -> dict[str, Any]:
    """The state dict in `path` (.pth, .pt, .ckpt: pickles read by spandrel's restricted
    unpickler; .safetensors), unwrapped from `params_ema` / `params` / `state_dict` / ...
    and stripped of `module.` prefixes (`spandrel.canonicalize_state_dict`).

    Raises CommunityError (naming the file) for another suffix, a pickle that needs any
    other global (it is refused before that global is looked up, so nothing in it runs), a
    TorchScript archive, or an unreadable file.
    """
    path = Path(path)
    name = path.name
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CommunityError(f"{name}: unsupported checkpoint type {path.suffix or '(none)'!r}; "
                             f"sronnx reads {', '.join(FORMATS)}")
    if fmt == "safetensors":
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own and OSError
            raise CommunityError(f"{name}: not a readable safetensors file "
                                 f"({_first_line(exc)})") from exc
    else:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                if any(n.endswith("constants.pkl") or "/code/" in n for n in archive.namelist()):
                    raise CommunityError(f"{name}: a TorchScript archive (a program, not "
                                         "weights); sronnx loads only state dicts")
        loader = spandrel.ModelLoader(device="cpu")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = loader._load_pth(path)  # torch.load with spandrel's RestrictedUnpickle
        except pickle.UnpicklingError as exc:
            if "forbidden" in str(exc):
                raise CommunityError(
                    f"{name}: refused: the pickle needs code beyond a state dict "
                    f"({_first_line(exc)}); spandrel's safe unpickler loads weights only"
                ) from exc
            raise CommunityError(f"{name}: not a readable PyTorch checkpoint "
                                 f"({_first_line(exc)})") from exc
        except Exception as exc:  # noqa: BLE001 - torch.load raises many types
            raise CommunityError(f"{name}: not a readable PyTorch checkpoint "
                                 f"({_first_line(exc)})") from exc
    if not isinstance(state, dict):
        raise CommunityError(f"{name}: holds a {type(state).__name__}, not a state dict")
    return spandrel.canonicalize_state_dict(state)


def model_from_state_dict(state: dict[str, Any], name: str) -> ImageModelDescriptor:
    """spandrel's model for `state` (in eval mode, float32, CPU).

    Raises CommunityError (naming `name`) when spandrel recognises no architecture, when the
    model is not image-to-image (e.g. inpainting with a mask), or when its channel counts are
    not 1 (luma), 3 (RGB) or 4 (RGBA).
    """
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CommunityError(f"{name}: holds no tensors; not a model's weights")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            desc = spandrel.ModelLoader(device="cpu").load_from_state_dict(tensors)
    except UnsupportedModelError as exc:
        raise CommunityError(f"{name}: not a model {LOADER} recognises (unknown architecture, "
                             "or not a model's weights)") from exc
    except Exception as exc:  # noqa: BLE001 - an architecture's loader fails on odd weights
        raise CommunityError(f"{name}: {LOADER} could not build the model "
                             f"({_first_line(exc)})") from exc
    if not isinstance(desc, ImageModelDescriptor):
        raise CommunityError(f"{name}: a {desc.architecture.name} model ({desc.purpose}) is not "
                             "an image-to-image model; sronnx exports models that map one "
                             "image to one image")
    if desc.input_channels not in (1, 3, 4) or desc.output_channels not in (1, 3, 4):
        raise CommunityError(f"{name}: a {desc.architecture.name} model of "
                             f"{desc.input_channels} input and {desc.output_channels} output "
                             "channels; sronnx runs 1 (luma), 3 (RGB) and 4 (RGBA)")
    return desc.float().eval()


def load_community(path: str | Path) -> CommunityModel:
    """Load `path` through spandrel, safely (see `load_state_dict`); raises CommunityError."""
    path = Path(path)
    if not path.is_file():
        raise CommunityError(f"{path.name}: no such checkpoint file")
    state = load_state_dict(path)
    bad = [k for k, t in state.items()
           if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise CommunityError(f"{path.name}: damaged checkpoint: NaN or infinite weights in "
                             f"{len(bad)} tensor(s), e.g. {bad[0]}")
    desc = model_from_state_dict(state, path.name)
    return CommunityModel(name=path.name, sha256=file_sha256(path),
                          format=FORMATS[path.suffix.lower()], spandrel=desc)


# -- description ------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, type):
        return value.__name__
    return repr(value)


def settings(cm: CommunityModel) -> dict[str, Any]:
    """spandrel's tags and the settings it read from the weights (its `hyperparameters`),
    JSON-able (classes by name)."""
    hyper = getattr(cm.model, "hyperparameters", None) or {}
    return {"tags": list(cm.spandrel.tags), "purpose": cm.spandrel.purpose,
            "settings": _jsonable(dict(hyper))}


def spec_words(cm: CommunityModel) -> str:
    """Short text for messages and the card's `spec`: e.g. "ESRGAN (64nf, 23nb)"."""
    tags = ", ".join(cm.spandrel.tags)
    return f"{cm.arch} ({tags})" if tags else cm.arch


def probe_size(rule: SizeRequirements, side: int) -> tuple[int, int]:
    """(H, W) of at least `side` that `rule` takes."""
    ph, pw = rule.get_padding(side, side)
    return side + ph, side + pw


def measure_receptive_field(cm: CommunityModel, side: int = RF_PROBE) -> int:
    """Side, in input pixels, of the region around one input pixel whose change moves the
    output, from the impulse response of the PyTorch model on a `side` x `side` random input
    (rounded up to the size rule; float64 when the model takes it): the centre pixel is
    raised by RF_DELTA, and output pixels that move by more than RF_THRESHOLD are mapped back
    to input pixels. The answer is at most the probe's side, which then means "at least this"
    (windowed attention often reaches the whole probe)."""
    model = InputSafe(copy.deepcopy(cm.model).eval())
    h, w = probe_size(cm.size, side)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, cm.spandrel.input_channels, h, w, generator=gen)
    cy, cx = h // 2, w // 2
    diff = None
    for dtype in (torch.float64, torch.float32):
        try:
            probe = model.to(dtype)
            xi = x.to(dtype)
            x2 = xi.clone()
            x2[:, :, cy, cx] = torch.where(x2[:, :, cy, cx] > 0.5, x2[:, :, cy, cx] - RF_DELTA,
                                           x2[:, :, cy, cx] + RF_DELTA)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                diff = (probe(x2) - probe(xi)).abs().amax(dim=(0, 1))
            break
        except (RuntimeError, TypeError):
            continue
    if diff is None:
        return min(h, w)
    moved = torch.nonzero(diff > RF_THRESHOLD)
    if moved.numel() == 0:
        return 1
    s = cm.scale
    rows, cols = moved[:, 0] // s, moved[:, 1] // s
    radius = int(max((rows - cy).abs().max(), (cols - cx).abs().max()))
    return min(2 * radius + 1, min(h, w))


def make_descriptor(cm: CommunityModel, receptive_field: int,
                    fixed: tuple[int, int] | None = None, batch: int = 0) -> ModelDescriptor:
    """sronnx's descriptor of the export: spandrel's scale, channels and size rule."""
    discouraged = cm.spandrel.tiling in (ModelTiling.DISCOURAGED, ModelTiling.INTERNAL)
    return ModelDescriptor(
        arch=cm.arch, scale=cm.scale, spec=settings(cm),
        in_channels=int(cm.spandrel.input_channels),
        out_channels=int(cm.spandrel.output_channels),
        size_requirement="fixed" if fixed else "any", fixed_size=fixed,
        receptive_field=max(1, receptive_field),
        tile_hint=TILE_HINT_DISCOURAGED if discouraged else TILE_HINT,
        size=cm.size, batch=batch,
        clamp=False,  # a model made elsewhere runs as its authors made it (`--clamp` in upscale)
    )


def community_card(cm: CommunityModel, *, strategy: Strategy, parity_max_abs: float,
                   parity_sizes: list[str]) -> dict[str, Any]:
    """The card of a spandrel export: sronnx's common fields (version, arch, spec, scale,
    params, weights_sha256, exported, torch_version) plus the checkpoint's source (file name,
    never a path; its SHA-256; format; loader), licence, export shape and parity."""
    return {
        "sronnx_version": __version__,
        "arch": cm.arch,
        "spec": spec_words(cm),
        "scale": cm.scale,
        "params": count_params(cm.model),
        "trained": True,
        "training": {"note": "a community checkpoint: its training is not known to sronnx"},
        "weights_sha256": weights_sha256(cm.model),
        "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
        "source": {"file": path_name(cm.name), "sha256": cm.sha256, "format": cm.format,
                   "loader": LOADER},
        # spandrel 0.4.2 has no licence field on its architectures or descriptors
        "license": None,
        "license_note": LICENSE_NOTE,
        "tiling": cm.spandrel.tiling.name.lower(),
        "export_shape": strategy.words(cm.size),
        "exporter": "dynamo" if strategy.dynamo else "torchscript",
        "batch": strategy.batch or "dynamic",
        "parity_max_abs": parity_max_abs,
        "parity_sizes": parity_sizes,
    }


# -- export ----------------------------------------------------------------------------------


def parity_shapes(rule: SizeRequirements, fixed: tuple[int, int] | None,
                  large: int = 0, batch: int = 0) -> list[tuple[int, int, int]]:
    """(N, H, W) that `rule` takes, unlike the export's dummy: odd sizes, a batch of 2 (of
    `batch` when the file fixes it), and (`large`) one of about `large` x 1.5 `large`; for a
    fixed export its size at N = 1, 2, 1."""
    two = batch or 2
    one = batch or 1
    if fixed:
        return [(one, *fixed), (two, *fixed), (one, *fixed)]
    m = rule.multiple_of
    if m > 1:  # odd multiples
        wanted = [(one, 3 * m, 5 * m), (two, 5 * m, 3 * m), (one, 7 * m, 9 * m)]
    else:
        wanted = [(one, 37, 53), (two, 31, 17), (one, 45, 29)]
    if large:
        wanted.append((one, large, large * 3 // 2))
    out = []
    for n, h, w in wanted:
        ph, pw = rule.get_padding(h, w)
        out.append((n, h + ph, w + pw))
    return out


def _dummy_size(rule: SizeRequirements, fixed: tuple[int, int] | None) -> tuple[int, int]:
    if fixed:
        return fixed
    m = rule.multiple_of
    h, w = (4 * m, 6 * m) if m > 1 else (24, 20)
    ph, pw = rule.get_padding(h, w)
    return h + ph, w + pw


def _dynamic_shapes(rule: SizeRequirements, strategy: Strategy) -> dict:
    dim = torch.export.Dim
    shapes: dict[int, Any] = {} if strategy.batch else {0: dim("batch")}
    if not strategy.fixed:
        m = rule.multiple_of
        if m > 1:
            low = max(1, -(-rule.minimum // m))
            hb = dim("height_blocks", min=low)
            wb = hb if rule.square else dim("width_blocks", min=low)
            shapes[2], shapes[3] = m * hb, m * wb
        else:
            hd = dim("height", min=max(2, rule.minimum))
            shapes[2] = hd
            shapes[3] = hd if rule.square else dim("width", min=max(2, rule.minimum))
    return {"x": shapes}


def _export_proto(model: nn.Module, in_channels: int, rule: SizeRequirements,
                  strategy: Strategy, opset: int) -> onnx.ModelProto:
    h, w = _dummy_size(rule, strategy.fixed)
    # a dynamic batch is traced at 2: at 1, torch.export specializes it in attention nets
    n = strategy.batch or 2
    dummy = torch.rand(n, in_channels, h, w, generator=torch.Generator().manual_seed(1))
    with warnings.catch_warnings(), torch.no_grad(), _quiet_exporter(), _quiet_torch(), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if strategy.dynamo:
            program = torch.onnx.export(
                model, (dummy,), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_shapes=_dynamic_shapes(rule, strategy) or None, dynamo=True,
                external_data=False, opset_version=opset, verbose=False, optimize=True)
            proto = program.model_proto
        else:
            axes = {} if strategy.batch else {0: "batch"}
            out_axes = dict(axes)
            if not strategy.fixed:
                axes.update({2: "height", 3: "width"})
                out_axes.update({2: "out_height", 3: "out_width"})
            buffer = io.BytesIO()
            torch.onnx.export(model, (dummy,), buffer, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], opset_version=opset,
                              dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: out_axes},
                              dynamo=False, do_constant_folding=True)
            proto = onnx.load_from_string(buffer.getvalue())
    return proto


@contextlib.contextmanager
def _quiet_torch() -> Any:
    """Hide torch.export's and dynamo's error logs for one export attempt (a rejected
    candidate is reported in one line), then restore the loggers' levels."""
    names = ("torch._dynamo", "torch._guards", "torch.export", "torch.fx.experimental",
             "torch._export", "torch.onnx")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _name_dims(proto: onnx.ModelProto, scale: int, strategy: Strategy) -> None:
    """Readable names for the graph's dynamic input/output dims: batch, height, width,
    s*height..."""
    inp = proto.graph.input[0].type.tensor_type.shape.dim
    out = proto.graph.output[0].type.tensor_type.shape.dim
    if len(inp) != 4 or len(out) != 4:
        return
    if not strategy.batch:
        inp[0].dim_param = out[0].dim_param = "batch"
    if strategy.fixed:
        return
    for i, name in ((2, "height"), (3, "width")):
        inp[i].dim_param = name
        out[i].dim_param = f"{scale}*{name}" if scale != 1 else name


def parity(proto: onnx.ModelProto, model: nn.Module, in_channels: int,
           shapes: list[tuple[int, int, int]], seed: int = 0) -> tuple[float, list[str]]:
    """Max abs difference between ONNX Runtime (CPU) running `proto` and `model` on uniform
    random float32 inputs of `shapes` (N, H, W), and the shapes as words; inf when an output
    shape differs or the session refuses a shape."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(proto.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    run_opts = ort.RunOptions()
    run_opts.log_severity_level = 4
    rng = np.random.default_rng(seed)
    worst = 0.0
    words = []
    for n, h, w in shapes:
        x = rng.random((n, in_channels, h, w), dtype=np.float32)
        words.append(f"{n}x{in_channels}x{h}x{w}")
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).float().numpy()
        try:
            got = sess.run(None, {sess.get_inputs()[0].name: x}, run_opts)[0]
        except Exception:  # noqa: BLE001 - onnxruntime raises its own types
            return math.inf, words
        if got.shape != expected.shape:
            return math.inf, words
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - expected))))
    return worst, words


def fixed_size_for(cm: CommunityModel) -> tuple[int, int]:
    """The one input size of a fixed export: the model's `img_size` when it states one of at
    least FIXED_SIDE, else FIXED_SIDE; rounded up to the size rule."""
    hyper = getattr(cm.model, "hyperparameters", None) or {}
    side = hyper.get("img_size", FIXED_SIDE)
    side = side if isinstance(side, int) and side >= FIXED_SIDE else FIXED_SIDE
    return probe_size(cm.size, side)


def candidates(cm: CommunityModel) -> list[Strategy]:
    """The export strategies in order of preference: dynamic sizes before a fixed size, a
    dynamic batch before batch 1 (window-attention nets such as SwinIR export with a
    symbolic batch that computes wrong results), dynamo before TorchScript."""
    fixed = fixed_size_for(cm)
    return [Strategy(dynamo=True), Strategy(dynamo=True, batch=1),
            Strategy(dynamo=False), Strategy(dynamo=False, batch=1),
            Strategy(dynamo=True, fixed=fixed), Strategy(dynamo=True, fixed=fixed, batch=1),
            Strategy(dynamo=False, fixed=fixed, batch=1)]


class _FoldedConv3XC(nn.Module):
    """SPAN's Conv3XC in eval mode without its per-call re-parameterization: the folded
    3x3 convolution (`eval_conv`) and the optional leaky ReLU. Same output."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        block.update_params()
        self.eval_conv = block.eval_conv
        self.has_relu = bool(block.has_relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.eval_conv(x)
        return torch.nn.functional.leaky_relu(out, 0.05) if self.has_relu else out


def deployable_copy(model: nn.Module) -> nn.Module:
    """A copy of `model` for export, in eval mode: blocks that re-parameterize on every call
    (SPAN's Conv3XC rewrites its conv's weights in forward; torch 2.14's dynamo exporter
    crashes on it) replaced by their folded form. The original is left as it is."""
    folded = copy.deepcopy(model).eval()
    for name, module in list(folded.named_modules()):
        if name and hasattr(module, "update_params") and hasattr(module, "eval_conv") \
                and hasattr(module, "has_relu"):
            parent_name, _, leaf = name.rpartition(".")
            parent = folded.get_submodule(parent_name) if parent_name else folded
            setattr(parent, leaf, _FoldedConv3XC(module))
    return folded


def _body(cm: CommunityModel, fp16: bool) -> nn.Module:
    model = deployable_copy(cm.model)
    if fp16:
        if not cm.spandrel.supports_half:
            raise CommunityError(f"{cm.name}: spandrel marks {cm.arch} as not working in "
                                 "float16; export it in float32")
        return _Float16Body(model).eval()
    return model


def export_with(cm: CommunityModel, strategy: Strategy, opset: int = DEFAULT_OPSET,
                fp16: bool = False) -> tuple[onnx.ModelProto, float, list[str]]:
    """One candidate: (proto, parity max abs against the float32 PyTorch model, shapes).
    Raises whatever the exporter raises."""
    body = _body(cm, fp16)
    proto = _export_proto(body, cm.spandrel.input_channels, cm.size, strategy, opset)
    _name_dims(proto, cm.scale, strategy)
    err, words = parity(proto, cm.reference, cm.spandrel.input_channels,
                        parity_shapes(cm.size, strategy.fixed, batch=strategy.batch))
    return proto, err, words


def export_community(cm: CommunityModel, path: str | Path, *, opset: int = DEFAULT_OPSET,
                     strategy: Strategy | None = None, fp16: bool = False,
                     log: Callable[[str], None] | None = None) -> CommunityExport:
    """Export `cm` to `path` (self-contained, card and descriptor in its metadata).

    Without `strategy`, the candidates (`candidates`) are tried in order and the first whose
    ONNX Runtime output matches spandrel's PyTorch model within EXPORT_TOLERANCE at the
    `parity_shapes` is written; `log` hears why each earlier one was rejected. Raises
    CommunityError when none matches.
    """
    path = Path(path)
    precision = "float16" if fp16 else "float32"
    tol = EXPORT_TOLERANCE[precision]
    tries: list[str] = []
    chosen = None
    for cand in [strategy] if strategy else candidates(cm):
        label = cand.label(cm.size)
        try:
            proto, err, words = export_with(cm, cand, opset, fp16)
        except CommunityError:
            raise
        except Exception as exc:  # noqa: BLE001 - exporters raise many types
            tries.append(f"{label}: export failed: {_first_line(exc)}")
        else:
            if err <= tol:
                chosen = (cand, proto, err, words)
                break
            tries.append(f"{label}: parity {err:.2e} > {tol:g} at {', '.join(words)}")
        if log:
            log(tries[-1])
    if chosen is None:
        raise CommunityError(f"{cm.name}: no export of {cm.arch} matches spandrel's PyTorch "
                             f"model: {'; '.join(tries)}")
    cand, proto, err, words = chosen
    descriptor = make_descriptor(cm, measure_receptive_field(cm), cand.fixed, cand.batch)
    card = community_card(cm, strategy=cand, parity_max_abs=float(f"{err:.3g}"),
                          parity_sizes=words)
    if fp16:
        card["precision"] = "float16"
    write_model(proto, path, card=card, descriptor=descriptor)
    return CommunityExport(path, card, descriptor, cand, tries)


# -- verification ------------------------------------------------------------------------------


def is_community_card(card: dict[str, Any]) -> bool:
    """True for the card of a model exported through spandrel."""
    source = card.get("source")
    return isinstance(source, dict) and str(source.get("loader", "")).startswith("spandrel")


def verify_cases(descriptor: ModelDescriptor, seed: int = 0, large: int = 128
                 ) -> list[tuple[str, np.ndarray]]:
    """Random float32 inputs for `sronnx verify` of a spandrel export: sizes its rule takes,
    unlike the export's dummy (odd multiples, a batch of 2 unless the file fixes its batch,
    the smallest, a larger one)."""
    rng = np.random.default_rng(seed)
    c = descriptor.in_channels
    shapes = parity_shapes(descriptor.size, descriptor.fixed_size,
                           large=0 if descriptor.fixed_size else large, batch=descriptor.batch)
    if not descriptor.fixed_size:
        low = descriptor.size.minimum
        ph, pw = descriptor.size.get_padding(low, low)
        shapes.insert(2, (descriptor.batch or 1, low + ph, low + pw))
    return [(f"random {n}x{c}x{h}x{w}", rng.random((n, c, h, w), dtype=np.float32))
            for n, h, w in shapes]


def reference_input(descriptor: ModelDescriptor, seed: int = 1) -> np.ndarray:
    """A small input for onnx.reference: 1 x C x (the smallest size the rule takes, at
    least 6 x 7), or the fixed size."""
    rng = np.random.default_rng(seed)
    if descriptor.fixed_size:
        h, w = descriptor.fixed_size
    else:
        h, w = max(6, descriptor.size.minimum), max(7, descriptor.size.minimum)
        ph, pw = descriptor.size.get_padding(h, w)
        h, w = h + ph, w + pw
    return rng.random((1, descriptor.in_channels, h, w), dtype=np.float32)


def model_from_onnx_weights(path: str | Path, card: dict[str, Any]) -> nn.Module:
    """spandrel's model rebuilt from the ONNX file's initializers (the dynamo exporter names
    them after the state dict's keys), trusted only when its weights hash to the card's
    `weights_sha256`; raises CommunityError otherwise."""
    name = Path(path).name
    proto = onnx.load(str(path))
    # constants the exporter made (e.g. "val_12", "scalar_tensor_default") are not keys of
    # any state dict: module keys contain a dot
    state = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy())
             for i in proto.graph.initializer if "." in i.name and "::" not in i.name}
    try:
        desc = model_from_state_dict(state, name)
    except CommunityError as exc:
        raise CommunityError(f"{name}: cannot rebuild the PyTorch model from the file's weights "
                             f"({exc}); pass --checkpoint") from exc
    if weights_sha256(desc.model) != card.get("weights_sha256"):
        raise CommunityError(f"{name}: the weights rebuilt from the file do not hash to the "
                             "card's weights_sha256; pass --checkpoint")
    return desc.model
