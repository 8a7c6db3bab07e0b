"""Issue 13, bench and models: a row measures what its label says or does not exist, a named
model outside --scales is refused, the study finds its recipe from any folder and writes
outside the committed results unless told, and `sronnx models` shows each file's own Set5
figure without machine paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sronnx.cli import main
from sronnx.shipped import float32_twin, shipped_models


def test_models_table_shows_each_files_own_set5_and_no_paths() -> None:
    r = CliRunner().invoke(main, ["models"])
    assert r.exit_code == 0, r.output
    folder = str(shipped_models()[0].path.parent)
    assert folder not in r.output
    for m in shipped_models():
        line = next(x for x in r.output.splitlines() if x.split()[:1] == [m.name])
        assert f"Set5 PSNR-Y {m.set5_psnr_y:.2f} dB" in line and line.endswith(m.path.name)
    int8 = [m for m in shipped_models() if m.precision == "int8"]
    # an int8 file's line is its own figure, not its float32 twin's (they differ at 2 decimals)
    assert any(f"{m.set5_psnr_y:.2f}" != f"{float32_twin(m.name).set5_psnr_y:.2f}"
               for m in int8)
    r = CliRunner().invoke(main, ["models", "--paths"])
    assert r.exit_code == 0 and folder in r.output
    rows = json.loads(CliRunner().invoke(main, ["models", "--json"]).output)
    shipped = [x for x in rows if x["kind"] == "shipped"]
    assert all(Path(x["path"]).is_absolute() and x["set5_psnr_y"] for x in shipped)


def test_bench_refuses_a_named_model_outside_the_scales() -> None:
    r = CliRunner().invoke(main, ["bench", "--models", "rsp-x3", "--scales", "2", "--no-quality",
                                  "--runtimes", "cpu", "--size", "16x16"])
    assert r.exit_code == 2
    assert "rsp-x3 is a x3 model" in r.output and "--scales 2" in r.output


def test_bench_has_no_torch_row_for_an_int8_file(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["bench", "--models", "rsp-x2", "--models", "rsp-x2-int8",
                                  "--scales", "2", "--no-quality", "--runtimes", "torch,cpu",
                                  "--size", "24x16", "--warmup", "0", "--repeats", "1",
                                  "--min-time", "0", "--json", str(out)])
    assert r.exit_code == 0, r.output
    speed = [(x["model"], x["runtime"]) for x in json.loads(out.read_text())
             if x["kind"] == "speed"]
    assert ("rsp-x2", "torch") in speed and ("rsp-x2-int8", "cpu") in speed
    assert ("rsp-x2-int8", "torch") not in speed
    assert "skipping rsp-x2-int8 on torch: a int8 file has no PyTorch twin" in r.output


def test_study_finds_its_recipe_from_any_folder(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["bench", "study", "--quick", "--plan", "--variants",
                                  "espcn", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "runs of" in r.output
    assert not (tmp_path / "sronnx-study").exists()  # --plan writes nothing
    help_text = CliRunner().invoke(main, ["bench", "study", "--help"]).output
    assert "./sronnx-study" in help_text
