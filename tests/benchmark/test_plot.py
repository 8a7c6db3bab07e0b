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
from sronnx.core.shipped import float32_twin, shipped_models


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


def _boxes(anchors, sizes, offsets):
    out = []
    for (x, y), (w, h), (dx, dy) in zip(anchors, sizes, offsets, strict=True):
        left = x + dx - (w if dx < 0 else 0.0)
        bottom = y + dy - (h / 2 if dy == 0 else h if dy < 0 else 0.0)
        out.append((left, bottom, left + w, bottom + h))
    return out


def test_plot_labels_do_not_overlap() -> None:
    from sronnx.benchmark.plot import _overlap, place_labels

    # six labels on one point (a model on several runtimes at one PSNR) and two nearby
    anchors = [(100.0, 100.0)] * 6 + [(130.0, 104.0), (90.0, 95.0)]
    sizes = [(60.0, 9.0)] * 8
    offsets = place_labels(anchors, sizes)
    boxes = _boxes(anchors, sizes, offsets)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not _overlap(a, b), (a, b)
    # the old layout (a fixed stagger of three offsets) overlapped here
    old = _boxes(anchors, sizes, [(4.0, 4.0 - 9 * (i % 3)) for i in range(8)])
    assert any(_overlap(a, b) for i, a in enumerate(old) for b in old[i + 1:])


def test_plot_of_the_committed_results_draws(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from sronnx.benchmark.plot import write_plot

    rows = json.loads((Path(__file__).resolve().parents[1] / "bench" / "results" /
                       "shipped.json").read_text())
    path = write_plot(rows, tmp_path / "p.png")
    assert path is not None and path.stat().st_size > 10_000
