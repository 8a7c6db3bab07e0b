"""The upscaler API: a model on a provider, applied tile by tile to PIL images or arrays.

Only onnxruntime, numpy and Pillow are used here (no torch). Memory stays bounded by the
input, the output (in the image's own dtype) and one batch of tiles: every per-pixel step
(grey to RGB, alpha premultiplication and its inverse, quantisation) happens inside a tile,
so no full-size float copy of the image or of the output is ever made.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from sronnx.core import ModelDescriptor
from sronnx.engine.clamp import clamp_radius
from sronnx.engine.tilepass import TilePass
from sronnx.imaging import array_to_pil, is_grey16, pil_to_array
from sronnx.runtime import LoadedModel, Overrides, open_model

# Default largest tile side (input pixels) for fully convolutional models: big enough that
# context overlap costs little, small enough that a tile's activations stay well under the
# memory bound (bench/results/memory_6000.txt).
DEFAULT_TILE = 512

# A progress callback: called after each model call with the number of output pixels (one
# channel's worth: rows x columns) that call wrote into the output. Per image the calls add up
# to the output's width x height exactly. It runs in the thread that called `upscale`, so a
# callback shared by threads (files upscaled in parallel) must be thread-safe.
TileCallback = Callable[[int], None]


class Upscaler:
    """Upscale images with one sronnx ONNX model.

    `upscale(x)` takes a PIL image or an HxW / HxWxC numpy array (C = 1 grey, 2 grey+alpha,
    3 RGB, 4 RGBA; uint8, uint16 or float in [0, 1], either byte order) and returns the same
    type, `scale` times larger. Pixels are taken as given (EXIF orientation is not applied);
    an animated PIL image is refused (see `upscale`; `sronnx.io.animation` upscales
    animations), and so is a 16-bit grey PIL image with a colour key, which has no 16-bit
    PIL result (`sronnx.engine.upscaler.upscale_pil` says what to do instead). Large
    images run in tiles of `tile` input pixels with `overlap` pixels of context, so memory
    stays bounded; `batch` tiles of equal size go through one model call.
    At the image's edges the context is the image mirrored (`border` pixels, default the
    overlap; 0 leaves the edges to the model's own zero padding): a model trained on patches
    pads with zeros, which bends flat colours near the edges by up to 17 levels (rsp-x4 on
    pure green) and ripples a 1-pixel-high image by ±12; mirrored context removes both.
    A model sronnx did not make runs in its own tensor form, found when it is loaded
    (`sronnx.runtime.probe`); `options` (`Overrides(value_range=(0, 255),
    channel_order="BGR")`) state what no probe can find.
    Fixed-size models run in windows of their size with the same mirrored border (an image
    of exactly that size runs in one call, as the model itself would). With `clamp_range`
    (default: the model's descriptor says: on for sronnx's models, off for models made
    elsewhere),
    each output channel is clamped to the range that channel holds over the input pixels
    within the model's receptive-field radius (`sronnx.engine.clamp`): a flat area
    comes back exactly (white stays 255, black 0, on every shipped model), and a channel that is
    constant around an edge is not given the other channels' detail (no pale fringe at a pure
    green edge).
    """

    def __init__(self, model: str | Path | LoadedModel, provider: str = "cpu", *,
                 threads: int | None = None, clamp_range: bool | None = None,
                 options: Overrides | None = None, **tiling: int | None) -> None:
        """`model`: an opened `LoadedModel`, or a shipped model name or .onnx path opened on
        `provider` with `threads` ONNX Runtime threads and the `options` no probe can find.
        `tiling`: `tile` (input pixels; default the model's hint, at least `DEFAULT_TILE`),
        `overlap` (context pixels; default from the receptive field), `batch` (tiles per
        model call, default 1) and `border` (mirrored pixels at the image's edges; default
        the overlap). Raises ValueError for impossible tiling, TypeError for an unknown
        keyword, and what `sronnx.runtime.open_model` raises for a model it cannot open."""
        unknown = sorted(set(tiling) - {"tile", "overlap", "batch", "border"})
        if unknown:
            raise TypeError(f"Upscaler.__init__() got an unexpected keyword argument "
                            f"{unknown[0]!r}")
        tile, overlap, border = tiling.get("tile"), tiling.get("overlap"), tiling.get("border")
        batch = tiling.get("batch", 1)
        self.model = model if isinstance(model, LoadedModel) else open_model(
            model, None, provider, threads, options=options)[1]
        d = self.descriptor
        self.tile = tile if tile is not None else max(d.tile_hint, DEFAULT_TILE)
        self.overlap = overlap if overlap is not None else default_overlap(d)
        if d.fixed_size is not None and 2 * self.overlap >= min(d.fixed_size):
            # a fixed window must keep a core: shrink the context rather than refuse
            self.overlap = max(min(d.fixed_size) // 4, 0)
        self.border = border if border is not None else self.overlap
        if self.tile < 1 or self.overlap < 0 or batch < 1 or self.border < 0:
            raise ValueError(f"bad tiling: tile={self.tile}, overlap={self.overlap}, "
                             f"batch={batch}, border={self.border}")
        self.batch = batch
        if clamp_range is None:  # the model's own: on for sronnx's, off for others'
            clamp_range = d.clamp
        self.clamp_range = clamp_range
        self.clamp_radius = clamp_radius(d.receptive_field) if clamp_range else None
        # tiles start on the model's grid: its stride (tile_multiple) and its size rule (a
        # model that takes only multiples of m unshuffles by m: not shift-invariant)
        self.multiple = math.lcm(d.tile_multiple, d.size.multiple_of)

    @property
    def descriptor(self) -> ModelDescriptor:
        return self.model.info.descriptor

    @property
    def scale(self) -> int:
        return self.descriptor.scale

    @property
    def provider(self) -> str:
        return self.model.provider

    def run(self, x: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """One model call: float32 N x 3 x H x W RGB in [0, 1] (premultiplied; `alpha`
        N x H x W in [0, 1] or None) -> float32 N x 3 x sH x sW RGB, whatever tensor form the
        model itself takes (`LoadedModel.run`)."""
        return self.model.run(x, alpha)

    def upscale(self, image: Image.Image | np.ndarray, *,
                on_tile: TileCallback | None = None) -> Image.Image | np.ndarray:
        """PIL in, PIL out (the same kind of image: `sronnx.engine.upscaler.upscale_pil`);
        array in, array out (`upscale_array`: same dtype and channels), `scale` times larger.

        The pixels are taken as given: EXIF orientation is not applied (the CLI applies it;
        call `PIL.ImageOps.exif_transpose(img)` first for an upright result).

        Raises ValueError for an animated or multi-frame PIL image (GIF, APNG, WebP, TIFF
        pages: upscale whole animations with `sronnx.io.animation`, or one frame as
        `img.copy()` after `img.seek(k)`), for a 16-bit grey image with a colour key (PIL has
        no 16-bit grey + alpha mode: see `upscale_pil`), and for what `upscale_array` refuses.

        `on_tile(pixels)`, when given, is called after each model call with the output pixels
        it wrote (see `TileCallback`): for progress on large images.
        """
        if isinstance(image, Image.Image):
            from sronnx.engine.upscaler import upscale_pil

            return upscale_pil(self, image, on_tile=on_tile)
        return self.upscale_array(np.asarray(image), on_tile=on_tile)

    def upscale_array(self, arr: np.ndarray, *,
                      on_tile: TileCallback | None = None) -> np.ndarray:
        """HxW or HxWx1 (grey), HxWx2 (grey + alpha), HxWx3 (RGB), HxWx4 (RGBA) array ->
        the same layout and dtype, `scale` times larger.

        dtype: uint8 (0..255), uint16 (0..65535) or float (values in [0, 1]; float16 and
        float64 come back as the same dtype), in either byte order: a big-endian array
        (">u2", ">f4") is read through a native-order copy, and the result is native order.

        Raises ValueError for other shapes (an empty image too), other dtypes (signed, 32-bit,
        bool, ...), and float arrays with values outside [0, 1] or not finite (map HDR into
        [0, 1] first: `sronnx.io.formats.tiff`'s `fit_float_range` does for `sronnx upscale
        --float-range`).

        `on_tile(pixels)`, when given, is called after each model call with the number of
        output pixels (rows x columns) it wrote; the calls add up to the output's
        (scale * H) * (scale * W). An exception it raises stops the upscale and propagates."""
        return _run_all(self.tile_pass(arr, on_tile=on_tile))

    def upscale_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 / uint16 / float array (either byte order) -> HxWx3 of the same dtype
        in native byte order, tile by tile. Raises ValueError for another shape or dtype."""
        rgb = _native(np.asarray(rgb))
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 array, got shape {rgb.shape}")
        return _run_all(TilePass(self, rgb, 3, False))

    def tile_pass(self, arr: np.ndarray, *, on_tile: TileCallback | None = None) -> TilePass:
        """`arr` (as `upscale_array` takes it) set up to run batch by batch: `prepare`, `run`
        and `finish` of each batch may run on different threads (`sronnx.engine.tilepass`),
        and `result()` is the upscaled array once every batch is finished. Raises what
        `upscale_array` raises for an input it refuses."""
        arr = _native(np.asarray(arr))
        if np.issubdtype(arr.dtype, np.floating) and arr.size:
            lo, hi = float(np.min(arr)), float(np.max(arr))
            if not (0.0 <= lo and hi <= 1.0):  # NaN fails both comparisons
                raise ValueError(f"float values from {lo:.6g} to {hi:.6g} are outside [0, 1]")
        if arr.ndim == 2:
            return _GreyPass(self, arr[:, :, None], 1, False, on_tile)
        if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
            raise ValueError(f"expected an HxW or HxWxC (C = 1..4) image array, got {arr.shape}")
        c = arr.shape[2]
        return TilePass(self, arr, 1 if c <= 2 else 3, c in (2, 4), on_tile)


class _GreyPass(TilePass):
    """A 2-D (H x W) grey input: run as H x W x 1, given back as H x W."""

    def result(self) -> np.ndarray:
        return self.out[:, :, 0]


def _run_all(tiles: TilePass) -> np.ndarray:
    """Every batch of `tiles` in this thread, one after another."""
    for index in range(len(tiles)):
        batch = tiles.prepare(index)
        tiles.finish(batch, tiles.run(batch))
    return tiles.result()


def _native(arr: np.ndarray) -> np.ndarray:
    """`arr` in native byte order: a big-endian uint16 / float array (from a file or another
    machine) becomes a native-order copy, which the dtype checks and the output then use."""
    if not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


def default_overlap(d: ModelDescriptor) -> int:
    """Context on each side of a tile: half the receptive field, rounded up, at least 4."""
    return max(4, math.ceil(d.receptive_field / 2) + 1)


def upscale_pil(up: Upscaler, img: Image.Image, *,
                on_tile: Callable[[int], None] | None = None,
                converted: tuple[np.ndarray, str] | None = None) -> Image.Image:
    """PIL image in, PIL image of the same kind out, `up.scale` times larger (see pil_to_array
    for the kinds that change: palette to RGB(A), bilevel to L, CMYK and other colour spaces
    to RGB, a colour key to an alpha band). The ICC profile and DPI (times the scale) go into
    the result's `info`, so that `save` carries them.

    The pixels are taken as given: EXIF orientation is not applied (call
    `PIL.ImageOps.exif_transpose(img)` first). `on_tile` is `Upscaler.upscale_array`'s
    progress callback (output pixels written per model call). `converted`: `pil_to_array(img)`
    when the caller has already made it (it is not made again). An MPO (a JPEG with extra
    images, as some cameras write) gives its first, main image, as the CLI does.

    Raises ValueError, before any model call, for:
    - an animated or multi-frame image (GIF, APNG, WebP, TIFF pages; n_frames > 1): one PIL
      image cannot hold the frames and their timing. `sronnx.io.animation` upscales a whole
      animation file (`read_animation`, `upscale_animation`, `write_animation`); for one
      frame, pass `img.copy()` after `img.seek(k)`.
    - a 16-bit grey image with a colour key (mode I;16 or I with `info["transparency"]`, as
      Pillow reads a 16-bit grey PNG with tRNS): Pillow has no 16-bit grey + alpha mode, so
      the result could only be 8-bit. `up.upscale_array(pil_to_array(img)[0])` upscales the
      HxWx2 uint16 grey + alpha array (all 16 bits and the alpha);
      `array_to_pil(result, "LA;16")` makes an 8-bit LA image of it.
    """
    frames = _frame_count(img)
    if frames > 1:
        raise ValueError(_animation_message(img, frames))
    if is_grey16(img.mode) and "transparency" in img.info:
        raise ValueError(
            f"a 16-bit grey image (mode {img.mode}) with a colour key (transparency = "
            f"{img.info['transparency']}) has no 16-bit PIL result (Pillow has no 16-bit grey "
            "+ alpha mode); upscale the HxWx2 uint16 grey + alpha array instead: "
            "up.upscale_array(sronnx.imaging.modes.pil_to_array(img)[0])")
    arr, mode = converted if converted is not None else pil_to_array(img)
    out = array_to_pil(up.upscale_array(arr, on_tile=on_tile), mode)
    if img.info.get("icc_profile"):
        out.info["icc_profile"] = img.info["icc_profile"]
    if img.info.get("dpi"):
        out.info["dpi"] = tuple(float(v) * up.scale for v in img.info["dpi"])
    return out


def _frame_count(img: Image.Image) -> int:
    """How many frames (pages) `img` holds; 1 for a still image, a copy (`img.copy()`) or an
    MPO, whose extra images are previews or a second view beside its main image."""
    if img.format == "MPO" or not getattr(img, "is_animated", False):
        return 1
    try:
        return int(getattr(img, "n_frames", 1))
    except Exception as exc:  # noqa: BLE001 - a cut file whose frames cannot be counted
        raise ValueError(f"the frames of this {img.format} cannot be counted: {exc}") from exc


def _animation_message(img: Image.Image, frames: int) -> str:
    """Why an image of `frames` frames is refused, and what to use instead."""
    one = "for one frame, pass img.copy() after img.seek(k)"
    if img.format in ("GIF", "PNG", "WEBP"):
        kind = "APNG" if img.format == "PNG" else img.format
        return (f"an animated {kind} of {frames} frames: upscale() returns one image and would "
                "keep only the first frame; upscale the whole animation with "
                "sronnx.io.animation (read_animation, upscale_animation, write_animation), "
                f"or {one}")
    return (f"a {img.format or 'multi-frame'} image of {frames} frames (pages): upscale() "
            f"returns one image and would keep only the first; {one}")
