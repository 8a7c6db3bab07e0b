"""Issue 13, a new user's edge cases of `sronnx upscale`, one test (or a few) per point:

1. closed standard streams refused up front (exit 2, the report still written);
2. an empty path is never the current folder;
3. a broken pipe on -o - fails that file (record, summary and exit code agree);
4. --json - writes the report to standard output (refused with -o -);
5. outputs too large for their format or for --max-output-pixels refused from the headers,
   before any work; sronnx's own ValueErrors reach the user without the class name;
6. --scale and --outscale help say what they do;
7. -h, --format in any case with bmp and tif, --tile 0;
8. model names: a shipped model's file name, an empty name.

Real images (Set5 and small synthetic ones), the real onnxruntime and the real command: click's
runner in-process, a subprocess where standard streams matter. The tiny model is an untrained
export.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import data_dir
from PIL import Image

from sronnx.cli import main
from sronnx.engine.batch import run_jobs
from sronnx.engine.planner import Job, OutputOptions
from sronnx.engine.upscaler import Upscaler

RSP = "rsp:channels=8,blocks=1"


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


def errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error: ")]


def _closed(redirect: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`sronnx upscale ARGS` with a standard stream closed by the shell (`<&-`, `>&-`)."""
    return subprocess.run(["sh", "-c", f'exec "$@" {redirect}', "sh", sys.executable, "-m",
                           "sronnx", "upscale", *args], cwd=cwd, capture_output=True,
                          timeout=300)


# ---- 1. closed standard streams --------------------------------------------------------


def test_closed_stdin_is_refused_before_any_work(model: Path, tmp_path: Path) -> None:
    r = _closed("<&-", ["-", "-o", "out", "--model", str(model)], tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert errors(err) == ["error: - reads an image from standard input, which is closed: "
                           "pipe or redirect an image into it (sronnx upscale - -o out.png "
                           "< in.jpg)"], err
    assert "Traceback" not in err and "model " not in err  # no model was loaded
    assert not (tmp_path / "out").exists()
    # -o - too, and the report is written
    r = _closed("<&-", ["-", "-o", "-", "--json", "r.json", "--model", str(model)], tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 2 and "Traceback" not in err and r.stdout == b"", err
    assert len(errors(err)) == 1 and "standard input, which is closed" in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exit_code"] == 2 and report["files"] == []
    assert "standard input, which is closed" in report["error"]


def test_closed_stdout_is_refused_before_any_work(model: Path, tmp_path: Path) -> None:
    a = save(tmp_path / "a.png", photo(20, 24))
    r = _closed(">&-", [str(a), "-o", "-", "--json", "r.json", "--model", str(model)],
                tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert errors(err) == ["error: -o - writes the image to standard output, which is closed: "
                           "redirect it (> out.png) or pipe it, or name an output file or "
                           "folder"], err
    assert "Traceback" not in err and "model " not in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exit_code"] == 2 and "which is closed" in report["error"]
    # a report meant for standard output cannot be written either: refused as well
    r = _closed(">&-", [str(a), "-o", "o", "--json", "-", "--model", str(model)], tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 2 and "Traceback" not in err, err
    assert errors(err) == ["error: cannot write the report to standard output: it is closed"]
    assert not (tmp_path / "o").exists()


# ---- 2. empty paths ----------------------------------------------------------------------


def test_empty_paths_are_refused(model: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    save(tmp_path / "a.png", photo(20, 24))
    monkeypatch.chdir(tmp_path)
    for args, which in ((["", "-o", "e"], "'[INPUTS]...'"),
                        (["-i", "", "-o", "o1"], "'-i' / '--input'"),
                        (["a.png", "-o", ""], "'-o' / '--output'"),
                        (["a.png", "-o", "o2", "--json", ""], "'--json'")):
        r = cli(*args, "--model", model)
        assert r.exit_code == 2, (args, r.output)
        assert f"Invalid value for {which}: empty path" in r.output, (args, r.output)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"], args  # nothing made


# ---- 3. a broken pipe on -o - ------------------------------------------------------------


def test_broken_pipe_fails_the_file(model: Path, tmp_path: Path) -> None:
    baby = data_dir("test", "Set5") / "baby.png"  # as BMP: 3 MB, far more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "sronnx", "upscale", str(baby), "-o", "-",
                             "--format", "bmp", "--model", str(model), "--json",
                             str(tmp_path / "r.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = proc.stdout.read(10)  # as `| head -c 10`: the reader goes away
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 1, err
    assert head.startswith(b"BM")
    assert "Traceback" not in err and "done: " not in err, err
    assert f"failed: {baby}: cannot write to standard output: Broken pipe" in err
    assert "0 done, 1 failed, 0 skipped" in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["done"], report["failed"], report["exit_code"]) == (0, 1, 1)
    assert report["files"][0]["status"] == "failed"
    assert report["files"][0]["error"] == "cannot write to standard output: Broken pipe"


# ---- 4. --json - ---------------------------------------------------------------------------


def test_json_dash_writes_the_report_to_stdout(model: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    save(tmp_path / "in" / "a.png", photo(20, 24))
    monkeypatch.chdir(tmp_path)
    r = cli("in", "-o", "out", "--json", "-", "--model", model, "--provider", "cpu")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)  # standard output holds the report, nothing else
    assert report["done"] == 1 and report["files"][0]["output"] == str(Path("out") / "a.png")
    assert "1 done" in r.stderr
    assert not (tmp_path / "-").exists() and (tmp_path / "out" / "a.png").is_file()
    # a run that cannot start: its report goes there too
    r = cli("in", "-o", "out", "--json", "-", "--model", model)
    assert r.exit_code == 2 and "already exists" in r.stderr
    assert json.loads(r.stdout)["exit_code"] == 2
    # with -o -, the image has standard output: refused before anything else
    r = cli("in/a.png", "-o", "-", "--json", "-", "--model", model)
    assert r.exit_code == 2 and r.stdout == ""
    assert errors(r.stderr) == ["error: --json - and -o - would both write to standard "
                                "output: name a file for the report (--json report.json)"]
    assert not (tmp_path / "-").exists()
    text = " ".join(cli("--help").output.split())
    assert "- writes it to standard output, where the image does not go (not with -o -)" in text


# ---- 5. outputs too large, refused before any work --------------------------------------


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
    assert r.error == ("WEBP cannot hold a 16400x164 image (at most 16383 pixels a side); PNG "
                       "and TIFF have no such limit")


# ---- 6. --scale and --outscale help --------------------------------------------------------


def test_scale_and_outscale_help_say_what_they_do(model: Path, tmp_path: Path) -> None:
    text = " ".join(cli("--help").output.split())
    assert "It does not resize the output on its own" not in text
    assert "Alone it is also the output size (--scale 3: three times as wide and high)" in text
    assert "round(w*F) x round(h*F), the model's result resampled to it" in text
    a = save(tmp_path / "a.png", photo(20, 24))  # and so it is: --scale alone is the size
    r = cli(a, "-o", tmp_path / "o", "--scale", 3, "--provider", "cpu")
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "o" / "a.png").size == (72, 60)


# ---- 7. familiar options -------------------------------------------------------------------


def test_dash_h_is_help_for_every_command() -> None:
    for args in ([], ["upscale"], ["models"], ["bench"], ["info"], ["export"], ["verify"],
                 ["train"]):
        r = CliRunner().invoke(main, [*args, "-h"])
        assert r.exit_code == 0 and r.output.startswith("Usage: "), (args, r.output)
        long = CliRunner().invoke(main, [*args, "--help"])
        assert r.output == long.output, args


def test_format_any_case_bmp_and_tif(model: Path, tmp_path: Path) -> None:
    a = save(tmp_path / "a.png", photo(20, 24))
    for fmt, ext, pil in (("PNG", ".png", "PNG"), ("Jpeg", ".jpg", "JPEG"),
                          ("bmp", ".bmp", "BMP"), ("BMP", ".bmp", "BMP"),
                          ("tif", ".tif", "TIFF"), ("TIFF", ".tif", "TIFF")):
        out = tmp_path / f"o-{fmt}"
        r = cli(a, "-o", out, "--format", fmt, "--model", model, "--provider", "cpu")
        assert r.exit_code == 0, (fmt, r.output)
        with Image.open(out / f"a{ext}") as im:
            assert (im.format, im.size) == (pil, (48, 40)), fmt
    r = cli(a, "-o", tmp_path / "x", "--ext", "Bmp", "--model", model)
    assert r.exit_code == 0 and (tmp_path / "x" / "a.bmp").is_file()
    r = cli(a, "-o", tmp_path / "y", "--ext", "pcx", "--model", model)
    assert r.exit_code == 2 and "'pcx' is not one of" in r.output


def test_tile_zero_is_one_model_call_per_image(model: Path, tmp_path: Path) -> None:
    strip = photo(24, 512, "baby.png")
    strip = np.concatenate([strip, strip[:, :40]], axis=1)  # 552 wide: 2 tiles of 512
    a = save(tmp_path / "a.png", strip)
    whole = Upscaler(model, tile=10_000, overlap=0)
    calls: list[int] = []
    want = whole.upscale_array(strip, on_tile=calls.append)
    assert len(calls) == 1
    got = {}
    for tile in ("0", None):  # without context, tiles show at their seams
        out = tmp_path / f"o{tile}"
        r = cli(a, "-o", out, "--model", model, "--tile-overlap", 0,
                *(("--tile", tile) if tile else ()))
        assert r.exit_code == 0, r.output
        got[tile] = np.asarray(Image.open(out / "a.png"))
    assert np.array_equal(got["0"], want)
    assert not np.array_equal(got[None], want)
    for bad in ("5", "-1"):
        r = cli(a, "-o", tmp_path / "bad", "--model", model, "--tile", bad)
        assert r.exit_code == 2 and "--tile" in r.output, bad
    text = " ".join(cli("--help").output.split())
    assert "0: no tiling, the whole image in one model call" in text


# ---- 8. model names ------------------------------------------------------------------------


def test_model_name_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = save(tmp_path / "a.png", photo(20, 24))
    monkeypatch.chdir(tmp_path)
    r = cli(a, "-o", "o", "-n", "rsp-x2.onnx")
    assert r.exit_code == 2
    assert errors(r.output) == ["error: rsp-x2.onnx: no such model file (did you mean the "
                                "shipped model rsp-x2?)"]
    r = cli(a, "-o", "o", "-n", "elsewhere.onnx")
    assert r.exit_code == 2
    assert errors(r.output) == ["error: elsewhere.onnx: no such model file"]
    r = cli(a, "-o", "o", "-n", "")
    assert r.exit_code == 2
    assert errors(r.output) == ["error: empty model name: give a shipped model name (sronnx "
                                "models lists them) or an .onnx path"]
    assert not (tmp_path / "o").exists()
