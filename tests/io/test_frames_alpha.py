"""Colour-keyed transparency and animations (GIF, APNG, WebP) through `sronnx upscale`.

Every input is a small synthetic image built here; the runs use the shipped default model of
each scale on the CPU (what `sronnx upscale --scale N` picks) and real onnxruntime. Expected
frames are the Upscaler's output on the frame as Pillow decodes it from the input file.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import png
import pytest
from helpers import cli, no_traceback, read16
from PIL import Image, ImageSequence

from sronnx.engine.batch import Layout, run_jobs
from sronnx.engine.planner import OutputOptions, plan_jobs
from sronnx.engine.upscaler import Upscaler
from sronnx.imaging.modes import pil_to_array
from sronnx.runtime.session import open_model

DURATIONS = [100, 200, 300]
H, W = 24, 32


@cache
def default_upscaler(scale: int) -> Upscaler:
    """The model `sronnx upscale --scale N` takes on the CPU."""
    return Upscaler(open_model(None, scale, "cpu")[1])


def frames_rgba(alpha: bool, h: int = H, w: int = W) -> list[np.ndarray]:
    """Three clearly different frames: a gradient whose hue changes, a square that moves
    and (with `alpha`) a transparent band on the left that widens frame after frame."""
    yy, xx = np.mgrid[:h, :w]
    out = []
    for k in range(3):
        f = np.zeros((h, w, 4), np.uint8)
        f[..., 0] = 40 + 70 * k
        f[..., 1] = (xx * 255 // (w - 1)).astype(np.uint8)
        f[..., 2] = (yy * 255 // (h - 1)).astype(np.uint8)
        f[4:12, 8 + 6 * k : 16 + 6 * k, :3] = (250, 250, 40)
        f[..., 3] = 255
        if alpha:
            f[:, : 6 + 4 * k, 3] = 0
        out.append(f)
    return out


def save_animation(path: Path, frames: list[np.ndarray], **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    imgs = [Image.fromarray(f) for f in frames]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=DURATIONS, **kw)
    return path


def decoded_frames(path: Path) -> list[np.ndarray]:
    """Every frame as Pillow composites it, RGBA."""
    with Image.open(path) as im:
        return [np.asarray(f.convert("RGBA")) for f in ImageSequence.Iterator(im)]


def frame_info(path: Path) -> dict:
    with Image.open(path) as im:
        info: dict = {"format": im.format, "n": im.n_frames, "size": im.size,
                      "loop": im.info.get("loop"), "durations": [], "disposal": []}
        for f in ImageSequence.Iterator(im):
            f.load()
            info["durations"].append(f.info.get("duration"))
            info["disposal"].append(getattr(f, "disposal_method", f.info.get("disposal")))
    return info


def expected(path: Path, scale: int) -> list[np.ndarray]:
    """The Upscaler's output on each input frame (RGBA)."""
    return [default_upscaler(scale).upscale_array(f) for f in decoded_frames(path)]


def mean_abs_diff(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    d = np.abs(a[..., :3].astype(np.int16) - b[..., :3].astype(np.int16))
    return float(d[mask].mean() if mask is not None else d.mean())


def run(*args: object) -> tuple[int, str]:
    r = cli(*args, "--provider", "cpu")
    no_traceback(r)
    return r.exit_code, r.output


# ---- animations -----------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("ext", ["gif", "png", "webp"])
def test_animation_keeps_every_frame_its_timing_and_loop(tmp_path: Path, ext: str,
                                                         scale: int) -> None:
    kw = {"lossless": True} if ext == "webp" else {}
    src = save_animation(tmp_path / "in" / f"anim.{ext}", frames_rgba(False), loop=0, **kw)
    code, out = run(src, "-o", tmp_path / "out", "--scale", scale,
                    "--json", tmp_path / "r.json")
    assert code == 0, out
    dst = tmp_path / "out" / f"anim.{ext}"
    info = frame_info(dst)
    assert info["format"] == {"gif": "GIF", "png": "PNG", "webp": "WEBP"}[ext]
    assert info["n"] == 3 and info["size"] == (W * scale, H * scale)
    assert info["durations"] == DURATIONS and info["loop"] == 0
    bound = {"gif": 4.0, "png": 0.0, "webp": 3.0}[ext]  # palette / lossless / lossy q95
    for got, want in zip(decoded_frames(dst), expected(src, scale), strict=True):
        assert mean_abs_diff(got, want) <= bound
    # each output frame is its own input frame upscaled, not a neighbour's
    got = decoded_frames(dst)
    assert mean_abs_diff(got[1], expected(src, scale)[0]) > 20
    (rec,) = json.loads((tmp_path / "r.json").read_text())["files"]
    assert rec["status"] == "done" and rec["frames"] == 3
    assert rec["output_size"] == [W * scale, H * scale]


def test_gif_without_loop_plays_once_and_apng_keeps_its_count(tmp_path: Path) -> None:
    frames = frames_rgba(False)
    save_animation(tmp_path / "in" / "once.gif", frames)  # no loop extension: plays once
    save_animation(tmp_path / "in" / "twice.png", frames, loop=2)
    code, out = run(tmp_path / "in", "-o", tmp_path / "out")
    assert code == 0, out
    with Image.open(tmp_path / "in" / "once.gif") as im:
        assert "loop" not in im.info  # the input really has none
    with Image.open(tmp_path / "out" / "once.gif") as im:
        assert "loop" not in im.info and im.n_frames == 3
    assert frame_info(tmp_path / "out" / "twice.png")["loop"] == 2


def test_gif_transparency_and_disposal_are_kept(tmp_path: Path) -> None:
    src = save_animation(tmp_path / "in" / "t.gif", frames_rgba(True), loop=0, disposal=2)
    assert frame_info(src)["disposal"] == [2, 2, 2]
    code, out = run(src, "-o", tmp_path / "out", "--scale", 2)
    assert code == 0, out
    dst = tmp_path / "out" / "t.gif"
    info = frame_info(dst)
    assert info["disposal"] == [2, 2, 2] and info["durations"] == DURATIONS
    for k, (got, want) in enumerate(zip(decoded_frames(dst), expected(src, 2), strict=True)):
        clear = 2 * (6 + 4 * k)  # transparent columns at x2
        assert (got[:, : clear - 4, 3] == 0).all(), k  # well inside the transparent band
        assert (got[:, clear + 4 :, 3] == 255).all(), k  # well inside the opaque part
        opaque = want[..., 3] == 255
        assert mean_abs_diff(got, want, opaque) <= 4.0


@pytest.mark.parametrize("ext", ["png", "webp"])
def test_apng_and_webp_keep_alpha_frame_by_frame(tmp_path: Path, ext: str) -> None:
    kw = {"lossless": True} if ext == "webp" else {"disposal": [0, 1, 2]}
    src = save_animation(tmp_path / "in" / f"a.{ext}", frames_rgba(True), loop=0, **kw)
    code, out = run(src, "-o", tmp_path / "out", "--scale", 3)
    assert code == 0, out
    dst = tmp_path / "out" / f"a.{ext}"
    if ext == "png":
        assert frame_info(dst)["disposal"] == [0, 1, 2]
    for got, want in zip(decoded_frames(dst), expected(src, 3), strict=True):
        assert np.abs(got[..., 3].astype(int) - want[..., 3]).max() <= (0 if ext == "png" else 8)
        opaque = want[..., 3] == 255
        assert mean_abs_diff(got, want, opaque) <= (0 if ext == "png" else 3.0)


def test_format_choice_for_animations_and_jpeg_refused(tmp_path: Path) -> None:
    src = tmp_path / "in"
    save_animation(src / "a.gif", frames_rgba(True), loop=0, disposal=2)
    Image.fromarray(frames_rgba(False)[0][..., :3]).save(src / "still.png")
    for fmt, pil in [("png", "PNG"), ("webp", "WEBP")]:
        code, out = run(src, "-o", tmp_path / fmt, "--format", fmt)
        assert code == 0, out
        info = frame_info(tmp_path / fmt / f"a.{fmt}")
        assert (info["format"], info["n"], info["durations"]) == (pil, 3, DURATIONS)
        assert info["loop"] == 0
    code, out = run(src, "-o", tmp_path / "jpg", "--format", "jpg", "--json", tmp_path / "r.json")
    assert code == 1
    assert f"failed: {src / 'a.gif'}: an animation of 3 frames: JPEG holds one image" in out
    assert sorted(p.name for p in (tmp_path / "jpg").iterdir()) == ["still.jpg"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["done"], report["failed"]) == (1, 1)
    rec = next(r for r in report["files"] if r["input"].endswith("a.gif"))
    assert rec["status"] == "failed" and rec["frames"] == 3 and "JPEG" in rec["error"]


def test_gif_in_a_folder_is_collected_and_a_still_gif_stays_gif(tmp_path: Path) -> None:
    src = tmp_path / "in"
    save_animation(src / "anim.gif", frames_rgba(False), loop=0)
    still = Image.fromarray(frames_rgba(True)[1])
    still.save(src / "still.gif")  # one frame, with a transparent index
    code, out = run(src, "-o", tmp_path / "out", "--json", tmp_path / "r.json")
    assert code == 0, out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["anim.gif", "still.gif"]
    with Image.open(tmp_path / "out" / "still.gif") as im:
        assert (im.format, im.mode, im.size) == ("GIF", "P", (2 * W, 2 * H))
        rgba = np.asarray(im.convert("RGBA"))
    assert (rgba[:, :16, 3] == 0).all() and (rgba[:, 24:, 3] == 255).all()
    frames = {Path(r["input"]).name: r["frames"]
              for r in json.loads((tmp_path / "r.json").read_text())["files"]}
    assert frames == {"anim.gif": 3, "still.gif": None}


def test_too_many_frames_for_max_pixels_is_refused_by_name(tmp_path: Path) -> None:
    src = save_animation(tmp_path / "in" / "a.webp", frames_rgba(False), loop=0)
    save_animation(tmp_path / "in" / "b.gif", frames_rgba(False)[:1])  # a still image
    code, out = run(tmp_path / "in", "-o", tmp_path / "out", "--max-pixels", 2 * H * W)
    assert code == 1
    assert (f"failed: {src}: cannot read image: an animation of 3 frames of {W}x{H} = "
            f"{3 * W * H:,} pixels in all is over the limit of {2 * H * W:,}") in out
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b.gif"]


@pytest.mark.parametrize("cut", [0.5, 0.75, 0.9])
def test_cut_animation_is_one_line_not_one_frame(tmp_path: Path, cut: float) -> None:
    src = save_animation(tmp_path / "in" / "a.gif", frames_rgba(False), loop=0)
    data = src.read_bytes()
    src.write_bytes(data[: int(len(data) * cut)])  # a later frame cut short
    save_animation(tmp_path / "in" / "b.png", frames_rgba(False), loop=0)
    code, out = run(tmp_path / "in", "-o", tmp_path / "out")
    assert code == 1, out
    assert f"failed: {src}: cannot read image: " in out and "truncated" in out
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b.png"]


def test_gif_output_psnr_against_the_unquantized_frames(tmp_path: Path) -> None:
    """What a palette per frame costs, measured: the GIF output against the RGB frames the
    model made (the APNG output of the same run is those frames, losslessly)."""
    src = save_animation(tmp_path / "in" / "a.png", frames_rgba(False, 48, 64), loop=0)
    for fmt in ("png", "gif"):
        code, out = run(src, "-o", tmp_path / fmt, "--format", fmt)
        assert code == 0, out
    ref = decoded_frames(tmp_path / "png" / "a.png")
    gif = decoded_frames(tmp_path / "gif" / "a.gif")
    for a, b in zip(ref, gif, strict=True):
        mse = np.mean((a[..., :3].astype(np.float64) - b[..., :3]) ** 2)
        assert 10 * np.log10(255**2 / max(mse, 1e-9)) >= 33.0  # measured 34.6 to 35.5 dB


def test_pipeline_and_workers_write_the_same_bytes(tmp_path: Path) -> None:
    src = tmp_path / "in"
    save_animation(src / "a.gif", frames_rgba(True), loop=0, disposal=2)
    save_animation(src / "b.png", frames_rgba(True), loop=0)
    save_animation(src / "c.webp", frames_rgba(False), loop=0)
    Image.fromarray(frames_rgba(False)[0][..., :3]).save(src / "d.png", transparency=(40, 0, 0))
    up = default_upscaler(2)
    outputs = []
    for pipeline, workers in ((False, 1), (True, 1), (True, 2)):
        out = tmp_path / f"out_{pipeline}_{workers}"
        results = run_jobs(up, plan_jobs([src], out, OutputOptions()), OutputOptions(),
                           layout=Layout(pipeline=pipeline, workers=workers))
        assert [r.status for r in results] == ["done"] * 4
        outputs.append({p.name: p.read_bytes() for p in out.iterdir()})
    assert len(outputs[0]) == 4 and outputs[0] == outputs[1] == outputs[2]


# ---- colour key (PNG tRNS) -----------------------------------------------------------


def keyed_sources(folder: Path) -> dict[str, np.ndarray]:
    """PNGs whose transparency is a colour key: 1-bit, grey, RGB, 16-bit grey and 16-bit
    RGB. Returns name -> the mask of transparent pixels (left third of the image)."""
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:H, :W]
    clear = xx < W // 3
    rgb = np.dstack([60 + xx * 4, 80 + yy * 4, np.full((H, W), 150)]).astype(np.uint8)
    rgb[clear] = (0, 0, 0)
    Image.fromarray(rgb).save(folder / "rgb.png", transparency=(0, 0, 0))
    grey = rgb[..., 1].copy()
    Image.fromarray(grey).save(folder / "grey.png", transparency=0)
    Image.fromarray(np.where(clear, 0, 255).astype(np.uint8)).convert("1").save(
        folder / "bilevel.png", transparency=0)
    g16 = (grey.astype(np.uint16) * 257 + 3).astype(np.uint16)
    g16[clear] = 7
    with open(folder / "grey16.png", "wb") as fh:
        png.Writer(W, H, greyscale=True, bitdepth=16, transparent=7).write(fh, g16)
    c16 = rgb.astype(np.uint16) * 257 + 1
    c16[clear] = (5, 6, 7)
    with open(folder / "rgb16.png", "wb") as fh:
        png.Writer(W, H, greyscale=False, bitdepth=16, transparent=(5, 6, 7)).write(
            fh, c16.reshape(H, -1))
    return {p: clear for p in ("rgb.png", "grey.png", "bilevel.png", "grey16.png", "rgb16.png")}


def alpha_of(path: Path) -> np.ndarray:
    """The alpha band in [0, 1], read at full depth (pypng for 16-bit PNGs)."""
    if _is16(path):
        arr = read16(path)
        assert arr.shape[2] in (2, 4), path  # an alpha band
        return arr[..., -1] / 65535
    with Image.open(path) as im:
        assert im.mode in ("LA", "RGBA"), (path, im.mode)
        return np.asarray(im)[..., -1] / 255


def _is16(path: Path) -> bool:
    return png.Reader(filename=str(path)).read()[3]["bitdepth"] == 16


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_colour_key_transparency_comes_back_transparent(tmp_path: Path, scale: int) -> None:
    masks = keyed_sources(tmp_path / "in")
    code, out = run(tmp_path / "in", "-o", tmp_path / "out", "--scale", scale)
    assert code == 0, out
    for name in masks:
        dst = tmp_path / "out" / name
        with Image.open(dst) as im:
            assert im.size == (W * scale, H * scale), name
        a = alpha_of(dst)
        edge = W // 3 * scale
        assert (a[:, : edge - 3 * scale] == 0).all(), name  # well inside: transparent
        assert (a[:, edge + 3 * scale :] == 1).all(), name  # well inside: opaque
    assert _is16(tmp_path / "out" / "grey16.png") and _is16(tmp_path / "out" / "rgb16.png")
    with Image.open(tmp_path / "out" / "grey.png") as im:
        assert im.mode == "LA"
    with Image.open(tmp_path / "out" / "rgb.png") as im:
        assert im.mode == "RGBA"


def test_colour_key_through_the_api_and_to_other_formats(tmp_path: Path) -> None:
    keyed_sources(tmp_path / "in")
    up = default_upscaler(2)
    with Image.open(tmp_path / "in" / "rgb.png") as im:
        out = up.upscale(im)
    assert out.mode == "RGBA" and np.asarray(out)[:, :8, 3].max() == 0
    with Image.open(tmp_path / "in" / "grey16.png") as im:
        assert im.mode == "I;16" and "transparency" in im.info  # Pillow's own reading
        with pytest.raises(ValueError, match="no 16-bit PIL result"):
            up.upscale(im)  # no 16-bit grey + alpha PIL mode: refused, not narrowed
        out = up.upscale_array(pil_to_array(im)[0])
    assert out.dtype == np.uint16 and out[:, :8, 1].max() == 0
    code, out_text = run(tmp_path / "in" / "rgb.png", tmp_path / "in" / "grey.png", "-o",
                         tmp_path / "out", "--format", "webp")
    assert code == 0, out_text
    with Image.open(tmp_path / "out" / "rgb.webp") as im:
        assert im.mode == "RGBA" and np.asarray(im)[:, :8, 3].max() == 0
    code, out_text = run(tmp_path / "in" / "rgb.png", "-o", tmp_path / "gif", "--format", "gif")
    assert code == 0, out_text
    with Image.open(tmp_path / "gif" / "rgb.gif") as im:
        rgba = np.asarray(im.convert("RGBA"))
    assert rgba[:, :16, 3].max() == 0 and rgba[:, 28:, 3].min() == 255


def test_apng_default_image_stays_out_of_the_animation(tmp_path: Path) -> None:
    """An APNG whose first image is shown only by viewers without APNG support."""
    frames = [Image.fromarray(f) for f in frames_rgba(False)]
    src = tmp_path / "in" / "d.png"
    src.parent.mkdir()
    frames[0].save(src, save_all=True, append_images=frames[1:], default_image=True,
                   duration=[10, 20], loop=0)
    with Image.open(src) as im:
        assert im.info["default_image"] and im.n_frames == 3
    for fmt in ("png", "gif"):
        code, out = run(src, "-o", tmp_path / fmt, "--format", fmt)
        assert code == 0, out
    apng = frame_info(tmp_path / "png" / "d.png")
    assert (apng["n"], apng["durations"][1:]) == (3, [10, 20])
    with Image.open(tmp_path / "png" / "d.png") as im:
        assert im.info["default_image"]
    gif = frame_info(tmp_path / "gif" / "d.gif")
    assert (gif["n"], gif["durations"]) == (2, [10, 20])
    want = expected(src, 2)[1:]
    for got, w in zip(decoded_frames(tmp_path / "gif" / "d.gif"), want, strict=True):
        assert mean_abs_diff(got, w) <= 4.0


def test_webp_alpha_to_gif_clears_pixels_that_turn_transparent(tmp_path: Path) -> None:
    """WebP has no disposal; a GIF frame after which opaque pixels turn transparent must be
    restored to the background, or the old pixels would show through."""
    src = save_animation(tmp_path / "in" / "a.webp", frames_rgba(True), loop=0, lossless=True)
    code, out = run(src, "-o", tmp_path / "out", "--format", "gif")
    assert code == 0, out
    dst = tmp_path / "out" / "a.gif"
    assert frame_info(dst)["disposal"][:2] == [2, 2]
    for k, got in enumerate(decoded_frames(dst)):
        clear = 2 * (6 + 4 * k)
        assert (got[:, : clear - 4, 3] == 0).all(), k
        assert (got[:, clear + 4 :, 3] == 255).all(), k
