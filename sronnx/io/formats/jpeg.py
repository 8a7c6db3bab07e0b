"""How hard a JPEG was compressed, from its quantization tables alone.

`jpeg_quality(tables)`: the quality (1..100, libjpeg's scale) whose scaled standard tables come
closest to a JPEG file's own quantization tables (Pillow's `JpegImageFile.quantization`,
natural order). The standard tables are those of ITU-T T.81 Annex K (K.1 luminance, K.2
chrominance) and the scaling is libjpeg's (`jpeg_quality_scaling`): files from other encoders
get the nearest such quality (pure functions, numpy only).

The JPEG format's record: .jpg, .jpeg, .jpe and .jfif (Pillow registers .jpe and .jfif too;
.jif is rare and also used for other formats, so it stays out); no alpha; sides up to 65535;
EXIF, XMP and IPTC (an APP13 segment Pillow cannot write: `metadata.save_jpeg`), every COM
comment (one segment each), an ICC profile and a pixel aspect ratio (JFIF density unit 0:
`jfif_aspect`); DPI in
whole numbers; the decoded file's estimated quality (`Decoded.jpeg_quality`). A phone's JPEG
with extra pictures comes back from Pillow's JPEG opener as format "MPO" (MPO has no opener
of its own: registering it would make Pillow raise KeyError).
"""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from sronnx.io import metadata as md
from sronnx.io import registry

__all__ = ["JPEG", "STD_CHROMINANCE", "STD_LUMINANCE", "jfif_aspect", "jpeg_quality"]

#: ITU-T T.81 Annex K, table K.1 (luminance), natural (row-major) order.
STD_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)


#: ITU-T T.81 Annex K, table K.2 (chrominance), natural order.
STD_CHROMINANCE = np.array([
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    *([99] * 32)], dtype=np.float64)


_QUALITIES = np.arange(1, 101)


def _scaled(table: np.ndarray) -> np.ndarray:
    """(100, 64): `table` scaled as libjpeg does for each quality 1..100, baseline-clamped."""
    q = _QUALITIES[:, None].astype(np.float64)
    scale = np.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)
    return np.clip(np.floor((table[None, :] * scale + 50.0) / 100.0), 1, 255)


_SCALED = (_scaled(STD_LUMINANCE), _scaled(STD_CHROMINANCE))


def jpeg_quality(tables: dict[int, list[int]] | None) -> int | None:
    """Estimated quality (1..100) of a JPEG from its quantization tables: `{0: luma 64
    values, 1: chroma 64 values, ...}` in natural order, as Pillow gives them. The first two
    tables are compared with the scaled standard ones (mean absolute difference in log
    space, so the small high-quality steps count as much as the large ones); None when
    there are no usable tables."""
    if not tables:
        return None
    cost = np.zeros(len(_QUALITIES))
    used = 0
    for index, scaled in zip(sorted(tables)[:2], _SCALED, strict=False):
        values = np.asarray(list(tables[index]), dtype=np.float64)
        if values.shape != (64,) or not np.all(values >= 1):
            continue
        cost += np.abs(np.log(scaled) - np.log(values)[None, :]).mean(axis=1)
        used += 1
    if not used:
        return None
    return int(_QUALITIES[int(np.argmin(cost))])


def _describe(img: Image.Image, path: Path, notes: list[str]) -> dict[str, Any]:
    facts: dict[str, Any] = {"jpeg_quality": jpeg_quality(getattr(img, "quantization", None))}
    found = [md.comment_text(bytes(data)) for marker, data in getattr(img, "applist", ())
             if marker == "COM" and data]
    if found:  # every COM segment, in order (Pillow's info["comment"] keeps the last)
        facts["metadata"] = {"texts": tuple(found)}
    density = img.info.get("jfif_density")
    if img.info.get("jfif_unit") == 0 and isinstance(density, tuple) and len(density) == 2 \
            and all(isinstance(v, int) and v > 0 for v in density) and density[0] != density[1]:
        facts.setdefault("metadata", {})["aspect"] = density  # a pixel aspect ratio
    return facts


def jfif_aspect(data: bytes, aspect: tuple[int, int]) -> bytes:
    """JPEG bytes whose JFIF segment (APP0, first after SOI) says the pixel aspect ratio
    `aspect` (x, y pixels per unit): density unit 0, the ratio in 16 bits (nearest if it
    does not fit). Bytes without a JFIF segment there are returned as they are."""
    if data[2:4] != b"\xff\xe0" or data[6:11] != b"JFIF\x00" or len(data) < 18:
        return data
    ratio = Fraction(aspect[0], aspect[1])
    if ratio > 1:
        ratio = 1 / (1 / ratio).limit_denominator(0xFFFF)
    ratio = ratio.limit_denominator(0xFFFF)
    x, y = min(max(ratio.numerator, 1), 0xFFFF), min(max(ratio.denominator, 1), 0xFFFF)
    return data[:13] + bytes([0]) + struct.pack(">HH", x, y) + data[18:]


def _save_options(kwargs: dict[str, Any], enc: registry.Encoding) -> None:
    if "dpi" in kwargs:
        kwargs["dpi"] = (round(kwargs["dpi"][0]), round(kwargs["dpi"][1]))
    kwargs["quality"] = enc.quality


def _save(fh: BinaryIO, img: Image.Image, kwargs: dict[str, Any],
          metadata: md.Metadata | None, notes: list[str]) -> None:
    aspect = metadata.aspect if metadata and "dpi" not in kwargs else None
    target: BinaryIO = io.BytesIO() if not md.aspect_square(aspect) else fh
    if metadata:
        md.save_jpeg(target, img, kwargs, metadata.iptc, notes, md.comments(metadata))
    else:
        img.save(target, format="JPEG", **kwargs)
    if target is not fh:
        fh.write(jfif_aspect(target.getvalue(), aspect))  # type: ignore[attr-defined]


JPEG = registry.register_format(registry.ImageFormat(
    "JPEG", (".jpg", ".jpeg", ".jpe", ".jfif"), choices=("jpg", "jpeg"),
    magic=(b"\xff\xd8\xff",), alpha=False, modes=("L", "RGB", "CMYK"), max_side=65535,
    metadata=frozenset({"EXIF", "XMP", "IPTC", "COMMENT", "ICC", "ASPECT"}),
    describe=_describe, save_options=_save_options, save=_save,
))
