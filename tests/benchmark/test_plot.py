"""The benchmark's plot (sronnx.benchmark.plot): labels placed so that none overlap, and the
committed results (bench/results/shipped.json) drawn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import ROOT


def _boxes(anchors, sizes, offsets):
    out = []
    for (x, y), (w, h), (dx, dy) in zip(anchors, sizes, offsets, strict=True):
        left = x + dx - (w if dx < 0 else 0.0)
        bottom = y + dy - (h / 2 if dy == 0 else h if dy < 0 else 0.0)
        out.append((left, bottom, left + w, bottom + h))
    return out


def test_plot_labels_do_not_overlap() -> None:
    from sronnx.benchmark.plot import _overlap, place_labels

    # six labels on one point (a model on several runtimes at one PSNR) and two nearby
    anchors = [(100.0, 100.0)] * 6 + [(130.0, 104.0), (90.0, 95.0)]
    sizes = [(60.0, 9.0)] * 8
    offsets = place_labels(anchors, sizes)
    boxes = _boxes(anchors, sizes, offsets)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not _overlap(a, b), (a, b)
    # the old layout (a fixed stagger of three offsets) overlapped here
    old = _boxes(anchors, sizes, [(4.0, 4.0 - 9 * (i % 3)) for i in range(8)])
    assert any(_overlap(a, b) for i, a in enumerate(old) for b in old[i + 1:])


def test_plot_of_the_committed_results_draws(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from sronnx.benchmark.plot import write_plot

    rows = json.loads((ROOT / "bench" / "results" / "shipped.json").read_text())
    path = write_plot(rows, tmp_path / "p.png")
    assert path is not None and path.stat().st_size > 10_000
