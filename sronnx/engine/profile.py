"""The input shapes a run's model calls can take, from the tile plan, for execution providers
that build an engine for a range of shapes before the first call (TensorRT's optimization
profile: minimum, optimal and maximum shape).

The `Upscaler` cuts an image into windows of at most `tile` pixels plus `overlap` pixels of
context on each side, both rounded to the model's grid (`sronnx.engine.tiling.plan_axis`,
whose last window may be up to grid - 1 pixels longer), and pads each call to the model's
size rule; a smaller image runs whole, with its mirrored border. `tests/engine/test_profile.py`
checks, on real plans, that every window the planner makes lies in the profile.
"""

from __future__ import annotations

import math

from sronnx.core import ModelDescriptor
from sronnx.engine.upscaler import DEFAULT_TILE, default_overlap
from sronnx.runtime import ProfileFn, ShapeProfile

__all__ = ["MAX_PROFILE_SIDE", "shape_profile", "tile_profile"]

#: past this many input pixels per side (--tile 0: each image whole) no profile is given:
#: the engine is then built for the shapes it meets
MAX_PROFILE_SIDE = 8192


def _padded(d: ModelDescriptor, side: int) -> int:
    """`side` after the model's size-rule padding (both sides equal)."""
    return side + d.size.get_padding(side, side)[0]


def _shape(d: ModelDescriptor, n: int, h: int, w: int) -> tuple[int, int, int, int]:
    """The model input's own shape for a batch of `n` windows of h x w pixels."""
    c = d.in_channels
    return (n, h, w, c) if d.layout == "NHWC" else (n, c, h, w)


def shape_profile(d: ModelDescriptor, tile: int | None = None, overlap: int | None = None,
                  batch: int = 1) -> ShapeProfile | None:
    """The profile of a model of descriptor `d` tiled as the `Upscaler` tiles it with these
    options (None: its defaults): batches of 1 to `batch` windows (the model's own batch if
    fixed), sides from the smallest the size rule takes to the largest window, the largest
    being the optimum (every tile of a large image has it). A fixed-size model: its size.
    None when the largest window passes `MAX_PROFILE_SIDE`."""
    n_min, n_max = (d.batch, d.batch) if d.batch else (1, max(1, batch))
    if d.fixed_size is not None:
        h, w = (_padded(d, s) for s in d.fixed_size)
        return ShapeProfile(_shape(d, n_min, h, w), _shape(d, n_max, h, w),
                            _shape(d, n_max, h, w))
    tile = tile if tile is not None else max(d.tile_hint, DEFAULT_TILE)
    overlap = overlap if overlap is not None else default_overlap(d)
    grid = math.lcm(d.tile_multiple, d.size.multiple_of)
    core = max(tile // grid * grid, grid)
    largest = core + 2 * (-(-overlap // grid) * grid) + grid - 1
    if largest > MAX_PROFILE_SIDE:
        return None
    top, low = _padded(d, largest), _padded(d, 1)
    return ShapeProfile(_shape(d, n_min, low, low), _shape(d, n_max, top, top),
                        _shape(d, n_max, top, top))


def tile_profile(tile: int | None = None, overlap: int | None = None,
                 batch: int = 1) -> ProfileFn:
    """`shape_profile` with these tiling options, as `sronnx.runtime.load_model` takes it
    (called once the model's needs are known)."""
    return lambda d: shape_profile(d, tile, overlap, batch)
