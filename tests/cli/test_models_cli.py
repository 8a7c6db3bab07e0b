"""`sronnx models`: every architecture with its cost, and the shipped models with their files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sronnx.archs.registry import ARCHITECTURES
from sronnx.cli import main
from sronnx.core.shipped import float32_twin, resolve_model, shipped_models
from sronnx.engine import VIDEO_BLOCKINESS


def test_models_json_lists_architectures_and_shipped() -> None:
    pytest.importorskip("torch")
    r = CliRunner().invoke(main, ["models", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    archs = {row["name"]: row for row in rows if row["kind"] == "architecture"}
    assert set(archs) == set(ARCHITECTURES)
    for row in archs.values():
        assert row["params"] > 0 and row["macs_per_pixel"] > 0 and row["receptive_field"] > 0
        assert row["size_requirement"] == "any"
    # ESPCN at x2 by hand: 5x5x3x64 + 3x3x64x32 + 3x3x32x12 MACs per LR pixel, 4 HR pixels each
    assert archs["espcn"]["macs_per_pixel"] == pytest.approx((4800 + 18432 + 3456) / 4)
    shipped = [row for row in rows if row["kind"] == "shipped"]
    assert len(shipped) == len(shipped_models()) >= 1
    for row in shipped:
        assert row["scale"] in (2, 3, 4) and Path(row["path"]).is_file()


def test_shipped_names_resolve_and_unknown_names_are_refused() -> None:
    for m in shipped_models():
        assert resolve_model(m.name) == m.path
    assert resolve_model(None, 2).is_file()
    with pytest.raises(LookupError, match="unknown model"):
        resolve_model("no-such-model")


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
    video = r.output.splitlines()[r.output.splitlines().index(
        "Videos get one model for the whole video:") + 1]
    assert f"blocking of at least {VIDEO_BLOCKINESS:.2f} gets the photo model" in video
    r = CliRunner().invoke(main, ["models", "--paths"])
    assert r.exit_code == 0 and folder in r.output
    rows = json.loads(CliRunner().invoke(main, ["models", "--json"]).output)
    shipped = [x for x in rows if x["kind"] == "shipped"]
    assert all(Path(x["path"]).is_absolute() and x["set5_psnr_y"] for x in shipped)
    assert [x["text"] for x in rows if x["kind"] == "video_rule"] == [video.strip()]
