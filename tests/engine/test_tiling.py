"""Tiling: the plan covers every pixel once, and a tiled run equals the untiled one.

The seam tests run real exported models through onnxruntime on a crop of a real image; each
one also checks that tiling without overlap does leave a seam, so the comparison can fail.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from helpers import data_dir
from PIL import Image

from sronnx.engine.tiling import output_slices, plan_axis, plan_tiles
from sronnx.engine.upscaler import Upscaler

# (spec, scale): the fully convolutional kinds, including a strided encoder (tile grid 4)
SEAMLESS = [
    ("rsp:channels=8,blocks=1", 2),
    ("espcn", 3),
    ("fsrcnn", 2),
    ("cae3:base=8", 2),
]
FIXED = ("cae2:bottleneck=fc,base=8,fixed=24", 2)


def _crop(h: int, w: int, name: str = "comic.png") -> np.ndarray:
    img = Image.open(data_dir("test", "Set14") / name).convert("RGB")
    return np.asarray(img)[:h, :w].copy()


class Recording(Upscaler):
    """An Upscaler that notes the shape of every model call (the call itself is real)."""

    calls: list[tuple[int, ...]]

    def run(self, x: np.ndarray) -> np.ndarray:
        self.calls = [*getattr(self, "calls", []), x.shape]
        return super().run(x)


@pytest.mark.parametrize("length", [1, 7, 8, 31, 64, 100, 257])
@pytest.mark.parametrize("tile,overlap,multiple", [(8, 0, 1), (16, 5, 1), (23, 4, 1),
                                                   (13, 6, 4), (30, 9, 9), (64, 8, 1)])
def test_plan_axis_covers_each_pixel_once_with_context(length: int, tile: int, overlap: int,
                                                       multiple: int) -> None:
    spans = plan_axis(length, tile, overlap, multiple=multiple)
    cells = [i for s in spans for i in range(s.cell_start, s.cell_stop)]
    assert cells == list(range(length))
    ov = -(-overlap // multiple) * multiple
    sizes = {s.win_stop - s.win_start for s in spans}
    for s in spans:
        assert 0 <= s.win_start <= s.cell_start < s.cell_stop <= s.win_stop <= length
        assert s.win_start % multiple == 0  # strided encoders see the same grid as untiled
        # context on both sides unless the image ends there
        assert s.cell_start - s.win_start >= min(ov, s.cell_start)
        assert s.win_stop - s.cell_stop >= min(ov, length - s.cell_stop)
    # windows repeat their size (so they batch): only the last may differ
    assert len({s.win_stop - s.win_start for s in spans[:-1]}) <= 1
    assert len(sizes) <= 2


@pytest.mark.parametrize("length", [24, 25, 60, 101])
def test_plan_axis_fixed_window_is_always_the_window(length: int) -> None:
    spans = plan_axis(length, 24, 6, window=24)
    assert [i for s in spans for i in range(s.cell_start, s.cell_stop)] == list(range(length))
    assert {s.win_stop - s.win_start for s in spans} == {24}


def test_plan_axis_rejects_what_it_cannot_do() -> None:
    with pytest.raises(ValueError):
        plan_axis(0, 8, 2)
    with pytest.raises(ValueError):
        plan_axis(10, 8, 2, window=24)
    with pytest.raises(ValueError):
        plan_axis(40, 8, 12, window=24)


def test_output_slices_place_cells_at_scale() -> None:
    (r, c), = [t for t in plan_tiles(10, 10, 100, 2)]
    dst, src = output_slices(r, c, 3)
    assert dst == (slice(0, 30), slice(0, 30)) and src == dst


@pytest.mark.parametrize("spec,scale", SEAMLESS, ids=[s for s, _ in SEAMLESS])
def test_tiled_equals_untiled(exported_models, spec: str, scale: int) -> None:
    model = exported_models(spec, scale)
    img = _crop(61, 83)
    whole = Upscaler(model, tile=4096).upscale(img)
    assert whole.shape == (61 * scale, 83 * scale, 3)
    for tile, batch in [(16, 1), (23, 3), (37, 2), (50, 4)]:
        up = Recording(model, tile=tile, batch=batch)
        tiled = up.upscale(img)
        plan = plan_tiles(61, 83, tile, up.overlap, None, up.descriptor.tile_multiple)
        assert len(plan) > 1
        same = Counter((r.win_stop - r.win_start, c.win_stop - c.win_start) for r, c in plan)
        assert max(c[0] for c in up.calls) == min(batch, max(same.values()))  # tiles batch
        diff = np.abs(tiled.astype(np.int16) - whole).max()
        assert diff <= 1, f"{spec} tile={tile} batch={batch}: max diff {diff}/255"
    # In float (no rounding to hide behind; untrained fsrcnn's output is nearly black), the
    # tiled result is the untiled one to float precision, while tiles without context are
    # off by far more: the comparison can fail.
    x = img.astype(np.float32) / 255
    whole_f = Upscaler(model, tile=4096).upscale(x)
    tiled_f = Upscaler(model, tile=23, batch=3).upscale(x)
    assert np.abs(tiled_f - whole_f).max() <= 1e-5
    seamy = Upscaler(model, tile=23, overlap=0).upscale(x)
    assert np.abs(seamy - whole_f).max() > 1e-3


def test_tiled_equals_untiled_for_rgba_grey_and_16_bit(exported_models) -> None:
    model = exported_models("cae3:base=8", 2)
    rgb = _crop(45, 70)
    alpha = np.tile(np.linspace(0, 255, 70).astype(np.uint8), (45, 1))
    cases = {
        "rgba": np.dstack([rgb, alpha]),
        "grey": rgb[:, :, 1],
        "grey+alpha": np.dstack([rgb[:, :, 1], alpha]),
        "16-bit": rgb.astype(np.uint16) * 257 + 100,
    }
    for name, arr in cases.items():
        whole = Upscaler(model, tile=4096).upscale(arr)
        tiled = Upscaler(model, tile=16, batch=3).upscale(arr)
        assert tiled.shape == whole.shape and tiled.dtype == arr.dtype, name
        tol = 257 if arr.dtype == np.uint16 else 1
        assert np.abs(tiled.astype(np.int64) - whole).max() <= tol, name


def test_fixed_size_model_runs_through_tiles_at_its_size(exported_models) -> None:
    model = exported_models(*FIXED)
    img = _crop(61, 83)
    for h, w in [(61, 83), (10, 7), (24, 24), (30, 13)]:
        arr = img[:h, :w]
        one = Recording(model, batch=1)
        out1 = one.upscale(arr)
        many = Recording(model, batch=3)
        out3 = many.upscale(arr)
        assert out1.shape == (2 * h, 2 * w, 3)
        assert {c[1:] for c in one.calls + many.calls} == {(3, 24, 24)}
        assert np.abs(out1.astype(np.int16) - out3).max() <= 1
        if len(one.calls) >= 3:
            assert max(c[0] for c in many.calls) == 3  # equal tiles do batch
    # a fixed-size image goes through in one call, like the model itself would run it
    exact = Recording(model)
    exact.upscale(img[:24, :24])
    assert exact.calls == [(1, 3, 24, 24)]
