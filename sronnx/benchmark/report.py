"""Benchmark rows as a terminal table, JSON and Markdown (no plotting here: see `plot`)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sronnx.benchmark.machine import describe

Row = dict[str, Any]

QUALITY_COLUMNS = (("model", "model"), ("scale", "scale"), ("dataset", "dataset"),
                   ("psnr_y", "PSNR-Y dB"), ("ssim_y", "SSIM-Y"), ("mse", "MSE"),
                   ("images", "images"), ("params", "params"), ("macs_per_pixel", "MACs/px"))
SPEED_COLUMNS = (("model", "model"), ("scale", "scale"), ("runtime", "runtime"),
                 ("input_size", "input"), ("threads", "threads"),
                 ("latency_ms_p50", "p50 ms"), ("latency_ms_p95", "p95 ms"),
                 ("mp_per_s", "MP/s"), ("images_per_s", "img/s"), ("gflops", "GFLOP/s"),
                 ("repeats", "runs"))
# the quality table of a robustness run (`--degradations`)
ROBUST_COLUMNS = (("model", "model"), ("scale", "scale"), ("dataset", "dataset"),
                  ("degradation", "degradation"), ("psnr_y", "PSNR-Y dB"),
                  ("ssim_y", "SSIM-Y"), ("gain_db", "gain dB"), ("worse", "worse"),
                  ("worse_share", "worse %"), ("photo_share", "photo model %"),
                  ("images", "images"), ("mse", "MSE"), ("params", "params"))
_NUMERIC = {"scale", "psnr_y", "ssim_y", "mse", "images", "params", "macs_per_pixel",
            "threads", "latency_ms_p50", "latency_ms_p95", "mp_per_s", "images_per_s",
            "gflops", "repeats", "gain_db", "worse", "worse_share", "photo_share"}


def json_safe(value: Any) -> Any:
    """Non-finite floats (PSNR of identical images) become null: JSON has no infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_json(rows: Sequence[Row], path: str | Path) -> Path:
    """The list of rows, machine row first, as strict JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_safe(list(rows)), indent=1, allow_nan=False) + "\n")
    return path


def fmt(key: str, value: Any) -> str:
    """One cell, with the precision each figure deserves."""
    if value is None:
        return "-"
    if key == "scale":
        return f"x{value}"
    if isinstance(value, float) and not math.isfinite(value):
        return "inf"
    if key == "psnr_y":
        return f"{value:.2f}"
    if key == "ssim_y":
        return f"{value:.4f}"
    if key == "mse":
        return f"{value:.6f}"
    if key == "gain_db":
        return f"{value:+.2f}"
    if key in ("worse_share", "photo_share"):
        return f"{value:.0%}"
    if key == "params":
        return f"{value:,}"
    if key in ("macs_per_pixel",):
        return f"{value:,.0f}"
    if key in ("latency_ms_p50", "latency_ms_p95", "mp_per_s", "images_per_s", "gflops"):
        return f"{value:.3g}" if value < 100 else f"{value:,.0f}"
    return str(value)


def _table(rows: Sequence[Row], columns: Sequence[tuple[str, str]]) -> list[list[str]]:
    return [[title for _, title in columns]] + [[fmt(k, r.get(k)) for k, _ in columns]
                                                 for r in rows]


def _text_table(cells: list[list[str]], columns: Sequence[tuple[str, str]]) -> str:
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = []
    for n, row in enumerate(cells):
        parts = [c.rjust(w) if columns[i][0] in _NUMERIC else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _split(rows: Sequence[Row]) -> tuple[Row | None, list[Row], list[Row]]:
    machine = next((r for r in rows if r.get("kind") == "machine"), None)
    return (machine, [r for r in rows if r.get("kind") == "quality"],
            [r for r in rows if r.get("kind") == "speed"])


def _notes(speed: Sequence[Row]) -> list[str]:
    seen: dict[str, None] = {}
    for r in speed:
        if r.get("note"):
            seen.setdefault(f"{r['model']} on {r['runtime']}: {r['note']}")
    return list(seen)


def _quality_columns(qual: Sequence[Row]) -> tuple[tuple[str, str], ...]:
    return ROBUST_COLUMNS if any("degradation" in r for r in qual) else QUALITY_COLUMNS


def robustness_tables(qual: Sequence[Row]) -> dict[int, list[list[str]]]:
    """Per scale: header (model, dataset, then the degradations in run order) and one row
    per model and dataset; a cell is the gain over bicubic with the share of images worse,
    such as `+0.41 (20%)`."""
    robust = [r for r in qual if r.get("degradation") is not None]
    tables = {}
    for scale in sorted({r["scale"] for r in robust}):
        at = [r for r in robust if r["scale"] == scale]
        names = list(dict.fromkeys(r["degradation"] for r in at))
        cells = {(r["model"], r["dataset"], r["degradation"]): r for r in at}
        table = [["model", "dataset", *names]]
        for model, dataset in dict.fromkeys((r["model"], r["dataset"]) for r in at):
            row = [model, dataset]
            for name in names:
                r = cells.get((model, dataset, name))
                row.append("-" if r is None else f"{fmt('gain_db', r['gain_db'])} "
                           f"({fmt('worse_share', r['worse_share'])})")
            table.append(row)
        tables[scale] = table
    return tables


ROBUST_CAPTION = ("robustness: mean gain of PSNR-Y over bicubic on the same degraded input "
                  "(dB), and in brackets the share of images worse than bicubic; "
                  "degradations in bench/README.md")
QUALITY_CAPTION = ("quality: PSNR-Y and SSIM-Y on BT.601 Y, `scale` border pixels cropped, "
                   "8-bit output; MSE on RGB in [0, 1], same pixels")
SPEED_CAPTION = ("speed: median (p50) and p95 latency of timed runs after warm-up; MP/s and "
                 "img/s at the median; GFLOP/s = 2 x MACs/px x output pixels / median")


def format_text(rows: Sequence[Row]) -> str:
    """The terminal report: machine line, quality table, speed table, notes."""
    machine, qual, spd = _split(rows)
    parts = []
    if machine:
        parts.append("machine: " + describe(machine))
    if qual:
        cols = _quality_columns(qual)
        parts += ["", QUALITY_CAPTION, _text_table(_table(qual, cols), cols)]
    for scale, cells in robustness_tables(qual).items():
        # (key, title) pairs only to right-align the degradation columns
        numeric = [("model", ""), ("dataset", "")] + [("gain_db", "")] * (len(cells[0]) - 2)
        parts += ["", f"{ROBUST_CAPTION}, x{scale}", _text_table(cells, numeric)]
    if spd:
        parts += ["", SPEED_CAPTION, _text_table(_table(spd, SPEED_COLUMNS), SPEED_COLUMNS)]
        parts += ["  " + n for n in _notes(spd)]
    return "\n".join(parts) + "\n"


def _md_table(cells: list[list[str]]) -> str:
    head, *body = cells
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines)


def format_markdown(rows: Sequence[Row], command: str | None = None) -> str:
    """The same report as Markdown, with the command that produced it."""
    machine, qual, spd = _split(rows)
    parts = ["# sronnx bench", ""]
    if command:
        parts += ["```sh", command, "```", ""]
    if machine:
        parts += [f"Machine: {describe(machine)} ({machine.get('date')}).", ""]
    if qual:
        parts += ["## Quality", "", QUALITY_CAPTION + ".", "",
                  _md_table(_table(qual, _quality_columns(qual))), ""]
    robust = robustness_tables(qual)
    if robust:
        parts += ["## Robustness", "", ROBUST_CAPTION[0].upper() + ROBUST_CAPTION[1:] + ".",
                  ""]
        for scale, cells in robust.items():
            parts += [f"### x{scale}", "", _md_table(cells), ""]
    if spd:
        parts += ["## Speed", "", SPEED_CAPTION + ".", "", _md_table(_table(spd, SPEED_COLUMNS)),
                  ""]
        parts += [f"- {n}" for n in _notes(spd)]
    return "\n".join(parts).rstrip() + "\n"
