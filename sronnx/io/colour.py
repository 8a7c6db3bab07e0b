"""A PNG's colour description where the output format has no PNG chunks for it.

A PNG's gAMA and cHRM say how its stored values map to colours (gAMA 1.0: linear light).
sronnx keeps the values as stored, so the description must travel with them: PNG outputs
keep the chunks (`metadata.png_colour_chunks`); outputs that hold an ICC profile (JPEG, WebP,
TIFF) get one made from gAMA and cHRM (`profile_from_png`: an ICC v2 display profile of a
matrix and a pure power curve, what the chunks state, and what browsers and other viewers
that ignore gAMA still honour); formats with neither (BMP, GIF) lose it, with a note. An
sRGB chunk needs nothing outside PNG (an untagged image is read as sRGB); an ICC profile
(iCCP) is carried as the profile (`Decoded.icc_profile`) and takes precedence over gAMA and
cHRM, as PNG says. Converting the pixels to sRGB instead was not chosen: it would change
every value (and round linear-light 16-bit data twice), where a profile keeps them exact.

Pillow's ImageCms makes only sRGB, Lab and XYZ profiles, so the profile is built here.
"""

from __future__ import annotations

import struct

import numpy as np

from sronnx.io import metadata as md
from sronnx.io import registry

__all__ = ["colour_for_output", "profile_from_png"]

_D50 = np.array([0.9642, 1.0, 0.8249])
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614],
                      [-0.7502, 1.7135, 0.0367],
                      [0.0389, -0.0685, 1.0296]])
_SRGB_CHRM = (31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)  # D65, Rec. 709


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz_tag(xyz: np.ndarray) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(float(v)) for v in xyz)


def _xy_to_xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1 - x - y) / y])


def _colorants(chrm: tuple[int, ...]) -> np.ndarray:
    """The red, green and blue colorants (columns), adapted to D50 (Bradford), as ICC asks."""
    v = [c / 100000 for c in chrm]
    white = _xy_to_xyz(v[0], v[1])
    prim = np.column_stack([_xy_to_xyz(v[2 + 2 * i], v[3 + 2 * i]) for i in range(3)])
    m = prim * np.linalg.solve(prim, white)[None, :]  # RGB -> XYZ, white at Y = 1
    cone = _BRADFORD @ white, _BRADFORD @ _D50
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone[1] / cone[0]) @ _BRADFORD
    return adapt @ m


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_
            + b"\0" * 8 + b"\0\0\0" + b"\0" * 67)


def profile_from_png(gamma: int, chromaticities: tuple[int, ...] | None,
                     grey: bool = False) -> bytes:
    """An ICC v2 display profile meaning what a PNG's gAMA (`gamma`, x 100000) and cHRM
    (8 values x 100000; None: sRGB's primaries and D65 white) say: decoding exponent
    1 / gamma on each channel (a grey profile for `grey` images)."""
    exponent = min(max(100000 / gamma, 1 / 256), 255.0)
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(exponent * 256)) + b"\0\0"
    label = f"sronnx: PNG gAMA {gamma / 100000:.5g}" + (" cHRM" if chromaticities else "")
    tags: list[tuple[bytes, bytes]] = [(b"desc", _desc(label)),
                                       (b"cprt", b"text\0\0\0\0No copyright\0"),
                                       (b"wtpt", _xyz_tag(_D50))]
    if grey:
        tags.append((b"kTRC", curve))
    else:
        m = _colorants(chromaticities or _SRGB_CHRM)
        tags += [(b"rXYZ", _xyz_tag(m[:, 0])), (b"gXYZ", _xyz_tag(m[:, 1])),
                 (b"bXYZ", _xyz_tag(m[:, 2])),
                 (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"\0\0\0\0" + struct.pack(">I", 0x02100000)
              + b"mntr" + (b"GRAY" if grey else b"RGB ") + b"XYZ " + b"\0" * 12 + b"acsp"
              + b"\0" * 28 + b"".join(_s15(float(v)) for v in _D50) + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + table + body


def _writes_grey(fmt: str) -> bool:
    """Whether `fmt` stores a grey image as grey (its profile must then be a grey one): its
    own array writer (TIFF) or a Pillow mode "L" it writes as it is (JPEG); else Pillow
    writes it as RGB (WebP)."""
    record = registry.get_format(fmt)
    return record is not None and (record.write_array is not None or "L" in record.modes)


def colour_for_output(meta: md.Metadata | None, fmt: str, icc_profile: bytes | None,
                      grey: bool) -> tuple[bytes | None, list[str]]:
    """The ICC profile an output of `fmt` gets, and notes on what of the PNG colour
    description, sBIT and pixel aspect ratio in `meta` it cannot hold. A format with PNG's
    chunks ("GAMMA") keeps them itself, one with "ASPECT" the aspect ratio; one that holds
    an ICC profile gets one made from gAMA and cHRM when the input had neither an ICC
    profile nor sRGB."""
    held = md.holds(fmt)
    if not meta:
        return icc_profile, []
    notes: list[str] = []
    if not md.aspect_square(meta.aspect) and "ASPECT" not in held:
        notes.append(f"pixel aspect ratio {meta.aspect[0]}:{meta.aspect[1]} not kept: {fmt} "
                     "cannot hold it; viewers will show square pixels")
    if "GAMMA" in held:
        return icc_profile, notes
    c = meta.colour or md.Colour()
    described = icc_profile is not None or c.srgb is not None
    if c.gamma is not None and not described and "ICC" in held:
        icc_profile = profile_from_png(c.gamma, c.chromaticities, grey and _writes_grey(fmt))
        notes.append(f"{', '.join(c.names())} written as an ICC profile: {fmt} has no gAMA "
                     "or cHRM")
    elif (c.gamma is not None or c.chromaticities is not None) and not described:
        notes.append(f"colour description ({', '.join(c.names())}) not kept: {fmt} holds "
                     "no ICC profile; viewers will show the values as sRGB")
    if c.cicp is not None:
        notes.append(f"cICP not kept: {fmt} cannot hold it")
    if meta.sbit:
        notes.append(f"sBIT (significant bits {', '.join(map(str, meta.sbit))}) not kept: "
                     f"{fmt} cannot hold it")
    return icc_profile, notes
