"""Damaged checkpoints are refused by `sronnx export` with one line and exit 2, never a
traceback (found by a fresh user: a wrong tensor shape, an unknown architecture, settings the
architecture does not take and NaN weights crashed or exported garbage; a missing key exited
1), and a TorchScript archive is refused without torch's warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from sronnx.archs.registry import create_model  # noqa: E402
from sronnx.train.checkpoint import save_checkpoint  # noqa: E402


def _good(scale: int = 2) -> dict:
    torch.manual_seed(0)
    model = create_model("espcn", scale)
    return {"arch": "espcn", "spec": {}, "scale": scale, "step": 3,
            "model": {k: v.clone() for k, v in model.state_dict().items()}}


def _export(path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sronnx", "export", str(path), "-o",
                           str(tmp_path / "m.onnx")], capture_output=True, text=True,
                          timeout=300)


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
    for name, payload in cases.items():
        path = tmp_path / f"{name}.pt"
        save_checkpoint(path, payload)
        r = _export(path, tmp_path)
        assert r.returncode == 2, (name, r.returncode, r.stderr)
        assert "Traceback" not in r.stderr and str(path) in r.stderr, (name, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, (name, r.stderr)
        assert not (tmp_path / "m.onnx").exists()
    ok = tmp_path / "good.pt"
    save_checkpoint(ok, good)
    assert _export(ok, tmp_path).returncode == 0


def test_a_torchscript_archive_is_refused_quietly(tmp_path: Path) -> None:
    with pytest.warns(FutureWarning):  # torch.jit.script is deprecated, and still in use
        scripted = torch.jit.script(torch.nn.Conv2d(3, 3, 3))
    path = tmp_path / "scripted.pt"
    scripted.save(str(path))
    r = _export(path, tmp_path)
    assert r.returncode == 2 and "TorchScript" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
