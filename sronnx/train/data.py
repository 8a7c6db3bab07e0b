"""Paired LR/HR images for training and validation, without torch.

Everything here is numpy and Pillow so the data layer can be checked (and reused by the
benchmark) on machines without torch. The low-resolution images are made with
`sronnx.imaging.degrade`, the one place the standard degradation lives, so training, validation and
the published tables agree.

Three folder layouts are understood (see `load_pairs`); images are decoded once and kept in
memory as uint8 arrays, and `PatchSampler` draws aligned, augmented patch batches from them
with a seeded, resumable random stream.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from sronnx.imaging import degrade
from sronnx.io import input_formats

__all__ = [
    "IMAGE_EXTENSIONS",
    "DataError",
    "ImagePair",
    "PatchSampler",
    "find_images",
    "load_pairs",
    "load_rgb",
    "to_nchw_float",
]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


class DataError(ValueError):
    """Bad training or validation data; the message names the file or folder and the reason."""


@dataclass(eq=False)
class ImagePair:
    """One decoded training pair: `hr` is exactly `scale` times `lr` in height and width.

    `name` is the HR image's path relative to the folder it was found in (POSIX separators),
    so reports and saved outputs can be traced back to the file.
    """

    name: str
    lr: np.ndarray  # uint8 HxWx3
    hr: np.ndarray  # uint8 (scale*H)x(scale*W)x3


# --------------------------------------------------------------------------- image loading


def _open_rgb(path: Path) -> Image.Image:
    """Decode fully (so truncation shows up now), apply EXIF orientation, convert to RGB."""
    try:
        with Image.open(path, formats=input_formats()) as img:  # never EPS (Ghostscript) etc.
            img.load()
            img = ImageOps.exif_transpose(img)
            mode = img.mode
            if mode == "I" or mode.startswith("I;16"):
                # 16-bit grey: keep the top 8 bits (Pillow's convert would clip instead).
                grey = np.clip(np.asarray(img).astype(np.int64) >> 8, 0, 255).astype(np.uint8)
                return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2), "RGB")
            if mode == "P" and "transparency" in img.info:
                img = img.convert("RGBA")  # avoids Pillow's palette-transparency warning
            rgb = img.convert("RGB")
            rgb.load()
            return rgb
    except Exception as exc:  # decoders raise many types on bad data; all mean "unreadable"
        reason = str(exc) or type(exc).__name__
        raise DataError(f"cannot read image: {path}: {reason}") from exc


def load_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as a uint8 HxWx3 RGB array, upright per its EXIF orientation.

    Grey, palette, 16-bit and alpha images are converted to RGB (alpha is dropped), so every
    model sees the same 3-channel input. Unreadable files (corrupt, truncated, empty, not an
    image) raise `DataError` naming the file, instead of failing deep inside training.
    """
    img = _open_rgb(Path(path))
    return np.array(img, dtype=np.uint8)  # a writable copy, owned by the caller


def to_nchw_float(arr: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 -> float32 (1, 3, H, W) in [0, 1]: the model's input layout for one image."""
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected a uint8 HxWx3 array, got {arr.dtype} {arr.shape}")
    out = arr.transpose(2, 0, 1)[None].astype(np.float32)
    out /= np.float32(255.0)
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------- layout discovery


def centre_crop(pair: ImagePair, scale: int, height: int, width: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The LR centre window of at most `height` x `width` and the HR window it maps to
    (exactly `scale` times larger, so the pair stays aligned)."""
    lr, hr = pair.lr, pair.hr
    h, w = lr.shape[:2]
    y0, x0 = max((h - height) // 2, 0), max((w - width) // 2, 0)
    lr = lr[y0 : y0 + height, x0 : x0 + width]
    hr = hr[y0 * scale : (y0 + lr.shape[0]) * scale, x0 * scale : (x0 + lr.shape[1]) * scale]
    return lr, hr


def find_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files under `folder`, recursively, sorted; hidden files and folders are ignored.

    Hidden entries are skipped so editor and OS droppings (`.DS_Store`, macOS `._x.png`
    resource forks) are not mistaken for corrupt images.
    """
    folder = Path(folder)
    found = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file():
            found.append(p)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _images_by_key(folder: Path) -> dict[str, Path]:
    """Images keyed by relative path without extension, the key LR and HR files pair on."""
    files = find_images(folder)
    if not files:
        raise DataError(f"no images in folder: {folder} (looked for "
                        f"{', '.join(sorted(IMAGE_EXTENSIONS))})")
    by_key: dict[str, Path] = {}
    for p in files:
        key = p.relative_to(folder).with_suffix("").as_posix()
        if key in by_key:
            raise DataError(f"two images with the same name in {folder}: "
                            f"{by_key[key]} and {p}; cannot tell which one to pair")
        by_key[key] = p
    return by_key


def _subfolder(folder: Path, split: str | None) -> Path:
    """`folder/split` when a split is asked for; it must exist, so a typo is not silent."""
    if split is None:
        return folder
    sub = folder / split
    if not sub.is_dir():
        raise DataError(f"split folder not found: {sub}")
    return sub


def _size(arr: np.ndarray) -> str:
    return f"{arr.shape[1]}x{arr.shape[0]}"


def _crop(img: Image.Image, scale: int, path: Path) -> Image.Image:
    try:
        return degrade.crop_to_multiple(img, scale)
    except ValueError as exc:
        raise DataError(f"image too small: {path}: {exc}") from exc


def _make_pair(lr_path: Path, hr_path: Path, scale: int, name: str) -> ImagePair:
    """Pair one LR file with its HR file, bringing the LR to exactly 1/scale of the HR."""
    lr_img, hr_img = _open_rgb(lr_path), _open_rgb(hr_path)
    hr_c = _crop(hr_img, scale, hr_path)
    (lw, lh), (hw, hh), (cw, ch) = lr_img.size, hr_img.size, hr_c.size
    if (lw, lh) == (hw, hh) and scale > 1:
        # The study's data: LR stored at the HR size. Degrade it the standard way.
        lr_img = degrade.bicubic_downscale(_crop(lr_img, scale, lr_path), scale)
    elif (lw, lh) != (cw // scale, ch // scale):  # else: already the standard LR size
        raise DataError(
            f"LR/HR size mismatch at scale {scale}: LR {lr_path} is {lw}x{lh}, "
            f"HR {hr_path} is {hw}x{hh}; the LR must be {cw // scale}x{ch // scale} "
            f"or the same size as the HR"
        )
    return ImagePair(name=name, lr=np.asarray(lr_img, dtype=np.uint8).copy(),
                     hr=np.asarray(hr_c, dtype=np.uint8).copy())


def _paired(lr_dir: Path, hr_dir: Path, scale: int) -> list[ImagePair]:
    lr_files, hr_files = _images_by_key(lr_dir), _images_by_key(hr_dir)
    for files, other, what in ((lr_files, hr_files, "LR image without an HR partner"),
                               (hr_files, lr_files, "HR image without an LR partner")):
        lonely = sorted(files.keys() - other.keys())
        if lonely:
            more = f" and {len(lonely) - 1} more" if len(lonely) > 1 else ""
            folder = hr_dir if other is hr_files else lr_dir
            raise DataError(f"{what}: {files[lonely[0]]}{more} (nothing named "
                            f"{lonely[0]}.* in {folder})")
    return [
        _make_pair(lr_files[k], hr_files[k], scale, hr_files[k].relative_to(hr_dir).as_posix())
        for k in sorted(hr_files)
    ]


def _hr_only(folder: Path, scale: int) -> list[ImagePair]:
    files = find_images(folder)
    if not files:
        raise DataError(f"no images in folder: {folder} (looked for "
                        f"{', '.join(sorted(IMAGE_EXTENSIONS))})")
    pairs = []
    for p in files:
        img = _open_rgb(p)
        try:
            lr, hr = degrade.make_pair(img, scale)
        except ValueError as exc:
            raise DataError(f"image too small: {p}: {exc}") from exc
        pairs.append(ImagePair(name=p.relative_to(folder).as_posix(),
                               lr=np.asarray(lr, dtype=np.uint8).copy(),
                               hr=np.asarray(hr, dtype=np.uint8).copy()))
    return pairs


def _low_high_dirs(root: Path) -> tuple[Path, Path] | None:
    """The study's `<x>_low/` + `<x>_high/` folders in `root`, if that is its layout."""
    subdirs = {p.name: p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    lows = {n[: -len("_low")]: p for n, p in subdirs.items() if n.endswith("_low")}
    highs = {n[: -len("_high")]: p for n, p in subdirs.items() if n.endswith("_high")}
    for prefix in sorted(lows.keys() ^ highs.keys()):
        lone = lows.get(prefix) or highs[prefix]
        want = f"{prefix}_high" if prefix in lows else f"{prefix}_low"
        raise DataError(f"folder without its partner: {lone} (expected {root / want} beside it)")
    if len(lows) > 1:
        raise DataError(f"several _low/_high folder pairs in {root}: "
                        f"{', '.join(sorted(lows))}; point at one dataset")
    if not lows:
        return None
    (prefix,) = lows
    return lows[prefix], highs[prefix]


def load_pairs(root: str | os.PathLike[str], scale: int,
               split: str | None = None) -> list[ImagePair]:
    """Find and decode every LR/HR pair under `root`, in sorted order.

    Layouts, checked in this order:

    a. `root/lr/` + `root/hr/`: files pair on their relative path without extension
       (`lr/a/b.png` with `hr/a/b.bmp`).
    b. the study's layout: `root/<x>_low/` + `root/<x>_high/`, paired the same way.
    c. otherwise `root` holds HR images only (searched recursively); the LR is made by the
       standard protocol, `degrade.make_pair` (crop to a multiple of the scale, antialiased
       bicubic downscale).

    `split` (e.g. "train") selects that subfolder: of both folders in a and b, of `root` in c;
    it must exist.

    For a and b the HR is cropped (top-left) to a multiple of `scale`. An LR of exactly 1/scale
    of that is used as is. An LR of the *same size* as the HR (how the study stores its data)
    is cropped likewise and brought down with `degrade.bicubic_downscale`, so models trained
    on it see the standard degradation. Any other size relation, unpaired files, unreadable
    or too-small images, empty or missing folders raise `DataError` naming the file or folder.
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    root = Path(root)
    if not root.exists():
        raise DataError(f"data folder does not exist: {root}")
    if not root.is_dir():
        raise DataError(f"data path is not a folder: {root}")

    lr_dir, hr_dir = root / "lr", root / "hr"
    if lr_dir.is_dir() or hr_dir.is_dir():
        if not (lr_dir.is_dir() and hr_dir.is_dir()):
            lone, want = (lr_dir, hr_dir) if lr_dir.is_dir() else (hr_dir, lr_dir)
            raise DataError(f"folder without its partner: {lone} (expected {want} beside it)")
        return _paired(_subfolder(lr_dir, split), _subfolder(hr_dir, split), scale)

    low_high = _low_high_dirs(root)
    if low_high is not None:
        low, high = low_high
        return _paired(_subfolder(low, split), _subfolder(high, split), scale)

    return _hr_only(_subfolder(root, split), scale)


# --------------------------------------------------------------------------- patch sampling


def _jsonable(value: Any) -> Any:
    """numpy scalars/arrays in a bit-generator state -> plain Python, for json.dumps."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class PatchSampler:
    """Random aligned LR/HR patch batches with flip/rotation augmentation, reproducibly.

    `patch` is the HR patch side and must be a multiple of `scale`; the LR patch is
    `patch // scale`. Crops are placed on the LR grid and scaled up for the HR, so the pair
    stays exactly aligned. Images are chosen with probability proportional to their area
    (each pixel is about equally likely to be seen); pairs whose HR is smaller than the patch
    are left out and listed in `skipped`. The same seed gives the same batches, and
    `state()`/`set_state()` let a resumed run continue the same stream.

    `degradation` (e.g. `sronnx.train.degradations.RealisticDegradation()`): when given, each LR
    patch is made from its (augmented) HR patch by `degradation(hr, scale, self.rng)`
    instead of being cut from the pair's LR image; crops are placed as without it. It draws
    from the sampler's own generator, after the batch's crops and flips, so the stream stays
    reproducible and `state()` still captures all of it. None (the default) is the standard
    stream, byte for byte as before degradations existed.
    """

    def __init__(self, pairs: Sequence[ImagePair], scale: int, patch: int, seed: int,
                 degradation: Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
                 | None = None) -> None:
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale!r}")
        if isinstance(patch, bool) or not isinstance(patch, int) or patch < 1:
            raise ValueError(f"patch must be a positive integer, got {patch!r}")
        if patch % scale:
            raise ValueError(f"patch {patch} is not a multiple of the scale {scale}")
        self.scale = scale
        self.patch = patch
        self.lr_patch = patch // scale
        self.pairs: list[ImagePair] = []
        self.skipped: list[str] = []
        for pair in pairs:
            lh, lw = pair.lr.shape[:2]
            if pair.hr.shape[:2] != (lh * scale, lw * scale):
                raise DataError(f"pair {pair.name}: HR {_size(pair.hr)} is not {scale}x the "
                                f"LR {_size(pair.lr)}")
            if lh < self.lr_patch or lw < self.lr_patch:
                self.skipped.append(pair.name)
            else:
                self.pairs.append(pair)
        if not self.pairs:
            raise DataError(f"no image is at least {patch}x{patch} (HR) to cut patches from; "
                            f"{len(self.skipped)} too small")
        sizes = np.array([p.lr.shape[:2] for p in self.pairs], dtype=np.int64)
        area = (sizes[:, 0] * sizes[:, 1]).astype(np.float64)
        self._weights = area / area.sum()
        self._max_y = sizes[:, 0] - self.lr_patch  # inclusive bounds of the LR top-left corner
        self._max_x = sizes[:, 1] - self.lr_patch
        self.rng = np.random.default_rng(seed)
        self.degradation = degradation

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """`n` patch pairs as float32 NCHW in [0, 1]: lr (n,3,p/s,p/s), hr (n,3,p,p)."""
        lr, hr = self.batch_uint8(n)
        return _to_nchw(lr), _to_nchw(hr)

    def batch_uint8(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The same patches as `batch`, as uint8 NHWC: a quarter of the bytes to move, for
        a trainer that converts on its device."""
        if n < 1:
            raise ValueError(f"batch size must be positive, got {n}")
        s, lp, hp = self.scale, self.lr_patch, self.patch
        idx = self.rng.choice(len(self.pairs), size=n, p=self._weights)
        ys = self.rng.integers(0, self._max_y[idx] + 1)
        xs = self.rng.integers(0, self._max_x[idx] + 1)
        flips = self.rng.integers(0, 2, size=(n, 3)).astype(bool)  # hflip, vflip, rot90
        lr_out = np.empty((n, lp, lp, 3), dtype=np.uint8)
        hr_out = np.empty((n, hp, hp, 3), dtype=np.uint8)
        for k in range(n):
            pair, y, x = self.pairs[idx[k]], int(ys[k]), int(xs[k])
            lr = pair.lr[y : y + lp, x : x + lp]
            hr = pair.hr[y * s : y * s + hp, x * s : x * s + hp]
            hr_out[k] = _augment(hr, *flips[k])
            if self.degradation is None:
                lr_out[k] = _augment(lr, *flips[k])
        if self.degradation is not None:
            for k in range(n):
                lr_out[k] = self.degradation(hr_out[k], s, self.rng)
        return lr_out, hr_out

    def state(self) -> dict[str, Any]:
        """The random stream's position as a JSON-able dict (for checkpoints)."""
        return _jsonable(self.rng.bit_generator.state)

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue the random stream from a `state()` taken earlier (e.g. after json)."""
        self.rng.bit_generator.state = state


def _augment(arr: np.ndarray, hflip: bool, vflip: bool, rot: bool) -> np.ndarray:
    """One of the 8 square symmetries, applied identically to LR and HR by the caller."""
    if hflip:
        arr = arr[:, ::-1]
    if vflip:
        arr = arr[::-1]
    if rot:
        arr = np.rot90(arr, 1, axes=(0, 1))
    return arr


def _to_nchw(arr: np.ndarray) -> np.ndarray:
    out = arr.transpose(0, 3, 1, 2).astype(np.float32)
    out /= np.float32(255.0)
    return np.ascontiguousarray(out)
