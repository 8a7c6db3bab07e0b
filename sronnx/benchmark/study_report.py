"""The study's results: per-variant means and seed spreads, a generated reading, the
Markdown report and one validation-MSE overlay per question.

The generated reading states facts only (who wins each question, by how much, against the
spread between seeds); the interpretation is written by hand in bench/README.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sronnx.benchmark.machine import describe
from sronnx.benchmark.recipe import Recipe
from sronnx.benchmark.report import json_safe

Result = dict[str, Any]


def aggregate(results: Sequence[Result]) -> dict[str, dict[str, Any]]:
    """Per variant: means over seeds, and the spread (max - min) where there are several."""
    by_variant: dict[str, list[Result]] = {}
    for r in results:
        by_variant.setdefault(r["variant"], []).append(r)
    out = {}
    for variant, runs in by_variant.items():
        def values(key: str, runs: list[Result] = runs) -> np.ndarray:
            return np.array([r[key] for r in runs], dtype=np.float64)

        psnr, mse = values("psnr_y"), values("mse")
        datasets = list(runs[0]["val"])
        out[variant] = {
            "variant": variant, "spec": runs[0]["spec"], "seeds": len(runs),
            "psnr_y": float(psnr.mean()), "ssim_y": float(values("ssim_y").mean()),
            "mse": float(mse.mean()),
            "psnr_spread": float(psnr.max() - psnr.min()) if len(runs) > 1 else None,
            "psnr_std": float(psnr.std(ddof=1)) if len(runs) > 1 else None,
            "mse_spread": float(mse.max() - mse.min()) if len(runs) > 1 else None,
            "val": {d: {k: float(np.mean([r["val"][d][k] for r in runs]))
                        for k in ("psnr_y", "ssim_y", "mse")} for d in datasets},
            "params": runs[0]["params"], "macs_per_pixel": runs[0]["macs_per_pixel"],
            "mp_per_s": float(np.mean([r["speed"]["mp_per_s"] for r in runs])),
            "latency_ms_p50": float(np.mean([r["speed"]["latency_ms_p50"] for r in runs])),
            "speed_input": runs[0]["speed"]["input_size"],
            "train_seconds": float(values("train_seconds").mean()),
            "final_train_mse": float(np.mean([r["final_train_mse"] for r in runs])),
            "curves": [r["curve"] for r in runs if r.get("curve")],
        }
    return out


def reading(agg: dict[str, dict[str, Any]], recipe: Recipe,
            baseline: dict[str, dict[str, Any]]) -> list[str]:
    """One factual sentence per question with two or more variants run."""
    lines = []
    ref = agg.get(recipe.reference)
    noise = ref["psnr_spread"] if ref else None
    if ref and noise is not None:
        lines.append(f"Seed spread: the reference {recipe.reference} trained with "
                     f"{ref['seeds']} seeds spans {noise:.3f} dB PSNR-Y (max - min); "
                     "differences smaller than that are not reliable.")
    n = sum(b["images"] for b in baseline.values())
    bicubic = sum(b["psnr_y"] * b["images"] for b in baseline.values()) / n if n else None
    for question, ids in recipe.questions.items():
        ran = sorted((agg[i] for i in ids if i in agg), key=lambda a: -a["psnr_y"])
        if len(ran) < 2:
            continue
        win, second = ran[0], ran[1]
        margin = win["psnr_y"] - second["psnr_y"]
        mse_change = win["mse"] / second["mse"] - 1.0
        spreads = [s for s in (noise, win["psnr_spread"], second["psnr_spread"])
                   if s is not None]
        if not spreads:
            verdict = "one seed each, so no spread to compare with"
        elif margin > max(spreads):
            verdict = f"more than the seed spread ({max(spreads):.3f} dB)"
        else:
            verdict = f"within the seed spread ({max(spreads):.3f} dB): not a reliable win"
        ranking = ", ".join(f"{a['variant']} {a['psnr_y']:.2f}" for a in ran)
        vs_bicubic = (f" ({win['psnr_y'] - bicubic:+.2f} dB against bicubic)"
                      if bicubic is not None else "")
        lines.append(f"**{question}**: {win['variant']} wins with {win['psnr_y']:.2f} dB "
                     f"PSNR-Y{vs_bicubic}, {margin:.2f} dB ahead of {second['variant']} "
                     f"(MSE {mse_change:+.1%} against it), {verdict}. Ranking (dB): {ranking}.")
    return lines


def _val_curve(out: Path, runs: Sequence[Result]) -> tuple[list[int], list[float]]:
    """Validation MSE per step, averaged over the seeds that logged that step."""
    by_step: dict[int, list[float]] = {}
    for r in runs:
        log = Path(out, r["run_dir"], "log.jsonl")
        if not log.is_file():
            continue
        for line in log.read_text().splitlines():
            rec = json.loads(line) if line else {}
            if "val_mse" in rec:
                by_step.setdefault(rec["step"], []).append(rec["val_mse"])
    steps = sorted(by_step)
    return steps, [float(np.mean(by_step[s])) for s in steps]


def write_overlays(out: Path, recipe: Recipe, results: Sequence[Result]) -> list[Path]:
    """overlays/<question>.png: validation MSE against step for the variants of a question."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    folder = out / "overlays"
    folder.mkdir(parents=True, exist_ok=True)
    for question, ids in recipe.questions.items():
        curves = []
        for variant in ids:
            runs = [r for r in results if r["variant"] == variant]
            steps, mse = _val_curve(out, runs)
            if steps:
                curves.append((variant, len(runs), steps, mse))
        if not curves:
            continue
        fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=100)
        for variant, seeds, steps, mse in curves:
            label = variant + (f" (mean of {seeds} seeds)" if seeds > 1 else "")
            ax.plot(steps, mse, "o-", markersize=3, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("validation MSE (RGB, [0, 1])")
        ax.set_title(f"{question}: validation MSE, x{recipe.scale}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = folder / f"{question}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def _md_row(a: dict[str, Any], datasets: Sequence[str]) -> str:
    spread = f"{a['psnr_spread']:.3f}" if a["psnr_spread"] is not None else "-"
    cells = [a["variant"], f"`{a['spec']}`", str(a["seeds"]), f"{a['mse']:.6f}",
             f"{a['psnr_y']:.2f}", spread, f"{a['ssim_y']:.4f}",
             *(f"{a['val'][d]['psnr_y']:.2f}" for d in datasets),
             f"{a['params']:,}", f"{a['macs_per_pixel']:,.0f}", f"{a['mp_per_s']:.3g}",
             f"{a['train_seconds']:.0f}"]
    return "| " + " | ".join(cells) + " |"


def format_markdown(data: dict[str, Any], recipe: Recipe) -> str:
    """results.md: command, machine, recipe, one table per question, reading, figures."""
    agg = data["variants"]
    datasets = list(data["baseline"])
    budget = recipe.budget
    head = ["variant", "spec", "seeds", "val MSE", "PSNR-Y", "spread", "SSIM-Y",
            *(f"{d} PSNR-Y" for d in datasets), "params", "MACs/px",
            f"ORT CPU MP/s ({recipe.threads} thr)", "train s"]
    lines = [
        "# Architecture study" + (" (quick run: not a result)" if recipe.quick else ""), "",
        "Command (from the repository root):", "", "```sh", data["command"] or "?", "```", "",
        f"Machine: {describe(data['machine'])} ({data['machine']['date']}).", "",
        f"Recipe `{recipe.rel(recipe.path)}`: x{recipe.scale}, trained on "
        f"`{recipe.rel(recipe.train)}`"
        + (f" (first {recipe.train_images} images)" if recipe.train_images else "")
        + f", {budget['steps']} steps of {budget['batch']} patches of {budget['patch']}x"
        f"{budget['patch']} (HR), Adam lr {budget['lr']} ({budget['schedule']}), "
        f"{budget['loss']} loss, {recipe.threads} threads; seeds: {recipe.seeds} "
        f"({recipe.reference_seeds} for the reference {recipe.reference}). Validation: "
        + ", ".join(f"`{recipe.rel(v)}`" for v in recipe.val)
        + (f" (centre crops of {recipe.eval_max_side} px)" if recipe.eval_max_side
           else " (full images)")
        + " by the published protocol, on the final (last-step) weights. The study "
        "validates on the test sets: nothing shipped is tuned on these runs.", "",
        "Columns: val MSE on RGB in [0, 1] and PSNR-Y / SSIM-Y (border = scale, 8-bit "
        "output), means over all validation images and seeds; spread = max - min PSNR-Y over "
        "seeds; MACs per output pixel; throughput on ONNX Runtime CPU at "
        + "x".join(map(str, recipe.speed["size"])) + " input (fixed-size models at their "
        "size); train s = seconds of training steps per run.", "",
        "Bicubic: " + ", ".join(f"{d} {b['psnr_y']:.2f} dB / MSE {b['mse']:.6f}"
                                for d, b in data["baseline"].items()) + ".", "",
    ]
    for question, ids in recipe.questions.items():
        ran = [agg[i] for i in ids if i in agg]
        if not ran:
            continue
        lines += [f"## {question}", "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        lines += [_md_row(a, datasets) for a in sorted(ran, key=lambda a: -a["psnr_y"])]
        if f"overlays/{question}.png" in data["overlays"]:
            lines += ["", f"![{question}](overlays/{question}.png)"]
        lines += [""]
    lines += ["## Reading (generated from the numbers above)", ""]
    lines += [f"- {line}" for line in data["reading"]] or ["- (nothing to compare yet)"]
    lines += ["", "## Loss curves per run", ""]
    for a in agg.values():
        lines += [f"- {a['variant']}: " + ", ".join(f"[{Path(c).stem}]({c})"
                                                     for c in a["curves"])]
    return "\n".join(lines).rstrip() + "\n"


def write_results(out: Path, recipe: Recipe, results: Sequence[Result],
                  baseline: dict[str, dict[str, Any]], machine: dict[str, Any],
                  command: str | None) -> list[Path]:
    """results.json, results.md and overlays/*.png in `out`."""
    agg = aggregate(results)
    overlays = write_overlays(out, recipe, results)
    data = {
        "kind": "sronnx-study", "command": command, "machine": machine,
        "recipe": recipe.summary(), "baseline": baseline, "variants": agg,
        "reading": reading(agg, recipe, baseline),
        "overlays": [p.relative_to(out).as_posix() for p in overlays], "runs": list(results),
    }
    json_path, md_path = out / "results.json", out / "results.md"
    json_path.write_text(json.dumps(json_safe(data), indent=1, allow_nan=False) + "\n")
    md_path.write_text(format_markdown(data, recipe))
    return [json_path, md_path, *overlays]
