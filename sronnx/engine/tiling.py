"""Tile arithmetic as pure functions (after Real-ESRGAN's tile/pad/crop, without state).

An image is cut into a grid of cells of `tile` pixels; each cell is run through the model
inside a window that adds `overlap` pixels of context on every side, and only the cell's part
of the window's output is kept. Windows near the border are shifted inwards instead of
shrunk, so every window has the same size (shapes repeat, tiles batch) and, for a model whose
receptive field fits in the overlap, the tiled result equals the untiled one.

With `border` > 0 the axis is extended on both sides by that many pixels, mirrored from the
image (`read_window` makes them): windows at the image's edges then read mirrored context
instead of the model's zero padding, which is what makes a flat image come back flat to its
edges and a 1-pixel-high image come back without ripples. Spans may then start below 0 and
end past the axis; cells never do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Span:
    """One axis of one tile: the window read from the input and the cell it produces."""

    win_start: int
    win_stop: int
    cell_start: int
    cell_stop: int


def plan_axis(length: int, tile: int, overlap: int, window: int | None = None,
              multiple: int = 1, border: int = 0) -> list[Span]:
    """Spans along one axis of `length` pixels, in cells of at most `tile` pixels.

    `multiple` keeps every window start on the model's stride grid (a strided encoder gives
    a different answer when its input is shifted by less than its stride product); tile and
    overlap are rounded to it. The last window may then be up to multiple-1 pixels longer.
    `window` forces the window size (fixed-size models); a window larger than the axis is
    the caller's business (pad the image first). `border` extends the axis by mirrored
    pixels on both sides (rounded up to `multiple`; not with `window`).
    """
    if length < 1:
        raise ValueError("cannot tile an empty axis")
    if tile < 1 or overlap < 0 or multiple < 1 or border < 0:
        raise ValueError(f"bad tiling: tile={tile}, overlap={overlap}, multiple={multiple}, "
                         f"border={border}")
    if window is not None and border:
        raise ValueError("a fixed window takes no mirrored border")
    border = -(-border // multiple) * multiple
    lo, hi = -border, length + border
    if window is not None:
        if window > length:
            raise ValueError(f"window {window} is larger than the axis {length}")
        win, core, ov, m = window, window - 2 * overlap, overlap, 1
        if core < 1:
            raise ValueError(f"window {window} leaves no room inside an overlap of {overlap}")
    else:
        m = multiple
        ov = -(-overlap // m) * m
        core = max(tile // m * m, m)
        # balance the cells: as few as `tile` allows, of equal size, so that no thin last
        # cell pays for a whole window of context (640 px at tile 512: 2 x 320, not 512 + 128)
        cells = math.ceil(length / core)
        core = min(core, math.ceil(math.ceil(length / cells) / m) * m)
        win = core + 2 * ov
    if win >= hi - lo:
        return [Span(lo, hi, 0, length)]
    spans = []
    for start in range(0, length, core):
        stop = min(start + core, length)
        ws = max(start - ov, lo)
        we = ws + win
        if we > hi:
            we = hi
            ws = max((hi - win) // m * m, lo)
        span = Span(ws, we if window is None else ws + win, start, stop)
        if spans and (spans[-1].win_start, spans[-1].win_stop) == (span.win_start, span.win_stop):
            # windows shifted in from the end can coincide: one run serves both cells
            span = Span(span.win_start, span.win_stop, spans.pop().cell_start, stop)
        spans.append(span)
    return spans


def plan_tiles(height: int, width: int, tile: int, overlap: int,
               window: tuple[int, int] | None = None,
               multiple: int = 1, border: int = 0) -> list[tuple[Span, Span]]:
    """(row span, column span) for every tile, row-major."""
    wh, ww = window if window is not None else (None, None)
    rows = plan_axis(height, tile, overlap, wh, multiple, border)
    cols = plan_axis(width, tile, overlap, ww, multiple, border)
    return [(r, c) for r in rows for c in cols]


def plan_fixed_tiles(height: int, width: int, window: tuple[int, int], overlap: int,
                     border: int = 0) -> list[tuple[Span, Span]]:
    """(row span, column span) for every tile of a fixed-size model, row-major: every window
    exactly `window` (H, W), reaching `border` pixels past the image on each side and, for an
    image smaller than the window, as far past its end as the window needs (`read_window`
    mirrors those pixels in); cells stay inside the image."""
    tiles_per_axis = []
    for length, win in zip((height, width), window, strict=True):
        lo = -border
        hi = max(length + border, lo + win)
        spans = []
        for sp in plan_axis(hi - lo, win, overlap, window=win):
            cs, ce = max(sp.cell_start + lo, 0), min(sp.cell_stop + lo, length)
            if cs < ce:
                spans.append(Span(sp.win_start + lo, sp.win_stop + lo, cs, ce))
        tiles_per_axis.append(spans)
    rows, cols = tiles_per_axis
    return [(r, c) for r in rows for c in cols]


def read_window(arr: np.ndarray, row: Span, col: Span) -> np.ndarray:
    """The window of `arr` (HxW[xC]) that `row` and `col` span; the parts outside the image
    (spans of a mirrored border) are mirrored from it (numpy's "symmetric": the edge pixel
    repeats, then its neighbours), so a flat image stays flat and a 1-pixel axis repeats."""
    h, w = arr.shape[:2]
    r0, r1 = max(row.win_start, 0), min(row.win_stop, h)
    c0, c1 = max(col.win_start, 0), min(col.win_stop, w)
    inner = arr[r0:r1, c0:c1]
    pads = ((r0 - row.win_start, row.win_stop - r1), (c0 - col.win_start, col.win_stop - c1))
    if not any(p for pair in pads for p in pair):
        return inner
    return np.pad(inner, pads + ((0, 0),) * (arr.ndim - 2), mode="symmetric")


def output_slices(row: Span, col: Span, scale: int) -> tuple[tuple[slice, slice],
                                                              tuple[slice, slice]]:
    """(where the cell goes in the output image, which part of the window's output it is)."""
    dst = (slice(row.cell_start * scale, row.cell_stop * scale),
           slice(col.cell_start * scale, col.cell_stop * scale))
    src = (slice((row.cell_start - row.win_start) * scale, (row.cell_stop - row.win_start) * scale),
           slice((col.cell_start - col.win_start) * scale, (col.cell_stop - col.win_start) * scale))
    return dst, src
