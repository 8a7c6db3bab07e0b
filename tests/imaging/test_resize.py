"""Output sizes and resampling (sronnx.imaging.resize): `target_size` rounds and keeps the
aspect ratio, `pick_scale` takes the smallest model scale reaching a factor, and
`resize_array` resamples per axis (Lanczos up, area down) in float, keeping 16-bit, float,
grey and alpha (premultiplied).

Real images (Set5 crops) and small synthetic ones, compared with Pillow's own resize.
"""

from __future__ import annotations

import numpy as np
from helpers import photo
from PIL import Image

from sronnx.imaging.resize import pick_scale, resize_array, target_size


def test_target_size_rounds_and_keeps_the_aspect_ratio() -> None:
    assert target_size((56, 40), 2) == (112, 80)
    assert target_size((56, 40), 2, outscale=1.5) == (84, 60)
    assert target_size((57, 41), 4, outscale=0.5) == (round(28.5), round(20.5)) == (28, 20)
    assert target_size((56, 40), 3, width=100) == (100, round(40 * 100 / 56))
    assert target_size((56, 40), 3, height=100) == (round(56 * 100 / 40), 100)
    assert target_size((56, 40), 3, width=30, height=200) == (30, 200)
    assert target_size((1000, 1), 2, outscale=0.1) == (100, 1)  # never 0 pixels
    assert [pick_scale(f, [2, 3, 4]) for f in (0.5, 1.5, 2, 2.01, 3, 3.5, 4, 9)] == \
        [2, 2, 2, 3, 3, 4, 4, 4]


def test_resize_array_lanczos_up_area_down_per_axis() -> None:
    """Against Pillow's own 8-bit resize: the float path is within a rounding of the right
    filter and far from the other one; each axis gets its own filter."""
    a = photo(60, 80)
    lanczos, box = Image.Resampling.LANCZOS, Image.Resampling.BOX

    def pil(size, flt):
        return np.asarray(Image.fromarray(a).resize(size, flt)).astype(int)

    up, down = resize_array(a, (120, 90)).astype(int), resize_array(a, (50, 37)).astype(int)
    assert np.abs(up - pil((120, 90), lanczos)).max() <= 1
    assert np.abs(up - pil((120, 90), box)).max() > 10
    assert np.abs(down - pil((50, 37), box)).max() <= 1
    assert np.abs(down - pil((50, 37), lanczos)).max() > 5
    mixed = resize_array(a, (120, 40)).astype(int)  # wider (Lanczos), lower (area)
    ref = np.asarray(Image.fromarray(a).resize((120, 60), lanczos).resize((120, 40), box))
    assert np.abs(mixed - ref.astype(int)).max() <= 1
    assert resize_array(a, (80, 60)) is a  # the same size: untouched


def test_resize_array_keeps_16_bit_float_grey_and_alpha() -> None:
    ramp = np.linspace(20000, 21000, 24 * 32).reshape(24, 32).astype(np.uint16)
    out = resize_array(ramp, (48, 36))
    assert out.dtype == np.uint16 and out.shape == (36, 48)
    assert len(np.unique(out)) > 256  # the low byte is kept, not 8-bit steps of 257
    assert 19990 <= out.min() and out.max() <= 21010  # a smooth ramp barely overshoots
    f = resize_array(ramp.astype(np.float32) / 65535, (16, 12))
    assert f.dtype == np.float32 and f.shape == (12, 16) and 0 <= f.min() <= f.max() <= 1
    # red hidden under alpha 0 around an opaque green square: premultiplied, none shows
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[5:15, 5:15] = (0, 255, 0, 255)
    out = resize_array(rgba, (31, 29))
    seen = out[..., 3] > 0
    assert out[..., 0][seen].max() == 0 and out[..., 1][seen].min() == 255
    assert 0 < (out[..., 3][seen] < 255).sum()  # soft edges exist, and they stay green
    la = np.dstack([np.full((9, 9), 200, np.uint16) * 300, np.full((9, 9), 65535, np.uint16)])
    assert resize_array(la, (5, 5)).tolist() == np.dstack(
        [np.full((5, 5), 60000), np.full((5, 5), 65535)]).tolist()  # flat stays exact
