"""The pipelined batch engine writes exactly what the simple sequential path writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import data_dir

from sronnx.engine.batch import Layout, run_jobs
from sronnx.engine.planner import OutputOptions, plan_jobs
from sronnx.engine.upscaler import Upscaler


def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for p in sorted(data_dir("test", "Set14").glob("*.png"))[:4]:
        shutil.copy(p, src / p.name)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (src / "empty.jpg").write_bytes(b"")
    return src


@pytest.mark.parametrize("fmt", ["same", "jpg"])
def test_pipelined_outputs_equal_the_simple_path_byte_for_byte(exported_models, tmp_path: Path,
                                                               fmt: str) -> None:
    up = Upscaler(exported_models("rsp:channels=8,blocks=1", 2), "cpu", tile=96)
    src = _folder(tmp_path)
    opts = OutputOptions(format=fmt, quality=90)
    runs = {}
    # the simple path, the three-stage pipeline, and files in parallel (2 and 3 workers)
    for pipeline, workers in ((False, 1), (True, 1), (True, 2), (True, 3)):
        out = tmp_path / f"out_{pipeline}_{workers}"
        jobs = plan_jobs([src], out, opts)
        results = run_jobs(up, jobs, opts, layout=Layout(pipeline=pipeline, workers=workers))
        assert [r.input for r in results] == [str(j.source) for j in jobs]  # in order
        runs[pipeline, workers] = (out, results)
    out_a, res_a = runs[False, 1]
    for key in ((True, 1), (True, 2), (True, 3)):
        out_b, res_b = runs[key]
        assert [(r.status, r.error) for r in res_a] == [(r.status, r.error) for r in res_b]
        assert sum(r.status == "done" for r in res_b) == 4
        assert sum(r.status == "failed" for r in res_b) == 2
        files_a = sorted(p.name for p in out_a.iterdir())
        assert files_a == sorted(p.name for p in out_b.iterdir()) and len(files_a) == 4
        for name in files_a:
            assert (out_a / name).read_bytes() == (out_b / name).read_bytes(), (key, name)


@pytest.mark.parametrize("workers", [1, 2])
def test_pipeline_stops_cleanly_when_the_callback_raises(exported_models, tmp_path: Path,
                                                         workers: int) -> None:
    up = Upscaler(exported_models("rsp:channels=8,blocks=1", 2), "cpu")
    src = _folder(tmp_path)
    opts = OutputOptions()
    jobs = plan_jobs([src], tmp_path / "out", opts)
    seen = []

    def callback(r) -> None:
        seen.append(r)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_jobs(up, jobs, opts, on_result=callback, layout=Layout(pipeline=True, workers=workers))
    assert len(seen) == 2
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".sronnx-part")]
    assert leftovers == []
