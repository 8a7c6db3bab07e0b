"""`sronnx upscale` and the Upscaler API on real images and real onnxruntime.

Most runs are in-process (click's runner) on small images; the ones about processes (kill -9
and resume, a terminal's progress bar, torch blocked from import) run the real command in a
subprocess. The models are small untrained exports (`rsp` untrained is exactly bicubic, which
makes colour checks predictable); a run of the shipped x3 model skips until one ships.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import png
import pytest
from helpers import (
    BLOCK_TORCH,
    CLI,
    RSP,
    cli,
    data_dir,
    huge_png,
    no_traceback,
    photo,
    read16,
    save,
)
from PIL import Image, ImageCms

from sronnx.engine.upscaler import Upscaler
from sronnx.io.formats.png import png_bit_depth
from sronnx.io.images import PART_SUFFIX


def png16(path: Path, arr: np.ndarray) -> Path:
    planes = 1 if arr.ndim == 2 else arr.shape[2]
    mode = {1: "L;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[planes]
    png.from_array(arr.reshape(arr.shape[0], -1), mode).save(str(path))
    return path


# ---- library API ---------------------------------------------------------------------


def test_upscaler_returns_the_type_and_kind_it_was_given(model: Path) -> None:
    up = Upscaler(model, "cpu", tile=24)
    rgb = photo(20, 30)
    grey = rgb[:, :, 0]
    alpha = np.tile(np.linspace(0, 255, 30).astype(np.uint8), (20, 1))
    pal = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 0
    pil_cases = {
        "RGB": (Image.fromarray(rgb), "RGB"),
        "RGBA": (Image.fromarray(np.dstack([rgb, alpha])), "RGBA"),
        "L": (Image.fromarray(grey), "L"),
        "LA": (Image.fromarray(np.dstack([grey, alpha])), "LA"),
        "P": (pal, "RGB"),
        "P+transparency": (pal_t, "RGBA"),
        "1": (Image.fromarray(grey).convert("1"), "L"),
        "I;16": (Image.fromarray(grey.astype(np.uint16) * 257), "I;16"),
        "CMYK": (Image.fromarray(rgb).convert("CMYK"), "RGB"),
    }
    for name, (img, mode) in pil_cases.items():
        out = up.upscale(img)
        assert isinstance(out, Image.Image) and out.mode == mode, name
        assert out.size == (60, 40), name
    for arr in [rgb, grey, np.dstack([rgb, alpha]), np.dstack([grey, alpha]),
                rgb.astype(np.uint16) * 257, rgb.astype(np.float32) / 255]:
        out = up.upscale(arr)
        assert isinstance(out, np.ndarray) and out.dtype == arr.dtype
        assert out.shape == (40, 60, *arr.shape[2:])
    with pytest.raises(ValueError, match="image array"):
        up.upscale(np.zeros((4, 4, 5), np.uint8))


def test_rgba_soft_edge_keeps_its_colour_without_dark_fringe(model: Path) -> None:
    colour = np.array([230, 140, 40], np.uint8)
    yy, xx = np.mgrid[:48, :48]
    radius = np.hypot(yy - 24, xx - 24)
    alpha = np.clip((18 - radius) / 4, 0, 1)  # opaque disc, 4-pixel soft edge
    rgba = np.zeros((48, 48, 4), np.uint8)
    rgba[..., 3] = np.rint(alpha * 255)
    rgba[rgba[..., 3] > 0, :3] = colour  # transparent pixels are black, as often saved
    up = Upscaler(model, "cpu")
    out = up.upscale(Image.fromarray(rgba))
    res = np.asarray(out).astype(int)
    a = res[..., 3]
    semi = (a >= 13) & (a < 255)  # every visibly semi-transparent pixel (alpha >= 5%)
    assert semi.sum() > 1000
    opaque = res[a == 255][:, :3].mean(axis=0)
    assert np.abs(opaque - colour).max() <= 1
    darkening = (opaque - res[semi][:, :3]).max()
    assert darkening <= 3, f"semi-transparent colour darker by {darkening} levels"
    # the naive way (colour through the model as it is stored) does darken the edge
    naive = up.upscale(rgba[..., :3]).astype(int)
    assert (opaque - naive[semi]).max() > 30


# ---- images as people have them, through the command ---------------------------------


def test_16_bit_png_stays_16_bit_and_uses_the_low_byte(model: Path, tmp_path: Path) -> None:
    base = photo().astype(np.uint16) * 257
    src = tmp_path / "in"
    src.mkdir()
    png16(src / "a.png", base)
    png16(src / "b.png", base + 77)  # same high bytes, different low bytes
    png16(src / "grey.png", base[:, :, 1])
    png16(src / "ga.png", np.dstack([base[:, :, 1], base[:, :, 2]]))
    r = cli(src, "-o", tmp_path / "out", "--model", model, "--provider", "cpu")
    assert r.exit_code == 0, r.output
    out = {p.name: p for p in (tmp_path / "out").iterdir()}
    for name in ("a.png", "b.png", "grey.png", "ga.png"):
        assert png_bit_depth(out[name]) == 16, name
    a, b = read16(out["a.png"]), read16(out["b.png"])
    assert a.shape == (80, 112, 3)
    assert (a != b).mean() > 0.9  # low bytes reach the model and change the result
    assert (a >> 8 == b >> 8).mean() > 0.5
    assert read16(out["grey.png"]).shape == (80, 112, 1)
    assert read16(out["ga.png"]).shape == (80, 112, 2)


def test_cmyk_jpeg_becomes_rgb_jpeg(model: Path, tmp_path: Path) -> None:
    save(tmp_path / "in" / "c.jpg", Image.new("CMYK", (24, 16), (0, 255, 255, 0)), quality=95)
    r = cli(tmp_path / "in", "-o", tmp_path / "out", "--model", model, "--provider", "cpu")
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "out" / "c.jpg") as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (48, 32))
        red = np.asarray(im).reshape(-1, 3).mean(axis=0)
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_exif_orientation_is_applied(model: Path, tmp_path: Path) -> None:
    arr = np.full((20, 40, 3), 30, np.uint8)
    arr[:6, :6] = (255, 0, 0)  # red mark, stored top-left
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: the mark goes top-right
    save(tmp_path / "in" / "r.jpg", img, quality=95, exif=exif)
    r = cli(tmp_path / "in", "-o", tmp_path / "out", "--model", model, "--provider", "cpu")
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "out" / "r.jpg") as im:
        assert im.size == (40, 80)
        assert im.getexif().get(0x0112, 1) == 1
        out = np.asarray(im).astype(int)
    assert out[:8, -8:, 0].mean() > 180 and out[:8, :8, 0].mean() < 80


def test_icc_profile_and_dpi_are_carried(model: Path, tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "in"
    save(src / "p.png", photo(), icc_profile=icc, dpi=(72, 72))
    save(src / "j.jpg", photo(), icc_profile=icc, dpi=(300, 300), quality=90)
    png16(src / "h.png", photo().astype(np.uint16) * 257)  # carries neither: none invented
    r = cli(src, "-o", tmp_path / "out", "--model", model, "--provider", "cpu")
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "out" / "p.png") as im:
        assert im.info["icc_profile"] == icc
        assert im.info["dpi"] == pytest.approx((144, 144), abs=0.1)
    with Image.open(tmp_path / "out" / "j.jpg") as im:
        assert im.info["icc_profile"] == icc
        assert im.info["dpi"] == pytest.approx((600, 600))
    with Image.open(tmp_path / "out" / "h.png") as im:
        assert "icc_profile" not in im.info and "dpi" not in im.info  # none to carry


def test_16_bit_png_carries_icc_and_dpi(model: Path, tmp_path: Path) -> None:
    from sronnx.io.formats.png import write_png

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    (tmp_path / "in").mkdir()
    with open(tmp_path / "in" / "h.png", "wb") as fh:
        write_png(fh, photo().astype(np.uint16) * 257, icc_profile=icc, dpi=(150, 150))
    r = cli(tmp_path / "in", "-o", tmp_path / "out", "--model", model, "--provider", "cpu")
    assert r.exit_code == 0, r.output
    out = tmp_path / "out" / "h.png"
    assert png_bit_depth(out) == 16
    with Image.open(out) as im:
        assert im.info["icc_profile"] == icc
        assert im.info["dpi"] == pytest.approx((300, 300), abs=0.1)


def test_grey_palette_and_alpha_keep_their_kind(model: Path, tmp_path: Path) -> None:
    rgb = photo()
    src = tmp_path / "in"
    save(src / "grey.png", rgb[:, :, 0])
    save(src / "pal.png", Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE))
    save(src / "la.png", np.dstack([rgb[:, :, 0], np.full(rgb.shape[:2], 128, np.uint8)]))
    save(src / "rgba.webp", np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)]),
         lossless=True)
    r = cli(src, "-o", tmp_path / "out", "--model", model, "--provider", "cpu")
    assert r.exit_code == 0, r.output
    modes = {p.name: Image.open(p).mode for p in (tmp_path / "out").iterdir()}
    assert modes == {"grey.png": "L", "pal.png": "RGB", "la.png": "LA", "rgba.webp": "RGBA"}
    # a still GIF comes out as a GIF (a palette again: see tests/io/test_frames_alpha.py)
    gif = save(tmp_path / "anim.gif", Image.fromarray(rgb).convert("P"))
    r = cli(gif, "-o", tmp_path / "out", "--model", model, "--provider", "cpu")
    assert r.exit_code == 0, r.output
    with Image.open(tmp_path / "out" / "anim.gif") as im:
        assert (im.format, im.mode, im.size) == ("GIF", "P", (112, 80))


def test_output_format_and_quality(model: Path, tmp_path: Path) -> None:
    save(tmp_path / "in" / "a.png", photo(64, 96))
    sizes = {}
    for fmt, q in [("jpg", 95), ("jpg", 20), ("webp", 90), ("png", 95)]:
        out = tmp_path / f"out_{fmt}_{q}"
        r = cli(tmp_path / "in", "-o", out, "--model", model, "--provider", "cpu",
                "--format", fmt, "--quality", q)
        assert r.exit_code == 0, r.output
        (f,) = out.iterdir()
        assert f.suffix == "." + fmt
        with Image.open(f) as im:
            assert im.format == {"jpg": "JPEG", "webp": "WEBP", "png": "PNG"}[fmt]
            assert im.size == (192, 128)
        sizes[fmt, q] = f.stat().st_size
    assert sizes["jpg", 20] < sizes["jpg", 95] * 0.6


# ---- bad input, planning, existing outputs -------------------------------------------


def test_bad_files_get_one_line_and_the_run_goes_on(model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    good = save(src / "good1.png", photo())
    save(src / "good2.jpg", photo(), quality=90)
    (src / "empty.png").write_bytes(b"")
    (src / "text.png").write_text("not an image at all\n" * 20)
    (src / "corrupt.jpg").write_bytes(os.urandom(2000))
    (src / "truncated.png").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    huge_png(src / "bomb.png")
    report = tmp_path / "report.json"
    r = cli(src, "-o", tmp_path / "out", "--model", model, "--provider", "cpu",
            "--json", report)
    assert r.exit_code == 1
    no_traceback(r)
    failed = [ln for ln in r.output.splitlines() if ln.startswith("failed: ")]
    assert len(failed) == 5
    reasons = {Path(ln.split(": ")[1]).name: ln for ln in failed}
    assert "empty file" in reasons["empty.png"]
    assert "not an image" in reasons["text.png"] and "not an image" in reasons["corrupt.jpg"]
    assert "truncated" in reasons["truncated.png"]
    assert "100000x100000" in reasons["bomb.png"] and "--max-pixels" in reasons["bomb.png"]
    assert "2 done, 5 failed, 0 skipped" in r.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good1.png", "good2.jpg"]
    rep = json.loads(report.read_text())
    assert (rep["done"], rep["failed"], rep["skipped"]) == (2, 5, 0)
    by_name = {Path(f["input"]).name: f for f in rep["files"]}
    assert set(by_name) == {"good1.png", "good2.jpg", "empty.png", "text.png", "corrupt.jpg",
                            "truncated.png", "bomb.png"}
    g = by_name["good1.png"]
    assert g["status"] == "done" and g["error"] is None and g["seconds"] > 0
    assert g["input_size"] == [56, 40] and g["output_size"] == [112, 80]
    assert g["output"] == str(tmp_path / "out" / "good1.png")
    assert by_name["bomb.png"]["status"] == "failed" and "limit" in by_name["bomb.png"]["error"]
    # the pixel limit is adjustable both ways
    r = cli(good, "-o", tmp_path / "small", "--model", model, "--provider", "cpu",
            "--max-pixels", 1000)
    assert r.exit_code == 1 and "over the limit of 1,000" in r.output


def test_no_input_is_exit_2_with_a_message(model: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("x")
    save(tmp_path / "deep" / "sub" / "a.png", photo())
    for args in ([tmp_path / "empty"], [tmp_path / "missing"], [tmp_path / "docs"],
                 [tmp_path / "deep"]):
        r = cli(*args, "-o", tmp_path / "out", "--model", model, "--provider", "cpu")
        assert r.exit_code == 2, r.output
        assert "no input images found" in r.output
        assert ("no such file or folder" in r.output) == (args[0].name == "missing")
        no_traceback(r)
    assert "--recursive" in r.output
    assert not (tmp_path / "out").exists()


def test_missing_input_among_good_ones_is_a_failure_not_a_stop(model: Path,
                                                               tmp_path: Path) -> None:
    a = save(tmp_path / "a.png", photo())
    r = cli(a, tmp_path / "missing.png", "-o", tmp_path / "out", "--model", model,
            "--provider", "cpu")
    assert r.exit_code == 1
    assert "missing.png: no such file or folder" in r.output
    assert (tmp_path / "out" / "a.png").is_file()


def test_never_overwrites_an_input(model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    a = save(src / "a.png", photo())
    before = a.read_bytes()
    r = cli(src, "-o", src, "--model", model, "--provider", "cpu")
    assert r.exit_code == 2 and "would overwrite the input" in r.output
    no_traceback(r)
    r = cli(a, "-o", src, "--model", model, "--provider", "cpu", "--overwrite")
    assert r.exit_code == 2
    save(src / "b.jpg", photo())
    r = cli(src, "-o", src, "--model", model, "--provider", "cpu", "--format", "png")
    assert r.exit_code == 2  # b.jpg -> b.png is fine, but a.png -> a.png is not
    assert a.read_bytes() == before
    r = cli(src, "-o", src, "--model", model, "--provider", "cpu", "--suffix", "_x2")
    assert r.exit_code == 0, r.output
    assert a.read_bytes() == before and (src / "a_x2.png").is_file()
    r = cli(a, "-o", tmp_path / "o", "--model", model, "--json", a)
    assert r.exit_code == 2 and a.read_bytes() == before
    (tmp_path / "file").write_text("x")
    r = cli(a, "-o", tmp_path / "file", "--model", model)
    assert r.exit_code == 2 and "not a folder" in r.output


def test_existing_outputs_refused_skipped_or_replaced(model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    save(src / "a.png", photo())
    save(src / "b.png", photo(30, 30))
    out = tmp_path / "out"
    save(out / "a.png", np.zeros((5, 5, 3), np.uint8))
    r = cli(src, "-o", out, "--model", model, "--provider", "cpu")
    # refused up front, before any work: one message, nothing replaced, nothing written
    assert r.exit_code == 2 and "1 output already exists: " in r.output
    assert "--skip-existing" in r.output and "--overwrite" in r.output
    assert Image.open(out / "a.png").size == (5, 5)
    assert not (out / "b.png").exists()
    r = cli(src, "-o", out, "--model", model, "--provider", "cpu", "--skip-existing")
    assert r.exit_code == 0 and "1 done, 0 failed, 1 skipped" in r.output
    assert Image.open(out / "a.png").size == (5, 5)
    assert Image.open(out / "b.png").size == (60, 60)
    r = cli(src, "-o", out, "--model", model, "--provider", "cpu", "--overwrite")
    assert r.exit_code == 0 and "2 done" in r.output
    assert Image.open(out / "a.png").size == (112, 80)
    r = cli(src, "-o", out, "--model", model, "--skip-existing", "--overwrite")
    assert r.exit_code == 2


def test_relative_layout_recursive_and_outdir_inside_input(model: Path,
                                                           tmp_path: Path) -> None:
    src = tmp_path / "photos"
    save(src / "a.png", photo())
    save(src / "trip" / "day1" / "b.jpg", photo(30, 30))
    save(src / ".hidden" / "c.png", photo(30, 30))
    out = src / "big"  # inside the input folder
    for _ in range(2):  # a second run must not take the first run's outputs as inputs
        r = cli(src, "-o", out, "--model", model, "--provider", "cpu", "--recursive",
                "--skip-existing")
        assert r.exit_code == 0, r.output
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["a.png", "trip/day1/b.jpg"]
    r = cli(src, "-o", tmp_path / "flat", "--model", model, "--provider", "cpu")
    assert r.exit_code == 0
    assert [p.name for p in (tmp_path / "flat").iterdir()] == ["a.png"]


def test_batch_and_tile_options_give_the_untiled_result(model: Path, tmp_path: Path) -> None:
    save(tmp_path / "in" / "a.png", photo(60, 80))
    outs = []
    for extra in (["--tile", "4096"], ["--tile", "17", "--batch", "4"],
                  ["--tile", "24", "--tile-overlap", "6", "--batch", "2"]):
        out = tmp_path / f"out{len(outs)}"
        r = cli(tmp_path / "in", "-o", out, "--model", model, "--provider", "cpu", *extra)
        assert r.exit_code == 0, r.output
        outs.append(np.asarray(Image.open(out / "a.png")).astype(int))
    assert np.abs(outs[1] - outs[0]).max() <= 1 and np.abs(outs[2] - outs[0]).max() <= 1


def test_provider_cuda_without_cuda_stops_before_writing(model: Path, tmp_path: Path) -> None:
    from sronnx.runtime.session import cuda_unavailable_reason

    if cuda_unavailable_reason() is None:
        pytest.skip("this onnxruntime offers CUDA: the no-CUDA path cannot be shown here")
    save(tmp_path / "in" / "a.png", photo())
    r = cli(tmp_path / "in", "-o", tmp_path / "out", "--model", model, "--provider", "cuda")
    assert r.exit_code == 2
    no_traceback(r)
    assert "--provider cuda" in r.output and "CUDA" in r.output and "gpu" in r.output
    assert not (tmp_path / "out").exists()
    r = cli(tmp_path / "in", "-o", tmp_path / "out", "--model", model, "--provider", "auto")
    assert r.exit_code == 0
    assert "on CPU (auto: no usable CUDA provider)" in r.output


def test_bad_model_is_exit_2(tmp_path: Path) -> None:
    save(tmp_path / "in" / "a.png", photo())
    (tmp_path / "m.onnx").write_bytes(b"not a model")
    for m in (tmp_path / "m.onnx", tmp_path / "none.onnx", "no-such-shipped-model"):
        r = cli(tmp_path / "in", "-o", tmp_path / "out", "--model", m, "--provider", "cpu")
        assert r.exit_code == 2, r.output
        no_traceback(r)
        assert r.output.startswith("error: ")


def test_output_lines_plain_and_quiet(model: Path, tmp_path: Path) -> None:
    save(tmp_path / "in" / "a.png", photo())
    r = cli(tmp_path / "in", "-o", tmp_path / "o1", "--model", model, "--provider", "cpu")
    lines = r.output.splitlines()
    assert lines[0].startswith("model ") and "on CPU" in lines[0]
    assert lines[1].startswith("done: ") and "a.png" in lines[1]
    assert lines[2].startswith("1 done, 0 failed, 0 skipped")
    r = cli(tmp_path / "in", "-o", tmp_path / "o2", "--model", model, "--provider", "cpu",
            "--quiet")
    assert r.exit_code == 0 and r.output == ""


# ---- processes: kill -9 and resume, terminal progress, torch blocked ------------------


def test_kill_9_leaves_only_whole_images_and_skip_existing_resumes(model: Path,
                                                                   tmp_path: Path) -> None:
    src = data_dir("test", "Set5")
    out = tmp_path / "out"
    cmd = [*CLI, "upscale", str(src), "-o", str(out), "--model", str(model),
           "--provider", "cpu", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and any(not p.name.startswith(".") for p in out.iterdir()):
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    finished = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert 1 <= len(finished) < 5
    for name in finished:  # everything under an output name is a whole image
        with Image.open(out / name) as im:
            im.load()
            src_size = Image.open(src / name).size
            assert im.size == (src_size[0] * 2, src_size[1] * 2)
    stamps = {n: (out / n).stat().st_mtime_ns for n in finished}
    (out / f".bird.png.999999999{PART_SUFFIX}").write_bytes(b"half")  # as a kill mid-write
    report = tmp_path / "r.json"
    r = subprocess.run([*cmd, "--skip-existing", "--json", str(report)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rep = {Path(f["input"]).name: f["status"] for f in json.loads(report.read_text())["files"]}
    assert {n for n, s in rep.items() if s == "skipped"} == set(finished)
    assert {n for n, s in rep.items() if s == "done"} == set(rep) - set(finished)
    assert sorted(p.name for p in out.iterdir()) == sorted(rep)  # part files removed
    assert all((out / n).stat().st_mtime_ns == t for n, t in stamps.items())


def test_progress_bar_on_a_terminal(model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    for i in range(3):
        save(src / f"{i}.png", photo(30 + i, 40))
    master, slave = pty.openpty()
    proc = subprocess.Popen([*CLI, "upscale", str(src), "-o", str(tmp_path / "out"),
                             "--model", str(model), "--provider", "cpu"],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0
    text = b"".join(chunks).decode(errors="replace")
    assert "upscaling" in text and "3/3" in text and "MP/s" in text
    assert "done: " not in text  # the bar replaces the plain per-file lines


def test_set14_x3_whole_command_with_torch_blocked(exported_models, tmp_path: Path) -> None:
    model = exported_models(RSP, 3)
    set14 = data_dir("test", "Set14")
    out = tmp_path / "out"
    code = BLOCK_TORCH + (
        "from sronnx.cli import main\n"
        f"try:\n    main(['upscale', {str(set14)!r}, '-o', {str(out)!r}, '--scale', '3',"
        f" '--model', {str(model)!r}, '--provider', 'cpu', '--quiet'])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "assert not [m for m in sys.modules if m.startswith(('torch.', 'onnx.'))]\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    _check_set14_x3(set14, out)


def test_set14_x3_with_the_shipped_model(tmp_path: Path) -> None:
    from sronnx.core.shipped import shipped_models

    if not any(m.scale == 3 for m in shipped_models()):
        pytest.skip("no shipped x3 model yet (sronnx/models/index.json lists none)")
    set14 = data_dir("test", "Set14")
    r = subprocess.run([*CLI, "upscale", str(set14), "-o", str(tmp_path / "out"),
                        "--scale", "3", "--quiet"], capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr
    _check_set14_x3(set14, tmp_path / "out")


def _check_set14_x3(set14: Path, out: Path) -> None:
    outs = sorted(out.iterdir())
    assert len(outs) == 14
    for p in outs:
        with Image.open(set14 / p.name) as src, Image.open(p) as im:
            assert im.size == (src.width * 3, src.height * 3), p.name
            assert im.mode == src.mode, p.name  # bridge.png is greyscale and stays so


def _cuda_reason() -> str | None:
    from sronnx.runtime.session import cuda_unavailable_reason

    return cuda_unavailable_reason()


@pytest.mark.skipif(_cuda_reason() is not None,
                    reason="needs the CUDA execution provider (onnxruntime-gpu and a GPU)")
def test_provider_cuda_matches_cpu(model: Path, tmp_path: Path) -> None:
    """The same folder through CUDA and through the CPU: the same images, to rounding."""
    save(tmp_path / "in" / "a.png", photo(70, 90))
    outs = []
    for provider in ("cpu", "cuda"):
        out = tmp_path / provider
        r = cli(tmp_path / "in", "-o", out, "--model", model, "--provider", provider,
                "--tile", "32")
        assert r.exit_code == 0, r.output
        assert f"on {provider.upper()}" in r.output
        outs.append(np.asarray(Image.open(out / "a.png")).astype(int))
    assert np.abs(outs[1] - outs[0]).max() <= 1
