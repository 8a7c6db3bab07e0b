"""What `Upscaler.upscale` takes, and how it refuses the rest: animated PIL images are refused
with the way to upscale animations (read_animation -> upscale_animation -> write_animation, or
one frame through copy), a 16-bit keyed grey image is refused rather than narrowed, EXIF
orientation is not applied (pixels as given), big-endian arrays are taken.

Small synthetic images built here; real onnxruntime with the shipped rsp-x2-int8 model.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import png
import pytest
from helpers import durations_of, frames_rgb, save_animation
from PIL import Image, ImageOps, ImageSequence

from sronnx.engine.animation import upscale_animation
from sronnx.engine.upscaler import Upscaler
from sronnx.imaging.modes import array_to_pil, pil_to_array
from sronnx.io.animation import read_animation, write_animation

H, W = 20, 28  # the size of helpers.frames_rgb's frames


@cache
def upscaler() -> Upscaler:
    return Upscaler("rsp-x2-int8")


# ---- 1. animated PIL images ------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["gif", "png", "webp"])
def test_animated_pil_image_is_refused_with_its_frame_count(tmp_path: Path, ext: str) -> None:
    kw = {"lossless": True} if ext == "webp" else {}
    src = save_animation(tmp_path / f"a.{ext}", frames_rgb(3), duration=100, loop=0, **kw)
    with Image.open(src) as im, pytest.raises(ValueError) as err:
        upscaler().upscale(im)
    msg = str(err.value)
    assert "3 frames" in msg and "read_animation" in msg and "img.seek(k)" in msg, msg


def test_one_frame_of_an_animation_through_copy(tmp_path: Path) -> None:
    """The way the message gives for one frame: seek, then a copy (a plain still image)."""
    frames = frames_rgb(3)
    src = save_animation(tmp_path / "a.png", frames, duration=100)  # APNG: exact frames
    with Image.open(src) as im:
        im.seek(1)
        out = upscaler().upscale(im.copy())
    assert out.size == (2 * W, 2 * H)
    assert np.array_equal(np.asarray(out.convert("RGB")), upscaler().upscale_array(frames[1]))


def test_multi_page_tiff_is_refused_through_the_api(tmp_path: Path) -> None:
    src = save_animation(tmp_path / "p.tif", frames_rgb(2))
    with Image.open(src) as im:
        assert im.n_frames == 2
        with pytest.raises(ValueError, match="TIFF image of 2 frames"):
            upscaler().upscale(im)


def test_animation_api_from_the_readme(tmp_path: Path) -> None:
    """read_animation -> upscale_animation -> write_animation (format kept): every frame,
    its duration and the loop count; a still image reads as None."""
    frames = frames_rgb(3)
    src = save_animation(tmp_path / "a.png", frames, duration=[40, 50, 60], loop=2)
    anim = read_animation(src)
    assert anim is not None and len(anim.frames) == 3
    notes = write_animation(tmp_path / "out.png", upscale_animation(upscaler(), anim))
    assert notes == []
    with Image.open(tmp_path / "out.png") as im:
        assert (im.format, im.n_frames, im.size, im.info["loop"]) == ("PNG", 3, (2 * W, 2 * H), 2)
        got = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
    for g, f in zip(got, frames, strict=True):
        assert np.array_equal(g, upscaler().upscale_array(f))
    assert durations_of(tmp_path / "out.png") == [40, 50, 60]
    Image.fromarray(frames[0]).save(tmp_path / "still.png")
    assert read_animation(tmp_path / "still.png") is None


# ---- 2. 16-bit grey with a colour key --------------------------------------------------------


def keyed_grey16(path: Path) -> tuple[Path, np.ndarray]:
    """A 16-bit grey PNG with tRNS 1000: left third the key, the rest a 16-bit ramp."""
    grey = np.tile(np.linspace(20000, 60000, W).astype(np.uint16), (H, 1))
    grey[:, : W // 3] = 1000
    png.Writer(W, H, greyscale=True, bitdepth=16, transparent=1000).write(
        path.open("wb"), grey.tolist())
    return path, grey


def test_keyed_16_bit_grey_is_refused_not_narrowed(tmp_path: Path) -> None:
    src, grey = keyed_grey16(tmp_path / "k16.png")
    with Image.open(src) as im:
        assert im.mode == "I;16" and im.info["transparency"] == 1000  # Pillow's reading
        with pytest.raises(ValueError, match="no 16-bit PIL result.*upscale_array"):
            upscaler().upscale(im)
        arr, mode = pil_to_array(im)  # the route the message gives
    assert (arr.dtype, arr.shape, mode) == (np.uint16, (H, W, 2), "LA;16")
    out = upscaler().upscale_array(arr)
    assert (out.dtype, out.shape) == (np.uint16, (2 * H, 2 * W, 2))
    assert out[:, : 2 * (W // 3) - 4, 1].max() == 0  # the key: transparent
    assert out[:, 2 * (W // 3) + 4 :, 1].min() == 65535
    assert (out[:, 2 * (W // 3) + 4 :, 0] % 257 != 0).any()  # 16-bit values, not 8-bit x 257
    assert array_to_pil(out, "LA;16").mode == "LA"  # 8-bit, when asked for


def test_big_endian_16_bit_grey_keeps_its_key(tmp_path: Path) -> None:
    """I;16B with a key: an alpha band (was dropped), and refused by upscale() the same way."""
    grey = np.full((H, W), 30000, np.uint16)
    grey[:, :5] = 7
    im = Image.fromarray(grey.astype(">u2"))
    im.info["transparency"] = 7
    assert im.mode == "I;16B"
    arr, mode = pil_to_array(im)
    assert mode == "LA;16" and arr[:, :5, 1].max() == 0 and arr[:, 5:, 1].min() == 65535
    with pytest.raises(ValueError, match="mode I;16B"):
        upscaler().upscale(im)
    del im.info["transparency"]
    assert upscaler().upscale(im).mode == "I;16"  # without the key: 16-bit grey


# ---- 3. EXIF orientation: pixels as given ----------------------------------------------------


def test_api_takes_pixels_as_given_exif_transpose_first(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(frames_rgb(1)[0]).save(tmp_path / "r.jpg", exif=exif)
    with Image.open(tmp_path / "r.jpg") as im:
        assert upscaler().upscale(im).size == (2 * W, 2 * H)  # not turned
        assert upscaler().upscale(ImageOps.exif_transpose(im)).size == (2 * H, 2 * W)


# ---- 4. byte order ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [">u2", ">f4", ">f8"])
@pytest.mark.parametrize("channels", [None, 2, 3, 4])
def test_big_endian_arrays_give_native_results(dtype: str, channels: int | None) -> None:
    rs = np.random.RandomState(3)
    shape = (H, W) if channels is None else (H, W, channels)
    native = np.dtype(dtype).newbyteorder("=")
    x = rs.rand(*shape)
    x = (x * 65535).astype(native) if native.kind == "u" else x.astype(native)
    big = x.astype(dtype)
    assert not big.dtype.isnative
    out = upscaler().upscale(big)
    assert out.dtype == native and out.dtype.isnative
    assert np.array_equal(out, upscaler().upscale(x))
    if channels == 3:
        assert np.array_equal(upscaler().upscale_rgb(big), upscaler().upscale_rgb(x))


def test_other_dtypes_are_still_refused_by_name() -> None:
    for dtype in (">i2", np.int16, np.uint32, bool):
        with pytest.raises(ValueError, match="unsupported image dtype"):
            upscaler().upscale(np.ones((8, 8, 3), dtype=dtype))
