"""Progress in output pixels: `Upscaler`'s on_tile adds up to the output's pixels (a call per
tile, or per batch of tiles), and `run_jobs`'s on_pixels reports each file's final output
pixels (after resampling, every frame of an animation) from the worker threads.

Real onnxruntime on Set5 crops; the tiny model is an untrained export.
"""

from __future__ import annotations

import threading
from pathlib import Path

from helpers import photo, save
from PIL import Image

from sronnx.engine.batch import Layout, run_jobs
from sronnx.engine.planner import OutputOptions, plan_jobs
from sronnx.engine.upscaler import Upscaler


def test_on_tile_adds_up_to_the_output_pixels(model: Path) -> None:
    up = Upscaler(model, "cpu", tile=32)
    calls: list[int] = []
    out = up.upscale_array(photo(70, 100), on_tile=calls.append)
    assert out.shape == (140, 200, 3)
    assert len(calls) == 12 and sum(calls) == 140 * 200  # 3 x 4 tiles, one call each
    calls.clear()
    up = Upscaler(model, "cpu", tile=32, batch=4)
    up.upscale(Image.fromarray(photo(70, 100)), on_tile=calls.append)
    assert len(calls) == 3 and sum(calls) == 140 * 200  # a call per batch of 4 tiles


class _Recorder:
    """A thread-safe `on_pixels`: the counts per input name, and the threads that called."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.got: dict[str, list[int]] = {}
        self.threads: set[str] = set()

    def __call__(self, job, pixels: int) -> None:
        with self.lock:
            self.got.setdefault(job.source.name, []).append(pixels)
            self.threads.add(threading.current_thread().name)


def test_run_jobs_reports_final_output_pixels_from_threads(model: Path,
                                                           tmp_path: Path) -> None:
    src = tmp_path / "in"
    save(src / "big.png", photo(70, 100))
    save(src / "small.png", photo(17, 23))
    frames = [Image.fromarray(photo(16, 20)), Image.fromarray(photo(16, 20, "baby.png"))]
    frames[0].save(src / "anim.png", save_all=True, append_images=frames[1:], duration=50)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    up = Upscaler(model, "cpu", tile=32)
    opts = OutputOptions(outscale=1.7)
    for pipeline, workers in ((True, 2), (True, 1), (False, 1)):
        jobs = plan_jobs([src], tmp_path / f"o{pipeline}{workers}", opts)
        record = _Recorder()
        results = run_jobs(up, jobs, opts, layout=Layout(pipeline=pipeline, workers=workers),
                           on_pixels=record)
        got, threads = record.got, record.threads
        sizes = {Path(r.input).name: r.output_size for r in results if r.status == "done"}
        assert sizes == {"big.png": (170, 119), "small.png": (39, 29), "anim.png": (34, 27)}
        assert {n: sum(v) for n, v in got.items()} == {
            "big.png": 170 * 119, "small.png": 39 * 29, "anim.png": 2 * 34 * 27}
        assert len(got["big.png"]) == 12 and min(got["big.png"]) > 0  # moves tile by tile
        if workers == 2:
            assert all(t.startswith("sronnx-worker") for t in threads)  # the pool's threads
