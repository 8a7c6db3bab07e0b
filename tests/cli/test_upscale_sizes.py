"""Issue 13, "Upscale": the commands people already know.

Output sizes (-s/--outscale, --width, --height), familiar spellings (-n, --ext, jpeg, -i),
standard input and output (- and -o -), progress in output pixels as tiles finish, existing
outputs refused up front, and `from sronnx import Upscaler, upscale_image`.

Everything runs on real images (Set5 crops and small synthetic ones), real onnxruntime and the
real command (click's runner in-process; a subprocess where standard streams, a terminal or a
blocked torch matter). The tiny model is an untrained export (exact bicubic); the rule that
picks a model scale for -s runs the shipped models.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import png
import pytest
from click.testing import CliRunner, Result
from conftest import data_dir
from PIL import Image

from sronnx.cli import main
from sronnx.engine.batch import run_jobs
from sronnx.engine.planner import OutputOptions, plan_jobs
from sronnx.engine.upscaler import Upscaler
from sronnx.imaging.resize import pick_scale, resize_array, target_size

RSP = "rsp:channels=8,blocks=1"
BLOCK_TORCH = 'import sys; sys.modules["torch"] = None; sys.modules["onnx"] = None\n'
PNG_END = b"IEND" + zlib.crc32(b"IEND").to_bytes(4, "big")


@pytest.fixture(scope="module")
def model(exported_models) -> Path:
    return exported_models(RSP, 2)


def cli(*args: object) -> Result:
    r = CliRunner().invoke(main, ["upscale", *map(str, args)])
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r


def photo(h: int = 40, w: int = 56, name: str = "bird.png") -> np.ndarray:
    """A crop of a real image (Set5)."""
    img = Image.open(data_dir("test", "Set5") / name).convert("RGB")
    return np.asarray(img)[:h, :w].copy()


def save(path: Path, img: Image.Image | np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (img if isinstance(img, Image.Image) else Image.fromarray(img)).save(path, **kw)
    return path


def model_line(r: Result) -> str:
    return next(line for line in r.output.splitlines() if line.startswith("model "))


# ---- 1. output size ---------------------------------------------------------------------


def test_target_size_rounds_and_keeps_the_aspect_ratio() -> None:
    assert target_size((56, 40), 2) == (112, 80)
    assert target_size((56, 40), 2, outscale=1.5) == (84, 60)
    assert target_size((57, 41), 4, outscale=0.5) == (round(28.5), round(20.5)) == (28, 20)
    assert target_size((56, 40), 3, width=100) == (100, round(40 * 100 / 56))
    assert target_size((56, 40), 3, height=100) == (round(56 * 100 / 40), 100)
    assert target_size((56, 40), 3, width=30, height=200) == (30, 200)
    assert target_size((1000, 1), 2, outscale=0.1) == (100, 1)  # never 0 pixels
    assert [pick_scale(f, [2, 3, 4]) for f in (0.5, 1.5, 2, 2.01, 3, 3.5, 4, 9)] == \
        [2, 2, 2, 3, 3, 4, 4, 4]


def test_resize_array_lanczos_up_area_down_per_axis() -> None:
    """Against Pillow's own 8-bit resize: the float path is within a rounding of the right
    filter and far from the other one; each axis gets its own filter."""
    a = photo(60, 80)
    lanczos, box = Image.Resampling.LANCZOS, Image.Resampling.BOX

    def pil(size, flt):
        return np.asarray(Image.fromarray(a).resize(size, flt)).astype(int)

    up, down = resize_array(a, (120, 90)).astype(int), resize_array(a, (50, 37)).astype(int)
    assert np.abs(up - pil((120, 90), lanczos)).max() <= 1
    assert np.abs(up - pil((120, 90), box)).max() > 10
    assert np.abs(down - pil((50, 37), box)).max() <= 1
    assert np.abs(down - pil((50, 37), lanczos)).max() > 5
    mixed = resize_array(a, (120, 40)).astype(int)  # wider (Lanczos), lower (area)
    ref = np.asarray(Image.fromarray(a).resize((120, 60), lanczos).resize((120, 40), box))
    assert np.abs(mixed - ref.astype(int)).max() <= 1
    assert resize_array(a, (80, 60)) is a  # the same size: untouched


def test_resize_array_keeps_16_bit_float_grey_and_alpha() -> None:
    ramp = np.linspace(20000, 21000, 24 * 32).reshape(24, 32).astype(np.uint16)
    out = resize_array(ramp, (48, 36))
    assert out.dtype == np.uint16 and out.shape == (36, 48)
    assert len(np.unique(out)) > 256  # the low byte is kept, not 8-bit steps of 257
    assert 19990 <= out.min() and out.max() <= 21010  # a smooth ramp barely overshoots
    f = resize_array(ramp.astype(np.float32) / 65535, (16, 12))
    assert f.dtype == np.float32 and f.shape == (12, 16) and 0 <= f.min() <= f.max() <= 1
    # red hidden under alpha 0 around an opaque green square: premultiplied, none shows
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[5:15, 5:15] = (0, 255, 0, 255)
    out = resize_array(rgba, (31, 29))
    seen = out[..., 3] > 0
    assert out[..., 0][seen].max() == 0 and out[..., 1][seen].min() == 255
    assert 0 < (out[..., 3][seen] < 255).sum()  # soft edges exist, and they stay green
    la = np.dstack([np.full((9, 9), 200, np.uint16) * 300, np.full((9, 9), 65535, np.uint16)])
    assert resize_array(la, (5, 5)).tolist() == np.dstack(
        [np.full((5, 5), 60000), np.full((5, 5), 65535)]).tolist()  # flat stays exact


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


# ---- 2. familiar spellings ---------------------------------------------------------------


def test_familiar_spellings(model: Path, tmp_path: Path) -> None:
    a = save(tmp_path / "a.png", photo(20, 24))
    b = save(tmp_path / "b.png", photo(22, 26))
    c = save(tmp_path / "more" / "c.png", photo(18, 20))
    r = cli(a, "-i", b, "--input", tmp_path / "more", "-o", tmp_path / "o", "-n", model,
            "--ext", "jpeg", "--provider", "cpu")
    assert r.exit_code == 0 and "3 done" in r.output, r.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a.jpg", "b.jpg", "c.jpg"]
    with Image.open(tmp_path / "o" / "c.jpg") as im:
        assert (im.format, im.size) == ("JPEG", (40, 36))
    r = cli("-i", c, "-o", tmp_path / "o2", "--model", model, "--format", "auto")
    assert r.exit_code == 0 and (tmp_path / "o2" / "c.png").is_file()
    r = cli("-o", tmp_path / "o3", "--model", model)
    assert r.exit_code == 2 and "no input given" in r.output
    assert "Usage:" in r.output and not (tmp_path / "o3").exists()


def test_every_option_has_help() -> None:
    import click

    from sronnx.cli.upscale import upscale

    missing = [p.name for p in upscale.params if isinstance(p, click.Option) and not p.help]
    assert missing == []


# ---- 3. standard input and output ----------------------------------------------------------


def _sronnx(args: list[str], data: bytes, torch_blocked: bool = False
            ) -> subprocess.CompletedProcess:
    head = [sys.executable, "-m", "sronnx"] if not torch_blocked else \
        [sys.executable, "-c", BLOCK_TORCH + "from sronnx.cli import main; main()"]
    return subprocess.run([*head, "upscale", *args], input=data, capture_output=True,
                          timeout=300)


def test_stdin_to_stdout(model: Path, tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(photo(30, 44)).save(buf, "JPEG", quality=90)
    r = _sronnx(["-", "-o", "-", "--model", str(model), "--provider", "cpu"], buf.getvalue())
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.startswith(b"\x89PNG\r\n\x1a\n") and r.stdout.endswith(PNG_END)
    with Image.open(io.BytesIO(r.stdout)) as im:  # the whole of stdout is one PNG
        assert (im.format, im.size) == ("PNG", (88, 60))
    err = r.stderr.decode()
    assert "done: - -> -" in err and "1 done, 0 failed" in err
    # --format says the format; a named input keeps its own with 'same'
    r = _sronnx(["-", "-o", "-", "--model", str(model), "--format", "webp", "-s", "1.5"],
                buf.getvalue())
    assert r.returncode == 0, r.stderr.decode()
    with Image.open(io.BytesIO(r.stdout)) as im:
        assert (im.format, im.size) == ("WEBP", (66, 45))
    jpg = tmp_path / "a.jpg"
    jpg.write_bytes(buf.getvalue())
    r = _sronnx([str(jpg), "-o", "-", "--model", str(model), "--quiet"], b"")
    assert r.returncode == 0 and r.stderr == b""
    with Image.open(io.BytesIO(r.stdout)) as im:
        assert (im.format, im.size) == ("JPEG", (88, 60))
    # standard input into a folder and into a named file
    r = _sronnx(["-", "-o", str(tmp_path / "o"), "--model", str(model)], buf.getvalue())
    assert r.returncode == 0 and r.stdout == b""
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["stdin.png"]
    r = _sronnx(["-", "-o", str(tmp_path / "b.webp"), "--model", str(model)], buf.getvalue())
    assert r.returncode == 0 and Image.open(tmp_path / "b.webp").size == (88, 60)


def test_stdin_and_stdout_problems(model: Path, tmp_path: Path) -> None:
    a = save(tmp_path / "a.png", photo(20, 24))
    r = _sronnx(["-", "-o", "-", "--model", str(model)], b"not an image")
    assert r.returncode == 1 and r.stdout == b""
    assert "failed: -: cannot read image: not an image file" in r.stderr.decode()
    r = _sronnx(["-", "-o", "-", "--model", str(model)], b"")
    assert r.returncode == 1 and "empty file" in r.stderr.decode()
    for args, why in (([str(a), "-", "-o", "-"], "must be the only input"),
                      ([str(a), str(a), "-o", "-"], "takes exactly one input file"),
                      ([str(tmp_path), "-o", "-"], "takes exactly one input file")):
        r = _sronnx([*args, "--model", str(model)], b"")
        assert r.returncode == 2 and why in r.stderr.decode() and r.stdout == b"", args


def test_stdin_to_stdout_with_torch_blocked(model: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(photo(20, 24)).save(buf, "PNG")
    r = _sronnx(["-", "-o", "-", "--model", str(model)], buf.getvalue(), torch_blocked=True)
    assert r.returncode == 0, r.stderr.decode()
    assert Image.open(io.BytesIO(r.stdout)).size == (48, 40)


# ---- 4. progress in output pixels ----------------------------------------------------------


def test_on_tile_adds_up_to_the_output_pixels(model: Path) -> None:
    up = Upscaler(model, "cpu", tile=32)
    calls: list[int] = []
    out = up.upscale_array(photo(70, 100), on_tile=calls.append)
    assert out.shape == (140, 200, 3)
    assert len(calls) == 12 and sum(calls) == 140 * 200  # 3 x 4 tiles, one call each
    calls.clear()
    up = Upscaler(model, "cpu", tile=32, batch=4)
    up.upscale(Image.fromarray(photo(70, 100)), on_tile=calls.append)
    assert len(calls) == 3 and sum(calls) == 140 * 200  # a call per batch of 4 tiles


class _Recorder:
    """A thread-safe `on_pixels`: the counts per input name, and the threads that called."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.got: dict[str, list[int]] = {}
        self.threads: set[str] = set()

    def __call__(self, job, pixels: int) -> None:
        with self.lock:
            self.got.setdefault(job.source.name, []).append(pixels)
            self.threads.add(threading.current_thread().name)


def test_run_jobs_reports_final_output_pixels_from_threads(model: Path,
                                                           tmp_path: Path) -> None:
    src = tmp_path / "in"
    save(src / "big.png", photo(70, 100))
    save(src / "small.png", photo(17, 23))
    frames = [Image.fromarray(photo(16, 20)), Image.fromarray(photo(16, 20, "baby.png"))]
    frames[0].save(src / "anim.png", save_all=True, append_images=frames[1:], duration=50)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    up = Upscaler(model, "cpu", tile=32)
    opts = OutputOptions(outscale=1.7)
    for pipeline, workers in ((True, 2), (True, 1), (False, 1)):
        jobs = plan_jobs([src], tmp_path / f"o{pipeline}{workers}", opts)
        record = _Recorder()
        results = run_jobs(up, jobs, opts, pipeline=pipeline, workers=workers,
                           on_pixels=record)
        got, threads = record.got, record.threads
        sizes = {Path(r.input).name: r.output_size for r in results if r.status == "done"}
        assert sizes == {"big.png": (170, 119), "small.png": (39, 29), "anim.png": (34, 27)}
        assert {n: sum(v) for n, v in got.items()} == {
            "big.png": 170 * 119, "small.png": 39 * 29, "anim.png": 2 * 34 * 27}
        assert len(got["big.png"]) == 12 and min(got["big.png"]) > 0  # moves tile by tile
        if workers == 2:
            assert all(t.startswith("sronnx-worker-") for t in threads)


def _on_a_terminal(args: list[str]) -> str:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "sronnx", "upscale", *args],
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
    return b"".join(chunks).decode(errors="replace")


def test_progress_bar_moves_within_one_large_image(model: Path, tmp_path: Path) -> None:
    save(tmp_path / "in" / "big.png", photo(70, 100))
    text = _on_a_terminal([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model",
                           str(model), "--provider", "cpu", "--tile", "32"])
    percents = {int(p) for p in re.findall(r"(\d+)%", text)}
    assert len({p for p in percents if 0 < p < 100}) >= 5, text  # 12 tiles, one file
    assert 100 in percents and "1/1 files" in text and "MP/s" in text
    assert "0/1 files" in text  # the bar moved before the file was done
    assert "done: " not in text


def test_progress_without_a_terminal_is_one_line_per_file(model: Path, tmp_path: Path) -> None:
    save(tmp_path / "in" / "a.png", photo(20, 24))
    save(tmp_path / "in" / "b.png", photo(22, 24))
    r = cli(tmp_path / "in", "-o", tmp_path / "o", "--model", model, "--provider", "cpu",
            "--tile", "8")
    lines = r.output.splitlines()
    assert [line.split(":")[0] for line in lines[1:3]] == ["done", "done"] and len(lines) == 4
    assert "%" not in r.output


# ---- 5. existing outputs -------------------------------------------------------------------


def test_existing_outputs_are_refused_before_any_work(model: Path, tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    for k in range(7):
        save(src / f"{k}.png", photo(20 + k, 24))
    for k in range(6):
        save(out / f"{k}.png", np.zeros((3, 3, 3), np.uint8))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    report = tmp_path / "r.json"
    r = cli(src, "-o", out, "--model", model, "--provider", "cpu", "--json", report)
    assert r.exit_code == 2
    errors = [line for line in r.output.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: 6 outputs already exist: {out / '0.png'}, {out / '1.png'}, {out / '2.png'}, "
        f"{out / '3.png'}, {out / '4.png'} and 1 more; use --skip-existing to keep them or "
        "--overwrite to replace them (runs at different scales into one folder write the "
        "same names: give each its own --suffix, e.g. --suffix _x2)"]
    assert "failed" not in r.output and "done" not in r.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # 6.png not written
    rep = json.loads(report.read_text())
    assert rep["exit_code"] == 2 and rep["error"] == errors[0][len("error: "):]
    assert rep["files"] == []
    r = cli(src, "-o", out, "--model", model, "--provider", "cpu", "--skip-existing")
    assert r.exit_code == 0 and "1 done, 0 failed, 6 skipped" in r.output
    # -o FILE that exists: the same refusal
    r = cli(src / "0.png", "-o", out / "0.png", "--model", model)
    assert r.exit_code == 2 and "1 output already exists: " in r.output
    assert "--skip-existing to keep it" in r.output


def test_scales_into_one_folder_with_suffixes(model: Path, exported_models,
                                              tmp_path: Path) -> None:
    save(tmp_path / "in" / "a.png", photo(20, 24))
    out = tmp_path / "out"
    assert cli(tmp_path / "in", "-o", out, "--model", model).exit_code == 0
    x3 = exported_models(RSP, 3)
    r = cli(tmp_path / "in", "-o", out, "--model", x3)
    assert r.exit_code == 2 and "--suffix" in r.output
    r = cli(tmp_path / "in", "-o", out, "--model", x3, "--suffix", "_x3")
    assert r.exit_code == 0
    assert {p.name: Image.open(p).size for p in out.iterdir()} == {"a.png": (48, 40),
                                                                  "a_x3.png": (72, 60)}


# ---- 6. the library API --------------------------------------------------------------------


def test_upscale_image_and_upscaler_from_sronnx(model: Path) -> None:
    import sronnx
    from sronnx.core.shipped import default_model_name

    assert "Upscaler" in dir(sronnx) and "upscale_image" in sronnx.__all__
    from sronnx import Upscaler as TopUpscaler
    from sronnx import upscale_image

    assert TopUpscaler is Upscaler
    img = Image.fromarray(photo(20, 24))
    img.info["dpi"] = (72, 72)
    big = upscale_image(img)
    assert isinstance(big, Image.Image) and big.size == (48, 40) and big.mode == "RGB"
    ref = Upscaler(default_model_name(2, "cpu"), "cpu").upscale(img)
    assert np.array_equal(np.asarray(big), np.asarray(ref))
    arr16 = photo(20, 24).astype(np.uint16) * 257
    out = upscale_image(arr16, scale=3)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint16 and out.shape == (60, 72, 3)
    # outscale: the model for it (x4 for 3.5), then resampled
    out = upscale_image(photo(20, 24), outscale=3.5)
    x4 = Upscaler(default_model_name(4, "cpu"), "cpu").upscale_array(photo(20, 24))
    assert np.array_equal(out, resize_array(x4, (84, 70)))
    small = upscale_image(img, model=model, outscale=1.5)
    assert small.size == (36, 30) and small.info["dpi"] == pytest.approx((108, 108))
    with pytest.raises(ValueError, match="not x3"):
        upscale_image(img, model=model, scale=3)
    with pytest.raises(ValueError, match="positive"):
        upscale_image(img, outscale=0)


def test_import_sronnx_stays_light_and_the_api_runs_without_torch(tmp_path: Path) -> None:
    code = BLOCK_TORCH + (
        "import sronnx\n"
        "assert 'onnxruntime' not in sys.modules and 'numpy' not in sys.modules\n"
        "import numpy as np\n"
        "from PIL import Image\n"
        "from sronnx import Upscaler, upscale_image\n"
        "img = Image.new('RGB', (10, 8), (200, 40, 90))\n"
        "out = upscale_image(img, outscale=2.5)\n"
        "assert isinstance(out, Image.Image) and out.size == (25, 20), out.size\n"
        "arr = upscale_image(np.asarray(img))\n"
        "assert isinstance(arr, np.ndarray) and arr.shape == (16, 20, 3)\n"
        "assert (arr == (200, 40, 90)).all()\n"
        "assert Upscaler('rsp-x2-int8').upscale(img).size == (20, 16)\n"
        "assert not [m for m in sys.modules if m.startswith(('torch', 'onnx.'))\n"
        "            and sys.modules[m] is not None]\n"
        "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
