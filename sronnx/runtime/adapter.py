"""Between the upscaler's one tensor form and what a model takes (pure functions, numpy only).

The upscaler always speaks float32 N x 3 x H x W RGB in [0, 1] (premultiplied where the image
has alpha). A model's descriptor (`sronnx.descriptor` metadata) may ask for something else: another
element type (float16, uint8), layout (NHWC), channel order (BGR), value range (0..255), one
luma channel or four RGBA channels, a fixed batch size, or sizes that meet a rule (at least,
multiples of, square). `run_model` turns one into the other on the way in and back on the way
out, so nothing downstream asks what the model wanted.

Luma models (1 channel, as OpenCV's dnn_superres ESPCN/FSRCNN/LapSRN) get Y of full-range
BT.601 YCbCr (JPEG's, Pillow's and OpenCV's COLOR_RGB2YCrCb); their output Y is joined with
the input's Cb and Cr upscaled bicubically (Keys a = -0.75, OpenCV's INTER_CUBIC), as
OpenCV's dnn_superres does. Four-channel models get the colour and the image's alpha (1
where it has none); the upscaler keeps its own alpha path, so only their colour is used.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sronnx.core import ModelDescriptor
from sronnx.imaging import bicubic_upscale_plane

# full-range BT.601 (ITU-T T.871, JPEG File Interchange Format): Y, Cb, Cr from R, G, B
_KR, _KB = 0.299, 0.114
_KG = 1.0 - _KR - _KB

_DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8}


def rgb_to_ycbcr(x: np.ndarray) -> np.ndarray:
    """float32 N x 3 x H x W RGB in [0, 1] -> N x 3 x H x W Y, Cb, Cr (each in [0, 1],
    Cb and Cr centred on 0.5)."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    y = _KR * r + _KG * g + _KB * b
    cb = (b - y) / (2 * (1 - _KB)) + 0.5
    cr = (r - y) / (2 * (1 - _KR)) + 0.5
    return np.stack([y, cb, cr], axis=1).astype(np.float32)


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """The inverse of `rgb_to_ycbcr` (N x 3 x H x W); values are not clipped."""
    y, cb, cr = ycc[:, 0], ycc[:, 1] - 0.5, ycc[:, 2] - 0.5
    r = y + 2 * (1 - _KR) * cr
    b = y + 2 * (1 - _KB) * cb
    g = (y - _KR * r - _KB * b) / _KG
    return np.stack([r, g, b], axis=1).astype(np.float32)


def to_model(x: np.ndarray, alpha: np.ndarray | None, d: ModelDescriptor) -> np.ndarray:
    """float32 N x 3 x H x W RGB in [0, 1] (and N x H x W alpha in [0, 1], or None) -> the
    tensor `d` describes: its channels, order, range, element type and layout."""
    if d.in_channels == 1:
        t = rgb_to_ycbcr(x)[:, :1]
    else:
        t = x[:, ::-1] if d.channel_order == "BGR" else x
        if d.in_channels == 4:
            a = np.ones_like(x[:, :1]) if alpha is None else alpha[:, None].astype(np.float32)
            t = np.concatenate([t, a], axis=1)
    lo, hi = d.value_range
    if (lo, hi) != (0.0, 1.0):
        t = t * np.float32(hi - lo) + np.float32(lo)
    if d.element_type == "uint8":
        t = np.clip(np.rint(t), 0, 255).astype(np.uint8)
    else:
        t = t.astype(_DTYPES[d.element_type], copy=False)
    if d.layout == "NHWC":
        t = t.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(t)


def from_model(y: np.ndarray, x: np.ndarray, d: ModelDescriptor) -> np.ndarray:
    """The model's output for input `x` (float32 N x 3 x H x W RGB in [0, 1]) -> float32
    N x 3 x sH x sW RGB, nominally in [0, 1] (not clipped: the upscaler quantizes).

    Raises ValueError when the output is not the N x C x sH x sW (or NHWC) tensor the
    descriptor promises."""
    if y.ndim != 4:
        raise ValueError(f"model returned a rank-{y.ndim} tensor {y.shape}, expected rank 4")
    if d.layout == "NHWC":
        y = y.transpose(0, 3, 1, 2)
    n, _, h, w = x.shape
    s = d.scale
    if y.shape != (n, d.out_channels, h * s, w * s):
        raise ValueError(f"model returned {tuple(y.shape)} (as NCHW) for a {n}x{d.in_channels}x"
                         f"{h}x{w} input, expected {(n, d.out_channels, h * s, w * s)}")
    y = y.astype(np.float32)
    lo, hi = d.value_range
    if (lo, hi) != (0.0, 1.0):
        y = (y - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    if d.out_channels == 1:
        ycc = rgb_to_ycbcr(x)
        chroma = np.stack([[bicubic_upscale_plane(ycc[i, c], s) for c in (1, 2)]
                           for i in range(n)])
        return ycbcr_to_rgb(np.concatenate([y, chroma], axis=1))
    rgb = y[:, :3]
    return np.ascontiguousarray(rgb[:, ::-1] if d.channel_order == "BGR" else rgb)


def run_model(call: Callable[[np.ndarray], np.ndarray], x: np.ndarray, d: ModelDescriptor,
              alpha: np.ndarray | None = None) -> np.ndarray:
    """One upscaler call through a model that wants what `d` describes.

    `call(tensor) -> tensor` runs the model on one tensor of its own form. `x`: float32
    N x 3 x H x W RGB in [0, 1]; `alpha`: N x H x W in [0, 1] or None. Returns float32
    N x 3 x sH x sW RGB, nominally in [0, 1]. Inputs that do not meet the size rule
    (`d.size`) are padded at the bottom and right (mirrored) and the output cropped; a fixed
    batch size is met by running the batch in groups of that size (the last one padded by
    repeating its last input). Raises ValueError when the model's output is not what `d`
    promises; what `call` raises propagates."""
    n, _, h, w = x.shape
    ph, pw = d.size.get_padding(h, w)
    if ph or pw:
        x = _pad(x, ph, pw)
        alpha = None if alpha is None else _pad(alpha[:, None], ph, pw)[:, 0]
    group = d.batch or n
    outs = []
    for k in range(0, n, group):
        xs = x[k : k + group]
        al = None if alpha is None else alpha[k : k + group]
        short = group - len(xs)
        if short:
            xs = np.concatenate([xs, np.repeat(xs[-1:], short, axis=0)])
            al = None if al is None else np.concatenate([al, np.repeat(al[-1:], short, axis=0)])
        out = from_model(call(to_model(xs, al, d)), xs, d)
        outs.append(out[: group - short])
    y = outs[0] if len(outs) == 1 else np.concatenate(outs)
    if ph or pw:
        y = y[:, :, : h * d.scale, : w * d.scale]
    return y


def _pad(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """N x C x H x W padded by `ph` rows and `pw` columns at the bottom and right, mirrored
    ("symmetric", as the tiler's borders); repeated when the pad is longer than the image."""
    while ph or pw:
        h, w = x.shape[2:]
        a, b = min(ph, h), min(pw, w)
        x = np.pad(x, ((0, 0), (0, 0), (0, a), (0, b)), mode="symmetric")
        ph, pw = ph - a, pw - b
    return x
