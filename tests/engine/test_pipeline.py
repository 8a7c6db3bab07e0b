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


def test_the_staged_layout_finishes_tiles_on_the_coders_with_the_same_bytes(
        exported_models, tmp_path: Path) -> None:
    """The layout for a GPU: the model stage only calls the model; the coders make the
    batches ready and finish them (clamp, quantise, paste, alpha). RGB, RGBA with a soft
    alpha, 16-bit RGB and grey, in many batches of two tiles, come out byte for byte as the
    simple path writes them, and every still image's tiles were finished on coder threads."""
    import threading

    import numpy as np
    from helpers import photo, save

    src = tmp_path / "in"
    rgb = photo(70, 90)
    save(src / "rgb.png", rgb)
    alpha = np.linspace(0, 255, 90, dtype=np.float32)[None, :].repeat(70, 0).astype(np.uint8)
    save(src / "rgba.png", np.dstack([rgb, alpha]))
    save(src / "grey.png", rgb[:, :, 1])
    import png

    deep = rgb.astype(np.uint16) * 257 + np.arange(70 * 90 * 3, dtype=np.uint16).reshape(
        70, 90, 3) % 251
    with open(src / "deep.png", "wb") as fh:
        png.Writer(90, 70, bitdepth=16, greyscale=False).write(fh, deep.reshape(70, -1))
    up = Upscaler(exported_models("rsp:channels=8,blocks=1", 2), "cpu", tile=24, batch=2)
    opts = OutputOptions()
    threads: dict[str, set[str]] = {}
    lock = threading.Lock()

    def record(job, pixels: int) -> None:  # noqa: ANN001
        with lock:
            threads.setdefault(job.source.name, set()).add(threading.current_thread().name)

    outs = {}
    for name, layout in (("simple", Layout(pipeline=False)),
                         ("staged", Layout(pipeline=True, workers=1, coders=2))):
        jobs = plan_jobs([src], tmp_path / name, opts)
        results = run_jobs(up, jobs, opts, layout=layout,
                           on_pixels=record if name == "staged" else None)
        assert [r.status for r in results] == ["done"] * 4, [r.error for r in results]
        outs[name] = tmp_path / name
    for name in ("rgb.png", "rgba.png", "grey.png", "deep.png"):
        assert (outs["simple"] / name).read_bytes() == (outs["staged"] / name).read_bytes()
        assert threads[name] and all(t.startswith("sronnx-coder") for t in threads[name])
