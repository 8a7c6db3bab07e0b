"""PSNR against throughput, with the Pareto front: which models are worth their speed.

matplotlib is optional (the `train` extra): `write_plot` returns None without it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Row = dict[str, Any]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (higher x and higher y are
    better), ordered by increasing x."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1]))
    front, best_y = [], -math.inf
    for i in order:
        if points[i][1] > best_y:
            front.append(i)
            best_y = points[i][1]
    return front[::-1]


def tradeoff_points(rows: Sequence[Row]) -> dict[int, list[tuple[str, float, float]]]:
    """Per scale: (label, MP/s, PSNR-Y averaged over the datasets) for every speed row whose
    model has a quality row on every dataset at that scale."""
    quality: dict[tuple[str, int], dict[str, float]] = {}
    datasets: dict[int, set[str]] = {}
    for r in rows:
        if r.get("kind") == "quality" and r.get("psnr_y") is not None \
                and math.isfinite(r["psnr_y"]):
            quality.setdefault((r["model"], r["scale"]), {})[r["dataset"]] = r["psnr_y"]
            datasets.setdefault(r["scale"], set()).add(r["dataset"])
    out: dict[int, list[tuple[str, float, float]]] = {}
    for r in rows:
        if r.get("kind") != "speed" or not r.get("mp_per_s"):
            continue
        q = quality.get((r["model"], r["scale"]))
        if not q or set(q) != datasets.get(r["scale"], set()):
            continue
        psnr = sum(q.values()) / len(q)
        out.setdefault(r["scale"], []).append((f"{r['model']} ({r['runtime']})",
                                               float(r["mp_per_s"]), psnr))
    baseline = {f"{r['model']} ({r['runtime']})" for r in rows if r.get("source") == "baseline"}
    # a panel with the baseline alone says nothing: keep scales that have a model
    compared = {s: pts for s, pts in out.items() if any(p[0] not in baseline for p in pts)}
    return dict(sorted((compared or out).items()))


def write_plot(rows: Sequence[Row], path: str | Path) -> Path | None:
    """One panel per scale: PSNR-Y against output MP/s (log), Pareto front drawn and its
    points labelled. None when matplotlib is not installed; ValueError when no model has both
    quality and speed rows."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    panels = tradeoff_points(rows)
    if not panels:
        raise ValueError("nothing to plot: no model has both quality (--data) and speed rows")
    datasets = sorted({r["dataset"] for r in rows if r.get("kind") == "quality"})
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), dpi=100,
                             squeeze=False)
    for ax, (scale, pts) in zip(axes[0], panels.items(), strict=True):
        xy = [(x, y) for _, x, y in pts]
        front = pareto_front(xy)
        on_front = set(front)
        for i, (label, x, y) in enumerate(pts):
            ax.scatter([x], [y], s=60 if i in on_front else 25,
                       marker="o" if i in on_front else "x",
                       color="tab:red" if i in on_front else "tab:grey", zorder=3)
            # models at one PSNR on several runtimes: stagger their labels
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4 - 9 * (i % 3)),
                        fontsize=7,
                        color="black" if i in on_front else "dimgrey")
        ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], "-", color="tab:red",
                alpha=0.6, label="Pareto front")
        ax.set_xscale("log")
        ax.set_xlabel("throughput (output megapixels / s)")
        ax.set_ylabel(f"PSNR-Y (dB), mean of {', '.join(datasets)}")
        ax.set_title(f"x{scale}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
