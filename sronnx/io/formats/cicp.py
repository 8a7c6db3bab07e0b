"""The colour description of HEIF, AVIF and JPEG XL pictures without an ICC profile: CICP
(ITU-T H.273 code points, an `nclx` colour box) made into what sronnx carries, an ICC profile.

sRGB / BT.709 (and unspecified) need nothing; other SDR primaries (Display P3, BT.2020,
...) get a matrix/TRC ICC v4 profile built here from the primaries, white point and transfer
(Bradford-adapted to D50), so that the output keeps its colours (with a note). PQ and HLG
(HDR) are refused: the models work on SDR values and no option maps HDR yet.

`isobmff_colour(data)`: the first `colr` (nclx or ICC) and `pixi` (bits per channel) of an
ISO base media file (HEIF, AVIF), from its `meta/iprp/ipco` boxes.
"""

from __future__ import annotations

import struct

import numpy as np

from sronnx.io.images import ImageReadError

__all__ = ["HDR_TRANSFERS", "cicp_icc", "colour_profile", "isobmff_colour"]

#: transfer characteristics that mean HDR: 16 SMPTE ST 2084 (PQ), 18 ARIB STD-B67 (HLG)
HDR_TRANSFERS = {16: "PQ (SMPTE ST 2084)", 18: "HLG (ARIB STD-B67)"}
_D65 = (0.3127, 0.3290)
#: colour primaries -> (name, red, green, blue, white) as CIE xy
_PRIMARIES = {
    1: ("BT.709/sRGB", (0.64, 0.33), (0.30, 0.60), (0.15, 0.06), _D65),
    9: ("BT.2020", (0.708, 0.292), (0.170, 0.797), (0.131, 0.046), _D65),
    11: ("DCI-P3", (0.680, 0.320), (0.265, 0.690), (0.150, 0.060), (0.314, 0.351)),
    12: ("Display P3", (0.680, 0.320), (0.265, 0.690), (0.150, 0.060), _D65),
}
#: transfer -> ICC parametric curve (type 3 or 0: g, a, b, c, d), its name
_SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
_709_CURVE = (1 / 0.45, 1 / 1.099, 0.099 / 1.099, 1 / 4.5, 0.081)
_TRANSFERS = {
    13: ("sRGB", _SRGB_CURVE), 2: ("sRGB", _SRGB_CURVE),
    1: ("BT.709", _709_CURVE), 6: ("BT.709", _709_CURVE), 14: ("BT.709", _709_CURVE),
    15: ("BT.709", _709_CURVE), 8: ("linear", (1.0,)), 4: ("gamma 2.2", (2.2,)),
    5: ("gamma 2.8", (2.8,)),
}
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367],
                      [0.0389, -0.0685, 1.0296]])
_D50_XYZ = np.array([0.9642, 1.0, 0.8249])


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def _colorants(code: int) -> np.ndarray:
    """3x3: the D50-adapted XYZ of the red, green and blue primaries (columns)."""
    _, r, g, b, w = _PRIMARIES[code]
    m = np.stack([_xyz(r), _xyz(g), _xyz(b)], axis=1)
    m = m * np.linalg.solve(m, _xyz(w))[None, :]
    src, dst = _BRADFORD @ _xyz(w), _BRADFORD @ _D50_XYZ
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(dst / src) @ _BRADFORD
    return adapt @ m, adapt


def _s15(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def _tag_xyz(xyz) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _mluc(text: str) -> bytes:
    body = text.encode("utf-16-be")
    return b"mluc\0\0\0\0" + struct.pack(">II", 1, 12) + b"enUS" + \
        struct.pack(">II", len(body), 28) + body


def _para(curve: tuple[float, ...]) -> bytes:
    kind = 0 if len(curve) == 1 else 3
    return b"para\0\0\0\0" + struct.pack(">HH", kind, 0) + b"".join(_s15(v) for v in curve)


def _sf32(matrix: np.ndarray) -> bytes:
    return b"sf32\0\0\0\0" + b"".join(_s15(v) for v in matrix.reshape(-1))


def cicp_icc(primaries: int, transfer: int) -> bytes:
    """An ICC v4 RGB display profile (matrix and parametric curves) for CICP `primaries` and
    `transfer` (KeyError for code points not in the tables)."""
    pname, *_ = _PRIMARIES[primaries]
    tname, curve = _TRANSFERS[transfer]
    colorants, adapt = _colorants(primaries)
    trc = _para(curve)
    tags = [(b"desc", _mluc(f"{pname} ({tname} transfer), from CICP {primaries}/{transfer}")),
            (b"cprt", _mluc("No copyright, use freely")),
            (b"wtpt", _tag_xyz(_D50_XYZ)), (b"chad", _sf32(adapt)),
            (b"rXYZ", _tag_xyz(colorants[:, 0])), (b"gXYZ", _tag_xyz(colorants[:, 1])),
            (b"bXYZ", _tag_xyz(colorants[:, 2])),
            (b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I4sI4s4s4s12s4s4sI4s4s8sI", size, b"lcms", 0x04300000, b"mntr",
                         b"RGB ", b"XYZ ", b"\0" * 12, b"acsp", b"APPL", 0, b"\0" * 4,
                         b"\0" * 4, b"\0" * 8, 0)
    header += b"".join(_s15(v) for v in _D50_XYZ) + b"\0" * 4 + b"\0" * 16 + b"\0" * 28
    return header + struct.pack(">I", len(tags)) + table + data


def colour_profile(name: str, cicp: tuple[int, int, int] | None, icc: bytes | None,
                   notes: list[str]) -> bytes | None:
    """The ICC profile to carry for a picture with `icc` and CICP code points `cicp`
    (primaries, transfer, matrix; None: none given): the file's own ICC profile when it has
    one, None for sRGB / BT.709, else one built from the CICP (noted). PQ or HLG is refused
    (ImageReadError)."""
    if cicp is None:
        return icc
    primaries, transfer, _ = cicp
    if transfer in HDR_TRANSFERS:
        raise ImageReadError(f"an HDR {name} ({HDR_TRANSFERS[transfer]} transfer, CICP "
                             f"{primaries}/{transfer}): sronnx upscales SDR pictures only")
    if icc:
        return icc
    if primaries in (1, 2) and transfer in (1, 2, 6, 13, 14, 15):
        return None  # sRGB / BT.709: what sronnx assumes without a profile
    if primaries in _PRIMARIES and transfer in _TRANSFERS:
        notes.append(f"{_PRIMARIES[primaries][0]} colour ({_TRANSFERS[transfer][0]} transfer, "
                     f"CICP {primaries}/{transfer}) carried as an ICC profile")
        return cicp_icc(primaries, transfer)
    notes.append(f"colour description CICP {primaries}/{transfer} not known to sronnx: "
                 "treated as sRGB")
    return None


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        head = 8
        if size == 1 and pos + 16 <= end:
            size, head = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < head:
            return
        yield kind, pos + head, min(pos + size, end)
        pos += size


def isobmff_colour(data: bytes) -> tuple[tuple[int, int, int] | None, bytes | None, int]:
    """(CICP code points or None, ICC profile or None, most bits per channel; 8 when the
    file does not say) from the first `colr` boxes and `pixi` of an ISO base media file."""
    cicp, icc, bits = None, None, 8
    for kind, a, b in _boxes(data, 0, len(data)):
        if kind != b"meta":
            continue
        for kind2, a2, b2 in _boxes(data, a + 4, b):
            if kind2 != b"iprp":
                continue
            for kind3, a3, b3 in _boxes(data, a2, b2):
                if kind3 == b"ipco":
                    cicp, icc, bits = _properties(data, a3, b3)
    return cicp, icc, bits


def _properties(data: bytes, start: int, end: int):
    cicp, icc, bits = None, None, 8
    for kind, a, b in _boxes(data, start, end):
        if kind == b"colr" and data[a:a + 4] == b"nclx" and cicp is None and b - a >= 10:
            cicp = struct.unpack(">HHH", data[a + 4:a + 10])
        elif kind == b"colr" and data[a:a + 4] in (b"prof", b"rICC") and icc is None:
            icc = bytes(data[a + 4:b])
        elif kind == b"pixi" and b - a >= 6:
            n = data[a + 4]
            bits = max(bits, *data[a + 5:a + 5 + n]) if n else bits
    return cicp, icc, bits
