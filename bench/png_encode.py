"""PNG encoding of sronnx's outputs: time and size of each way to write them, side by side.

    python bench/png_encode.py [--images 8] [--rounds 5] [--json FILE]

The pictures are what `bench/e2e.py` writes: BSD100 photos resized to 640x360 (benchmark
images, never used for training), upscaled x3 to 1920x1080 by rsp-x3-int8 in ONNX Runtime.
Each is encoded, in memory, by:
- sronnx's writer as shipped (`write_png`: Sub rows, libdeflate in one call at level 1);
- the same writer through zlib, band by band (what it does above ONE_SHOT_BYTES, and what
  every picture got before), at level 1;
- the same two at level 6 (Paeth rows), sronnx's `--png-compress-level 6`;
- Pillow's PNG save at compress_level 1 and at its default (6);
- OpenCV's imwrite (cv2.imencode, its default level 1), when OpenCV is installed.
Prints the median ms per picture over `--rounds` interleaved rounds, the mean MB, and each
row's time against the shipped writer's. Every output is decoded and checked against the
picture.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "test" / "BSD100"


def pictures(count: int) -> list[np.ndarray]:
    """x3 outputs (1080 x 1920 x 3 uint8) of the first `count` BSD100 photos at 640x360."""
    import onnxruntime as ort

    from sronnx.core import shipped_models

    path = next(m.path for m in shipped_models() if m.name == "rsp-x3-int8")
    sess = ort.InferenceSession(str(path),
                                providers=["CPUExecutionProvider"])
    out = []
    for src in sorted(DATA.glob("*.png"))[:count]:
        img = Image.open(src).convert("RGB")
        if img.height > img.width:
            img = img.transpose(Image.Transpose.ROTATE_90)
        img = img.resize((640, round(640 * img.height / img.width)), Image.LANCZOS)
        top = (img.height - 360) // 2
        x = np.asarray(img.crop((0, top, 640, top + 360)), np.float32).transpose(2, 0, 1)
        y = sess.run(None, {"input": x[None] / 255})[0][0]
        out.append(np.clip(np.rint(y * 255), 0, 255).astype(np.uint8).transpose(1, 2, 0).copy())
    return out


def writers() -> dict[str, Callable[[np.ndarray], bytes]]:
    from sronnx.io import write_png

    def sronnx_png(level: int, one_shot: bool) -> Callable[[np.ndarray], bytes]:
        def write(arr: np.ndarray) -> bytes:
            buf = io.BytesIO()
            write_png(buf, arr, compress_level=level, streamed=not one_shot)
            return buf.getvalue()
        return write

    def pillow(level: int) -> Callable[[np.ndarray], bytes]:
        def write(arr: np.ndarray) -> bytes:
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, format="PNG", compress_level=level)
            return buf.getvalue()
        return write

    rows = {
        "sronnx, libdeflate level 1 (shipped)": sronnx_png(1, True),
        "sronnx, zlib level 1 (before)": sronnx_png(1, False),
        "sronnx, libdeflate level 6": sronnx_png(6, True),
        "sronnx, zlib level 6 (before)": sronnx_png(6, False),
        "Pillow, compress_level 1": pillow(1),
        "Pillow, default (6)": pillow(6),
    }
    try:
        import cv2

        rows["OpenCV imencode, default"] = lambda arr: cv2.imencode(
            ".png", np.ascontiguousarray(arr[:, :, ::-1]))[1].tobytes()
    except ImportError:
        pass
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    pics = pictures(args.images)
    rows = writers()
    times: dict[str, list[float]] = {k: [] for k in rows}
    sizes: dict[str, float] = {}
    for name, write in rows.items():  # once each: check the bytes decode to the picture
        data = [write(p) for p in pics]
        for p, d in zip(pics, data, strict=True):
            if not np.array_equal(np.asarray(Image.open(io.BytesIO(d)).convert("RGB")), p):
                print(f"{name}: decodes to other pixels", file=sys.stderr)
                return 1
        sizes[name] = sum(map(len, data)) / len(data) / 1e6
    for _ in range(args.rounds):
        for name, write in rows.items():
            t = time.perf_counter()
            for p in pics:
                write(p)
            times[name].append((time.perf_counter() - t) / len(pics) * 1000)
    import zlib

    import imagecodecs

    print(f"# python bench/png_encode.py --images {args.images} --rounds {args.rounds}   "
          f"({time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {platform.machine()}, "
          f"imagecodecs {imagecodecs.__version__}: {imagecodecs.deflate_version()}, "
          f"Python's zlib {zlib.ZLIB_RUNTIME_VERSION})")
    print(f"{len(pics)} x3 outputs of 1920x1080 (rsp-x3-int8 on BSD100 at 640x360), "
          "one thread, in memory")
    base = statistics.median(times["sronnx, libdeflate level 1 (shipped)"])
    result = {}
    for name in rows:
        ms = statistics.median(times[name])
        result[name] = {"ms": round(ms, 2), "mb": round(sizes[name], 4)}
        print(f"  {name:40s} {ms:7.1f} ms  {sizes[name]:6.3f} MB  {ms / base:5.2f}x the "
              "shipped writer's time")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
