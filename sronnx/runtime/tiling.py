"""Tile arithmetic as pure functions (after Real-ESRGAN's tile/pad/crop, without state).

An image is cut into a grid of cells of `tile` pixels; each cell is run through the model
inside a window that adds `overlap` pixels of context on every side, and only the cell's part
of the window's output is kept. Windows near the border are shifted inwards instead of
shrunk, so every window has the same size (shapes repeat, tiles batch) and, for a model whose
receptive field fits in the overlap, the tiled result equals the untiled one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """One axis of one tile: the window read from the input and the cell it produces."""

    win_start: int
    win_stop: int
    cell_start: int
    cell_stop: int


def plan_axis(length: int, tile: int, overlap: int, window: int | None = None,
              multiple: int = 1) -> list[Span]:
    """Spans along one axis of `length` pixels, in cells of at most `tile` pixels.

    `multiple` keeps every window start on the model's stride grid (a strided encoder gives
    a different answer when its input is shifted by less than its stride product); tile and
    overlap are rounded to it. The last window may then be up to multiple-1 pixels longer.
    `window` forces the window size (fixed-size models); a window larger than the axis is
    the caller's business (pad the image first).
    """
    if length < 1:
        raise ValueError("cannot tile an empty axis")
    if tile < 1 or overlap < 0 or multiple < 1:
        raise ValueError(f"bad tiling: tile={tile}, overlap={overlap}, multiple={multiple}")
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
    if win >= length:
        return [Span(0, length, 0, length)]
    spans = []
    for start in range(0, length, core):
        stop = min(start + core, length)
        ws = max(start - ov, 0)
        we = ws + win
        if we > length:
            we = length
            ws = max((length - win) // m * m, 0)
        span = Span(ws, we if window is None else ws + win, start, stop)
        if spans and (spans[-1].win_start, spans[-1].win_stop) == (span.win_start, span.win_stop):
            # windows shifted in from the end can coincide: one run serves both cells
            span = Span(span.win_start, span.win_stop, spans.pop().cell_start, stop)
        spans.append(span)
    return spans


def plan_tiles(height: int, width: int, tile: int, overlap: int,
               window: tuple[int, int] | None = None,
               multiple: int = 1) -> list[tuple[Span, Span]]:
    """(row span, column span) for every tile, row-major."""
    wh, ww = window if window is not None else (None, None)
    rows = plan_axis(height, tile, overlap, wh, multiple)
    cols = plan_axis(width, tile, overlap, ww, multiple)
    return [(r, c) for r in rows for c in cols]


def output_slices(row: Span, col: Span, scale: int) -> tuple[tuple[slice, slice],
                                                              tuple[slice, slice]]:
    """(where the cell goes in the output image, which part of the window's output it is)."""
    dst = (slice(row.cell_start * scale, row.cell_stop * scale),
           slice(col.cell_start * scale, col.cell_stop * scale))
    src = (slice((row.cell_start - row.win_start) * scale, (row.cell_stop - row.win_start) * scale),
           slice((col.cell_start - col.win_start) * scale, (col.cell_stop - col.win_start) * scale))
    return dst, src
