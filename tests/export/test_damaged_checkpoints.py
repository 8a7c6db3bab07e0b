"""Damaged checkpoints are refused by `sronnx export` with one line and exit 2, never a
traceback (found by a fresh user: a wrong tensor shape, an unknown architecture, settings the
architecture does not take and NaN weights crashed or exported garbage; a missing key exited
1), and a TorchScript archive is refused without torch's warnings."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from helpers import completed  # noqa: E402

from sronnx.archs.registry import create_model  # noqa: E402
from sronnx.train.checkpoint import save_checkpoint  # noqa: E402


def _good(scale: int = 2) -> dict:
    torch.manual_seed(0)
    model = create_model("espcn", scale)
    return {"arch": "espcn", "spec": {}, "scale": scale, "step": 3,
            "model": {k: v.clone() for k, v in model.state_dict().items()}}


def _export(path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """`sronnx export PATH` in this process; an escaping exception (a traceback) raises."""
    return completed("export", path, "-o", tmp_path / "m.onnx")


def test_damaged_sronnx_checkpoints_are_one_line_exit_2(tmp_path: Path) -> None:
    good = _good()
    key = next(iter(good["model"]))
    cases = {
        "shape": {**good, "model": {**good["model"], key: torch.zeros(1, 2, 3)}},
        "arch": {**good, "arch": "nosucharch"},
        "spec": {**good, "spec": {"nonsense_setting": 5}},
        "nan": {**good, "model": {**good["model"], key: good["model"][key] * float("nan")}},
        "nomodel": {k: v for k, v in good.items() if k != "model"},
    }
    for name, payload in {**cases, "good": good}.items():
        (tmp_path / name).mkdir()
        save_checkpoint(tmp_path / name / "in.pt", payload)
    runs = {name: _export(tmp_path / name / "in.pt", tmp_path / name)
            for name in [*cases, "good"]}
    for name in cases:
        r, path = runs[name], tmp_path / name / "in.pt"
        assert r.returncode == 2, (name, r.returncode, r.stderr)
        assert "Traceback" not in r.stderr and str(path) in r.stderr, (name, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
        assert not (tmp_path / name / "m.onnx").exists()
    assert runs["good"].returncode == 0, runs["good"].stderr
    assert (tmp_path / "good" / "m.onnx").is_file()


def test_a_torchscript_archive_is_refused_quietly(tmp_path: Path) -> None:
    with pytest.warns(FutureWarning):  # torch.jit.script is deprecated, and still in use
        scripted = torch.jit.script(torch.nn.Conv2d(3, 3, 3))
    path = tmp_path / "scripted.pt"
    scripted.save(str(path))
    r = _export(path, tmp_path)
    assert r.returncode == 2 and "TorchScript" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
