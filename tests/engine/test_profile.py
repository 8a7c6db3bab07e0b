"""TensorRT's shape profile from the tile plan: every window the planner really makes, padded
as the model's size rule pads it, lies inside the profile, and the largest is the optimum.
The plans are the `Upscaler`'s own (`sronnx.engine.tilepass._plan`) on shipped models and
on descriptors with a stride grid and size rules."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers import MODELS

from sronnx.core import SizeRequirements as SizeRule
from sronnx.engine.profile import MAX_PROFILE_SIDE, shape_profile, tile_profile
from sronnx.engine.tilepass import _plan
from sronnx.engine.upscaler import Upscaler
from sronnx.runtime import load_model, provider_options

SIZES = [(1, 1), (7, 300), (64, 64), (511, 513), (600, 1000), (1024, 1030), (1080, 1920),
         (2003, 97)]


def _windows(up: Upscaler, h: int, w: int) -> set[tuple[int, int]]:
    """(rows, columns) of every model call for an h x w image, after size-rule padding."""
    shapes = set()
    for row, col in _plan(up, h, w):
        th, tw = row.win_stop - row.win_start, col.win_stop - col.win_start
        ph, pw = up.descriptor.size.get_padding(th, tw)
        shapes.add((th + ph, tw + pw))
    return shapes


@pytest.fixture(scope="module")
def loaded():
    return load_model(MODELS / "rsp-x3.onnx")


@pytest.mark.parametrize("tiling", [{}, {"tile": 96}, {"tile": 200, "overlap": 13},
                                    {"tile": 64, "batch": 4}])
@pytest.mark.parametrize("rule", [None, SizeRule(multiple_of=8), SizeRule(minimum=48),
                                  SizeRule(multiple_of=4, square=True)])
def test_every_window_lies_in_the_profile(loaded, tiling: dict, rule: SizeRule | None) -> None:
    d = loaded.info.descriptor if rule is None else replace(loaded.info.descriptor, size=rule)
    batch = tiling.get("batch", 1)
    up = Upscaler(replace(loaded, info=replace(loaded.info, descriptor=d)), **tiling)
    profile = shape_profile(d, up.tile if "tile" in tiling else None,
                            tiling.get("overlap"), batch)
    assert profile is not None
    largest = (0, 0)
    for h, w in SIZES:
        for rows, cols in _windows(up, h, w):
            for n in (1, batch):
                assert profile.covers((n, 3, rows, cols)), (h, w, rows, cols, profile)
            largest = max(largest, (rows, cols))
    assert profile.optimal == profile.maximum == (batch, 3, *profile.maximum[2:])
    # the maximum is reached, up to the slack of a window shifted in from the end (less
    # than one grid step) and its padding: no engine built far too large
    assert profile.maximum[2] - largest[0] < 2 * up.multiple


def test_fixed_size_models_and_whole_images(loaded) -> None:
    """A fixed-size model: exactly its size (the model's own batch where fixed); --tile 0
    (one call per image): no profile, the engine then builds for the shapes it meets."""
    d = replace(loaded.info.descriptor, size_requirement="fixed", fixed_size=(64, 48), batch=2,
                layout="NHWC")
    p = shape_profile(d)
    assert p is not None and p.minimum == p.optimal == p.maximum == (2, 64, 48, 3)
    assert shape_profile(loaded.info.descriptor, tile=MAX_PROFILE_SIDE + 1) is None
    assert tile_profile(1 << 30)(loaded.info.descriptor) is None


def test_tensorrt_options_carry_the_profile_and_the_cache(loaded, tmp_path, monkeypatch):
    """The profile and the engine cache folder reach TensorRT's provider options in its own
    form ("input:1x3x8x8"); SRONNX_TENSORRT_CACHE chooses the folder."""
    monkeypatch.setenv("SRONNX_TENSORRT_CACHE", str(tmp_path / "trt"))
    p = shape_profile(loaded.info.descriptor, tile=128, batch=2)
    opts = provider_options("tensorrt", profile=p, input_name="lr")
    assert opts["trt_engine_cache_enable"] == "True"
    assert opts["trt_engine_cache_path"] == str(tmp_path / "trt")
    assert opts["trt_profile_max_shapes"] == "lr:" + "x".join(map(str, p.maximum))
    assert opts["trt_profile_min_shapes"].startswith("lr:1x3x")
