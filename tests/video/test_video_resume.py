"""Resumable video segments, on real clips and a real `sronnx upscale` process: killed with
SIGKILL once its first segment is committed, then run again, the result has the frames and
timestamps of the input and of an uninterrupted run (the same bytes), and the rerun says it
reused segments. A work folder made with other settings is discarded with a note."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, checked_cli, make_clip

av = pytest.importorskip("av")

# variable frame rate: gaps of 40, 80, 10 and 170 ms repeated
GAPS = [40, 80, 10, 170]


def _decoded(path: Path) -> list[tuple[object, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(f.pts * f.time_base, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def _committed(manifest: Path) -> int:
    """Segments the work folder's manifest lists as finished (0 while it is not there)."""
    try:
        return len(json.loads(manifest.read_text())["segments"])
    except (OSError, ValueError, KeyError):
        return 0


def test_kill_9_after_first_segment_then_rerun_reuses_it_and_matches(tmp_path: Path) -> None:
    pts = [sum(GAPS[i % 4] for i in range(k)) for k in range(48)]
    clip = make_clip(tmp_path / "clip.mp4", frames=48, size=(96, 64), pts=pts, gop=4,
                     audio=True)
    out, whole = tmp_path / "out.mkv", tmp_path / "whole.mkv"
    args = ["--segment-seconds", "0.2", "--model", "rsp-x2-int8"]
    proc = subprocess.Popen([sys.executable, "-m", "sronnx", "upscale", str(clip), "-o",
                             str(out), *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    manifest = tmp_path / "out.mkv.parts" / "manifest.json"
    deadline = time.monotonic() + 120
    while _committed(manifest) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not out.exists()
    kept = _committed(manifest)
    assert kept >= 1

    r = checked_cli(clip, "-o", out, *args, "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "r.json").read_text())["files"][0]
    notes = rep["notes"]
    said = [n for n in notes if n.startswith("resumed:")]
    assert said and said[0].startswith(f"resumed: {kept} of "), notes
    made = int(said[0].rsplit(", ", 1)[1].split()[0])
    assert made >= 1, said  # killed mid-video: some segments were made by the rerun
    # the report counts the reused frames apart; the done line's rate leaves them out
    assert rep["frames"] == 48 and 1 <= rep["frames_reused"] < 48, rep
    rate = float(r.output.split(" frames/s")[0].rsplit(", ", 1)[1])
    assert rate == pytest.approx((48 - rep["frames_reused"]) / rep["seconds"], rel=0.02)
    assert not (tmp_path / "out.mkv.parts").exists()  # removed once joined

    r = checked_cli(clip, "-o", whole, *args)
    assert r.exit_code == 0, r.output
    src, got, ref = _decoded(clip), _decoded(out), _decoded(whole)
    assert len(got) == len(ref) == len(src) == 48
    assert [t for t, _ in got] == [t for t, _ in src] == [t for t, _ in ref]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, ref, strict=True))
    assert out.read_bytes() == whole.read_bytes()


def test_stale_work_folder_is_discarded_with_a_note(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=6, gop=2)
    parts = tmp_path / "out.mkv.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text(json.dumps(
        {"format": "sronnx video parts 1", "key": {"source": {"name": "other.mp4"}},
         "segments": {"0": {"file": "segment-00000.bin", "frames": 3, "bytes": 1,
                            "sha256": "0"}}}))
    (parts / "segment-00000.bin").write_bytes(b"not a segment")
    r = checked_cli(clip, "-o", tmp_path / "out.mkv", "--segment-seconds", "0.05",
                    "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    notes = json.loads((tmp_path / "r.json").read_text())["files"][0]["notes"]
    assert any("out.mkv.parts discarded" in n and "source" in n for n in notes), notes
    assert not any(n.startswith("resumed:") for n in notes), notes
    assert len(_decoded(tmp_path / "out.mkv")) == 6 and not parts.exists()
