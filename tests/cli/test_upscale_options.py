"""`sronnx upscale` options as people spell them: the familiar spellings (-n, --ext, jpeg,
-i), help for every option and -h for every command, empty paths, --format in any case with
bmp and tif, --tile 0, model names, and existing outputs refused up front (or kept, or named
apart with --suffix).

Real images (Set5 crops and small synthetic ones), the real onnxruntime and the real command
(click's runner, in-process). The tiny model is an untrained export.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import RSP, errors, photo, save
from helpers import checked_cli as cli
from PIL import Image

from sronnx.cli import main
from sronnx.engine.upscaler import Upscaler

# ---- 1. familiar spellings and help ------------------------------------------------------


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


def test_dash_h_is_help_for_every_command() -> None:
    for args in ([], ["upscale"], ["models"], ["bench"], ["info"], ["export"], ["verify"],
                 ["train"]):
        r = CliRunner().invoke(main, [*args, "-h"])
        assert r.exit_code == 0 and r.output.startswith("Usage: "), (args, r.output)
        long = CliRunner().invoke(main, [*args, "--help"])
        assert r.output == long.output, args


# ---- 2. paths, formats, tiles and model names --------------------------------------------


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


# ---- 3. existing outputs -----------------------------------------------------------------


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
