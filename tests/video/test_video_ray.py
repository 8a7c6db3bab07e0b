"""`sronnx upscale clip.mp4 --engine ray`: a video's segments made by Ray actors (0.5 CPU
each) and joined by the driver give the local run's bytes. Real Ray, a local cluster of 2
CPUs started here; skipped without Ray (a failure under CI=true)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import checked_cli, local_ray_cluster, make_clip

av = pytest.importorskip("av")
try:
    import ray  # noqa: F401 - its absence skips the module
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("ray is not installed (pip install 'sronnx[cluster]')", allow_module_level=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with local_ray_cluster() as address:
        yield address


def test_ray_segments_give_the_local_bytes(cluster: None, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=24, size=(96, 64), gop=4, audio=True,
                     subtitles=True)
    args = ["--segment-seconds", "0.15", "--json"]
    r = checked_cli(clip, "-o", tmp_path / "local.mp4", *args, tmp_path / "l.json")
    assert r.exit_code == 0, r.output
    r = checked_cli(clip, "-o", tmp_path / "ray.mp4", "--engine", "ray", *args,
                    tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    assert "engine ray: 2 actor(s)" in r.output, r.output
    report = json.loads((tmp_path / "r.json").read_text())["files"][0]
    assert report["status"] == "done" and report["frames"] == 24
    assert (tmp_path / "ray.mp4").read_bytes() == (tmp_path / "local.mp4").read_bytes()
    assert not (tmp_path / "ray.mp4.parts").exists()
