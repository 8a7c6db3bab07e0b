"""AVIF, read and written by Pillow's own AVIF plugin (libavif, built into Pillow's wheels
since 11.3); 10 and 12-bit pictures, which Pillow decodes to 8 bits, are decoded by
imagecodecs (libavif too) at full depth and become 16-bit.

Read: alpha, EXIF, XMP, the ICC profile or the CICP colour description (`cicp`: Display P3
carried as an ICC profile, PQ/HLG refused), orientation (Pillow turns `irot`/`imir` into the
EXIF orientation, which sronnx applies once; imagecodecs' pixels get the same).

Written: 8-bit pictures through Pillow at --quality, with EXIF, XMP and the ICC profile
(and CICP sRGB, or unspecified beside an ICC profile, as Pillow writes it). 16-bit pictures
as 12-bit AVIF by imagecodecs (Pillow writes 8 bits only), noted as HEIF's are: lossless
(4:4:4, identity matrix, every 12-bit value exact) for a lossless input or --quality 100,
else at --quality with 4:2:0 chroma (4:0:0 grey) as Pillow's; the same CICP; imagecodecs'
encoder keeps no metadata, so EXIF, XMP and the ICC profile are added to its file
(`avifitems`). Where that file is not laid out as expected, the picture is written at 8
bits through Pillow instead, with a note.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from sronnx.io import metadata as md
from sronnx.io import registry
from sronnx.io.formats import cicp
from sronnx.io.formats.avifitems import AvifLayoutError, add_metadata
from sronnx.io.formats.depth import narrow, widen

__all__ = ["AVIF", "write_avif"]

_SAVE_BITS = 12  # AVIF's deepest samples (libavif: 8, 10 or 12)
_SRGB_CICP = {"primaries": 1, "transfer": 13}  # BT.709 primaries, sRGB transfer
_UNSPECIFIED_CICP = {"primaries": 2, "transfer": 2}  # beside an ICC profile, as Pillow

_HEADER_BYTES = 1 << 16  # the meta box of a still AVIF comes first and is small


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(_HEADER_BYTES)


def _describe(img: Image.Image, path: Path, notes: list[str]) -> dict[str, Any]:
    """The colour description (ICC or CICP, into `img.info`), refusing PQ/HLG; the depth."""
    code_points, icc, bits = cicp.isobmff_colour(_head(path))
    if bits > 8:  # decoded by `_read_array`
        notes.append(f"{bits}-bit samples widened to 16-bit")
    profile = cicp.colour_profile("AVIF", code_points, img.info.get("icc_profile") or icc,
                                  notes)
    if profile:
        img.info["icc_profile"] = profile
    else:
        img.info.pop("icc_profile", None)
    if getattr(img, "n_frames", 1) > 1:
        notes.append(f"AVIF sequence: only the first of {img.n_frames} pictures was upscaled")
    return {}


def _read_array(img: Image.Image, path: Path) -> np.ndarray | None:
    """10/12-bit pictures at full depth (imagecodecs), as 16-bit; None for 8-bit ones."""
    _cicp, _icc, bits = cicp.isobmff_colour(_head(path))
    if bits <= 8:
        return None
    import imagecodecs

    arr = imagecodecs.avif_decode(path.read_bytes())
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    return widen(arr, bits)


def _save_options(kwargs: dict[str, Any], enc: registry.Encoding) -> None:
    kwargs["quality"] = 100 if enc.lossless else enc.quality


def write_avif(fh: BinaryIO, arr: np.ndarray, *, icc_profile: bytes | None = None,
               dpi: tuple[float, float] | None = None, meta: md.Metadata | None = None,
               compress_level: int = 1, encoding: registry.Encoding | None = None,
               notes: list[str] | None = None) -> None:
    """An HxW[xC] uint8 or uint16 array as AVIF: uint8 through Pillow, uint16 as 12-bit by
    imagecodecs; EXIF (resolution from `dpi`), XMP and the ICC profile kept (see the
    module's note). `compress_level` is not used (PNG's)."""
    enc = encoding or registry.Encoding()
    notes = notes if notes is not None else []
    size = (arr.shape[1], arr.shape[0])
    kwargs: dict[str, Any] = md.pil_save_kwargs(meta, "AVIF", size, dpi) if meta else {}
    if icc_profile:
        kwargs["icc_profile"] = icc_profile
    _save_options(kwargs, enc)
    if arr.dtype == np.uint16:
        try:
            fh.write(_deep_avif(arr, kwargs, lossless=enc.lossless or enc.quality >= 100))
            notes.append(f"16-bit samples written as {_SAVE_BITS}-bit AVIF")
            return
        except AvifLayoutError as exc:
            notes.append(f"16-bit samples written as 8-bit AVIF (the 12-bit file could not "
                         f"take the metadata: {exc})")
        arr = narrow(arr, 8)
    Image.fromarray(_channels(arr)).save(fh, format="AVIF", **kwargs)


def _channels(arr: np.ndarray) -> np.ndarray:
    """HxW for one channel, else HxWxC."""
    return arr[..., 0] if arr.ndim == 3 and arr.shape[2] == 1 else arr


def _deep_avif(arr: np.ndarray, kwargs: dict[str, Any], lossless: bool) -> bytes:
    """A uint16 array as a 12-bit AVIF with the EXIF, XMP and ICC profile of `kwargs`
    (Pillow's save keywords). AvifLayoutError where they cannot be added."""
    import imagecodecs

    deep = np.ascontiguousarray(_channels(narrow(arr, _SAVE_BITS)))
    icc = kwargs.get("icc_profile")
    options: dict[str, Any] = dict(_UNSPECIFIED_CICP if icc else _SRGB_CICP)
    if lossless:
        level = 100
    else:
        level = int(kwargs.get("quality", 95))
        options["matrix"] = 6  # BT.601, as Pillow's
        options["pixelformat"] = "400" if deep.ndim == 2 or deep.shape[2] == 2 else "420"
    data = imagecodecs.avif_encode(deep, level=level, bitspersample=_SAVE_BITS, **options)
    exif = kwargs.get("exif")
    if isinstance(exif, Image.Exif):
        exif = exif.tobytes()
    return add_metadata(bytes(data), exif or None, kwargs.get("xmp") or None, icc)


AVIF = registry.register_format(registry.ImageFormat(
    "AVIF", (".avif",), choices=("avif",), max_side=16384, sixteen_bit=True,
    metadata=frozenset({"EXIF", "XMP", "ICC"}), describe=_describe, read_array=_read_array,
    write_array=write_avif, encoded_array=True, save_options=_save_options,
))
