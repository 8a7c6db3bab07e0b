"""PSNR against throughput, with the Pareto front: which models are worth their speed; and,
for a robustness run, the gain over bicubic per degradation.

matplotlib is optional (the `train` extra): `write_plot` and `write_robustness_plot` return
None without it.
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


Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(anchors: Sequence[tuple[float, float]], sizes: Sequence[tuple[float, float]],
                 step: float = 8.0, rings: int = 8) -> list[tuple[float, float]]:
    """Offsets (dx, dy) of text labels from their points so that no label box covers another
    label or a point where that can be avoided. Units are any one length (the plot uses
    pixels, y up). Greedy, in the given order: each label takes the first free candidate on
    rings of `step` around its anchor (right, upper right, up, upper left, left, lower left,
    down, lower right); when none is free it keeps the first candidate. A label box has its
    lower left corner at anchor + offset for offsets to the right, its lower right corner for
    offsets to the left."""
    points = [(x - 2, y - 2, x + 2, y + 2) for x, y in anchors]
    placed: list[Box] = []
    out = []
    for (x, y), (w, h) in zip(anchors, sizes, strict=True):
        choice, box0 = None, None
        for ring in range(1, rings + 1):
            d = step * ring
            for dx, dy in ((d, 0.0), (d, d), (0.0, d), (-d, d), (-d, 0.0), (-d, -d), (0.0, -d),
                           (d, -d)):
                left = x + dx - (w if dx < 0 else 0.0)
                bottom = y + dy - (h / 2 if dy == 0 else h if dy < 0 else 0.0)
                box = (left, bottom, left + w, bottom + h)
                if box0 is None:
                    box0 = ((dx, dy), box)
                if not any(_overlap(box, b) for b in placed + points):
                    choice = ((dx, dy), box)
                    break
            if choice is not None:
                break
        (offset, box) = choice if choice is not None else box0  # type: ignore[misc]
        placed.append(box)
        out.append(offset)
    return out


def tradeoff_points(rows: Sequence[Row]) -> dict[int, list[tuple[str, float, float]]]:
    """Per scale: (label, MP/s, PSNR-Y averaged over the datasets) for every speed row whose
    model has a quality row on every dataset at that scale."""
    quality: dict[tuple[str, int], dict[str, float]] = {}
    datasets: dict[int, set[str]] = {}
    for r in rows:
        if r.get("kind") == "quality" and r.get("psnr_y") is not None \
                and math.isfinite(r["psnr_y"]) and r.get("degradation", "clean") == "clean":
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


def _label_points(fig, ax, pts: list[tuple[str, float, float]], on_front: set[int]) -> None:
    """Label every point without overlaps (`place_labels` in pixels), front points first."""
    fig.canvas.draw()  # fixes the axes' limits and transform
    renderer = fig.canvas.get_renderer()
    order = sorted(range(len(pts)), key=lambda i: (i not in on_front, i))
    anchors = [tuple(ax.transData.transform((pts[i][1], pts[i][2]))) for i in order]
    sizes = []
    for i in order:
        t = ax.text(0, 0, pts[i][0], fontsize=7)
        box = t.get_window_extent(renderer)
        sizes.append((box.width + 2, box.height + 1))
        t.remove()
    to_points = 72.0 / fig.dpi
    for i, (dx, dy) in zip(order, place_labels(anchors, sizes), strict=True):
        label, x, y = pts[i]
        ax.annotate(label, (x, y), textcoords="offset points",
                    xytext=(dx * to_points, dy * to_points), fontsize=7,
                    ha="right" if dx < 0 else "left",
                    va="center" if dy == 0 else "top" if dy < 0 else "bottom",
                    color="black" if i in on_front else "dimgrey",
                    arrowprops={"arrowstyle": "-", "color": "lightgrey", "lw": 0.5}
                    if abs(dx) + abs(dy) > 20 else None)


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
    datasets = sorted({r["dataset"] for r in rows if r.get("kind") == "quality"
                       and r.get("degradation", "clean") == "clean"})
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), dpi=100,
                             squeeze=False)
    for ax, (scale, pts) in zip(axes[0], panels.items(), strict=True):
        xy = [(x, y) for _, x, y in pts]
        front = pareto_front(xy)
        on_front = set(front)
        for i, (_, x, y) in enumerate(pts):
            ax.scatter([x], [y], s=60 if i in on_front else 25,
                       marker="o" if i in on_front else "x",
                       color="tab:red" if i in on_front else "tab:grey", zorder=3)
        ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], "-", color="tab:red",
                alpha=0.6, label="Pareto front")
        ax.set_xscale("log")
        _label_points(fig, ax, pts, on_front)
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


def sibling_path(path: str | Path, tag: str) -> Path:
    """`r.png` -> `r-<tag>.png`: a second plot beside the first."""
    path = Path(path)
    return path.with_name(f"{path.stem}-{tag}{path.suffix or '.png'}")


def robustness_points(rows: Sequence[Row]) -> dict[int, tuple[list[str], dict[str, list[float]]]]:
    """Per scale: (degradations in run order, model -> gain over bicubic per degradation), the
    gain averaged over the datasets weighted by their images (so: over every image scored).
    NaN where a model has no finite gain for a degradation."""
    acc: dict[int, dict[str, dict[str, list[float]]]] = {}
    order: dict[int, dict[str, None]] = {}
    for r in rows:
        if r.get("kind") != "quality" or r.get("degradation") is None:
            continue
        order.setdefault(r["scale"], {}).setdefault(r["degradation"])
        cell = acc.setdefault(r["scale"], {}).setdefault(r["model"], {}).setdefault(
            r["degradation"], [0.0, 0])
        gain = r.get("gain_db")
        if gain is None or not math.isfinite(gain) or not math.isfinite(cell[0]):
            cell[0] = math.nan
        else:
            cell[0] += gain * r["images"]
        cell[1] += r["images"]
    out = {}
    for scale in sorted(acc):
        names = list(order[scale])
        out[scale] = (names, {model: [per[n][0] / per[n][1] if n in per else math.nan
                                      for n in names]
                              for model, per in acc[scale].items()})
    return out


def write_robustness_plot(rows: Sequence[Row], path: str | Path) -> Path | None:
    """One panel per scale: gain of PSNR-Y over bicubic (dB) per degradation, one line per
    model (bicubic is the zero line). None without matplotlib; ValueError without robustness
    rows."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    panels = robustness_points(rows)
    if not panels:
        raise ValueError("nothing to plot: no robustness rows (--degradations with --data)")
    datasets = sorted({r["dataset"] for r in rows if r.get("kind") == "quality"
                       and r.get("degradation") is not None})
    width = max(6.0, 0.55 * max(len(names) for names, _ in panels.values()) + 1.5)
    models = list(dict.fromkeys(m for _, gains in panels.values() for m in gains
                                if m != "bicubic"))
    colours = {m: f"C{i % 10}" for i, m in enumerate(models)}  # one colour per model
    fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels), 4.5), dpi=100,
                             squeeze=False)
    for ax, (scale, (names, gains)) in zip(axes[0], panels.items(), strict=True):
        xs = list(range(len(names)))
        ax.axhline(0.0, color="black", linewidth=0.8, alpha=0.6)
        for model, ys in gains.items():
            if model == "bicubic":
                continue
            ax.plot(xs, ys, "o-", label=model, markersize=4, color=colours[model])
        ax.set_xticks(xs)
        ax.set_xticklabels(names, rotation=30, ha="right")
        ax.set_ylabel(f"PSNR-Y gain over bicubic (dB), {', '.join(datasets)}")
        ax.set_title(f"x{scale}")
        ax.grid(alpha=0.3)
        if len(gains) > 1:
            ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
