"""`sronnx upscale --engine ray`: starting the Ray engine for the models the command
resolved (printing where it runs) and stopping it, its actors' leftovers removed. Ray and
the engine are imported inside these functions only, so a local run never loads them.
"""

from __future__ import annotations

import click

from sronnx.cli.upscale_options import UpscaleOptions
from sronnx.cli.upscale_report import Report, fail


def start_ray(o: UpscaleOptions, opened, opts, max_pixels: int, jobs: int, rep: Report):
    """The started Ray engine (`sronnx.engine.ray_engine.RayEngine`) for the models the
    CLI opened (`opened`: `sronnx.engine.OpenedModels`; the actors open the same files on the
    same provider), with the threads, actors (`o.workers`) and address `o` asks for, or exit
    2 with why it cannot start."""
    from dataclasses import replace

    from sronnx.engine import EngineError, RayEngine
    from sronnx.runtime import needs_gpu

    threads, workers, address, quiet = o.threads, o.workers, o.ray_address, o.quiet

    gpu = needs_gpu(opened.choice.provider)
    spec = replace(opened.pinned(), threads=threads if threads is not None or gpu else 1)
    engine = RayEngine(spec, opts, max_pixels, address, workers, jobs, quiet=quiet)
    try:
        engine.start()
    except EngineError as exc:
        fail(str(exc), rep)
    rep.model.update(ray_address=address, actors=len(engine.handles))
    if not quiet:
        where = f"joined {address}" if address else "a local Ray cluster"
        each = "1 GPU" if gpu else f"{spec.threads} ONNX Runtime thread(s)"
        click.echo(f"engine ray: {len(engine.handles)} actor(s) on {where}, {each} each",
                   err=True)
    return engine


def stop_ray(engine, jobs: list) -> None:
    """Stop the Ray engine's actors (and its local cluster), then remove the temporary
    files that workers killed mid-write left beside the outputs."""
    from sronnx.engine import remove_parts_of

    engine.close()
    remove_parts_of(jobs)
