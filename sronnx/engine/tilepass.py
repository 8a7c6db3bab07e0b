"""One image through one model, batch of tiles by batch of tiles, in three steps that may run on
different threads: `prepare` (windows read from the image, made into the model's float input),
`run` (the model call, nothing else) and `finish` (the output checked, clamped to the input's
local range, quantised and pasted). `Upscaler.upscale_array` runs the steps one after another;
the engine's staged layout (`sronnx.engine.batch`) runs `prepare` and `finish` on its coder
threads, so that the model stage, which a GPU leaves nearly idle, only calls the model.

The steps of different batches touch disjoint parts of the output, so `finish` calls may run
at once on several threads; each reads the input and writes its own cells only. Memory stays
bounded by the input, the output (in the image's own dtype) and the batches in flight: every
per-pixel step (grey to RGB, alpha premultiplication and its inverse, quantisation) happens
inside a tile, so no full-size float copy of the image or of the output is made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sronnx.core import ModelDescriptor
from sronnx.engine.alpha import alpha_cell
from sronnx.engine.clamp import local_range
from sronnx.engine.tiling import Span, output_slices, plan_fixed_tiles, plan_tiles, read_window
from sronnx.imaging import full_scale, unpremultiply

__all__ = ["ModelInput", "TileError", "TilePass", "TiledModel"]

Tile = tuple[Span, Span]


class TiledModel(Protocol):
    """What a tile pass needs of its model (`sronnx.engine.Upscaler` has it all)."""

    descriptor: ModelDescriptor  #: scale, fixed size, receptive field, input channels
    scale: int  #: output pixels per input pixel along each axis
    tile: int  #: largest cell side, input pixels
    overlap: int  #: context pixels on each side of a cell
    border: int  #: mirrored pixels beyond the image's edges
    batch: int  #: tiles of equal shape per model call
    multiple: int  #: windows start on this grid
    clamp_radius: int | None  #: the local range clamp's radius, None without the clamp

    def run(self, x: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """float32 N x 3 x H x W in [0, 1] -> float32 N x 3 x sH x sW."""
        ...


class TileError(RuntimeError):
    """A tile failed to run; nothing stale is pasted in its place."""


@dataclass
class ModelInput:
    """One batch of tiles made ready for one model call (`TilePass.prepare`).

    Attributes:
        index: the batch's place in `TilePass.batches` (0-based).
        first: the index of its first tile among all the image's tiles (for messages).
        tiles: (row span, column span) of each tile in the batch, all of one window shape.
        windows: the input windows, H x W x C in the image's dtype (the clamp reads them).
        x: float32 N x 3 x H x W RGB in [0, 1], premultiplied by alpha when there is one.
        alpha: float32 N x H x W in [0, 1] for models that take alpha, else None.
    """

    index: int
    first: int
    tiles: list[Tile]
    windows: list[np.ndarray]
    x: np.ndarray
    alpha: np.ndarray | None


class TilePass:
    """`arr` (H x W x C in uint8, uint16 or float in [0, 1], native byte order; `colour` 1 or
    3 colour channels, then alpha when `alpha`) through `up`'s model, into `out` (sH x sW x C,
    the same dtype). `on_tile(pixels)` hears of the output pixels each `finish` wrote; it is
    called from whichever thread runs `finish` (with a lock held, so calls never overlap)."""

    def __init__(self, up: TiledModel, arr: np.ndarray, colour: int, alpha: bool,
                 on_tile: Callable[[int], None] | None = None) -> None:
        h, w = arr.shape[:2]
        if h < 1 or w < 1:
            raise ValueError(f"empty image {w}x{h}")
        self.up, self.arr, self.colour, self.alpha = up, arr, colour, alpha
        self.peak = full_scale(arr.dtype)
        self.scale = s = up.scale
        self.out = np.empty((h * s, w * s, arr.shape[2]), dtype=arr.dtype)
        self.tiles = _plan(up, h, w)
        self.batches = list(_batches(self.tiles, up.batch))
        self._on_tile = on_tile
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """The number of model calls (batches)."""
        return len(self.batches)

    def prepare(self, index: int) -> ModelInput:
        """Batch `index` as the model's input (windows read, made float, premultiplied)."""
        first, group = self.batches[index]
        windows = [read_window(self.arr, r, c) for r, c in group]
        hw = windows[0].shape[:2]
        x = np.empty((len(windows), 3, *hw), dtype=np.float32)
        for out, wnd in zip(x, windows, strict=True):
            _model_input(wnd, self.colour, self.alpha, self.peak, out)
        a = None
        if self.alpha and self.up.descriptor.in_channels == 4:
            a = np.stack([_alpha_input(wnd, self.peak) for wnd in windows])
        return ModelInput(index, first, group, windows, x, a)

    def run(self, batch: ModelInput) -> np.ndarray:
        """The model call for `batch`: float32 N x 3 x sH x sW. Raises TileError naming the
        tile when the model fails (a memory refusal says so)."""
        try:
            x, a = batch.x, batch.alpha
            return self.up.run(x) if a is None else self.up.run(x, a)
        except Exception as exc:  # noqa: BLE001 - report which tile, never paste stale data
            from sronnx.runtime import memory_refusal

            reason = memory_refusal(exc) or exc
            raise TileError(f"tile {batch.first + 1} of {len(self.tiles)} failed: "
                            f"{reason}") from exc

    def finish(self, batch: ModelInput, y: np.ndarray) -> None:
        """Check the model's output `y` for `batch` (shape, finite values), then clamp,
        quantise and paste each tile's cell into `out`; `y` is used up (changed in place).
        Raises TileError for a wrong shape or NaN / infinite values."""
        s, h, w = self.scale, *self.arr.shape[:2]
        expect = (len(batch.tiles), 3, batch.x.shape[2] * s, batch.x.shape[3] * s)
        if y.shape != expect:
            raise TileError(f"model returned {y.shape} for a tile, expected {expect}")
        if not _finite(y):
            raise TileError(f"tile {batch.first + 1} of {len(self.tiles)}: the model returned "
                            "NaN or infinite values")
        # RGB without alpha, integer output (the common case): each cell scaled, clipped,
        # rounded, clamped and written a band of rows at a time (`_paste_levels`), in
        # scratch that stays in the CPU's cache, instead of five passes over the batch.
        levels = self.colour == 3 and not self.alpha and self.peak is not None and \
            self.arr.dtype.kind == "u"
        written = 0
        for (r, c), tile_out, wnd in zip(batch.tiles, y, batch.windows, strict=True):
            if r.cell_start >= h or c.cell_start >= w:
                continue  # a cell of the padding only
            r, c = _clip(r, h), _clip(c, w)
            if levels:
                self._paste_levels(r, c, tile_out, wnd)
            else:
                self._paste(r, c, tile_out, wnd)
            written += (r.cell_stop - r.cell_start) * (c.cell_stop - c.cell_start) * s * s
        if self._on_tile is not None and written:
            with self._lock:
                self._on_tile(written)

    def result(self) -> np.ndarray:
        """The output: sH x sW x C in the input's dtype (complete once every batch is
        finished)."""
        return self.out

    def _paste(self, r: Span, c: Span, tile_out: np.ndarray, wnd: np.ndarray) -> None:
        """One tile's cell: colour (and alpha) clamped, quantised, written into `out`."""
        s, peak, arr = self.scale, self.peak, self.arr
        dst, part = output_slices(r, c, s)
        cell = tile_out[:, part[0], part[1]]  # C x (s*h) x (s*w), channels first
        if self.colour == 1:
            cell = cell.mean(axis=0, keepdims=True)
        if self.alpha:
            a = alpha_cell(arr[:, :, -1], r, c, s, peak)
            straight = unpremultiply(cell.transpose(1, 2, 0), a, peak)
            cell = np.concatenate([straight.transpose(2, 0, 1), a[None]], axis=0)
        q = _quantize(cell, peak, arr.dtype, self._bounds(r, c, wnd), s)
        target = self.out[dst]
        for k in range(q.shape[0]):  # one channel at a time: 3-4x faster than a transpose
            target[:, :, k] = q[k]

    def _paste_levels(self, r: Span, c: Span, tile_out: np.ndarray, wnd: np.ndarray) -> None:
        """`_paste` for RGB without alpha into unsigned integers, the same values: the cell
        scaled to levels, clipped, rounded (`_to_levels`, then the cast), clamped to its
        bounds and written, `_BAND_BYTES` of float rows at a time (a multiple of the scale, so
        that each band starts on an input row)."""
        s, peak = self.scale, self.peak
        dst, part = output_slices(r, c, s)
        cell = tile_out[:, part[0], part[1]]
        target = self.out[dst]
        bounds = self._bounds(r, c, wnd)
        channels, rows, cols = cell.shape
        band = s * max(1, _BAND_BYTES // (4 * channels * cols * s))
        scratch = np.empty((channels, min(band, rows), cols), np.float32)
        levels = np.empty(scratch.shape, self.arr.dtype)
        for top in range(0, rows, band):
            n = min(band, rows - top)
            f, q = scratch[:, :n], levels[:, :n]
            _to_levels(cell[:, top:top + n], peak, out=f)
            np.copyto(q, f, casting="unsafe")  # rounds: the values are level + 0.5
            if bounds is not None:
                lo, hi = (b[:, top // s:(top + n) // s] for b in bounds)
                _clamp_levels(q, (lo, hi), s)
            for k in range(channels):
                target[top:top + n, :, k] = q[k]

    def _bounds(self, r: Span, c: Span, wnd: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray] | None:
        """The cell's local range (`clamp.local_range`, C x h x w minimum and maximum), or
        None when the model is not clamped."""
        if self.up.clamp_radius is None:
            return None
        rows = slice(r.cell_start - r.win_start, r.cell_stop - r.win_start)
        cols = slice(c.cell_start - c.win_start, c.cell_stop - c.win_start)
        chw = wnd.transpose(2, 0, 1)
        hidden = None
        if self.alpha:  # the colour under alpha 0 is no one's: it bounds nothing
            hidden = np.zeros(chw.shape, dtype=bool)
            hidden[:-1] = chw[-1] == 0
        lo, hi = local_range(chw, self.up.clamp_radius, (1, 2), hidden)
        return lo[:, rows, cols], hi[:, rows, cols]


def _plan(up: TiledModel, h: int, w: int) -> list[Tile]:
    """The tiles of an h x w image for `up`'s model and tiling."""
    window = up.descriptor.fixed_size
    if window is not None:
        border = 0 if (h, w) == tuple(window) else up.border
        return plan_fixed_tiles(h, w, window, up.overlap, border)
    return plan_tiles(h, w, up.tile, up.overlap, None, up.multiple, up.border)


def _finite(y: np.ndarray) -> bool:
    """Whether every value of `y` is finite. A float32 sum is NaN or infinite whenever a value
    is (and only rarely otherwise: an overflow of huge values), so the exact check runs only
    then: one reduction instead of a boolean copy of the output for every batch."""
    if np.isfinite(np.add.reduce(y, axis=None)):
        return True
    return bool(np.isfinite(y).all())


def _model_input(window: np.ndarray, colour: int, alpha: bool, peak: float | None,
                 out: np.ndarray) -> None:
    """One window -> `out`, float32 3 x H x W RGB in [0, 1], premultiplied by alpha when there
    is one."""
    if colour == 3 and not alpha:  # the common case, in one pass: cast, scale, transpose
        chw = window.transpose(2, 0, 1)
        if peak is None:
            out[...] = chw
        else:
            np.multiply(chw, np.float32(1.0 / peak), out=out, dtype=np.float32)
        return
    x = window.astype(np.float32)
    if peak is not None:
        x *= np.float32(1.0 / peak)
    rgb = x[:, :, :colour]
    if alpha:
        rgb = rgb * x[:, :, colour : colour + 1]
    out[...] = rgb.transpose(2, 0, 1)  # grey broadcasts to the three channels


def _alpha_input(window: np.ndarray, peak: float | None) -> np.ndarray:
    """One window's alpha (its last channel) as float32 HxW in [0, 1], for RGBA models."""
    a = window[:, :, -1].astype(np.float32)
    return a * np.float32(1.0 / peak) if peak is not None else a


# Float rows scaled, rounded and clamped at a time in `TilePass._paste_levels`: small enough
# to stay in a core's L2 cache with their integer copy.
_BAND_BYTES = 256 * 1024


def _to_levels(y: np.ndarray, peak: float, out: np.ndarray | None = None) -> None:
    """Values nominally in [0, 1] -> y * peak + 0.5 clipped to [0, peak], so that casting to
    an integer type rounds them (what `_quantize` does for integer outputs); into `out`
    (same shape, float32), else in place."""
    out = y if out is None else out
    np.multiply(y, np.float32(peak), out=out)
    np.add(out, np.float32(0.5), out=out)
    np.clip(out, 0, peak, out=out)


def _quantize(cell: np.ndarray, peak: float | None, dtype: np.dtype,
              bounds: tuple[np.ndarray, np.ndarray] | None = None,
              scale: int = 1) -> np.ndarray:
    """A float output cell (C x (s*h) x (s*w), channels first, values nominally in [0, 1]) ->
    `dtype`, rounded and clipped to the dtype's range; with `bounds` (C x h x w minimum and
    maximum in the input's own units, one per input pixel) each output pixel is also clamped
    to its input pixel's range. Channels first, so every pass runs along whole rows. `cell`
    may be changed in place."""
    if peak is None:
        q = np.clip(cell, 0.0, 1.0).astype(dtype, copy=False)
    else:
        v = cell if cell.flags.writeable else cell.copy()
        _to_levels(v, peak)
        q = v.astype(dtype)
    if bounds is not None:
        _clamp_levels(q, bounds, scale)
    return q


def _clamp_levels(q: np.ndarray, bounds: tuple[np.ndarray, np.ndarray], scale: int) -> None:
    """In place: each output pixel of `q` (C x (s*h) x (s*w)) clamped to its input pixel's
    `bounds` (C x h x w minimum and maximum, in `q`'s units)."""
    c, rows, cols = q.shape
    grid = q.reshape(c, rows // scale, scale, cols)  # the s output rows of each input row
    for bound, op in zip(bounds, (np.maximum, np.minimum), strict=True):
        wide = _widen(bound.astype(q.dtype, copy=False), scale)
        op(grid, wide[:, :, None, :], out=grid)  # broadcast down the s rows, no copy


def _widen(bound: np.ndarray, scale: int) -> np.ndarray:
    """`bound` (C x h x w) with each value repeated `scale` times along its rows (C x h x sw),
    as `np.repeat(bound, scale, axis=2)`. For unsigned integers and a scale of 2 or 4 that
    fits in 8 bytes, one multiplication in a wider type writes the repeats (b * 0x0101 is the
    two bytes b, b in either byte order): 4-6x faster than np.repeat."""
    k = bound.dtype.itemsize
    if bound.dtype.kind != "u" or scale not in (2, 4) or k * scale > 8:
        return np.repeat(bound, scale, axis=2)
    wide = np.dtype(f"u{k * scale}")
    factor = sum(1 << (8 * k * i) for i in range(scale))
    return np.multiply(bound, wide.type(factor), dtype=wide).view(bound.dtype)


def _clip(span: Span, length: int) -> Span:
    """The span with its cell cut to the real image (fixed-size models run on padding)."""
    if span.cell_stop <= length:
        return span
    return Span(span.win_start, span.win_stop, span.cell_start, length)


def _batches(tiles: list[Tile], size: int) -> Iterator[tuple[int, list[Tile]]]:
    """Groups of up to `size` tiles of equal window shape (one model call each), with the
    index of each group's first tile for error messages."""
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, tile in enumerate(tiles):
        by_shape.setdefault(_shape(tile), []).append(i)
    for indices in by_shape.values():
        for k in range(0, len(indices), size):
            chunk = indices[k : k + size]
            yield chunk[0], [tiles[i] for i in chunk]


def _shape(tile: Tile) -> tuple[int, int]:
    r, c = tile
    return r.win_stop - r.win_start, c.win_stop - c.win_start
