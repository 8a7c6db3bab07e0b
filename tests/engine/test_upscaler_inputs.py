"""Library API contract fixes (second tester round): animated PIL images are refused with the
way to upscale animations, a 16-bit keyed grey image is refused rather than narrowed, EXIF
orientation is not applied, big-endian arrays are taken; animation conversions say what the
output format changed (APNG default image left out, GIF/WebP duration steps).

Small synthetic images built here; real onnxruntime with the shipped rsp-x2-int8 model (the
CLI runs pick the shipped default of scale 2 on the CPU).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import png
import pytest
from PIL import Image, ImageOps, ImageSequence
from test_upscale import cli, no_traceback

from sronnx.engine.animation import upscale_animation
from sronnx.engine.upscaler import Upscaler
from sronnx.imaging.modes import array_to_pil, pil_to_array
from sronnx.io.animation import Animation, read_animation, write_animation

H, W = 20, 28


@cache
def upscaler() -> Upscaler:
    return Upscaler("rsp-x2-int8")


def frames_rgb(n: int = 3) -> list[np.ndarray]:
    """`n` clearly different HxWx3 uint8 frames: a gradient and a square that moves."""
    yy, xx = np.mgrid[:H, :W]
    out = []
    for k in range(n):
        f = np.zeros((H, W, 3), np.uint8)
        f[..., 0] = 30 + 60 * k
        f[..., 1] = (xx * 255 // (W - 1)).astype(np.uint8)
        f[..., 2] = (yy * 255 // (H - 1)).astype(np.uint8)
        f[4:10, 4 + 5 * k : 10 + 5 * k] = (250, 250, 40)
        out.append(f)
    return out


def save_animation(path: Path, frames: list[np.ndarray], **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    imgs = [Image.fromarray(f) for f in frames]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], **kw)
    return path


def durations_of(path: Path) -> list[float]:
    with Image.open(path) as im:
        out = []
        for f in ImageSequence.Iterator(im):
            f.load()
            out.append(f.info.get("duration"))
        return out


def run_json(tmp_path: Path, *args: object) -> dict:
    """`sronnx upscale ARGS --json` on the CPU -> the report; the run must succeed."""
    report = tmp_path / "report.json"
    r = cli(*args, "--provider", "cpu", "--json", report)
    no_traceback(r)
    assert r.exit_code == 0, r.output
    return json.loads(report.read_text())


# ---- 1. animated PIL images ---------------------------------------------------------------


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


# ---- 2. 16-bit grey with a colour key -------------------------------------------------------


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


# ---- 3. EXIF orientation: pixels as given ---------------------------------------------------


def test_api_takes_pixels_as_given_exif_transpose_first(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(frames_rgb(1)[0]).save(tmp_path / "r.jpg", exif=exif)
    with Image.open(tmp_path / "r.jpg") as im:
        assert upscaler().upscale(im).size == (2 * W, 2 * H)  # not turned
        assert upscaler().upscale(ImageOps.exif_transpose(im)).size == (2 * H, 2 * W)


# ---- 4. byte order --------------------------------------------------------------------------


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


# ---- 5. animation conversions say what changed ----------------------------------------------


def default_image_apng(path: Path) -> Path:
    """An APNG whose default image (frame 0, shown by viewers without APNG) is not part of
    the animation: 3 images, 2 animation frames."""
    return save_animation(path, frames_rgb(3), default_image=True, duration=[100, 200], loop=0)


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_apng_default_image_left_out_with_a_note(tmp_path: Path, fmt: str) -> None:
    src = default_image_apng(tmp_path / "in" / "d.png")
    report = run_json(tmp_path, src, "-o", tmp_path / fmt, "--format", fmt)
    (rec,) = report["files"]
    assert rec["status"] == "done" and rec["frames"] == 3
    assert any("default image" in n and "left out" in n and fmt.upper() in n
               for n in rec["notes"]), rec["notes"]
    with Image.open(tmp_path / fmt / f"d.{fmt}") as im:
        assert im.n_frames == 2


def test_apng_default_image_kept_in_apng_without_a_note(tmp_path: Path) -> None:
    src = default_image_apng(tmp_path / "in" / "d.png")
    report = run_json(tmp_path, src, "-o", tmp_path / "out")
    assert report["files"][0]["notes"] == []
    with Image.open(tmp_path / "out" / "d.png") as im:
        assert im.n_frames == 3 and im.info["default_image"]


def test_gif_durations_rounded_to_nearest_10_ms_with_a_note(tmp_path: Path) -> None:
    src = save_animation(tmp_path / "in" / "t.png", frames_rgb(3), duration=[15, 1005, 33])
    assert durations_of(src) == pytest.approx([15, 1005, 33])  # 1005: 201/200 s in APNG
    report = run_json(tmp_path, src, "-o", tmp_path / "gif", "--format", "gif")
    notes = report["files"][0]["notes"]
    assert "GIF stores frame durations in 10 ms steps: 15, 1005, 33 ms became 20, 1010, 30 " \
           "(frames 1, 2, 3 of 3)" in notes, notes
    assert durations_of(tmp_path / "gif" / "t.gif") == [20, 1010, 30]  # Pillow: 10, 1000, 30


def test_gif_durations_on_the_10_ms_grid_give_no_note(tmp_path: Path) -> None:
    src = save_animation(tmp_path / "in" / "t.png", frames_rgb(3), duration=[20, 0, 1230])
    report = run_json(tmp_path, src, "-o", tmp_path / "gif", "--format", "gif")
    assert report["files"][0]["notes"] == []
    assert durations_of(tmp_path / "gif" / "t.gif") == [20, 0, 1230]


def test_fractional_apng_durations_to_webp_and_gif(tmp_path: Path) -> None:
    """1/30 s frames (APNG delay 1/30): WebP holds whole milliseconds, rounded on the running
    timestamps (the total stays 100 ms); GIF 10 ms steps, with a minimum of 10."""
    frames = [Image.fromarray(f) for f in frames_rgb(3)]
    src = tmp_path / "in" / "f.png"
    src.parent.mkdir(parents=True)
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=[100 / 3] * 2 + [3])
    report = run_json(tmp_path, src, "-o", tmp_path / "webp", "--format", "webp")
    notes = report["files"][0]["notes"]
    assert notes == ["WEBP stores frame durations in whole milliseconds: 33.333, 33.333 ms "
                     "became 33, 34 (frames 1, 2 of 3)"]  # 3 ms: kept
    assert durations_of(tmp_path / "webp" / "f.webp") == [33, 34, 3]
    report = run_json(tmp_path, src, "-o", tmp_path / "gif", "--format", "gif")
    assert durations_of(tmp_path / "gif" / "f.gif") == [30, 30, 10]
    assert any("33.333, 33.333, 3 ms became 30, 30, 10" in n
               for n in report["files"][0]["notes"])


def test_many_changed_durations_and_the_gif_limit_in_one_short_note(tmp_path: Path) -> None:
    """write_animation directly: 8 frames off the 10 ms grid name the first 6; a duration over
    GIF's 655.35 s is cut to it, with the same note."""
    frames = [np.zeros((4, 4, 3), np.uint8) + 30 * k for k in range(8)]
    anim = Animation(frames, [15.0] * 7 + [700_000.0], 0, None, "WEBP")
    assert write_animation(tmp_path / "m.webp", anim) == []  # fmt None: WEBP, as read
    with Image.open(tmp_path / "m.webp") as im:
        assert (im.format, im.n_frames) == ("WEBP", 8)
    notes = write_animation(tmp_path / "m.gif", anim, "GIF")
    assert notes == ["GIF stores frame durations in 10 ms steps: 15, 15, 15, 15, 15, 15 ms became "
                     "20, 20, 20, 20, 20, 20 (and 2 more) (8 of 8 frames)"], notes
    assert durations_of(tmp_path / "m.gif") == [20] * 7 + [655_350]
