"""Build the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/ from
synthetic images, small generated models and one shipped model (no downloads).

    python -m tests.fuzz.make_corpus
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
SHIPPED_SEED = "rsp-x3-int8.onnx"  # the smallest shipped model (~100 KB)


def _rgb(w: int = 8, h: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def image_seeds() -> dict[str, bytes]:
    from sronnx.io.formats.png import write_png
    from sronnx.io.formats.tiff import write_tiff

    rgb = Image.fromarray(_rgb())
    rgba = Image.fromarray(np.dstack([_rgb(), _rgb(seed=1)[..., 0]]))
    seeds = {
        "rgb8.png": _save(rgb, "PNG"),
        "rgba8.png": _save(rgba, "PNG"),
        "palette.png": _save(rgb.convert("P"), "PNG"),
        "palette-trns.png": _save(rgb.convert("P"), "PNG", transparency=3),
        "grey-key.png": _save(rgb.convert("L"), "PNG", transparency=7),
        "plain.jpg": _save(rgb, "JPEG", quality=80),
        "cmyk.jpg": _save(rgb.convert("CMYK"), "JPEG"),
        "bmp.bmp": _save(rgb, "BMP"),
        "rgba.bmp": _save(rgba, "BMP"),
        "still.webp": _save(rgb, "WEBP", lossless=True),
        "tiff8.tif": _save(rgb, "TIFF"),
    }
    exif = Image.Exif()
    exif[0x0112] = 6
    seeds["exif-rot6.jpg"] = _save(rgb, "JPEG", exif=exif.tobytes())
    frames = [Image.fromarray(_rgb(seed=k)) for k in range(3)]
    seeds["anim.gif"] = _save(frames[0], "GIF", save_all=True, append_images=frames[1:],
                              duration=[40, 50, 60], loop=0, disposal=2)
    seeds["anim.png"] = _save(frames[0], "PNG", save_all=True, append_images=frames[1:],
                              duration=40, loop=1)
    seeds["anim.webp"] = _save(frames[0], "WEBP", save_all=True, append_images=frames[1:],
                               duration=40, lossless=True)
    for name, arr in (("rgb16.png", (_rgb().astype(np.uint16) * 257)),
                      ("grey16.png", _rgb()[..., 0].astype(np.uint16) * 257)):
        buf = io.BytesIO()
        write_png(buf, arr)
        seeds[name] = buf.getvalue()
    for name, arr in (("rgb16.tif", _rgb().astype(np.uint16) * 257),
                      ("float.tif", _rgb().astype(np.float32) / 200.0)):
        buf = io.BytesIO()
        write_tiff(buf, arr)
        seeds[name] = buf.getvalue()
    return seeds


def tiny_model(kind: str = "resize", metadata: dict[str, str] | None = None,
               pads: int = 1) -> bytes:
    """A small float32 NCHW model of symbolic N, H, W: "resize" (nearest x2), "d2s" (a 1x1
    convolution and DepthToSpace x2) or "pad" (Pad by `pads`, a model's hostile form when
    `pads` is huge)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], []
    if kind == "resize":
        inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"))
        nodes.append(helper.make_node("Resize", ["input", "", "scales"], ["output"],
                                      mode="nearest"))
    elif kind == "d2s":
        w = np.random.default_rng(0).normal(0, 0.3, (12, 3, 1, 1)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, "w"))
        nodes += [helper.make_node("Conv", ["input", "w"], ["c"]),
                  helper.make_node("DepthToSpace", ["c"], ["output"], blocksize=2)]
    else:
        inits.append(numpy_helper.from_array(
            np.array([0, 0, pads, pads, 0, 0, pads, pads], np.int64), "pads"))
        nodes.append(helper.make_node("Pad", ["input", "pads"], ["output"], mode="reflect"
                                      if pads < 4 else "constant"))
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, "H2", "W2"])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                              producer_name="fuzz-seed")
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def model_seeds() -> dict[str, bytes]:
    from sronnx.core.card import CARD_KEY
    from sronnx.core.descriptor import METADATA_KEY, ModelDescriptor

    meta = {METADATA_KEY: ModelDescriptor("fuzz", 2, receptive_field=1).to_json(),
            CARD_KEY: json.dumps({"spec": "fuzz", "precision": "float32"})}
    return {
        "resize-foreign.onnx": tiny_model("resize"),
        "resize-sronnx.onnx": tiny_model("resize", meta),
        "d2s-sronnx.onnx": tiny_model("d2s", meta),
        "d2s-foreign.onnx": tiny_model("d2s"),
        "pad-foreign.onnx": tiny_model("pad", pads=2),
        SHIPPED_SEED: (HERE.parent.parent / "sronnx" / "models" / SHIPPED_SEED).read_bytes(),
    }


def roundtrip_seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    return {f"seed{k}": rng.integers(0, 256, 64 + 32 * k, dtype=np.uint8).tobytes()
            for k in range(6)}


def main() -> None:
    for target, seeds in (("images", image_seeds()), ("models", model_seeds()),
                          ("roundtrip", roundtrip_seeds())):
        folder = CORPUS / target
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, data in seeds.items():
            (folder / name).write_bytes(data)
        print(f"{folder}: {len(seeds)} seeds, {sum(map(len, seeds.values())):,} bytes")


if __name__ == "__main__":
    main()
