"""Rewrite the shipped int8 models with their convolutions' output channels padded to
multiples of 16 and their first convolution's input channels to multiples of 4
(`sronnx.export.pad_int8_conv_outputs` and `pad_int8_conv_inputs`, which `quantize_int8`
now applies to every new int8 file), after checking that each rewritten model gives
bit-identical outputs, and update their sha256 in sronnx/models/index.json.

    python tools/pad_int8_models.py [--check]

The check runs the old and the new file in ONNX Runtime's CPU provider on every Set5 image
(odd sizes included) and on random inputs; any differing value stops the rewrite with exit 1.
--check only reports which files would change. Needs the train extra (onnx).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

from sronnx.export import pad_int8_conv_inputs, pad_int8_conv_outputs

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "sronnx" / "models"
SET5 = ROOT.parent / "shared" / "data" / "test" / "Set5"


def inputs() -> list[np.ndarray]:
    """Set5's images and two random ones, as NCHW float32 in [0, 1]."""
    arrays = [np.asarray(Image.open(p).convert("RGB"), np.float32) / 255
              for p in sorted(SET5.glob("*.png"))]
    rng = np.random.default_rng(0)
    arrays += [rng.random((67, 45, 3), dtype=np.float32), rng.random((16, 16, 3),
                                                                     dtype=np.float32)]
    return [a.transpose(2, 0, 1)[None].copy() for a in arrays]


def same_outputs(old: bytes, new: bytes, xs: list[np.ndarray]) -> bool:
    a = ort.InferenceSession(old, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(new, providers=["CPUExecutionProvider"])
    name = a.get_inputs()[0].name
    return all(np.array_equal(a.run(None, {name: x})[0], b.run(None, {name: x})[0])
               for x in xs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="report only; write nothing")
    args = ap.parse_args()
    index_path = MODELS / "index.json"
    index = json.loads(index_path.read_text())
    xs = inputs()
    changed = 0
    for entry in index["models"]:
        if entry["precision"] != "int8":
            continue
        path = MODELS / entry["file"]
        old = path.read_bytes()
        model = onnx.load_from_string(old)
        padded = pad_int8_conv_outputs(model) + pad_int8_conv_inputs(model)
        if not padded:
            print(f"{entry['file']}: nothing to pad")
            continue
        onnx.checker.check_model(model)
        new = model.SerializeToString()
        if not same_outputs(old, new, xs):
            print(f"{entry['file']}: the padded model's outputs differ; nothing written")
            return 1
        changed += 1
        print(f"{entry['file']}: padded {', '.join(padded)}; outputs bit-identical on "
              f"{len(xs)} inputs")
        if not args.check:
            path.write_bytes(new)
            entry["sha256"] = hashlib.sha256(new).hexdigest()
    if changed and not args.check:
        index_path.write_text(json.dumps(index, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
