"""Exact rewrites of a model's float32 output path that let ONNX Runtime's CPU provider fuse it.

A sub-pixel model ends in memory-bound work at full tensor size: the residual or skip
convolution, the Add of skip and detail, DepthToSpace and the final Clip. ONNX Runtime fuses a
Conv, a following Add and a clamp into one FusedConv (its `ConvAddActivationFusion`), which
writes the sum and the clamp while the convolution's results are still in registers, but only
when:

* the Clip comes right after the Add (here it comes after DepthToSpace: a Clip is element-wise
  and DepthToSpace only moves values, so the Clip can go first);
* the Conv has a bias input (the exporter drops an all-zero bias; a zero bias is given back);
* both Add inputs have recorded, equal 4-D shapes (symbolic shape inference records them);
* the Add does not read a DequantizeLinear through a Slice, which ONNX Runtime moves and so
  forgets the shape of (the Slice is put before the DequantizeLinear, on the quantized
  values: exact for a per-tensor scale).

Measured on this machine's CPU (bench/fusion.py, bench/results/fusion.txt), rsp-x3-int8 on a
640x360 input, one thread: the skip convolution, Add, Clip and DepthToSpace took 38 ms, the
fused convolution and DepthToSpace 23; the whole model is 1.06x as fast on one thread and on
two, and the 16 shipped files 0.99-1.12x. Every output is bit-identical:
`tools/refresh_models.py` checks that before it rewrites a shipped file, and the tests check it
on every rewritten model.
"""

from __future__ import annotations

import numpy as np
import onnx


def fusable_output_path(model: onnx.ModelProto) -> list[str]:
    """Rewrite `model` in place so that ONNX Runtime can fuse its output path (see the module
    docstring); the values it computes do not change. Returns one phrase per change made (an
    empty list when the model has no such path)."""
    changes = _clip_before_depth_to_space(model)
    add = _output_add(model)
    if add is not None:
        changes += _slice_before_dequantize(model, add)
        changes += _conv_add_ready(model, add)
    if changes:
        _sort_nodes(model)
    return changes


def _consumers(model: onnx.ModelProto, name: str) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if name in n.input]


def _producer(model: onnx.ModelProto, name: str) -> onnx.NodeProto | None:
    return next((n for n in model.graph.node if name in n.output), None)


def _constants(model: onnx.ModelProto) -> set[str]:
    return {t.name for t in model.graph.initializer}


def _clip_before_depth_to_space(model: onnx.ModelProto) -> list[str]:
    """DepthToSpace -> Clip(constant bounds) becomes Clip -> DepthToSpace, with the Clip's
    output name kept for the DepthToSpace's output."""
    changes = []
    constants = _constants(model)
    outputs = {o.name for o in model.graph.output}
    for d2s in [n for n in model.graph.node if n.op_type == "DepthToSpace"]:
        readers = _consumers(model, d2s.output[0])
        if len(readers) != 1 or readers[0].op_type != "Clip" or d2s.output[0] in outputs:
            continue
        clip = readers[0]
        if any(b and b not in constants for b in clip.input[1:]):
            continue
        final, moved = clip.output[0], f"{d2s.input[0]}_clipped"
        clip.input[0], clip.output[0] = d2s.input[0], moved
        d2s.input[0], d2s.output[0] = moved, final
        changes.append(f"{clip.name or 'Clip'} moved before {d2s.name or 'DepthToSpace'}")
    return changes


def _output_add(model: onnx.ModelProto) -> onnx.NodeProto | None:
    """The Add of two tensors, one of them a Conv's, that (through Clip and DepthToSpace only)
    makes the graph's output; None when there is none."""
    outputs = {o.name for o in model.graph.output}
    node = _producer(model, model.graph.output[0].name) if model.graph.output else None
    while node is not None and node.op_type in ("Clip", "DepthToSpace"):
        node = _producer(model, node.input[0])
    if node is None or node.op_type != "Add" or len(node.input) != 2 or \
            node.output[0] in outputs:
        return None
    if _skip_conv(model, node) is None:
        return None
    return node


def _skip_conv(model: onnx.ModelProto, add: onnx.NodeProto) -> onnx.NodeProto | None:
    """The Conv among `add`'s producers to fuse it into: float weights stored in the file, no
    fused activation, `add` its only reader, and of those the one with the fewest weights per
    output value (the skip, not the body's last convolution). Its few products are summed in
    one block before the Add's other input is added, as the unfused Add does, so the fused
    sum is bit-identical."""
    weights = {t.name: t for t in model.graph.initializer}
    convs = []
    for name in add.input:
        conv = _producer(model, name)
        if conv is not None and conv.op_type == "Conv" and conv.input[1] in weights and \
                _consumers(model, conv.output[0]) == [add] and \
                not any(a.name == "activation" for a in conv.attribute):
            convs.append(conv)
    return min(convs, key=lambda c: int(np.prod(weights[c.input[1]].dims[1:])), default=None)


def _slice_before_dequantize(model: onnx.ModelProto, add: onnx.NodeProto) -> list[str]:
    """An Add input made by Slice(DequantizeLinear(q)) becomes DequantizeLinear(Slice(q)):
    exact for a per-tensor scale and zero point, and what ONNX Runtime does itself, losing the
    tensor's shape on the way."""
    from onnx import numpy_helper

    constants = {t.name: t for t in model.graph.initializer}
    changes = []
    for name in add.input:
        cut = _producer(model, name)
        dq = _producer(model, cut.input[0]) if cut is not None and cut.op_type == "Slice" \
            else None
        if dq is None or dq.op_type != "DequantizeLinear" or \
                _consumers(model, dq.output[0]) != [cut] or \
                any(p not in constants or numpy_helper.to_array(constants[p]).size != 1
                    for p in dq.input[1:] if p):
            continue
        quantized = f"{cut.output[0]}_quantized"
        cut.input[0], cut.output[0] = dq.input[0], quantized
        dq.input[0], dq.output[0] = quantized, name
        changes.append(f"{cut.name or 'Slice'} moved before {dq.name or 'DequantizeLinear'}")
    return changes


def _conv_add_ready(model: onnx.ModelProto, add: onnx.NodeProto) -> list[str]:
    """A zero bias for the skip Conv when it has none, and the recorded shapes of the Add's
    inputs and output and of the Clip after it."""
    from onnx import numpy_helper

    conv = _skip_conv(model, add)
    if conv is None:
        return []
    changes = []
    if len(conv.input) < 3 or not conv.input[2]:
        weight = next(t for t in model.graph.initializer if t.name == conv.input[1])
        bias = f"{conv.name or conv.output[0]}_zero_bias"
        dtype = onnx.helper.tensor_dtype_to_np_dtype(weight.data_type)
        model.graph.initializer.append(
            numpy_helper.from_array(np.zeros(weight.dims[0], dtype), bias))
        while len(conv.input) < 2:
            conv.input.append("")
        conv.input[2:] = [bias]
        changes.append(f"{conv.name or 'Conv'} given a zero bias")
    clip = _consumers(model, add.output[0])
    names = [*add.input, add.output[0]]
    if len(clip) == 1 and clip[0].op_type == "Clip":
        names.append(clip[0].output[0])
    if _record_shapes(model, names):
        changes.append(f"shapes of {', '.join(names)} recorded")
    return changes


def _record_shapes(model: onnx.ModelProto, names: list[str]) -> bool:
    """Record `names`' shapes in `model.graph.value_info` when symbolic shape inference gives
    them all the same known 4-D shape; returns whether that changed anything."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    try:
        inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception:  # noqa: BLE001 - no shapes, no fusion: the model stays correct
        return False
    found = {v.name: v for v in inferred.graph.value_info if v.name in names}
    dims = [[d.dim_param or d.dim_value for d in found[n].type.tensor_type.shape.dim]
            if n in found else None for n in names]
    if any(d is None or len(d) != 4 or not all(d[1:]) or d != dims[0] for d in dims):
        return False
    recorded = {v.name: v for v in model.graph.value_info if v.name in names}
    if all(recorded.get(n) == found[n] for n in names):
        return False  # already there
    kept = [v for v in model.graph.value_info if v.name not in names]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept + [found[n] for n in names])
    return True


def _sort_nodes(model: onnx.ModelProto) -> None:
    """Order the nodes topologically, each as early in its present order as its inputs allow
    (the rewired Clip and DepthToSpace, Slice and DequantizeLinear swap places; the rest stays
    as it was: moving the skip branch to the front instead made rsp-x3-int8 12% slower on 2
    threads)."""
    available = {i.name for i in model.graph.input} | _constants(model) | {""}
    pending = list(model.graph.node)
    ordered = []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise ValueError("the graph has a cycle or reads a tensor nothing makes")
        node = ready[0]
        ordered.append(node)
        available.update(node.output)
        pending.remove(node)
    copies = [onnx.NodeProto.FromString(n.SerializeToString()) for n in ordered]
    del model.graph.node[:]
    model.graph.node.extend(copies)
