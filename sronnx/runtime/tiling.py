"""Tile arithmetic as pure functions (after Real-ESRGAN's tile/pad/crop, without state).

An image is cut into a grid of cells of `tile` pixels; each cell is run through the model
inside a window that adds `overlap` pixels of context on every side, and only the cell's part
of the window's output is kept. Windows near the border are shifted inwards instead of
shrunk, so every window has the same size (shapes repeat, tiles batch) and, for a model whose
receptive field fits in the overlap, the tiled result equals the untiled one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """One axis of one tile: the window read from the input and the cell it produces."""

    win_start: int
    win_stop: int
    cell_start: int
    cell_stop: int


def plan_axis(length: int, tile: int, overlap: int, window: int | None = None) -> list[Span]:
    """Spans along one axis of `length` pixels.

    `window` forces the window size (fixed-size models); by default it is tile + 2*overlap,
    or the whole axis when that is shorter. A window larger than the axis is the caller's
    business (pad the image first).
    """
    if length < 1:
        raise ValueError("cannot tile an empty axis")
    if tile < 1 or overlap < 0:
        raise ValueError(f"bad tiling: tile={tile}, overlap={overlap}")
    win = window if window is not None else min(tile + 2 * overlap, length)
    if win > length:
        raise ValueError(f"window {win} is larger than the axis {length}")
    if win == length:
        return [Span(0, length, 0, length)]
    core = win - 2 * overlap
    if core < 1:
        raise ValueError(f"window {win} leaves no room inside an overlap of {overlap}")
    spans = []
    for start in range(0, length, core):
        stop = min(start + core, length)
        ws = min(max(start - overlap, 0), length - win)
        spans.append(Span(ws, ws + win, start, stop))
    return spans


def plan_tiles(height: int, width: int, tile: int, overlap: int,
               window: tuple[int, int] | None = None) -> list[tuple[Span, Span]]:
    """(row span, column span) for every tile, row-major."""
    wh, ww = window if window is not None else (None, None)
    rows = plan_axis(height, tile, overlap, wh)
    cols = plan_axis(width, tile, overlap, ww)
    return [(r, c) for r in rows for c in cols]


def output_slices(row: Span, col: Span, scale: int) -> tuple[tuple[slice, slice],
                                                              tuple[slice, slice]]:
    """(where the cell goes in the output image, which part of the window's output it is)."""
    dst = (slice(row.cell_start * scale, row.cell_stop * scale),
           slice(col.cell_start * scale, col.cell_stop * scale))
    src = (slice((row.cell_start - row.win_start) * scale, (row.cell_stop - row.win_start) * scale),
           slice((col.cell_start - col.win_start) * scale, (col.cell_stop - col.win_start) * scale))
    return dst, src
