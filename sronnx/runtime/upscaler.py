"""The upscaler API: a model on a provider, applied tile by tile to PIL images or arrays.

Only onnxruntime, numpy and Pillow are used here (no torch).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from sronnx.descriptor import ModelDescriptor
from sronnx.runtime.session import LoadedModel, load_model
from sronnx.runtime.tiling import output_slices, plan_tiles


class TileError(RuntimeError):
    """A tile failed to run; nothing stale is pasted in its place."""


class Upscaler:
    """Upscale images with one sronnx ONNX model.

    `upscale(x)` takes a PIL image or an HxWxC / HxW numpy array (uint8, uint16 or float in
    [0, 1]) and returns the same type, `scale` times larger. Large images run in tiles of
    `tile` input pixels with `overlap` pixels of context, so memory stays bounded.
    """

    def __init__(self, model: str | Path | LoadedModel, provider: str = "cpu", *,
                 tile: int | None = None, overlap: int | None = None, batch: int = 1,
                 threads: int | None = None) -> None:
        from sronnx.shipped import resolve_model

        self.model = model if isinstance(model, LoadedModel) else load_model(
            resolve_model(model), provider, threads)
        d = self.descriptor
        self.tile = tile if tile is not None else d.tile_hint
        self.overlap = overlap if overlap is not None else default_overlap(d)
        if d.fixed_size is not None and 2 * self.overlap >= min(d.fixed_size):
            self.overlap = max(min(d.fixed_size) // 4, 0)
        if self.tile < 1 or self.overlap < 0 or batch < 1:
            raise ValueError(f"bad tiling: tile={self.tile}, overlap={self.overlap}, batch={batch}")
        self.batch = batch

    @property
    def descriptor(self) -> ModelDescriptor:
        return self.model.info.descriptor

    @property
    def scale(self) -> int:
        return self.descriptor.scale

    @property
    def provider(self) -> str:
        return self.model.provider

    def run(self, x: np.ndarray) -> np.ndarray:
        """One model call on a float32 NCHW batch in [0, 1]."""
        m = self.model
        return m.session.run([m.output_name], {m.input_name: np.ascontiguousarray(x)})[0]

    def upscale(self, image: Image.Image | np.ndarray) -> Image.Image | np.ndarray:
        if isinstance(image, Image.Image):
            from sronnx.runtime.pil_modes import upscale_pil

            return upscale_pil(self, image)
        return self.upscale_array(np.asarray(image))

    def upscale_array(self, arr: np.ndarray) -> np.ndarray:
        """HxW (grey) or HxWx3 (RGB) or HxWx4 (RGBA) array -> same dtype, scale x larger."""
        from sronnx.runtime.pil_modes import upscale_grey_array, upscale_rgba_array

        if arr.ndim == 2:
            return upscale_grey_array(self, arr)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise ValueError(f"expected HxW, HxWx3 or HxWx4 image array, got shape {arr.shape}")
        if arr.shape[2] == 4:
            return upscale_rgba_array(self, arr)
        return self.upscale_rgb(arr)

    def upscale_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 / uint16 / float array -> HxWx3 of the same dtype, tile by tile."""
        if rgb.dtype == np.uint8:
            peak = 255.0
        elif rgb.dtype == np.uint16:
            peak = 65535.0
        elif np.issubdtype(rgb.dtype, np.floating):
            peak = None
        else:
            raise ValueError(f"unsupported image dtype {rgb.dtype}")
        h, w = rgb.shape[:2]
        d = self.descriptor
        if h < 1 or w < 1:
            raise ValueError(f"empty image {w}x{h}")
        src = rgb
        window = d.fixed_size
        if window is not None and (h < window[0] or w < window[1]):
            src = _mirror_pad(rgb, max(window[0], h), max(window[1], w))
        s = d.scale
        out_dtype = rgb.dtype if peak is not None else np.float32
        out = np.empty((src.shape[0] * s, src.shape[1] * s, 3), dtype=out_dtype)
        tiles = plan_tiles(src.shape[0], src.shape[1], self.tile, self.overlap, window,
                           d.tile_multiple)
        for start, group in _batches(tiles, self.batch):
            x = np.stack([_to_chw(src[r.win_start : r.win_stop, c.win_start : c.win_stop], peak)
                          for r, c in group])
            try:
                y = self.run(x)
            except Exception as exc:  # noqa: BLE001 - report which tile, never paste stale data
                raise TileError(f"tile {start + 1} of {len(tiles)} failed: {exc}") from exc
            expect = (len(group), 3, x.shape[2] * s, x.shape[3] * s)
            if y.shape != expect:
                raise TileError(f"model returned {y.shape} for a tile, expected {expect}")
            for (r, c), tile_out in zip(group, y, strict=True):
                dst, srcs = output_slices(r, c, s)
                out[dst] = _from_chw(tile_out[:, srcs[0], srcs[1]], peak, out_dtype)
        return out[: h * s, : w * s] if src is not rgb else out


def _batches(tiles: list, size: int):
    """Runs of up to `size` consecutive tiles of equal window shape, with their index."""
    start = 0
    while start < len(tiles):
        shape = _shape(tiles[start])
        stop = start + 1
        while stop < len(tiles) and stop - start < size and _shape(tiles[stop]) == shape:
            stop += 1
        yield start, tiles[start:stop]
        start = stop


def _shape(tile: tuple) -> tuple[int, int]:
    r, c = tile
    return r.win_stop - r.win_start, c.win_stop - c.win_start


def default_overlap(d: ModelDescriptor) -> int:
    """Context on each side of a tile: half the receptive field, rounded up, at least 4."""
    return max(4, math.ceil(d.receptive_field / 2) + 1)


def _to_chw(window: np.ndarray, peak: float | None) -> np.ndarray:
    x = window.astype(np.float32).transpose(2, 0, 1)
    if peak is not None:
        x *= np.float32(1.0 / peak)
    return x


def _from_chw(y: np.ndarray, peak: float | None, dtype: np.dtype) -> np.ndarray:
    y = y.transpose(1, 2, 0)
    if peak is None:
        return np.clip(y, 0.0, 1.0)
    return np.clip(y * np.float32(peak) + np.float32(0.5), 0, peak).astype(dtype)


def _mirror_pad(arr: np.ndarray, height: int, width: int) -> np.ndarray:
    ph, pw = height - arr.shape[0], width - arr.shape[1]
    return np.pad(arr, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
