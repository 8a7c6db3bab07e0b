"""What more than one test file uses, in one module: `from helpers import ...` (tests/ is on
sys.path through conftest.py's folder). No test file imports another test file.

- paths: ROOT (the checkout), SHARED and DATA (the shared data sets, `data_dir`), MODELS (the
  shipped models), CI (true under CI=true: missing tooling fails instead of skipping);
- the command: CLI (`sronnx` in a subprocess), BLOCK_TORCH, `cli` / `checked_cli` (`sronnx
  upscale` in-process), `no_traceback`, `errors`, `invoke` (any command), `bench`,
  `train_args`, RSP (a tiny architecture; untrained it is exact bicubic);
- images: `photo` (a Set5 crop), `save`, `read16`, `huge_png`, `uint8_array`, and animations:
  `frames_rgb`, `save_animation`, `durations_of`;
- models made elsewhere: variants of an sronnx ONNX model, edited with `onnx.helper` (the
  section at the end; `import helpers as fm`).

conftest.py builds its fixtures on these (the shared data, `exported_models`, `model`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import png
import pytest
from click.testing import CliRunner, Result
from PIL import Image, ImageSequence

# --------------------------------------------------------------------------------------------
# Paths

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
MODELS = ROOT / "sronnx" / "models"
CI = os.environ.get("CI") == "true"


def data_dir(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.is_dir():
        pytest.skip(f"shared data not available: {path}")
    return path


# --------------------------------------------------------------------------------------------
# The command

RSP = "rsp:channels=8,blocks=1"
CLI = [sys.executable, "-c", "import sys; from sronnx.cli import main; sys.exit(main())"]
BLOCK_TORCH = 'import sys; sys.modules["torch"] = None; sys.modules["onnx"] = None\n'


def cli(*args: object) -> Result:
    """`sronnx upscale ARGS` in-process (click's runner); the result, unchecked."""
    from sronnx.cli import main

    return CliRunner().invoke(main, ["upscale", *map(str, args)])



def completed(*args: object) -> subprocess.CompletedProcess:
    """`sronnx ARGS` in this process (click's runner), reported as a finished `python -m
    sronnx ARGS` would be (exit code, stdout, stderr), for commands whose cost is mostly the
    import of torch: paid once here, not once per process. An exception other than SystemExit
    (what would be a traceback) is raised."""
    from sronnx.cli import main

    r = CliRunner().invoke(main, [str(a) for a in args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return subprocess.CompletedProcess([str(a) for a in args], r.exit_code, r.stdout,
                                       r.stderr)

def no_traceback(r: Result) -> None:
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception


def checked_cli(*args: object) -> Result:
    """`sronnx upscale ARGS` in-process; no traceback, no exception but SystemExit."""
    from sronnx.cli import main

    r = CliRunner().invoke(main, ["upscale", *map(str, args)])
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r


def errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error: ")]


def invoke(*args: str) -> tuple[int, str]:
    """`sronnx ARGS` in-process: (exit code, output)."""
    from sronnx.cli import main

    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


def bench(*args: str) -> tuple[int, str, str]:
    """`sronnx bench ARGS` in-process: (exit code, stdout, stderr); an exception other than
    SystemExit is raised."""
    from sronnx.cli import main

    result = CliRunner().invoke(main, ["bench", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    """`sronnx train` of the tiny RSP at x2 on `data` into `out`: a few quick steps."""
    return ["train", "--arch", RSP, "--scale", "2", "--data", str(data), "--out", str(out),
            "--batch", "4", "--patch", "16", "--val-every", "2", "--threads", "1", "--quiet",
            *extra]


# --------------------------------------------------------------------------------------------
# Images


def photo(h: int = 40, w: int = 56, name: str = "bird.png") -> np.ndarray:
    """A crop of a real image (Set5), so the tests see photo-like content."""
    img = Image.open(data_dir("test", "Set5") / name).convert("RGB")
    return np.asarray(img)[:h, :w].copy()


def save(path: Path, img: Image.Image | np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (img if isinstance(img, Image.Image) else Image.fromarray(img)).save(path, **kw)
    return path


def read16(path: Path) -> np.ndarray:
    w, h, rows, info = png.Reader(filename=str(path)).asDirect()
    arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows])
    return arr.reshape(h, w, info["planes"])


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(path: Path, side: int = 100_000) -> None:
    """A 60-byte PNG whose header declares side x side RGB pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
                     + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def uint8_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.uint8)


def frames_rgb(n: int = 3, h: int = 20, w: int = 28) -> list[np.ndarray]:
    """`n` clearly different HxWx3 uint8 frames: a gradient and a square that moves."""
    yy, xx = np.mgrid[:h, :w]
    out = []
    for k in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[..., 0] = 30 + 60 * k
        f[..., 1] = (xx * 255 // (w - 1)).astype(np.uint8)
        f[..., 2] = (yy * 255 // (h - 1)).astype(np.uint8)
        f[4:10, 4 + 5 * k : 10 + 5 * k] = (250, 250, 40)
        out.append(f)
    return out


def save_animation(path: Path, frames: list[np.ndarray], **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    imgs = [Image.fromarray(f) for f in frames]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], **kw)
    return path


def durations_of(path: Path) -> list[float]:
    with Image.open(path) as im:
        out = []
        for f in ImageSequence.Iterator(im):
            f.load()
            out.append(f.info.get("duration"))
        return out


# --------------------------------------------------------------------------------------------
# Models "made elsewhere": variants of an sronnx ONNX model, edited with `onnx.helper`.
#
# Each function takes the path of an sronnx float32 ONNX model (input "input" N x 3 x H x W
# RGB in [0, 1], output "output" N x 3 x sH x sW) and an output path, writes a variant and
# returns the output path. Up to the conversion it states (value range, element type, channel
# order, layout, channel count), every variant computes exactly what the original computes:
# the original graph is kept node for node and only wrapped by a few conversion nodes. The
# variants keep the opset and IR version of the original and pass
# `onnx.checker.check_model(full_check=True)`.
#
# Three functions (`not_image_model`, `two_inputs`, `int32_input`) build small models from
# nothing: valid ONNX files that are not super-resolution models at all.
#
# No torch: only `onnx` (imported when a model is first made: the base install has none) and
# `numpy`.


class _Lazy:
    """`module` (or its attribute `attr`), imported when one of its attributes is first used."""

    def __init__(self, module: str, attr: str | None = None) -> None:
        self._module, self._attr = module, attr

    def __getattr__(self, name: str):
        target = importlib.import_module(self._module)
        if self._attr is not None:
            target = getattr(target, self._attr)
        return getattr(target, name)


onnx = _Lazy("onnx")
helper = _Lazy("onnx.helper")
numpy_helper = _Lazy("onnx.numpy_helper")
TensorProto = _Lazy("onnx", "TensorProto")

DESCRIPTOR_KEY = "sronnx.descriptor"
PRODUCER = "elsewhere"
# The opset and IR version of the models built from nothing (those of sronnx's exports).
DEFAULT_OPSET = 18
DEFAULT_IR_VERSION = 10
# Names of the original graph's input and output once a variant wraps it.
_INNER_IN = "elsewhere_inner_input"
_INNER_OUT = "elsewhere_inner_output"

Dim = int | str


# --------------------------------------------------------------------------------------------
# Helpers


def _load(src: str | Path) -> onnx.ModelProto:
    """The model at `src`, checked to be the single-input, single-output kind sronnx makes."""
    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ValueError(f"{src}: expected one input and one output, got "
                         f"{len(inputs)} and {len(graph.output)}")
    return model


def _opset(model: onnx.ModelProto) -> int:
    """The default-domain opset the model imports."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    raise ValueError("model imports no default-domain opset")


def _input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    """The model's one real (non-initializer) graph input."""
    inits = {i.name for i in model.graph.initializer}
    return next(i for i in model.graph.input if i.name not in inits)


def _dims(value: onnx.ValueInfoProto) -> list[Dim]:
    """The dims of a tensor value: an int where fixed, its name (or "?") where not."""
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value.type.tensor_type.shape.dim]


def _set_dims(value: onnx.ValueInfoProto, dims: Sequence[Dim]) -> None:
    """Replace the shape of a tensor value in place."""
    shape = value.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = int(d)


def _descriptor(model: onnx.ModelProto) -> dict | None:
    """The sronnx descriptor in the model's metadata, or None."""
    for prop in model.metadata_props:
        if prop.key == DESCRIPTOR_KEY:
            return json.loads(prop.value)
    return None


def scale_of(model: onnx.ModelProto) -> int:
    """The model's scale: the descriptor's "scale", else read from the output's dim names
    ("2*height") or fixed sizes."""
    desc = _descriptor(model)
    if desc and desc.get("scale"):
        return int(desc["scale"])
    in_dims, out_dims = _dims(_input(model)), _dims(model.graph.output[0])
    for i_dim, o_dim in zip(in_dims[2:], out_dims[2:], strict=False):
        if isinstance(i_dim, int) and isinstance(o_dim, int) and i_dim and o_dim % i_dim == 0:
            return o_dim // i_dim
        if isinstance(o_dim, str):
            match = re.fullmatch(r"\s*(\d+)\s*\*\s*(.+?)\s*", o_dim)
            if match and match.group(2) == i_dim:
                return int(match.group(1))
    raise ValueError("cannot tell the model's scale (no descriptor, no telling dim names)")


def _strip(model: onnx.ModelProto) -> None:
    """Remove every trace of sronnx: metadata, producer and doc strings."""
    del model.metadata_props[:]
    model.producer_name = PRODUCER
    model.producer_version = ""
    model.doc_string = ""
    model.graph.doc_string = ""


def _drop_intermediate_shapes(model: onnx.ModelProto) -> None:
    """Drop the value_info of intermediate tensors (stale once the I/O shapes change;
    shape inference recomputes them)."""
    inits = {i.name for i in model.graph.initializer}
    keep = [v for v in model.graph.value_info if v.name in inits]
    del model.graph.value_info[:]
    model.graph.value_info.extend(keep)


def _save(model: onnx.ModelProto, dst: str | Path) -> Path:
    """Check the model strictly (full_check) and write it to `dst`."""
    onnx.checker.check_model(model, full_check=True)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return dst


def _const(name: str, values: Sequence[float] | Sequence[int] | float | int,
           dtype: type = np.float32) -> onnx.TensorProto:
    """An initializer holding `values` (a scalar when a number is given)."""
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name=name)


def _node(op: str, inputs: Sequence[str], outputs: Sequence[str], **attrs) -> onnx.NodeProto:
    """A node named after its first output, so names never clash with the original's."""
    return helper.make_node(op, list(inputs), list(outputs), name=f"elsewhere_{outputs[0]}",
                            **attrs)


def _tensor(name: str, elem_type: int, dims: Sequence[Dim]) -> onnx.ValueInfoProto:
    """A tensor value with the given element type and dims."""
    return helper.make_tensor_value_info(name, elem_type, list(dims))


def _wrap(model: onnx.ModelProto, *, new_input: onnx.ValueInfoProto,
          new_output: onnx.ValueInfoProto, pre: Sequence[onnx.NodeProto],
          post: Sequence[onnx.NodeProto],
          initializers: Sequence[onnx.TensorProto] = ()) -> None:
    """Wrap the original graph in place: `pre` maps `new_input` to the original's input
    (named `_INNER_IN`), `post` maps the original's output (`_INNER_OUT`) to `new_output`.
    Metadata, producer and doc strings are removed (a wrapped model is no sronnx model)."""
    graph = model.graph
    old_in, old_out = _input(model).name, graph.output[0].name
    rename = {old_in: _INNER_IN, old_out: _INNER_OUT}
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name)
        for i, name in enumerate(node.output):
            node.output[i] = rename.get(name, name)
    nodes = list(pre) + list(graph.node) + list(post)
    del graph.node[:]
    graph.node.extend(nodes)
    others = [i for i in graph.input if i.name != old_in]
    del graph.input[:]
    graph.input.extend([new_input, *others])
    del graph.output[:]
    graph.output.append(new_output)
    graph.initializer.extend(initializers)
    _drop_intermediate_shapes(model)
    _strip(model)


def _io(model: onnx.ModelProto) -> tuple[str, str, list[Dim], list[Dim]]:
    """(input name, output name, input dims, output dims) of the original."""
    return (_input(model).name, model.graph.output[0].name, _dims(_input(model)),
            _dims(model.graph.output[0]))


def _blank_model(nodes: Sequence[onnx.NodeProto], inputs: Sequence[onnx.ValueInfoProto],
                 outputs: Sequence[onnx.ValueInfoProto], name: str,
                 initializers: Sequence[onnx.TensorProto] = (),
                 opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """A model built from nothing, by producer "elsewhere"."""
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs),
                              initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name=PRODUCER)
    model.ir_version = DEFAULT_IR_VERSION
    return model


# --------------------------------------------------------------------------------------------
# Variants that keep the graph and change only its description


def strip_metadata(src: str | Path, dst: str | Path) -> Path:
    """The same graph with no metadata_props at all, producer "elsewhere", no doc_string."""
    model = _load(src)
    _strip(model)
    return _save(model, dst)


def renamed(src: str | Path, dst: str | Path, input_name: str = "lr",
            output_name: str = "sr") -> Path:
    """The same model (metadata kept) with its input and output renamed."""
    model = _load(src)
    graph = model.graph
    old_in, old_out = _input(model).name, graph.output[0].name
    rename = {old_in: input_name, old_out: output_name}
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name)
        for i, name in enumerate(node.output):
            node.output[i] = rename.get(name, name)
    _input(model).name = input_name
    graph.output[0].name = output_name
    return _save(model, dst)


def fixed_size(src: str | Path, dst: str | Path, height: int = 64, width: int = 64,
               batch: int = 1, keep_metadata: bool = False) -> Path:
    """Input fixed to batch x C x height x width, output to batch x C x sH x sW: ONNX Runtime
    rejects other sizes. With `keep_metadata` the metadata is kept unchanged (the descriptor
    then still says "fixed_size": null, as a careless converter would leave it); otherwise
    there is none."""
    model = _load(src)
    scale = scale_of(model)
    _, _, in_dims, out_dims = _io(model)
    _set_dims(_input(model), [batch, in_dims[1], height, width])
    _set_dims(model.graph.output[0], [batch, out_dims[1], scale * height, scale * width])
    _drop_intermediate_shapes(model)
    if not keep_metadata:
        _strip(model)
    return _save(model, dst)


def fixed_batch(src: str | Path, dst: str | Path, batch: int = 1) -> Path:
    """The batch dim fixed (to 1 by default) in input and output; height and width dynamic.
    Metadata kept."""
    model = _load(src)
    _, _, in_dims, out_dims = _io(model)
    _set_dims(_input(model), [batch, *in_dims[1:]])
    _set_dims(model.graph.output[0], [batch, *out_dims[1:]])
    _drop_intermediate_shapes(model)
    return _save(model, dst)


# --------------------------------------------------------------------------------------------
# Variants that convert the input and output


def float16_io(src: str | Path, dst: str | Path) -> Path:
    """Input and output float16: Cast to float32 after the input, Cast to float16 before the
    output. No metadata."""
    model = _load(src)
    in_name, out_name, in_dims, out_dims = _io(model)
    _wrap(model,
          new_input=_tensor(in_name, TensorProto.FLOAT16, in_dims),
          new_output=_tensor(out_name, TensorProto.FLOAT16, out_dims),
          pre=[_node("Cast", [in_name], [_INNER_IN], to=TensorProto.FLOAT)],
          post=[_node("Cast", [_INNER_OUT], [out_name], to=TensorProto.FLOAT16)])
    return _save(model, dst)


def uint8_io(src: str | Path, dst: str | Path) -> Path:
    """Input uint8 0..255 (Cast, Div by 255); output uint8 (Mul by 255, Round half to even,
    Clip to 0..255, Cast). No metadata."""
    model = _load(src)
    in_name, out_name, in_dims, out_dims = _io(model)
    _wrap(model,
          new_input=_tensor(in_name, TensorProto.UINT8, in_dims),
          new_output=_tensor(out_name, TensorProto.UINT8, out_dims),
          pre=[_node("Cast", [in_name], ["elsewhere_in_float"], to=TensorProto.FLOAT),
               _node("Div", ["elsewhere_in_float", "elsewhere_255"], [_INNER_IN])],
          post=[_node("Mul", [_INNER_OUT, "elsewhere_255"], ["elsewhere_out_255"]),
                _node("Round", ["elsewhere_out_255"], ["elsewhere_out_round"]),
                _node("Clip", ["elsewhere_out_round", "elsewhere_0", "elsewhere_255"],
                      ["elsewhere_out_clip"]),
                _node("Cast", ["elsewhere_out_clip"], [out_name], to=TensorProto.UINT8)],
          initializers=[_const("elsewhere_255", 255.0), _const("elsewhere_0", 0.0)])
    return _save(model, dst)


def range_255(src: str | Path, dst: str | Path, with_descriptor: bool = True) -> Path:
    """Float32 input and output in [0, 255]: Mul by 1/255 after the input, Mul by 255 before
    the output. With `with_descriptor`, the metadata holds only the original's descriptor
    with "value_range": [0.0, 255.0] (its other keys kept); otherwise there is no metadata."""
    model = _load(src)
    desc = _descriptor(model)
    in_name, out_name, in_dims, out_dims = _io(model)
    _wrap(model,
          new_input=_tensor(in_name, TensorProto.FLOAT, in_dims),
          new_output=_tensor(out_name, TensorProto.FLOAT, out_dims),
          pre=[_node("Mul", [in_name, "elsewhere_inv255"], [_INNER_IN])],
          post=[_node("Mul", [_INNER_OUT, "elsewhere_255"], [out_name])],
          initializers=[_const("elsewhere_inv255", 1.0 / 255.0),
                        _const("elsewhere_255", 255.0)])
    if with_descriptor:
        if desc is None:
            raise ValueError(f"{src}: no {DESCRIPTOR_KEY} metadata to copy")
        desc["value_range"] = [0.0, 255.0]
        helper.set_model_props(model, {DESCRIPTOR_KEY: json.dumps(desc)})
    return _save(model, dst)


def luma(src: str | Path, dst: str | Path) -> Path:
    """Input N x 1 x H x W (Y) replicated to 3 channels (Concat), through the graph, output
    the channel mean (ReduceMean over axis 1, keepdims) N x 1 x sH x sW. No metadata. For a
    grey image this equals the RGB model's output (up to the mean's rounding)."""
    model = _load(src)
    in_name, out_name, in_dims, out_dims = _io(model)
    opset = _opset(model)
    channels = int(in_dims[1]) if isinstance(in_dims[1], int) else 3
    if opset >= 18:
        mean = _node("ReduceMean", [_INNER_OUT, "elsewhere_axis1"], [out_name], keepdims=1)
        inits = [_const("elsewhere_axis1", [1], np.int64)]
    else:
        mean = _node("ReduceMean", [_INNER_OUT], [out_name], axes=[1], keepdims=1)
        inits = []
    _wrap(model,
          new_input=_tensor(in_name, TensorProto.FLOAT, [in_dims[0], 1, *in_dims[2:]]),
          new_output=_tensor(out_name, TensorProto.FLOAT, [out_dims[0], 1, *out_dims[2:]]),
          pre=[_node("Concat", [in_name] * channels, [_INNER_IN], axis=1)],
          post=[mean],
          initializers=inits)
    return _save(model, dst)


def bgr(src: str | Path, dst: str | Path) -> Path:
    """Input and output in BGR order: channels reversed (Gather on axis 1) before and after
    the graph. No metadata."""
    model = _load(src)
    in_name, out_name, in_dims, out_dims = _io(model)
    _wrap(model,
          new_input=_tensor(in_name, TensorProto.FLOAT, in_dims),
          new_output=_tensor(out_name, TensorProto.FLOAT, out_dims),
          pre=[_node("Gather", [in_name, "elsewhere_reverse"], [_INNER_IN], axis=1)],
          post=[_node("Gather", [_INNER_OUT, "elsewhere_reverse"], [out_name], axis=1)],
          initializers=[_const("elsewhere_reverse", [2, 1, 0], np.int64)])
    return _save(model, dst)


def nhwc(src: str | Path, dst: str | Path) -> Path:
    """Input N x H x W x 3 and output N x sH x sW x 3 (Transpose before and after the graph).
    No metadata."""
    model = _load(src)
    in_name, out_name, in_dims, out_dims = _io(model)
    to_nhwc = [0, 2, 3, 1]
    _wrap(model,
          new_input=_tensor(in_name, TensorProto.FLOAT, [in_dims[i] for i in to_nhwc]),
          new_output=_tensor(out_name, TensorProto.FLOAT, [out_dims[i] for i in to_nhwc]),
          pre=[_node("Transpose", [in_name], [_INNER_IN], perm=[0, 3, 1, 2])],
          post=[_node("Transpose", [_INNER_OUT], [out_name], perm=to_nhwc)])
    return _save(model, dst)


def rgba(src: str | Path, dst: str | Path) -> Path:
    """Input N x 4 x H x W: RGB (channels 0..2, Slice) through the graph, alpha (channel 3)
    upscaled by the scale with Resize (nearest: each pixel repeated s x s times), output
    N x 4 x sH x sW (Concat). No metadata."""
    model = _load(src)
    scale = scale_of(model)
    in_name, out_name, in_dims, out_dims = _io(model)
    _wrap(model,
          new_input=_tensor(in_name, TensorProto.FLOAT, [in_dims[0], 4, *in_dims[2:]]),
          new_output=_tensor(out_name, TensorProto.FLOAT, [out_dims[0], 4, *out_dims[2:]]),
          pre=[_node("Slice", [in_name, "elsewhere_0", "elsewhere_3", "elsewhere_axis1"],
                     [_INNER_IN]),
               _node("Slice", [in_name, "elsewhere_3", "elsewhere_4", "elsewhere_axis1"],
                     ["elsewhere_alpha"])],
          post=[_node("Resize", ["elsewhere_alpha", "", "elsewhere_scales"],
                      ["elsewhere_alpha_up"], mode="nearest",
                      coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
                _node("Concat", [_INNER_OUT, "elsewhere_alpha_up"], [out_name], axis=1)],
          initializers=[_const("elsewhere_0", [0], np.int64),
                        _const("elsewhere_3", [3], np.int64),
                        _const("elsewhere_4", [4], np.int64),
                        _const("elsewhere_axis1", [1], np.int64),
                        _const("elsewhere_scales", [1.0, 1.0, scale, scale])])
    return _save(model, dst)


def multiple_of(src: str | Path, dst: str | Path, m: int = 8) -> Path:
    """A model that takes only H and W that are multiples of `m`: SpaceToDepth(m) then
    DepthToSpace(m, mode DCR) before the graph (an identity that fails at other sizes).
    No metadata."""
    model = _load(src)
    in_name, out_name, in_dims, out_dims = _io(model)
    _wrap(model,
          new_input=_tensor(in_name, TensorProto.FLOAT, in_dims),
          new_output=_tensor(out_name, TensorProto.FLOAT, out_dims),
          pre=[_node("SpaceToDepth", [in_name], ["elsewhere_blocks"], blocksize=m),
               _node("DepthToSpace", ["elsewhere_blocks"], [_INNER_IN], blocksize=m,
                     mode="DCR")],
          post=[_node("Identity", [_INNER_OUT], [out_name])])
    return _save(model, dst)


def not_a_multiple(src: str | Path, dst: str | Path) -> Path:
    """The output cropped by its last row (Slice), so that its height (sH - 1) is not a
    multiple of the input's. No metadata."""
    model = _load(src)
    in_name, out_name, in_dims, out_dims = _io(model)
    height = out_dims[2]
    cropped: Dim = height - 1 if isinstance(height, int) else f"{height}-1"
    _wrap(model,
          new_input=_tensor(in_name, TensorProto.FLOAT, in_dims),
          new_output=_tensor(out_name, TensorProto.FLOAT,
                             [out_dims[0], out_dims[1], cropped, out_dims[3]]),
          pre=[_node("Identity", [in_name], [_INNER_IN])],
          post=[_node("Slice", [_INNER_OUT, "elsewhere_0", "elsewhere_minus1",
                                "elsewhere_axis2"], [out_name])],
          initializers=[_const("elsewhere_0", [0], np.int64),
                        _const("elsewhere_minus1", [-1], np.int64),
                        _const("elsewhere_axis2", [2], np.int64)])
    return _save(model, dst)


# --------------------------------------------------------------------------------------------
# Models built from nothing that are not super-resolution models


def not_image_model(dst: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """A valid model that is not an image model: input N x 3 x H x W float32, output the
    per-channel mean (GlobalAveragePool, Flatten) N x 3, rank 2."""
    model = _blank_model(
        [_node("GlobalAveragePool", ["input"], ["pooled"]),
         _node("Flatten", ["pooled"], ["output"], axis=1)],
        [_tensor("input", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [_tensor("output", TensorProto.FLOAT, ["batch", 3])],
        "channel_means", opset=opset)
    return _save(model, dst)


def two_inputs(dst: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """A valid model with two float32 inputs "a" and "b", N x 3 x H x W, and one output,
    their sum."""
    dims: list[Dim] = ["batch", 3, "height", "width"]
    model = _blank_model(
        [_node("Add", ["a", "b"], ["output"])],
        [_tensor("a", TensorProto.FLOAT, dims), _tensor("b", TensorProto.FLOAT, dims)],
        [_tensor("output", TensorProto.FLOAT, dims)],
        "two_inputs", opset=opset)
    return _save(model, dst)


def int32_input(dst: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """A model with an int32 N x 3 x H x W input, output the same values as float32 (Cast,
    Identity)."""
    dims: list[Dim] = ["batch", 3, "height", "width"]
    model = _blank_model(
        [_node("Cast", ["input"], ["as_float"], to=TensorProto.FLOAT),
         _node("Identity", ["as_float"], ["output"])],
        [_tensor("input", TensorProto.INT32, dims)],
        [_tensor("output", TensorProto.FLOAT, dims)],
        "int32_input", opset=opset)
    return _save(model, dst)


# All variants of an existing model, by name (each `f(src, dst) -> dst`).
VARIANTS = {
    f.__name__: f
    for f in (strip_metadata, renamed, fixed_size, fixed_batch, float16_io, uint8_io,
              range_255, luma, bgr, nhwc, rgba, multiple_of, not_a_multiple)
}
# The models built from nothing, by name (each `f(dst) -> dst`).
STANDALONE = {f.__name__: f for f in (not_image_model, two_inputs, int32_input)}


@dataclasses.dataclass(frozen=True)
class Clip:
    """What `make_clip` puts in a clip (see there)."""

    frames: int = 4
    size: tuple[int, int] = (64, 48)
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    pts: Sequence[int] | None = None
    time_base: tuple[int, int] = (1, 1000)
    audio: bool = False
    subtitles: bool = False
    rotation: int = 0
    metadata: dict[str, str] | None = None
    colour: dict[str, int] | None = None
    gop: int | None = None  # frames between keyframes (the encoder's default: None)


def make_clip(path: Path, **spec: object) -> Path:
    """A small real clip made with PyAV (no mocks), as `Clip(**spec)` says: `frames` frames
    of a moving photo crop at `size`, timestamps `pts` in `time_base` (default: one every 40
    ms), optionally an AAC audio track, a subtitle stream (mov_text in MP4/MOV, SubRip
    elsewhere), a rotation (display matrix), container metadata and a colour description
    (codec context fields), a keyframe every `gop` frames."""
    c = Clip(**spec)  # type: ignore[arg-type]
    frames, size, codec, pix_fmt, pts = c.frames, c.size, c.codec, c.pix_fmt, c.pts
    time_base, audio, subtitles, rotation = c.time_base, c.audio, c.subtitles, c.rotation
    metadata, colour = c.metadata, c.colour
    from fractions import Fraction

    import av

    w, h = size
    tb = Fraction(*time_base)
    pts = list(pts) if pts is not None else [round(i * Fraction(40, 1000) / tb)
                                             for i in range(frames)]
    src = photo(h + 8 * frames, w + 8 * frames)
    mp4 = path.suffix.lower() in (".mp4", ".mov", ".m4v")
    with av.open(str(path), "w") as out:
        out.metadata.update(metadata or {})
        vs = out.add_stream(codec)
        cc = vs.codec_context
        cc.width, cc.height, cc.pix_fmt, cc.time_base = w, h, pix_fmt, tb
        cc.framerate = Fraction(25)
        if c.gop is not None:
            cc.gop_size = c.gop
        for key, value in (colour or {}).items():
            setattr(cc, key, value)
        if rotation:
            vs.set_display_rotation(rotation)
        aus = out.add_stream("aac", rate=8000) if audio else None
        subs = out.add_mux_stream("mov_text" if mp4 else "subrip") if subtitles else None
        if subs is not None:
            subs.time_base = Fraction(1, 1000)
            subs.metadata["language"] = "eng"
        deep = "10" in pix_fmt or "16" in pix_fmt
        room = max(min(src.shape[0] - h, src.shape[1] - w) + 1, 1)  # the photo is 288x288
        for i, t in enumerate(pts):
            o = i * 8 % room
            crop = src[o:o + h, o:o + w]
            arr = (crop.astype(np.uint16) * 257) if deep else crop
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr),
                                               format="rgb48le" if deep else "rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts, frame.time_base = t, tb
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if aus is not None:
            n = 8000 * (len(pts) + 1) // 25
            tone = (0.2 * np.sin(np.arange(n) * 0.05)).astype(np.float32)[None, :]
            layout = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            layout.sample_rate, layout.pts = 8000, 0
            out.mux(aus.encode(layout))
            out.mux(aus.encode(None))
        if subs is not None:
            for i, text in enumerate(("hello", "world")):
                data = text.encode()
                data = len(data).to_bytes(2, "big") + data if mp4 else data
                packet = av.Packet(data)
                packet.pts = packet.dts = i * 40
                packet.duration = 40
                packet.time_base = Fraction(1, 1000)
                packet.stream = subs
                out.mux(packet)
    return path


@contextlib.contextmanager
def local_ray_cluster() -> Iterator[str]:
    """A local Ray cluster of 2 CPUs (no dashboard, a 100 MiB object store) whose workers
    import this checkout; yields its address, and stops it at the end."""
    import ray

    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                         if p)}
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20,
             runtime_env={"env_vars": env}, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
