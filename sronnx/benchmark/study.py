"""The architecture study: train every variant of the recipe under one budget, export it,
score it by the benchmark's protocol and time it on ONNX Runtime CPU.

Resumable by construction: a run with a `result.json` is done and skipped, a run with a
`last.pt` continues from it (`train(..., resume=True)`), and each run's fingerprint (in
`study.json` beside its checkpoints) refuses to mix runs made under other settings. Library
code: progress goes through a callback; imports torch (it trains).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sronnx.benchmark import quality, speed
from sronnx.benchmark.recipe import Recipe
from sronnx.benchmark.report import json_safe

Event = Callable[[str], None]


class StudyError(RuntimeError):
    """The study cannot go on as asked (e.g. a run made under other settings is in the way)."""


def _write_json(path: Path, obj: Any) -> None:
    """Write through a temporary name, so an interrupted study never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(json_safe(obj), indent=1, allow_nan=False) + "\n")
    tmp.replace(path)


def _copy_images(files: list[Path], src_root: Path, dst: Path) -> Path:
    for f in files:
        target = dst / f.relative_to(src_root)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
    return dst


def prepare_data(recipe: Recipe, work: Path) -> tuple[Path, Path]:
    """(training folder, validation folder) for the trainer.

    The trainer takes one validation folder: the recipe's validation sets are copied side by
    side into `work/data/val` (a few MB). With `train_images` only the first images of the
    training folder are copied and used (quick runs).
    """
    from sronnx.train import find_images

    for folder in (recipe.train, *recipe.val):
        if not folder.is_dir():
            raise StudyError(f"data folder not found: {folder} (paths in {recipe.path} are "
                             f"relative to {recipe.root})")
    train = recipe.train
    if recipe.train_images:
        files = find_images(train)[: recipe.train_images]
        train = _copy_images(files, recipe.train, work / "data" / "train")
    val = work / "data" / "val"
    for folder in recipe.val:
        _copy_images(find_images(folder), folder, val / folder.name)
    return train, val


def _log(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "log.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _export(run_dir: Path, recipe: Recipe, variant: str, seed: int) -> Path:
    """last.pt -> model.onnx, with a card that says which study run it is."""
    from sronnx.archs import receptive_field
    from sronnx.export import build_card, export_onnx
    from sronnx.train import load_checkpoint, model_from_checkpoint

    data = load_checkpoint(run_dir / "last.pt")
    model = model_from_checkpoint(data)
    card = build_card(model, trained=True, training={
        "study": variant, "seed": seed, "steps": int(data["step"]),
        "data": recipe.rel(recipe.train), "train_images": recipe.train_images,
        "val": [recipe.rel(v) for v in recipe.val], **recipe.budget,
    })
    # export_onnx writes through a temporary name itself
    return export_onnx(model, run_dir / "model.onnx", card=card,
                       descriptor=model.descriptor(receptive_field(model)))


def _score(model_path: Path, variant: str, recipe: Recipe,
           datasets: list[quality.Dataset]) -> dict[str, Any]:
    """Scores on every validation set (and pooled over all their images) and ORT CPU speed."""
    from sronnx.benchmark.models import describe_onnx

    bench = describe_onnx(model_path, variant, "file")
    fn = quality.onnx_upscaler(bench, recipe.threads)
    per_set = {d.name: quality.evaluate(fn, d, recipe.scale) for d in datasets}
    n = sum(r["images"] for r in per_set.values())
    pooled = {k: sum(r[k] * r["images"] for r in per_set.values()) / n
              for k in ("psnr_y", "ssim_y", "mse")}
    s = recipe.speed
    size = tuple(s["size"]) if bench.fixed_size is None else bench.fixed_size[::-1]
    runner = speed.ort_runner(bench, "cpu", size, recipe.threads)
    timing = speed.time_calls(runner, s["warmup"], s["repeats"], s["min_time"])
    return {"params": bench.params, "macs_per_pixel": bench.macs_per_pixel, **pooled,
            "val": per_set, "speed": speed.speed_fields(bench, size, timing, recipe.threads)}


def run_one(recipe: Recipe, variant: str, seed: int, out: Path, data: tuple[Path, Path],
            datasets: list[quality.Dataset], emit: Event) -> dict[str, Any]:
    """Train (or resume, or skip) one variant at one seed, then export and score it."""
    from sronnx.train import RUN_FILES, Progress, TrainConfig, load_checkpoint, train

    run_dir = out / "runs" / variant / f"seed{seed}"
    label = f"{variant} seed {seed}"
    train_fp, eval_fp = recipe.train_fingerprint(variant, seed), recipe.eval_fingerprint()
    marker, result_path = run_dir / "study.json", run_dir / "result.json"
    if marker.is_file():
        saved = json.loads(marker.read_text())
        if saved.get("train_fingerprint") != train_fp:
            raise StudyError(
                f"{run_dir} was trained under other settings (architecture, budget, data or "
                f"seed changed); use another --out, or delete that folder to retrain it")
    if result_path.is_file():
        result = json.loads(result_path.read_text())
        if result.get("eval_fingerprint") == eval_fp:
            emit(f"{label}: done, skipped")
            return result
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_json(marker, {"variant": variant, "spec": recipe.variants[variant], "seed": seed,
                         "train_fingerprint": train_fp})
    resume = (run_dir / "last.pt").is_file()
    if not resume:  # killed before its first checkpoint: what it wrote is started over
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
    done_steps = int(load_checkpoint(run_dir / "last.pt")["step"]) if resume else 0
    emit(f"{label}: {'resuming from step ' + str(done_steps) if resume else 'training'} "
         f"({recipe.variants[variant]}, {recipe.budget['steps']} steps)")
    b = recipe.budget
    cfg = TrainConfig(arch=recipe.variants[variant], scale=recipe.scale, data=str(data[0]),
                      out=str(run_dir), val=str(data[1]), steps=b["steps"], batch=b["batch"],
                      patch=b["patch"], lr=b["lr"], schedule=b["schedule"], warmup=b["warmup"],
                      loss=b["loss"], seed=seed, val_every=b["val_every"],
                      ckpt_every=b["ckpt_every"], val_max_side=b["val_max_side"],
                      threads=recipe.threads)

    def progress(p: Progress) -> None:
        if p.val:
            emit(f"{label}: step {p.step}/{p.total} loss {p.loss:.5f} "
                 f"val PSNR-Y {p.val['val_psnr_y']:.2f} dB MSE {p.val['val_mse']:.6f}")

    t0 = time.perf_counter()
    summary = train(cfg, resume=resume, on_progress=progress)
    model_path = run_dir / "model.onnx"
    if not model_path.is_file() or model_path.stat().st_mtime < (run_dir / "last.pt").stat(
    ).st_mtime:
        model_path = _export(run_dir, recipe, variant, seed)
    scores = _score(model_path, variant, recipe, datasets)
    log = _log(run_dir)
    tail = [r["train_mse"] for r in log[-max(1, len(log) // 10):]]
    curve = out / "curves" / f"{variant}-seed{seed}.png"
    if (run_dir / "loss_curve.png").is_file():
        curve.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(run_dir / "loss_curve.png", curve)
    result = {
        "variant": variant, "spec": recipe.variants[variant], "seed": seed,
        "train_fingerprint": train_fp, "eval_fingerprint": eval_fp,
        "steps": summary["steps"], "train_seconds": round(summary["train_seconds"], 1),
        "session_seconds": round(time.perf_counter() - t0, 1),
        "final_train_mse": float(np.mean(tail)) if tail else None,
        "last_val_mse": next((r["val_mse"] for r in reversed(log) if "val_mse" in r), None),
        **scores,
        "run_dir": Path(run_dir.relative_to(out)).as_posix(),
        "curve": curve.relative_to(out).as_posix() if curve.is_file() else None,
    }
    _write_json(result_path, result)
    emit(f"{label}: PSNR-Y {result['psnr_y']:.2f} dB, SSIM-Y {result['ssim_y']:.4f}, "
         f"MSE {result['mse']:.6f}, {result['speed']['mp_per_s']:.3g} MP/s on ORT CPU")
    return result


def run_study(recipe: Recipe, out: str | Path | None = None, on_event: Event | None = None,
              command: str | None = None) -> dict[str, Any]:
    """Run (or resume) the whole study and write results.json, results.md and the figures
    into `out` (default: the recipe's). Returns the results object."""
    from sronnx.benchmark.machine import machine_info
    from sronnx.benchmark.study_report import write_results

    emit = on_event or (lambda _msg: None)
    out = Path(out) if out is not None else recipe.out
    (out / "runs").mkdir(parents=True, exist_ok=True)
    # checkpoints and ONNX files are scratch: results, curves and overlays are what to commit
    (out / "runs" / ".gitignore").write_text("*\n")
    data = prepare_data(recipe, out / "runs")
    datasets = [quality.load_dataset(v, recipe.eval_max_side) for v in recipe.val]
    baseline = {d.name: quality.evaluate(quality.bicubic_upscaler(recipe.scale), d,
                                         recipe.scale) for d in datasets}
    results = [run_one(recipe, v, s, out, data, datasets, emit) for v, s in recipe.runs()]
    written = write_results(out, recipe, results, baseline, machine_info(recipe.threads),
                            command)
    emit(f"wrote {', '.join(str(p) for p in written)}")
    return json.loads((out / "results.json").read_text())


# Export, final scoring and timing of one run, which `estimate` does not measure (seconds on
# 2 busy cores: export 2-8 s, receptive field 1-2 s, 19 full images 5-10 s, timing 2 s).
RUN_OVERHEAD_S = 25.0


def estimate(recipe: Recipe, probe_steps: int = 5, on_event: Event | None = None
             ) -> dict[str, Any]:
    """Time a few training steps of every selected variant on random data at the recipe's
    batch and patch, plus one validation pass, and extrapolate the study's duration.

    The fastest of the probe steps is taken: on a shared CPU the others measure the other
    processes, and the figure wanted is the study's duration on an otherwise idle machine.
    Rough by nature, but it is how the budget was sized.
    """
    import torch
    from torch.nn import functional as F

    from sronnx.archs import create_model
    from sronnx.train import find_images, load_pairs

    emit = on_event or (lambda _msg: None)
    torch.set_num_threads(recipe.threads)
    b, s = recipe.budget, recipe.scale
    t0 = time.perf_counter()
    files = find_images(recipe.train)
    if recipe.train_images:
        load_s = 0.0
    else:
        load_pairs(recipe.train, s)
        load_s = time.perf_counter() - t0
    val_images = sum(len(find_images(v)) for v in recipe.val)
    validations = -(-b["steps"] // b["val_every"])
    rows = []
    for variant in dict.fromkeys(v for v, _ in recipe.runs()):
        torch.manual_seed(0)
        model = create_model(recipe.variants[variant], s)
        fixed = model.fixed_input_size()
        patch = fixed[0] * s if fixed else b["patch"] - b["patch"] % s
        x = torch.rand(b["batch"], 3, patch // s, patch // s)
        y = torch.rand(b["batch"], 3, patch, patch)
        opt = torch.optim.Adam(model.parameters(), lr=b["lr"])
        times = []
        for i in range(probe_steps + 1):
            t = time.perf_counter()
            loss = F.mse_loss(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if i:
                times.append(time.perf_counter() - t)
        model.eval()
        side = max(b["val_max_side"], patch) // s
        vx = torch.rand(1, 3, *(fixed or (side, side)))
        with torch.no_grad():
            t = time.perf_counter()
            model(vx)
            val_s = (time.perf_counter() - t) * val_images * validations
        step_s = float(min(times))
        seeds = recipe.seeds_of(variant)
        run_s = step_s * b["steps"] + val_s + load_s + RUN_OVERHEAD_S
        rows.append({"variant": variant, "seeds": seeds, "step_s": step_s,
                     "run_s": run_s, "total_s": run_s * seeds})
        emit(f"{variant}: {step_s * 1e3:.0f} ms/step, about {run_s / 60:.1f} min per run "
             f"x {seeds} seed(s)")
    total = sum(r["total_s"] for r in rows)
    return {"variants": rows, "total_s": total, "data_load_s": load_s,
            "train_images": len(files), "run_overhead_s": RUN_OVERHEAD_S}
