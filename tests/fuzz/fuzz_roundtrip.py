"""Fuzz target: a descriptor and card made from the input (atheris' FuzzedDataProvider),
written by `sronnx.export.onnx.write_model` into a small model, must come back from
`load_model` identical. A descriptor the dataclass refuses (ValueError at construction) is
skipped; a written file that does not load, or loads different, is a finding.

    python -m tests.fuzz.run roundtrip --seconds 60
"""

from __future__ import annotations

import math

import atheris

with atheris.instrument_imports(include=["sronnx"]):
    from sronnx.core.card import ModelCard, ModelFileError
    from sronnx.core.descriptor import ModelDescriptor, SizeRequirements
    from sronnx.export.onnx import write_model
    from sronnx.runtime.session import load_model

from tests.fuzz.common import SCRATCH, main, quiet_onnxruntime  # noqa: E402

_PROTOS: dict[int, bytes] = {}


def _proto(scale: int, layout: str = "NCHW"):
    """A float32 model of symbolic dims: nearest Resize by `scale` over H and W of `layout`
    (any channel count: it keeps what it gets, as the descriptor's in = out channels say)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    key = (scale, layout)
    if key not in _PROTOS:
        factors = [1, 1, scale, scale] if layout == "NCHW" else [1, scale, scale, 1]
        scales = numpy_helper.from_array(np.array(factors, np.float32), "scales")
        node = helper.make_node("Resize", ["input", "", "scales"], ["output"], mode="nearest")
        graph = helper.make_graph(
            [node], "g",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", "C", "H", "W"])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT,
                                           ["N", "C", "H2", "W2"])], [scales])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        model.ir_version = 8
        _PROTOS[key] = model.SerializeToString()
    return onnx.load_from_string(_PROTOS[key])


def _json_value(fdp: atheris.FuzzedDataProvider, depth: int = 0):
    kind = fdp.ConsumeIntInRange(0, 6 if depth < 2 else 4)
    if kind == 0:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 24))
    if kind == 1:
        return fdp.ConsumeInt(8)
    if kind == 2:
        value = fdp.ConsumeRegularFloat()
        return value if math.isfinite(value) else 0.0
    if kind == 3:
        return fdp.ConsumeBool()
    if kind == 4:
        return None
    if kind == 5:
        return [_json_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    return _json_dict(fdp, depth + 1)


def _json_dict(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> dict:
    return {fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12)):
            _json_value(fdp, depth) for _ in range(fdp.ConsumeIntInRange(0, 4))}


def _bounded(value: float) -> float:
    """A float the value range may use: finite, and |value| <= 1e30 (ranges near float32's
    limit overflow when pixels are scaled into them)."""
    return max(-1e30, min(1e30, value)) if math.isfinite(value) else 0.0


def descriptor_and_card(data: bytes) -> tuple[ModelDescriptor, dict] | None:
    """A descriptor (valid by construction, so that most inputs reach the round trip; what
    the dataclass refuses is skipped) and a card. The model written for it must keep the
    descriptor's word, since load's trial run checks the output: as many channels out as in,
    Resize over the layout's H and W, a value range float32 can hold."""
    fdp = atheris.FuzzedDataProvider(data)
    fixed = (fdp.ConsumeIntInRange(1, 4096), fdp.ConsumeIntInRange(1, 4096)) \
        if fdp.ConsumeBool() else None
    lo = _bounded(fdp.ConsumeRegularFloat()) if fdp.ConsumeBool() else 0.0
    hi = lo + (_bounded(fdp.ConsumeRegularFloat()) if fdp.ConsumeBool() else 255.0)
    channels = fdp.PickValueInList([1, 3, 4])
    try:
        d = ModelDescriptor(
            arch=fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 16)),
            scale=fdp.ConsumeIntInRange(1, 8), spec=_json_dict(fdp),
            in_channels=channels, out_channels=channels,
            value_range=(lo, hi),
            size_requirement="fixed" if fixed else "any", fixed_size=fixed,
            receptive_field=fdp.ConsumeIntInRange(1, 4096),
            tile_hint=fdp.ConsumeIntInRange(1, 8192),
            tile_multiple=fdp.ConsumeIntInRange(1, 64),
            size=SizeRequirements(fdp.ConsumeIntInRange(1, 512), fdp.ConsumeIntInRange(1, 64),
                                  fdp.ConsumeBool()),
            layout=fdp.PickValueInList(["NCHW", "NHWC"]),
            channel_order=fdp.PickValueInList(["RGB", "BGR"]),
            element_type="float32", batch=fdp.ConsumeIntInRange(0, 16),
            clamp=fdp.ConsumeBool())
    except ValueError:
        return None  # the descriptor refuses it (a range that does not rise): nothing to write
    return d, _json_dict(fdp)


def check(data: bytes) -> None:
    quiet_onnxruntime()
    made = descriptor_and_card(data)
    if made is None:
        return
    d, card = made
    path = SCRATCH / "roundtrip.onnx"
    write_model(_proto(d.scale, d.layout), path, card=card, descriptor=d)
    want = {"precision": "float32", **card}
    try:
        ModelCard.from_dict(want)
    except ModelFileError:  # a known key of the wrong type: the file must be refused too
        try:
            load_model(path, "cpu", threads=1)
        except ModelFileError:
            return
        raise AssertionError(f"a card the checks refuse was loaded: {want!r}") from None
    loaded = load_model(path, "cpu", threads=1)
    assert loaded.info.descriptor == d, f"descriptor {loaded.info.descriptor} != {d}"
    got = loaded.info.card.to_dict()
    assert got == want, f"card {got!r} != {want!r}"


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    check(data)


if __name__ == "__main__":
    main(TestOneInput)
