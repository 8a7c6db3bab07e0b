"""Every frame of an animation through one upscaler (`sronnx.io.animation` reads and writes
the files)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from sronnx.engine.upscaler import Upscaler
from sronnx.imaging import resize_array
from sronnx.io import Animation


def upscale_animation(up: Upscaler, anim: Animation, *,
                      size: tuple[int, int] | None = None,
                      on_tile: Callable[[int], None] | None = None) -> Animation:
    """A new Animation whose frames are every frame of `anim` through `up.upscale_array`
    (as a still image: HxWx3 or HxWx4 uint8 in, `up.scale` times larger out); the playing
    information is kept. `anim.frames` is emptied as the frames are done (so inputs and
    outputs overlap little in memory): read the file again to upscale it twice.

    `size` (width, height): each frame is then resampled to it (`sronnx.imaging.resize`:
    Lanczos up, area down) before the next one runs. `on_tile` is `upscale_array`'s
    progress callback (model output pixels per model call), over all frames. A frame equal to
    the one before it is not run again: its output is the one before's (the model is
    deterministic), and `on_tile` hears of its pixels all at once."""
    todo = anim.frames
    out: list[np.ndarray] = []
    previous = None
    while todo:
        frame = todo.pop(0)
        if previous is not None and np.array_equal(frame, previous):
            out.append(out[-1])
            if on_tile is not None:
                on_tile(frame.shape[0] * frame.shape[1] * up.scale * up.scale)
            continue
        result = up.upscale_array(frame, on_tile=on_tile)
        out.append(result if size is None else resize_array(result, size))
        previous = frame
    return replace(anim, frames=out)
