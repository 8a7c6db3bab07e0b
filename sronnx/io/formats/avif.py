"""AVIF, read and written by Pillow's own AVIF plugin (libavif, built into Pillow's wheels
since 11.3); 10 and 12-bit pictures, which Pillow decodes to 8 bits, are decoded by
imagecodecs (libavif too) at full depth and become 16-bit.

Read: alpha, EXIF, XMP, the ICC profile or the CICP colour description (`cicp`: Display P3
carried as an ICC profile, PQ/HLG refused), orientation (Pillow turns `irot`/`imir` into the
EXIF orientation, which sronnx applies once; imagecodecs' pixels get the same). Written:
8-bit through Pillow at --quality, with EXIF, XMP and the ICC profile; 16-bit samples are
written as 8-bit (noted): Pillow writes no deeper AVIF and imagecodecs' writer keeps no
metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sronnx.io import registry
from sronnx.io.formats import cicp
from sronnx.io.formats.depth import widen

__all__ = ["AVIF"]

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


AVIF = registry.register_format(registry.ImageFormat(
    "AVIF", (".avif",), choices=("avif",), max_side=16384,
    metadata=frozenset({"EXIF", "XMP", "ICC"}), describe=_describe, read_array=_read_array,
    save_options=_save_options,
))
