"""The alpha plane of one tile, upscaled with the same bicubic kernel the models use for their
skip path (Keys, a = -0.75, edge-replicated), from the cell plus a 2-pixel margin of the
full-size plane, so that the tiled result is exactly the untiled one."""

from __future__ import annotations

import numpy as np

from sronnx.engine.tiling import Span
from sronnx.imaging import ALPHA_MARGIN, bicubic_upscale_plane


def alpha_cell(alpha: np.ndarray, row: Span, col: Span, scale: int,
               peak: float | None) -> np.ndarray:
    """Upscaled alpha in [0, 1] for one tile's cell, from the cell plus a 2-pixel margin of
    the full-size alpha plane (so it equals the untiled result exactly)."""
    h, w = alpha.shape
    r0, r1 = max(row.cell_start - ALPHA_MARGIN, 0), min(row.cell_stop + ALPHA_MARGIN, h)
    c0, c1 = max(col.cell_start - ALPHA_MARGIN, 0), min(col.cell_stop + ALPHA_MARGIN, w)
    a = alpha[r0:r1, c0:c1].astype(np.float32)
    if peak is not None:
        a *= np.float32(1.0 / peak)
    up = bicubic_upscale_plane(a, scale)
    top, left = (row.cell_start - r0) * scale, (col.cell_start - c0) * scale
    cell = up[top : top + (row.cell_stop - row.cell_start) * scale,
              left : left + (col.cell_stop - col.cell_start) * scale]
    return np.clip(cell, 0.0, 1.0)
