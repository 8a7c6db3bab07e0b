"""Issue 14, "Any ONNX model": models sronnx did not make run with everything sronnx does.

The models are variants of the shipped rsp-x2 written by helpers.py (a fixed input
size, float16 or uint8 tensors, values 0..255, one luma channel, BGR, NHWC, RGBA, a fixed
batch, sides that must be multiples of 8, renamed tensors, no metadata at all), so each one
has a known right answer: the float32 model's output on the same real image (Set14, Set5).
What each needs is found at load (`sronnx.runtime.probe`) or stated (--input-range, --bgr,
`sronnx describe`); models that cannot run are refused at load, exit 2, one line.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import helpers as fm
import numpy as np
import pytest
from click.testing import CliRunner, Result
from helpers import data_dir
from PIL import Image

from sronnx.cli import main
from sronnx.core.card import ModelFileError, ModelInfo
from sronnx.core.shipped import resolve_model
from sronnx.engine.upscaler import Upscaler
from sronnx.runtime.adapter import rgb_to_ycbcr
from sronnx.runtime.probe import Overrides
from sronnx.runtime.session import load_model

SRC = resolve_model("rsp-x2")


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("elsewhere")
    for name in ("strip_metadata", "renamed", "fixed_size", "fixed_batch", "float16_io",
                 "uint8_io", "range_255", "luma", "bgr", "nhwc", "rgba", "multiple_of",
                 "not_a_multiple"):
        getattr(fm, name)(SRC, folder / f"{name}.onnx")
    fm.range_255(SRC, folder / "range_255_bare.onnx", with_descriptor=False)
    for name in ("not_image_model", "two_inputs", "int32_input"):
        getattr(fm, name)(folder / f"{name}.onnx")
    return folder


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A real photo crop, odd-sized, larger than the fixed variant's 64x64 window."""
    return np.asarray(Image.open(data_dir("test", "Set14") / "baboon.png").convert("RGB"))[
        :75, :101].copy()


def reference(img: np.ndarray, receptive_field: int | None = None,
              clamp: bool = True) -> np.ndarray:
    """The shipped float32 model's output (optionally told another receptive field, which
    sets the tiles' context and the range clamp's radius), with or without the clamp."""
    loaded = load_model(SRC)
    if receptive_field is not None:
        d = replace(loaded.info.descriptor, receptive_field=receptive_field)
        loaded.info = ModelInfo(loaded.info.path, d, loaded.info.card)
    return Upscaler(loaded, clamp_range=clamp).upscale(img).astype(np.int16)


def cli(*args: object) -> Result:
    r = CliRunner().invoke(main, [*map(str, args)])
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r


@pytest.mark.parametrize("name", ["strip_metadata", "renamed", "fixed_size", "fixed_batch",
                                  "range_255", "nhwc", "rgba", "multiple_of"])
def test_variant_upscales_as_the_float32_model(variants: Path, image: np.ndarray,
                                               name: str) -> None:
    """Exactly the float32 model's result (or within one level), found without options:
    with the range clamp (which the probed receptive field sizes) and without it."""
    loaded = load_model(variants / f"{name}.onnx")
    d = loaded.info.descriptor
    assert d.scale == 2 and d.receptive_field == 21, (name, d)
    for clamp in (True, False):
        out = Upscaler(loaded, clamp_range=clamp).upscale(image).astype(np.int16)
        assert out.shape == (150, 202, 3)
        assert np.abs(out - reference(image, clamp=clamp)).max() <= 1, (name, clamp)


def test_models_made_elsewhere_run_unclamped_by_default(variants: Path,
                                                        image: np.ndarray) -> None:
    """A model with no descriptor runs as its authors made it (no range clamp, which would
    cut a sharpening model's overshoot); sronnx's own and described models keep theirs."""
    bare = load_model(variants / "strip_metadata.onnx")
    assert bare.info.descriptor.clamp is False and "default" in bare.sources["clamp"]
    assert Upscaler(bare).clamp_radius is None
    out = Upscaler(bare).upscale(image).astype(np.int16)
    assert np.abs(out - reference(image, clamp=False)).max() <= 1
    assert np.abs(out - reference(image, clamp=True)).max() > 1  # the clamp binds here
    assert Upscaler(load_model(SRC)).clamp_radius == 10


def test_what_is_found_and_from_where(variants: Path) -> None:
    found = {n: load_model(variants / f"{n}.onnx") for n in
             ("fixed_size", "fixed_batch", "float16_io", "uint8_io", "nhwc", "multiple_of",
              "rgba", "luma", "range_255")}
    d = {n: m.info.descriptor for n, m in found.items()}
    assert d["fixed_size"].fixed_size == (64, 64) and d["fixed_size"].batch == 1
    assert found["fixed_size"].sources["fixed_size"] == "session"
    assert d["fixed_batch"].batch == 1 and d["fixed_batch"].fixed_size is None
    assert d["float16_io"].element_type == "float16" and d["uint8_io"].element_type == "uint8"
    assert d["uint8_io"].value_range == (0.0, 255.0)
    assert d["nhwc"].layout == "NHWC"
    assert d["multiple_of"].size.multiple_of == 8
    assert found["multiple_of"].sources["size"] == "probe"
    assert (d["rgba"].in_channels, d["luma"].in_channels) == (4, 1)
    assert d["range_255"].value_range == (0.0, 255.0)
    assert found["range_255"].sources["value_range"] == "metadata"
    # fixed_batch keeps the shipped metadata; the others carry none (range_255 a descriptor)
    assert all(m.sources["scale"] == "probe" for n, m in found.items()
               if n not in ("range_255", "fixed_batch"))


@pytest.mark.parametrize("name", ["float16_io", "uint8_io"])
def test_float16_and_uint8_models(variants: Path, image: np.ndarray, name: str) -> None:
    """The conversion is right: within one level of the float32 model run with the same
    receptive field. The probe sees a float16 or uint8 model's impulse response only down to
    the model's own precision, so it may find the field a pixel or two short (19 here, 21
    for float32); `sronnx describe --receptive-field` states it."""
    loaded = load_model(variants / f"{name}.onnx")
    rf = loaded.info.descriptor.receptive_field
    assert 17 <= rf <= 21
    out = Upscaler(loaded, clamp_range=True).upscale(image).astype(np.int16)
    assert np.abs(out - reference(image, rf)).max() <= 1


def test_bgr_needs_saying(variants: Path, image: np.ndarray) -> None:
    ref = reference(image)
    said = Upscaler(load_model(variants / "bgr.onnx", options=Overrides(channel_order="BGR")),
                    clamp_range=True)
    assert np.abs(said.upscale(image).astype(np.int16) - ref).max() <= 1
    unsaid = Upscaler(load_model(variants / "bgr.onnx"), clamp_range=True).upscale(
        image).astype(np.int16)
    assert np.abs(unsaid - ref).max() > 50  # the model saw red as blue: --bgr matters


def test_range_255_without_descriptor_takes_the_option(variants: Path,
                                                       image: np.ndarray) -> None:
    bare = variants / "range_255_bare.onnx"
    with_opt = Upscaler(load_model(bare, options=Overrides(value_range=(0.0, 255.0))),
                        clamp_range=True)
    assert np.abs(with_opt.upscale(image).astype(np.int16) - reference(image)).max() <= 1
    assert load_model(bare).sources["value_range"] == "default"


def test_luma_model(variants: Path, image: np.ndarray) -> None:
    """Y through the model, Cb and Cr bicubic: on a grey image that is the mean of the RGB
    model's channels (the variant's output is that mean); on a colour image the output's
    chroma is the input's, upscaled."""
    up = Upscaler(load_model(variants / "luma.onnx"), clamp_range=True)
    grey = np.repeat(image[:, :, 1:2], 3, axis=2)
    out = up.upscale(grey).astype(np.int16)
    assert (out == out[:, :, :1]).all()  # grey in, grey out
    assert np.abs(out[:, :, 0] - reference(grey).mean(axis=2)).max() <= 1
    colour = up.upscale(image).astype(np.float32) / 255
    chroma_out = rgb_to_ycbcr(colour.transpose(2, 0, 1)[None])[0, 1:]
    small = rgb_to_ycbcr((image.astype(np.float32) / 255).transpose(2, 0, 1)[None])[0, 1:]
    down = chroma_out.reshape(2, 75, 2, 101, 2).mean(axis=(2, 4))  # back to the input grid
    assert np.abs(down - small).mean() < 0.01
    y_model = reference(np.repeat(np.rint(rgb_to_ycbcr(
        (image.astype(np.float32) / 255).transpose(2, 0, 1)[None])[0, 0] * 255
    ).astype(np.uint8)[:, :, None], 3, axis=2))[:, :, 0] / 255
    y_out = rgb_to_ycbcr(colour.transpose(2, 0, 1)[None])[0, 0]
    assert np.abs(y_out - y_model).mean() < 2 / 255


def test_rgba_model_with_an_rgba_image(variants: Path, image: np.ndarray) -> None:
    alpha = np.tile(np.linspace(0, 255, image.shape[1]).astype(np.uint8), (image.shape[0], 1))
    rgba = np.dstack([image, alpha])
    got = Upscaler(load_model(variants / "rgba.onnx"), clamp_range=True).upscale(
        rgba).astype(np.int16)
    want = Upscaler(load_model(SRC)).upscale(rgba).astype(np.int16)
    assert got.shape == (150, 202, 4) and np.abs(got - want).max() <= 1


def test_probe_finds_the_shipped_scales_and_receptive_fields(tmp_path: Path) -> None:
    for name in ("rsp-x3", "rsp-x4"):
        src = resolve_model(name)
        bare = fm.strip_metadata(src, tmp_path / f"{name}.onnx")
        found, known = load_model(bare).info.descriptor, load_model(src).info.descriptor
        assert (found.scale, found.receptive_field) == (known.scale, known.receptive_field)


def test_cli_upscale_info_describe(variants: Path, tmp_path: Path) -> None:
    src = data_dir("test", "Set5") / "bird.png"
    ref = tmp_path / "ref"
    assert cli("upscale", src, "-o", ref, "--model", SRC, "--quiet", "--no-clamp"
               ).exit_code == 0
    want = np.asarray(Image.open(ref / "bird.png")).astype(np.int16)
    # 0..255 without a descriptor: --input-range, or a described copy that needs no option
    bare = variants / "range_255_bare.onnx"
    out = tmp_path / "opt"
    assert cli("upscale", src, "-o", out, "--model", bare, "--input-range", "255",
               "--quiet").exit_code == 0
    assert np.abs(np.asarray(Image.open(out / "bird.png")) - want).max() <= 1
    described = tmp_path / "described.onnx"
    r = cli("describe", bare, "--input-range", "255", "-o", described)
    assert r.exit_code == 0 and "values 0..255" in r.output and "unclamped" in r.output, \
        r.output
    assert cli("describe", bare, "-o", described).exit_code == 2  # exists
    info = cli("info", described, "--json")
    data = json.loads(info.output)
    assert data["descriptor"]["value_range"] == [0.0, 255.0]
    assert data["found"]["value_range"] == "metadata"
    out2 = tmp_path / "described_out"
    assert cli("upscale", src, "-o", out2, "--model", described, "--quiet").exit_code == 0
    assert np.abs(np.asarray(Image.open(out2 / "bird.png")) - want).max() <= 1
    # info says where each fact came from
    text = cli("info", variants / "multiple_of.onnx").output
    assert "[probe]" in text and '"multiple_of": 8' in text
    assert re.search(r"batch +any ", text)  # the descriptor's 0, in words
    assert re.search(r"batch +1 +\[session\]", cli("info", variants / "fixed_batch.onnx").output)
    # --input-range and --bgr go with --model only
    assert cli("upscale", src, "-o", tmp_path / "x", "--bgr").exit_code == 2


@pytest.mark.parametrize("name,reason", [
    ("not_image_model", "not an image model"),
    ("two_inputs", "2 inputs"),
    ("int32_input", "tensor(int32)"),
    ("not_a_multiple", "not a whole multiple"),
])
def test_models_that_cannot_run_are_refused_at_load(variants: Path, tmp_path: Path,
                                                    name: str, reason: str) -> None:
    """Exit 2 with the file and the reason, one line, before any image is touched; nothing
    from ONNX Runtime's own logging reaches the user."""
    model = variants / f"{name}.onnx"
    with pytest.raises(ModelFileError, match=re.escape(reason)):
        load_model(model)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "sronnx", "upscale",
                        str(data_dir("test", "Set5") / "bird.png"), "-o", str(out),
                        "--model", str(model)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert reason in r.stderr and str(model) in r.stderr
    assert "Traceback" not in r.stderr and "onnxruntime" not in r.stderr.lower(), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (out / "bird.png").exists()
    assert cli("info", model).exit_code == 2


# Models exported by hand with torch (as people do), for what the rsp-x2 variants cannot show:
# a strided (pixel-unshuffle) model that is not shift-invariant, a one-channel model whose
# exported shapes name no channel count, a model that returns NaN.

def _torch_export(net, path: Path, channels: int = 3) -> Path:
    """`net` exported with torch's TorchScript exporter (the one most files in the wild come
    from), dynamic batch and size, every output dim named (no channel count stated)."""
    import warnings

    torch = pytest.importorskip("torch")
    net.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (torch.rand(1, channels, 24, 32),), str(path), dynamo=False,
                          input_names=["x"], output_names=["y"], opset_version=17,
                          dynamic_axes={"x": {0: "n", 2: "h", 3: "w"},
                                        "y": {0: "n", 1: "c", 2: "oh", 3: "ow"}})
    return path


def test_a_model_that_takes_multiples_of_2_tiles_on_its_grid(tmp_path: Path,
                                                             image: np.ndarray) -> None:
    """PixelUnshuffle(2), a convolution, PixelShuffle(4): sides must be even, and a tile
    that starts on an odd pixel sees other 2x2 groups (87% of pixels wrong before tiles were
    kept on the size rule's grid)."""
    torch = pytest.importorskip("torch")
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(12, 48, 3, padding=1),
                        nn.PixelShuffle(4), nn.Sigmoid())
    model = load_model(_torch_export(net, tmp_path / "unshuffle.onnx"))
    d = model.info.descriptor
    assert (d.scale, d.size.multiple_of) == (2, 2)
    img = image[:74, :100]  # even, so the whole image runs as torch runs it
    with torch.no_grad():
        want = net(torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None])
    want = np.rint(want[0].permute(1, 2, 0).numpy() * 255).astype(np.int16)
    for tile in (512, 31):  # one window; many windows, odd tile size
        got = Upscaler(model, tile=tile, border=0).upscale(img).astype(np.int16)
        inner = (slice(8, -8), slice(8, -8))  # the edges see the mirrored border or zeros
        assert np.abs(got[inner] - want[inner]).max() <= 1, tile
    odd = Upscaler(model, tile=31).upscale(image)  # odd-sized: padded to the rule, cropped
    assert odd.shape == (150, 202, 3)


def test_a_one_channel_model_with_unnamed_channel_dims(tmp_path: Path,
                                                       image: np.ndarray) -> None:
    pytest.importorskip("torch")
    from torch import nn

    conv = nn.Conv2d(1, 1, 1, bias=False)  # takes one channel only: an identity
    nn.init.ones_(conv.weight)
    net = nn.Sequential(conv, nn.Upsample(scale_factor=2, mode="nearest"))
    path = _torch_export(net, tmp_path / "grey.onnx", channels=1)
    import onnx

    proto = onnx.load(str(path))  # the exported input names its channel dim too
    proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "c_in"
    onnx.save(proto, str(path))
    model = load_model(path)
    d = model.info.descriptor
    assert (d.in_channels, d.out_channels, d.scale) == (1, 1, 2)
    assert model.sources["in_channels"] == "probe"
    grey = np.repeat(image[:, :, 1:2], 3, axis=2)
    out = Upscaler(model).upscale(grey).astype(np.int16)
    assert np.abs(out - grey.repeat(2, axis=0).repeat(2, axis=1)).max() <= 1


def test_a_model_that_returns_nan_is_refused_at_load(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from torch import nn

    class Nan(nn.Module):
        def forward(self, x):
            return nn.functional.interpolate(x / (x - x), scale_factor=2.0)

    path = _torch_export(Nan(), tmp_path / "nan.onnx")
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        load_model(path)
