"""HEIF / HEIC (every iPhone photo since 2017), read and written with pillow-heif (libheif's
Python binding, maintained with Pillow's plugin API), imported on the first HEIF file only.

Read: the primary picture at full depth (10 and 12-bit become 16-bit), alpha, EXIF, XMP, the
ICC profile or the CICP colour description (`cicp.colour_profile`: Display P3 carried as an
ICC profile, PQ/HLG refused). Orientation: libheif applies the file's `irot`/`imir`
transformations itself while decoding, and the HEIF standard makes them the picture's
orientation (an EXIF orientation in a HEIF is only informative: iPhones write both, in
agreement), so the pixels come upright and EXIF's orientation is not applied again (outputs
get orientation 1, as every output does).

Written: 8-bit, or 16-bit arrays as 12-bit HEIC (a note says so), at --quality, with EXIF,
XMP and the ICC profile. Other pictures in the file (depth maps, bursts) are left out, noted.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from sronnx.core import first_line
from sronnx.io import metadata as md
from sronnx.io import registry
from sronnx.io.formats import cicp
from sronnx.io.formats.depth import widen
from sronnx.io.images import Decoded, ImageReadError
from sronnx.io.sniff import read_head

__all__ = ["HEIF", "HEIF_BRANDS", "is_heif", "read_heif", "write_heif"]

HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1",
                         b"msf1", b"heif", b"mif2"})
_AVIF_BRANDS = (b"avif", b"avis")
_LOCK = threading.Lock()
_SAVE_BITS = 12


def _heif() -> Any:
    """pillow_heif, imported (libheif loaded) on first use, set to write 12-bit HEIF."""
    import pillow_heif

    with _LOCK:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = True
    return pillow_heif


def is_heif(path: Path) -> bool:
    """Whether `path` starts as a HEIF file (an ISO `ftyp` of a HEIF brand, not AVIF)."""
    head = read_head(path, 64)
    if head[4:8] != b"ftyp":
        return False
    size = int.from_bytes(head[:4], "big")
    brands = [head[i:i + 4] for i in range(8, min(size, len(head)), 4)]
    if not brands:  # a box too short to name a brand (found by fuzzing)
        return False
    return brands[0] in HEIF_BRANDS and not any(b in _AVIF_BRANDS for b in brands)


def _pixels(heif_file: Any, notes: list[str]) -> Image.Image | np.ndarray:
    bits = int(heif_file.info.get("bit_depth") or 8)
    arr = np.asarray(heif_file)
    if arr.dtype == np.uint16:  # pillow-heif gives the samples in the high bits
        return widen(arr >> (16 - bits), bits, notes) if bits < 16 else arr
    return Image.fromarray(np.ascontiguousarray(arr))


def _metadata(info: dict[str, Any]) -> tuple[md.Metadata | None, list[str]]:
    carrier = Image.new("1", (1, 1))  # md.from_pil reads EXIF and XMP from `info`
    carrier.info.update({k: info[k] for k in ("exif", "xmp") if info.get(k)})
    meta, notes = md.from_pil(carrier)
    return meta or None, notes


def read_heif(path: Path, max_pixels: int | None) -> Decoded:
    """The primary picture of a HEIF file, upright (see the module's note)."""
    pillow_heif = _heif()
    try:
        heif_file = pillow_heif.open_heif(path, convert_hdr_to_8bit=False)
    except Exception as exc:  # noqa: BLE001 - libheif raises several types for bad files
        raise ImageReadError(f"not a readable HEIF ({first_line(exc, 200)})") from exc
    w, h = heif_file.size
    if max_pixels and w * h > max_pixels:
        raise ImageReadError(f"{w}x{h} = {w * h:,} pixels is over the limit of "
                             f"{max_pixels:,} (a decompression bomb?); raise it with "
                             "--max-pixels")
    info = heif_file.info
    meta, notes = _metadata(info)
    nclx = info.get("nclx_profile")
    code_points = (nclx["color_primaries"], nclx["transfer_characteristics"],
                   nclx["matrix_coefficients"]) if nclx else None
    icc = cicp.colour_profile("HEIF", code_points, info.get("icc_profile") or None, notes)
    if len(heif_file) > 1:
        notes.append(f"HEIF with {len(heif_file)} pictures: only the primary one was upscaled")
    try:
        pixels = _pixels(heif_file, notes)
    except Exception as exc:  # noqa: BLE001
        raise ImageReadError(f"truncated or corrupt HEIF data ({first_line(exc, 200)})") \
            from exc
    return Decoded(pixels, "HEIF", icc, None, notes, meta)


def _save_heif(fh: BinaryIO, heif_file: Any, size: tuple[int, int], quality: int,
               icc_profile: bytes | None, meta: md.Metadata | None) -> None:
    kwargs: dict[str, Any] = {"quality": quality}
    if icc_profile:
        kwargs["icc_profile"] = icc_profile
    if meta:
        exif = md.output_exif(meta, size, None)
        xmp = md.output_xmp(meta, size)
        if exif is not None:
            kwargs["exif"] = exif.tobytes()
        if xmp:
            kwargs["xmp"] = xmp
    heif_file.save(fh, **kwargs)


def write_heif(fh: BinaryIO, arr: np.ndarray, *, icc_profile: bytes | None = None,
               dpi: tuple[float, float] | None = None, meta: md.Metadata | None = None,
               compress_level: int = 1, encoding: registry.Encoding | None = None,
               notes: list[str] | None = None) -> None:
    """An HxW[xC] uint8 or uint16 array as HEIC (uint16 as 12-bit), EXIF, XMP and ICC kept;
    a grey + alpha array is written as RGBA."""
    enc = encoding or registry.Encoding()
    if arr.ndim == 3 and arr.shape[2] == 2:
        grey, alpha = arr[..., :1], arr[..., 1:]
        arr = np.concatenate([grey, grey, grey, alpha], axis=2)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    if arr.dtype == np.uint16:
        mode = "I;16" if channels == 1 else f"{mode};16"
        if notes is not None:
            notes.append(f"16-bit samples written as {_SAVE_BITS}-bit HEIF")
    data = np.ascontiguousarray(arr)
    heif_file = _heif().from_bytes(mode=mode, size=(arr.shape[1], arr.shape[0]),
                                   data=data.tobytes())
    _save_heif(fh, heif_file, (arr.shape[1], arr.shape[0]), enc.quality, icc_profile, meta)


def _save(fh: BinaryIO, img: Image.Image, kwargs: dict[str, Any],
          metadata: md.Metadata | None, notes: list[str]) -> None:
    """An 8-bit image (Pillow's modes) as HEIC."""
    if img.mode not in ("L", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
    heif_file = _heif().from_pillow(img)
    _save_heif(fh, heif_file, img.size, kwargs.get("quality", 95), kwargs.get("icc_profile"),
               metadata)


def _save_options(kwargs: dict[str, Any], enc: registry.Encoding) -> None:
    kwargs["quality"] = enc.quality


HEIF = registry.register_format(registry.ImageFormat(
    "HEIF", (".heic", ".heif", ".hif"), choices=("heic", "heif"), sixteen_bit=True,
    max_side=16384,
    metadata=frozenset({"EXIF", "XMP", "ICC"}), pillow_opens=False,
    reader=registry.Reader("HEIF", is_heif, read_heif), write_array=write_heif,
    encoded_array=True, save=_save, save_options=_save_options,
))
