"""`sronnx upscale` output sizes: -s/--outscale, --width and --height (the model's output
resampled; the model scale picked for a factor), and outputs too large for their format or
for --max-output-pixels, refused from the headers before any work.

Everything runs on real images (Set5 crops and small synthetic ones), real onnxruntime and the
real command (click's runner, in-process). The tiny model is an untrained export (exact
bicubic); the rule that picks a model scale for -s runs the shipped models.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import png
import pytest
from click.testing import Result
from helpers import checked_cli as cli
from helpers import errors, photo, save
from PIL import Image

from sronnx.engine.batch import run_jobs
from sronnx.engine.planner import Job, OutputOptions
from sronnx.engine.upscaler import Upscaler


def model_line(r: Result) -> str:
    return next(line for line in r.output.splitlines() if line.startswith("model "))


# ---- 1. output size ----------------------------------------------------------------------


def test_outscale_width_and_height_through_the_command(model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    save(src / "a.png", photo(40, 56))
    cases = {("-s", "1.5"): (84, 60), ("-s", "0.5"): (28, 20), ("--width", "100"): (100, 71),
             ("--height", "30"): (42, 30), ("--width", "30", "--height", "90"): (30, 90)}
    for k, (args, size) in enumerate(cases.items()):
        r = cli(src, "-o", tmp_path / f"o{k}", "--model", model, "--provider", "cpu", *args)
        assert r.exit_code == 0, r.output
        assert "x2 on CPU, resampled to " in model_line(r)
        with Image.open(tmp_path / f"o{k}" / "a.png") as im:
            assert im.size == size, args
    # -s equal to the model's own scale is the model's output itself, byte for byte
    for name, extra in (("plain", ()), ("s2", ("-s", "2"))):
        r = cli(src, "-o", tmp_path / name, "--model", model, "--provider", "cpu", *extra)
        assert r.exit_code == 0 and "resampled" not in r.output
    assert (tmp_path / "plain" / "a.png").read_bytes() == (tmp_path / "s2" / "a.png").read_bytes()


def test_outscale_resamples_the_models_output(model: Path, tmp_path: Path) -> None:
    """-s 3 on the x2 model is its x2 output enlarged with Lanczos; -s 1.5 reduced by area
    (float per channel: within a rounding of Pillow's 8-bit resize of the same output)."""
    a = photo(40, 56)
    save(tmp_path / "in" / "a.png", a)
    x2 = Upscaler(model, "cpu").upscale_array(a)
    for outscale, flt in (("3", Image.Resampling.LANCZOS), ("1.5", Image.Resampling.BOX)):
        out = tmp_path / f"o{outscale}"
        assert cli(tmp_path / "in", "-o", out, "--model", model, "--provider", "cpu",
                   "-s", outscale).exit_code == 0
        got = np.asarray(Image.open(out / "a.png")).astype(int)
        size = (round(56 * float(outscale)), round(40 * float(outscale)))
        ref = np.asarray(Image.fromarray(x2).resize(size, flt)).astype(int)
        assert got.shape == (size[1], size[0], 3) and np.abs(got - ref).max() <= 1


def test_outscale_picks_the_model_scale(tmp_path: Path) -> None:
    """Without --scale and --model: the smallest shipped scale >= the factor, at most 4;
    --scale still names the model; --width/--height take the largest factor any input
    needs."""
    save(tmp_path / "in" / "a.png", photo(20, 24))
    for k, (args, scale, size) in enumerate([
            (("-s", "1.5"), 2, (36, 30)), (("-s", "2.5"), 3, (60, 50)),
            (("-s", "3.5"), 4, (84, 70)), (("-s", "6"), 4, (144, 120)),
            (("--scale", "3", "-s", "1.5"), 3, (36, 30)), (("--width", "60"), 3, (60, 50)),
            (("--height", "90"), 4, (108, 90))]):
        out = tmp_path / f"o{k}"
        r = cli(tmp_path / "in", "-o", out, "--provider", "cpu", "--input-kind", "clean",
                *args)
        assert r.exit_code == 0, r.output
        assert f"-x{scale}-int8.onnx x{scale} on CPU" in model_line(r), (args, r.output)
        with Image.open(out / "a.png") as im:
            assert im.size == size, args


def test_sixteen_bit_alpha_animation_and_dpi_are_resampled(model: Path,
                                                           tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    ramp = np.linspace(20000, 21000, 20 * 24).reshape(20, 24).astype(np.uint16)
    png.from_array(np.dstack([ramp, ramp[::-1], ramp[:, ::-1]]).reshape(20, -1),
                   "RGB;16").save(str(src / "deep.png"))
    rgba = np.zeros((20, 24, 4), np.uint8)
    rgba[..., 0] = 255  # red under alpha 0
    rgba[5:15, 6:18] = (0, 255, 0, 255)
    save(src / "logo.png", rgba)
    frames = [Image.fromarray(photo(16, 20, n)) for n in ("bird.png", "baby.png", "head.png")]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:],
                   duration=[100, 200, 300], loop=0)
    save(src / "dpi.png", photo(20, 24), dpi=(72, 72))
    report = tmp_path / "r.json"
    out = tmp_path / "out"
    r = cli(src, "-o", out, "--model", model, "--provider", "cpu", "--width", "36",
            "--height", "40", "--json", report)
    assert r.exit_code == 0, r.output
    files = {Path(f["input"]).name: f for f in json.loads(report.read_text())["files"]}
    assert {n: f["output_size"] for n, f in files.items()} == {
        n: [36, 40] for n in ("deep.png", "logo.png", "anim.gif", "dpi.png")}
    # 16-bit stays 16-bit, resampled in float from the model's 16-bit output
    w, h, rows, info = png.Reader(filename=str(out / "deep.png")).asDirect()
    deep = np.vstack([np.asarray(row, np.uint16) for row in rows]).reshape(h, w, 3)
    assert info["bitdepth"] == 16 and (w, h) == (36, 40)
    assert np.any(deep % 257 != 0)  # not 8-bit values widened
    # the model's own 16-bit output (48x40), narrowed to 36 wide by area, each channel in
    # float (the height is already 40: that axis is left alone)
    x2 = Upscaler(model, "cpu").upscale_array(np.dstack([ramp, ramp[::-1], ramp[:, ::-1]]))
    ref = np.stack([np.asarray(Image.fromarray(x2[..., c].astype(np.float32))
                               .resize((36, 40), Image.Resampling.BOX)) for c in range(3)], -1)
    assert np.abs(deep.astype(float) - ref).max() <= 0.5 + 1e-3
    # alpha: premultiplied, so the hidden red never shows at the green logo's soft edges
    logo = np.asarray(Image.open(out / "logo.png"))
    assert logo.shape == (40, 36, 4)
    seen = logo[..., 3] > 0
    assert logo[..., 0][seen].max() <= 1 and ((0 < logo[..., 3]) & (logo[..., 3] < 255)).any()
    # an animation frame by frame, timing kept
    with Image.open(out / "anim.gif") as im:
        assert (im.size, im.n_frames) == ((36, 40), 3)
        durations = []
        for k in range(3):
            im.seek(k)
            durations.append(im.info["duration"])
        assert durations == [100, 200, 300]
    # DPI by the real factor on each axis: 36/24 = 1.5, 40/20 = 2
    with Image.open(out / "dpi.png") as im:
        assert im.info["dpi"] == pytest.approx((108, 144), abs=0.1)


def test_rerun_in_place_with_outscale_knows_its_earlier_outputs(model: Path,
                                                                tmp_path: Path) -> None:
    folder = tmp_path / "F"
    save(folder / "a.png", photo(20, 24))
    args = (folder, "-o", folder, "--suffix", "_s", "--model", model, "--provider", "cpu",
            "-s", "1.5")
    assert cli(*args).exit_code == 0
    r = cli(*args, "--skip-existing")
    assert r.exit_code == 0 and "0 done, 0 failed, 1 skipped" in r.output, r.output
    assert "a_s.png (earlier output of a.png)" in r.output
    r = cli(folder, "-o", folder, "--suffix", "_s", "--model", model, "--provider", "cpu",
            "-s", "1.7", "--skip-existing")  # another size: a file of its own, not replaced
    assert r.exit_code == 2 and "not the size this run makes from a.png" in r.output


def test_size_options_are_checked(model: Path, tmp_path: Path) -> None:
    save(tmp_path / "in" / "a.png", photo(20, 24))
    for args, why in ((("-s", "0"), "not a positive number"),
                      (("-s", "-2"), "not a positive number"),
                      (("-s", "nan"), "not a positive number"),
                      (("-s", "inf"), "not a positive number"),
                      (("-s", "2", "--width", "10"), "exclude each other"),
                      (("--width", "0"), "--width")):
        r = cli(tmp_path / "in", "-o", tmp_path / "o", "--model", model, *args)
        assert r.exit_code == 2 and why in r.output, (args, r.output)
    assert not (tmp_path / "o").exists()
    text = cli("--help").output
    flat = " ".join(text.split())
    assert "--scale INTEGER RANGE Which model:" in flat
    assert "Alone it is also the output size" in flat
    assert "-s, --outscale FLOAT Output size factor" in flat
    assert "smallest shipped scale >= F, at most 4" in flat


# ---- 2. --scale and --outscale help ------------------------------------------------------


def test_scale_and_outscale_help_say_what_they_do(model: Path, tmp_path: Path) -> None:
    text = " ".join(cli("--help").output.split())
    assert "It does not resize the output on its own" not in text
    assert "Alone it is also the output size (--scale 3: three times as wide and high)" in text
    assert "round(w*F) x round(h*F), the model's result resampled to it" in text
    a = save(tmp_path / "a.png", photo(20, 24))  # and so it is: --scale alone is the size
    r = cli(a, "-o", tmp_path / "o", "--scale", 3, "--provider", "cpu")
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "o" / "a.png").size == (72, 60)


# ---- 3. outputs too large, refused before any work ---------------------------------------


def test_output_over_the_format_limit_is_refused_up_front(model: Path, tmp_path: Path) -> None:
    wide = save(tmp_path / "wide.png", np.full((1, 100, 3), 90, np.uint8))
    report = tmp_path / "r.json"
    r = cli(wide, "-o", tmp_path / "big.jpg", "--width", 66000, "--model", model,
            "--json", report)
    assert r.exit_code == 2, r.output
    assert errors(r.output) == [
        f"error: {wide}: JPEG cannot hold a 66000x660 output (at most 65535 pixels a side); "
        f"name the output .png or .tif instead (-o {tmp_path / 'big.png'})"]
    assert "ValueError" not in r.output and "done" not in r.output
    assert not (tmp_path / "big.jpg").exists()
    assert json.loads(report.read_text())["error"] == errors(r.output)[0][len("error: "):]
    # the advice follows how the output was named: --format, or the input's own format
    r = cli(wide, "-o", tmp_path / "o", "--width", 20000, "--format", "webp", "--model", model)
    assert r.exit_code == 2 and "WEBP cannot hold a 20000x200 output (at most 16383 pixels " \
        "a side); choose another --format than webp: png or tiff" in r.output, r.output
    jpg = save(tmp_path / "in" / "w.jpg", np.full((8, 800, 3), 90, np.uint8))
    r = cli(jpg, "-o", tmp_path / "o", "-s", 100, "--model", model)
    assert r.exit_code == 2 and "JPEG cannot hold a 80000x800 output" in r.output
    assert "choose --format png or tiff (the output keeps the input's format by default)" \
        in r.output
    assert not (tmp_path / "o").exists()


def test_output_over_max_output_pixels_is_refused_up_front(model: Path, tmp_path: Path) -> None:
    one = save(tmp_path / "one.png", np.full((1, 1, 3), 90, np.uint8))
    r = cli(one, "-o", tmp_path / "o", "-s", 100000, "--model", model)
    assert r.exit_code == 2, r.output
    assert errors(r.output) == [
        f"error: {one}: the output would be 100000x100000 = 10,000,000,000 pixels, over "
        "--max-output-pixels 1,000,000,000; ask for a smaller size (or raise "
        "--max-output-pixels where the memory is there)"]
    assert not (tmp_path / "o").exists()
    # the frames of an animation count; several files are named in one refusal
    frames = [Image.fromarray(np.full((10, 10, 3), 40 * k, np.uint8)) for k in range(3)]
    (tmp_path / "in").mkdir()
    frames[0].save(tmp_path / "in" / "anim.gif", save_all=True, append_images=frames[1:],
                   duration=100)
    save(tmp_path / "in" / "still.png", np.full((10, 10, 3), 90, np.uint8))
    save(tmp_path / "in" / "big.png", np.full((20, 20, 3), 90, np.uint8))
    r = cli(tmp_path / "in", "-o", tmp_path / "o", "-s", 10, "--max-output-pixels", 20000,
            "--model", model)
    assert r.exit_code == 2, r.output
    assert errors(r.output) == [
        f"error: 2 outputs would be too large: {tmp_path / 'in' / 'anim.gif'}: the output "
        "would be 100x100 x 3 frames = 30,000 pixels, over --max-output-pixels 20,000; ask "
        "for a smaller size (or raise --max-output-pixels where the memory is there); "
        f"{tmp_path / 'in' / 'big.png'}: the output would be 200x200 = 40,000 pixels, over "
        "--max-output-pixels 20,000; ask for a smaller size (or raise --max-output-pixels "
        "where the memory is there)"]
    r = cli(tmp_path / "in", "-o", tmp_path / "o", "-s", 10, "--max-output-pixels", 40000,
            "--model", model, "--provider", "cpu")
    assert r.exit_code == 0 and "3 done" in r.output, r.output
    text = " ".join(cli("--help").output.split())
    assert "--max-output-pixels INTEGER RANGE Largest output accepted" in text
    assert "[default: 1000000000; x>=1]" in text


def test_sronnx_value_errors_reach_the_user_without_the_class_name(model: Path,
                                                                   tmp_path: Path) -> None:
    # the runtime's own check, for callers of run_jobs (the command refuses earlier)
    wide = save(tmp_path / "wide.png", np.full((1, 100, 3), 90, np.uint8))
    [r] = run_jobs(Upscaler(model), [Job(wide, tmp_path / "wide.webp")],
                   OutputOptions(width=16400))
    assert r.status == "failed"
    assert r.error == ("WEBP cannot hold a 16400x164 image (at most 16383 pixels a side); PNG"
                       ", TIFF, JXL and PPM have no such limit")
