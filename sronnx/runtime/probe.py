"""What a model needs, found once when it is loaded: from its metadata, its session and a probe.

sronnx's own files carry a descriptor (`sronnx.descriptor`) in their metadata. A model made
elsewhere (chaiNNer, another project, a hand export) gets one here, from three sources in
this order of trust:
  session   what ONNX Runtime states: element type, rank, fixed dims (batch, channels, size);
  metadata  an `sronnx.descriptor` written by `sronnx export` or `sronnx describe`;
  options   what the user says (`--input-range 255`, `--bgr`): what no probe can tell;
  probe     small runs of the model: its scale (output size over input size), the size rule
            it enforces (the smallest multiple of 2 that it takes), its receptive field (how
            far from one changed input pixel the output changes).
`describe_model` returns the descriptor and, per field, where it came from (`sronnx info`
shows both). A model that cannot be run as an image model is refused with the reason
(`ModelFileError`), before any image is touched.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace

import numpy as np
import onnxruntime as ort

from sronnx.core import (
    CARD_KEY,
    METADATA_KEY,
    ModelCard,
    ModelDescriptor,
    ModelFileError,
    SizeRequirements,
    first_line,
)
from sronnx.runtime import adapter

# ONNX Runtime's type strings for the element types sronnx can feed and read
_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8"}
# probe input sides: at least this, for models that refuse tiny inputs (spandrel's minimums
# are 8 to 40 pixels); a second round starts from the larger one
_PROBE_SIDES = (17, 64)
_MULTIPLES = (1, 2, 4, 8, 16, 32, 64, 128)
# receptive field probe: input side, the change of the one pixel, and the output change that
# counts (any: outside its receptive field a convolution gives bit-identical output)
_RF_SIDE = 48
_RF_DELTA = 0.25
_RF_THRESHOLD = 0.0
# tile side (input pixels) suggested for models made elsewhere
FOREIGN_TILE_HINT = 256


@dataclass(frozen=True)
class Overrides:
    """What the user states about a model (`--input-range`, `--bgr`): facts a probe cannot
    find. None leaves a field to the metadata or the default. Metadata wins over nothing but
    an explicit option; an option that contradicts the session (element type, channels) is
    refused."""

    value_range: tuple[float, float] | None = None
    channel_order: str | None = None

    @property
    def empty(self) -> bool:
        return self.value_range is None and self.channel_order is None


def describe_model(session: ort.InferenceSession, path: str,
                   options: Overrides | None = None
                   ) -> tuple[ModelDescriptor, ModelCard, dict[str, str]]:
    """(descriptor, card, sources) of the model `session` runs; `path` names it in errors.

    sources maps descriptor fields to "metadata", "session", "option", "probe" or "default".
    Raises ModelFileError when the model cannot be run as an image model: not one input and
    one output, not rank 4, an element type other than float32 / float16 / uint8, a channel
    count other than 1, 3 or 4, an output that is not a whole multiple of the input, or a
    model that fails on every probe size."""
    options = options or Overrides()
    meta = _metadata(session, path)
    card = _card(meta, path)
    inp, out = _one_tensor(session.get_inputs(), "input", path), \
        _one_tensor(session.get_outputs(), "output", path)
    etype = _element_type(inp, "input", path)
    _element_type(out, "output", path)
    if len(inp.shape) != 4 or len(out.shape) != 4:
        raise ModelFileError(f"{path}: not an image model: input {inp.name} is rank "
                             f"{len(inp.shape)} and output {out.name} rank {len(out.shape)} "
                             "(sronnx runs N x C x H x W or N x H x W x C models)")
    sources: dict[str, str] = {}
    if METADATA_KEY in meta:
        try:
            d = ModelDescriptor.from_json(meta[METADATA_KEY])
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"{path}: unreadable sronnx metadata ({exc})") from exc
        sources = dict.fromkeys(("scale", "layout", "in_channels", "out_channels",
                                 "value_range", "channel_order", "size", "fixed_size",
                                 "receptive_field", "element_type", "batch"), "metadata")
        d = _with_session_facts(d, inp, out, etype, sources, path)
        d = _with_options(d, options, sources, path)
        return d, card, sources
    # a model made elsewhere: the session's facts, then probe runs
    layout = _layout(inp.shape, out.shape)
    sources["layout"] = "session" if layout else "default"
    layout = layout or "NCHW"
    ch_axis, h_axis, w_axis = (1, 2, 3) if layout == "NCHW" else (3, 1, 2)
    in_ch, out_ch = inp.shape[ch_axis], out.shape[ch_axis]
    fh, fw = inp.shape[h_axis], inp.shape[w_axis]
    fixed = (fh, fw) if _known(fh) and _known(fw) else None
    batch = inp.shape[0] if _known(inp.shape[0]) else 0
    for name, value in (("in_channels", in_ch), ("out_channels", out_ch)):
        if _known(value) and value not in (1, 3, 4):
            raise ModelFileError(f"{path}: not an image model sronnx can run: {value} "
                                 f"{name.replace('_', ' ')} (1 luma, 3 RGB or 4 RGBA)")
    sources.update(element_type="session", batch="session",
                   fixed_size="session" if fixed else "default")
    if name := producer(session):
        card = replace(card, producer=name)
    base = ModelDescriptor(
        arch="onnx", scale=1,
        in_channels=in_ch if _known(in_ch) else 3,
        out_channels=out_ch if _known(out_ch) else 3,
        value_range=(0.0, 255.0) if etype == "uint8" else (0.0, 1.0),
        size_requirement="fixed" if fixed else "any", fixed_size=fixed,
        tile_hint=FOREIGN_TILE_HINT, layout=layout, element_type=etype, batch=batch,
        clamp=False)
    sources["clamp"] = "default (a model made elsewhere runs unclamped)"
    sources["in_channels"] = "session" if _known(in_ch) else "default"
    sources["out_channels"] = "session" if _known(out_ch) else "default"
    sources["value_range"] = "session (uint8)" if etype == "uint8" else "default"
    sources["channel_order"] = "default"
    if _known(in_ch):
        base = _with_options(base, options, sources, path)
        d = _probe_scale_and_size(session, base, sources, path)
    else:  # a symbolic channel dim: RGB, else luma, else RGBA, whichever the model takes
        first: ModelFileError | None = None
        for channels in (3, 1, 4):
            try:
                trial = replace(base, in_channels=channels)
                trial = _with_options(trial, options, sources, path)
                d = _probe_scale_and_size(session, trial, sources, path)
                sources["in_channels"] = "probe"
                break
            except ModelFileError as exc:
                first = first or exc
        else:
            raise first
    d = _probe_receptive_field(session, d, sources)
    return d, card, sources


def _metadata(session: ort.InferenceSession, path: str) -> dict[str, str]:
    try:
        return dict(session.get_modelmeta().custom_metadata_map)
    except Exception as exc:  # noqa: BLE001 - e.g. UnicodeDecodeError from mangled metadata
        raise ModelFileError(f"{path}: unreadable metadata ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from exc


def _card(meta: dict[str, str], path: str) -> ModelCard:
    """The file's card, checked (`ModelCard.from_json`); an empty one when it has none."""
    if CARD_KEY not in meta:
        return ModelCard()
    try:
        return ModelCard.from_json(meta[CARD_KEY])
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: unreadable sronnx card metadata ({exc})") from exc


def producer(session: ort.InferenceSession) -> str:
    """The producer named in the file ("pytorch 2.1", "sronnx 0.1.0"), or ""."""
    try:
        return str(session.get_modelmeta().producer_name)[:80]
    except Exception:  # noqa: BLE001 - a mangled header names no producer
        return ""


def _one_tensor(tensors: list, kind: str, path: str):
    if len(tensors) != 1:
        names = ", ".join(t.name for t in tensors) or "none"
        raise ModelFileError(f"{path}: not an image model: {len(tensors)} {kind}s ({names}); "
                             f"sronnx runs models of one image {kind}")
    return tensors[0]


def _element_type(tensor, kind: str, path: str) -> str:
    etype = _TYPES.get(tensor.type)
    if etype is None:
        raise ModelFileError(f"{path}: {kind} {tensor.name} is {tensor.type}; sronnx feeds "
                             "float32, float16 or uint8 images")
    return etype


def _known(dim: object) -> bool:
    return isinstance(dim, int) and dim > 0


def _layout(in_shape: list, out_shape: list) -> str | None:
    """NCHW or NHWC from where a channel-sized dim (1, 3 or 4) sits; None when both or
    neither place holds one."""
    def channel_like(shape: list, axis: int) -> bool:
        return _known(shape[axis]) and shape[axis] in (1, 3, 4)

    first = channel_like(in_shape, 1) or channel_like(out_shape, 1)
    last = channel_like(in_shape, 3) or channel_like(out_shape, 3)
    if first != last:
        return "NCHW" if first else "NHWC"
    return None


def _with_session_facts(d: ModelDescriptor, inp, out, etype: str, sources: dict[str, str],
                        path: str) -> ModelDescriptor:
    """A metadata descriptor corrected by what the session states for certain: element type,
    fixed batch, fixed size, channels (a file edited after `sronnx export` keeps its old
    metadata)."""
    ch_axis, h_axis, w_axis = (1, 2, 3) if d.layout == "NCHW" else (3, 1, 2)
    changes: dict[str, object] = {}
    if etype != d.element_type:
        changes["element_type"] = etype
    if _known(inp.shape[0]) and inp.shape[0] != d.batch:
        changes["batch"] = inp.shape[0]
    for field, tensor in (("in_channels", inp), ("out_channels", out)):
        value = tensor.shape[ch_axis]
        if _known(value) and value != getattr(d, field):
            changes[field] = value
    fh, fw = inp.shape[h_axis], inp.shape[w_axis]
    if _known(fh) and _known(fw) and d.fixed_size != (fh, fw):
        changes.update(size_requirement="fixed", fixed_size=(fh, fw))
    for key in changes:
        sources[key] = "session"
    if "fixed_size" in changes:
        sources["size_requirement"] = "session"
    try:
        return replace(d, **changes) if changes else d
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc


def _with_options(d: ModelDescriptor, options: Overrides, sources: dict[str, str],
                  path: str) -> ModelDescriptor:
    changes: dict[str, object] = {}
    if options.value_range is not None:
        if d.element_type == "uint8" and tuple(options.value_range) != (0.0, 255.0):
            raise ModelFileError(f"{path}: a uint8 model takes 0..255; --input-range "
                                 f"{options.value_range[1]:g} does not apply")
        changes["value_range"] = tuple(options.value_range)
    if options.channel_order is not None:
        if d.in_channels == 1:
            raise ModelFileError(f"{path}: a one-channel (luma) model has no channel order; "
                                 "--bgr does not apply")
        changes["channel_order"] = options.channel_order
    for key in changes:
        sources[key] = "option"
    return replace(d, **changes) if changes else d


def _probe_input(n: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random float32 N x 3 x H x W RGB image in [0, 1] (the upscaler's form):
    random values every 4 pixels, bicubically interpolated, clipped."""
    from sronnx.imaging import bicubic_upscale_plane

    grid = rng.random((n, 3, h // 4 + 1, w // 4 + 1), dtype=np.float32)
    up = np.stack([[bicubic_upscale_plane(c, 4)[:h, :w] for c in img] for img in grid])
    return np.clip(up, 0.0, 1.0).astype(np.float32)


# One load-time run (a probe, the trial run) of a small image may take this long: a model
# file is untrusted, and a Loop that never ends would otherwise hang every command at load,
# deaf to Ctrl-C and SIGTERM while ONNX Runtime runs (found by review). Legitimate models
# take well under a second on these sizes; the slowest attention models a few seconds.
LOAD_RUN_SECONDS = 60.0


class RunTimeout(RuntimeError):
    """A load-time run did not finish in LOAD_RUN_SECONDS (ONNX Runtime stopped it). Not a
    ModelFileError: the probes pass it on untouched (it is not a size the model refuses, nor
    worth another try with other channels) and `load_model` refuses the file for it."""


def quiet_call(session: ort.InferenceSession, seconds: float | None = None):
    """session.run on one tensor, quiet (a probe size the model refuses is expected, and
    ONNX Runtime's own error line for it would only alarm the user) and stopped after
    `seconds` (default LOAD_RUN_SECONDS; RunOptions.terminate, set from a timer:
    RunTimeout)."""
    name, out = session.get_inputs()[0].name, session.get_outputs()[0].name
    seconds = LOAD_RUN_SECONDS if seconds is None else seconds

    def call(t: np.ndarray) -> np.ndarray:
        opts = ort.RunOptions()
        opts.log_severity_level = 4
        timer = threading.Timer(seconds, setattr, (opts, "terminate", True))
        timer.daemon = True
        timer.start()
        try:
            return session.run([out], {name: t}, opts)[0]
        except Exception as exc:
            if opts.terminate:
                shape = "x".join(str(v) for v in t.shape)
                raise RunTimeout(f"a run on a small input ({shape}) did not finish in "
                                 f"{seconds:g} s (a loop that never ends?)") from exc
            raise
        finally:
            timer.cancel()

    return call


def _probe_scale_and_size(session: ort.InferenceSession, d: ModelDescriptor,
                          sources: dict[str, str], path: str) -> ModelDescriptor:
    """The scale and the smallest size multiple, from runs at sizes that are odd multiples of
    1, 2, 4, ... (a model that needs multiples of 8 fails at 3x8 by 5x8 and runs at 3x16 by
    5x16 only if it needs 16, ...)."""
    rng = np.random.default_rng(0)
    call = quiet_call(session)
    tries: list[tuple[int, int, int, int]] = []  # (minimum, multiple, h, w)
    if d.fixed_size is not None:
        tries = [(1, 1, *d.fixed_size)]
    else:
        for k, side in enumerate(_PROBE_SIDES):
            for m in _MULTIPLES:
                odd = max(1, math.ceil(side / m)) | 1
                # a model that ran only from the second round needs at least its side
                tries.append((side if k else 1, m, m * odd, m * (odd + 2)))
    n = d.batch or 1
    last_error = ""
    for minimum, m, h, w in tries:
        x = _probe_input(n, h, w, rng)
        try:
            y = call(adapter.to_model(x, None, d))
        except RunTimeout:
            raise  # not a size the model refuses: the caller refuses the file
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types
            from sronnx.runtime.memory import memory_refusal

            if reason := memory_refusal(exc):
                raise ModelFileError(f"{path}: refused: on a {w}x{h} probe image "
                                     f"{reason}") from exc
            last_error = first_line(exc)
            continue
        scale = _scale_of(y, d, n, h, w, path)
        if not np.isfinite(np.asarray(y, dtype=np.float32)).all():
            raise ModelFileError(f"{path}: the model returns NaN or infinite values on a "
                                 f"smooth {w}x{h} probe image")
        size = SizeRequirements(minimum=minimum, multiple_of=m)
        sources.update(scale="probe", size="probe" if d.fixed_size is None else "session")
        out_ch = y.shape[1] if d.layout == "NCHW" else y.shape[3]
        if sources.get("out_channels") == "default":
            if out_ch not in (1, 3, 4):
                raise ModelFileError(f"{path}: not an image model sronnx can run: {out_ch} "
                                     "output channels (1 luma, 3 RGB or 4 RGBA)")
            d = replace(d, out_channels=out_ch)
            sources["out_channels"] = "probe"
        try:
            probed = replace(d, scale=scale, size=size)
            adapter.from_model(y, x, probed)  # the output is what the descriptor promises
        except ValueError as exc:
            raise ModelFileError(f"{path}: {exc}") from exc
        return probed
    raise ModelFileError(f"{path}: fails on every probe input (sizes from "
                         f"{tries[0][3]}x{tries[0][2]} to {tries[-1][3]}x{tries[-1][2]}): "
                         f"{last_error}")


def _scale_of(y: np.ndarray, d: ModelDescriptor, n: int, h: int, w: int, path: str) -> int:
    if y.ndim != 4:
        raise ModelFileError(f"{path}: not an image model: its output is rank {y.ndim}")
    oh, ow = (y.shape[2], y.shape[3]) if d.layout == "NCHW" else (y.shape[1], y.shape[2])
    if oh % h or ow % w or oh // h != ow // w or oh < h:
        raise ModelFileError(f"{path}: not a super-resolution model sronnx can run: a {w}x{h} "
                             f"input gives a {ow}x{oh} output, not a whole multiple of it")
    return oh // h


def _probe_receptive_field(session: ort.InferenceSession, d: ModelDescriptor,
                           sources: dict[str, str]) -> ModelDescriptor:
    """How far the output changes around one changed input pixel (its impulse response on a
    smooth random image), as a receptive field in input pixels: 2 * radius + 1, at most the
    probe's side (a model that sees further, e.g. attention over the whole input, is given
    the probe's side; its tiles then overlap by half of it)."""
    if d.fixed_size is not None:
        h, w = d.fixed_size
    else:
        side = max(_RF_SIDE, d.size.minimum)
        h = w = -(-side // d.size.multiple_of) * d.size.multiple_of
    rng = np.random.default_rng(1)
    x = _probe_input(1, h, w, rng)
    x2 = x.copy()
    cy, cx = h // 2, w // 2
    x2[:, :, cy, cx] = np.where(x[:, :, cy, cx] > 0.5, x[:, :, cy, cx] - _RF_DELTA,
                                x[:, :, cy, cx] + _RF_DELTA)
    call = quiet_call(session)
    try:
        ys = [adapter.run_model(call, v, d) for v in (x, x2)]
    except RunTimeout:
        raise
    except Exception:  # noqa: BLE001 - the scale probe ran; keep the default field
        return d
    diff = np.abs(ys[0] - ys[1]).max(axis=(0, 1))
    rows, cols = np.nonzero(diff > _RF_THRESHOLD)
    s = d.scale
    if rows.size == 0:
        radius = 0
    else:
        radius = int(max(np.abs(rows // s - cy).max(), np.abs(cols // s - cx).max()))
    rf = min(2 * radius + 1, max(h, w))
    sources["receptive_field"] = "probe"
    return replace(d, receptive_field=rf)
