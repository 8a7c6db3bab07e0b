"""Rewrite the shipped models with every exact graph rewrite that the exporter now applies to
new files, after checking that each rewritten model gives bit-identical outputs, and update
their sha256 in sronnx/models/index.json:

* int8 files: convolutions' output channels padded to multiples of 16 and the first
  convolution's input channels to multiples of 4 (`sronnx.export.pad_int8_conv_outputs` and
  `pad_int8_conv_inputs`, which `quantize_int8` applies);
* every file: the output path made fusable by ONNX Runtime (`sronnx.export.fusable_output_path`,
  which `export_onnx` and `quantize_int8` apply).

    python tools/refresh_models.py [--check]

The check runs the old and the new file in ONNX Runtime's CPU provider on every Set5 image
(odd sizes included; ../shared/data/test/Set5 beside the checkout, else exit 2) and on random
inputs (a batch of two among them); any differing value stops the rewrite with exit 1.
--check only reports which files would change, and exits 1 when any would (0: all are up to
date). Needs the train extra (onnx).
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

from sronnx.export import fusable_output_path, pad_int8_conv_inputs, pad_int8_conv_outputs

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "sronnx" / "models"
SET5 = ROOT.parent / "shared" / "data" / "test" / "Set5"


def inputs() -> list[np.ndarray]:
    """Set5's images and three random ones, as NCHW float32 in [0, 1]."""
    arrays = [np.asarray(Image.open(p).convert("RGB"), np.float32) / 255
              for p in sorted(SET5.glob("*.png"))]
    rng = np.random.default_rng(0)
    arrays += [rng.random((67, 45, 3), dtype=np.float32), rng.random((16, 16, 3),
                                                                     dtype=np.float32)]
    xs = [a.transpose(2, 0, 1)[None].copy() for a in arrays]
    return xs + [rng.random((2, 3, 40, 33), dtype=np.float32)]


def same_outputs(old: bytes, new: bytes, xs: list[np.ndarray]) -> bool:
    a = ort.InferenceSession(old, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(new, providers=["CPUExecutionProvider"])
    name = a.get_inputs()[0].name
    return all(np.array_equal(a.run(None, {name: x})[0], b.run(None, {name: x})[0])
               for x in xs)


def rewrite(model: onnx.ModelProto, precision: str) -> list[str]:
    """Every exact rewrite for a file of `precision`, in place; what each changed."""
    changes = []
    if precision == "int8":
        changes += [f"{name} padded" for name in
                    pad_int8_conv_outputs(model) + pad_int8_conv_inputs(model)]
    return changes + fusable_output_path(model)


def main() -> int:
    ap = argparse.ArgumentParser(
        description="Rewrite the shipped models with the exporter's exact graph rewrites, "
                    "after checking bit-identical outputs, and update their sha256 in "
                    "sronnx/models/index.json.")
    ap.add_argument("--check", action="store_true",
                    help="report only, write nothing; exit 1 when a file would change")
    args = ap.parse_args()
    if not sorted(SET5.glob("*.png")):
        print(f"no Set5 images in {SET5}: the outputs cannot be checked", file=sys.stderr)
        return 2
    index_path = MODELS / "index.json"
    index = json.loads(index_path.read_text())
    xs = inputs()
    changed = 0
    for entry in index["models"]:
        path = MODELS / entry["file"]
        old = path.read_bytes()
        model = onnx.load_from_string(old)
        changes = rewrite(model, entry["precision"])
        if not changes:
            print(f"{entry['file']}: nothing to rewrite")
            continue
        onnx.checker.check_model(model)
        new = model.SerializeToString()
        if not same_outputs(old, new, xs):
            print(f"{entry['file']}: the rewritten model's outputs differ; nothing written")
            return 1
        changed += 1
        print(f"{entry['file']}: {'; '.join(changes)}; outputs bit-identical on "
              f"{len(xs)} inputs")
        if not args.check:
            path.write_bytes(new)
            entry["sha256"] = hashlib.sha256(new).hexdigest()
    if changed and not args.check:
        index_path.write_text(json.dumps(index, indent=2) + "\n")
    return 1 if changed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
