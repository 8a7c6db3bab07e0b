"""Where should uint8 <-> float conversion, layout change, clamping and rounding happen?

The performance issue asks to measure two places and keep the faster: inside the ONNX graph
(a uint8 NHWC in / uint8 NHWC out variant of the model: Cast, Transpose, Mul, Add, Clip,
Cast around the same network) or in vectorized numpy around the float32 model (what
`sronnx.engine.upscaler` does). This builds the variant in memory from a shipped model,
checks both give the same bytes, and times both for a 1920x1080 output, side by side.

    python bench/uint8_io.py [--model rsp-x3-int8] [--threads 2] [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def uint8_variant(path: str):
    """The model wrapped so that it takes uint8 HxWx3 (batch 1, NHWC) and returns uint8."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(path)
    g = model.graph
    x_name, y_name = g.input[0].name, g.output[0].name
    pre = [
        helper.make_node("Cast", ["u8_in"], ["u8_f"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["u8_f"], ["u8_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["u8_nchw", "u8_inv255"], [x_name + "_scaled"]),
    ]
    for node in g.node:  # the network now reads the scaled tensor
        for i, name in enumerate(node.input):
            if name == x_name:
                node.input[i] = x_name + "_scaled"
    post = [
        helper.make_node("Mul", [y_name, "u8_255"], ["u8_y255"]),
        helper.make_node("Add", ["u8_y255", "u8_half"], ["u8_yr"]),
        helper.make_node("Clip", ["u8_yr", "u8_zero", "u8_255"], ["u8_yc"]),
        helper.make_node("Transpose", ["u8_yc"], ["u8_nhwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Cast", ["u8_nhwc"], ["u8_out"], to=TensorProto.UINT8),
    ]
    consts = [helper.make_tensor("u8_inv255", TensorProto.FLOAT, [], [1 / 255.0]),
              helper.make_tensor("u8_255", TensorProto.FLOAT, [], [255.0]),
              helper.make_tensor("u8_half", TensorProto.FLOAT, [], [0.5]),
              helper.make_tensor("u8_zero", TensorProto.FLOAT, [], [0.0])]
    nodes = pre + list(g.node) + post
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(consts)
    del g.input[:]
    g.input.append(helper.make_tensor_value_info("u8_in", TensorProto.UINT8,
                                                 [1, "height", "width", 3]))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("u8_out", TensorProto.UINT8,
                                                  [1, "out_height", "out_width", 3]))
    return model.SerializeToString()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="rsp-x3-int8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()

    import onnxruntime as ort

    from sronnx.core import resolve_model
    from sronnx.runtime import load_model, session_options

    path = resolve_model(args.model)
    loaded = load_model(path, "cpu", args.threads)
    s = loaded.info.descriptor.scale
    h, w = 1080 // s, 1920 // s
    rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    u8 = ort.InferenceSession(uint8_variant(str(path)), session_options(args.threads),
                              providers=["CPUExecutionProvider"])

    def numpy_path() -> np.ndarray:
        x = rgb.transpose(2, 0, 1)[None].astype(np.float32)
        x *= np.float32(1 / 255.0)
        y = loaded.session.run([loaded.output_name], {loaded.input_name: x})[0][0]
        y *= np.float32(255.0)
        y += np.float32(0.5)
        np.clip(y, 0, 255, out=y)
        return y.astype(np.uint8).transpose(1, 2, 0)

    def graph_path() -> np.ndarray:
        return u8.run(None, {"u8_in": rgb[None]})[0][0]

    a, b = numpy_path(), graph_path()
    diff = int(np.abs(a.astype(int) - b.astype(int)).max())
    times: dict[str, list[float]] = {"numpy": [], "graph": []}
    for _ in range(2):
        numpy_path()
        graph_path()
    for _ in range(args.repeats):  # interleaved, so both see the same machine
        for name, fn in (("numpy", numpy_path), ("graph", graph_path)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"{path.name} x{s}, input {w}x{h} -> 1920x1080, {args.threads} threads, "
          f"{args.repeats} interleaved runs; outputs differ by at most {diff} level(s)")
    print(f"  conversions in numpy around the float32-I/O model: {med['numpy']:.1f} ms")
    print(f"  conversions inside the graph (uint8 NHWC I/O):      {med['graph']:.1f} ms")
    print(f"  graph / numpy: {med['graph'] / med['numpy']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
