"""The headers at the start of a JPEG XL codestream (ISO/IEC 18181-1, annex A: the
SizeHeader and the ImageMetadata up to its colour encoding), read without decoding the
picture: the size (checked before decoding), and the colour encoding. imagecodecs gives no
access to the latter, and its encoder tags every 16-bit or float picture as linear sRGB,
whatever it holds; `retag_transfer_srgb` corrects that tag in place (the transfer function's
field has the same length for linear and sRGB, so no other bit moves).

The codestream is read LSB first. Fields are `U32` (a 2-bit selector choosing one of four
distributions: a constant, or n bits plus an offset), `Bool` (1 bit), `Enum` (a U32 of
Val(0), Val(1), 4 bits + 2, 6 bits + 18) and nested bundles, several of which start with an
`all_default` bit.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ColourEncoding", "CodestreamError", "colour_encoding", "jxl_size",
           "retag_transfer_srgb"]

# a U32's four distributions: (bits, offset); bits 0 is the constant `offset`
_Dist = tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]
_ENUM: _Dist = ((0, 0), (0, 1), (4, 2), (6, 18))
_SIDE: _Dist = ((9, 1), (13, 1), (18, 1), (30, 1))
_CUSTOM_XY: _Dist = ((19, 0), (19, 524288), (20, 1048576), (21, 2097152))
_BITS_INT: _Dist = ((0, 8), (0, 10), (0, 12), (6, 1))
_BITS_FLOAT: _Dist = ((0, 32), (0, 16), (0, 24), (6, 1))
_EXTRA_COUNT: _Dist = ((0, 0), (0, 1), (4, 2), (12, 1))
_DIM_SHIFT: _Dist = ((0, 0), (0, 3), (0, 4), (3, 1))
_NAME_LENGTH: _Dist = ((0, 0), (4, 0), (5, 16), (10, 48))
_CFA_CHANNEL: _Dist = ((0, 1), (2, 0), (4, 3), (8, 19))
_PREVIEW_DIV8: _Dist = ((0, 16), (0, 32), (5, 1), (9, 33))
_PREVIEW_SIDE: _Dist = ((6, 1), (8, 65), (10, 321), (12, 1345))
_TPS_NUM: _Dist = ((0, 100), (0, 1000), (10, 1), (30, 1))
_TPS_DEN: _Dist = ((0, 1), (0, 1001), (8, 1), (10, 1))
_LOOPS: _Dist = ((0, 0), (3, 0), (16, 0), (32, 0))
_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}

GREY, XYB = 1, 2  # colour spaces (RGB 0, unknown 3)
LINEAR, SRGB = 8, 13  # transfer functions (also BT.709 1, PQ 16, DCI 17, HLG 18)
_ALPHA, _SPOT, _CFA = 0, 2, 5  # extra channel types
_SPACES = {0: "RGB", 1: "grey", 2: "XYB", 3: "unknown"}
_PRIMARIES = {1: "sRGB", 2: "custom", 9: "BT.2100", 11: "P3"}
_WHITES = {1: "D65", 2: "custom", 10: "E", 11: "DCI"}
_TRANSFERS = {1: "BT.709", 2: "unknown", 8: "linear", 13: "sRGB", 16: "PQ", 17: "DCI",
              18: "HLG"}


class CodestreamError(ValueError):
    """The headers are cut short or hold a value the standard does not allow."""


class _Bits:
    """LSB-first reader over `data`; `pos` is the next bit."""

    def __init__(self, data: bytes) -> None:
        self.value, self.pos, self.size = int.from_bytes(data, "little"), 0, len(data) * 8

    def read(self, n: int) -> int:
        if self.pos + n > self.size:
            raise CodestreamError("the codestream's headers are cut short")
        out = (self.value >> self.pos) & ((1 << n) - 1)
        self.pos += n
        return out

    def flag(self) -> bool:
        return bool(self.read(1))

    def u32(self, dist: _Dist) -> int:
        bits, offset = dist[self.read(2)]
        return self.read(bits) + offset if bits else offset


@dataclass(frozen=True)
class ColourEncoding:
    """A codestream's colour encoding. `icc`: the picture has an ICC profile (in the
    codestream, compressed; not read here); else the enumerated description: `space` (0
    RGB, 1 grey, 2 XYB, 3 unknown), `white_point`, `primaries` (None for grey), `transfer`
    (None with a `gamma`), as the standard numbers them. `transfer_at`: the bit offset of the
    transfer function's Enum in the codestream (None without one)."""

    icc: bool
    space: int = 0
    white_point: int | None = 1
    primaries: int | None = 1
    transfer: int | None = SRGB
    gamma: float | None = None
    transfer_at: int | None = None

    @property
    def is_srgb(self) -> bool:
        """sRGB (or grey with sRGB's white point and transfer function)."""
        return (not self.icc and self.space in (0, GREY) and self.white_point == 1
                and self.primaries in (1, None) and self.transfer == SRGB)

    def describe(self) -> str:
        """In words: "an ICC profile", "RGB, P3 primaries, D65 white, linear transfer"."""
        if self.icc:
            return "an ICC profile"
        parts = [_SPACES.get(self.space, str(self.space))]
        if self.primaries is not None:
            parts.append(f"{_PRIMARIES.get(self.primaries, self.primaries)} primaries")
        if self.white_point is not None:
            parts.append(f"{_WHITES.get(self.white_point, self.white_point)} white")
        parts.append(f"gamma {self.gamma:.4g}" if self.gamma is not None else
                     f"{_TRANSFERS.get(self.transfer or 0, self.transfer)} transfer")
        return ", ".join(parts)


def _side(bits: _Bits, small: bool) -> int:
    return (bits.read(5) + 1) * 8 if small else bits.u32(_SIDE)


def _size_header(bits: _Bits) -> tuple[int, int]:
    small = bits.flag()
    height = _side(bits, small)
    ratio = bits.read(3)
    if ratio == 0:
        return _side(bits, small), height
    num, den = _RATIOS[ratio]
    return height * num // den, height


def _preview_header(bits: _Bits) -> None:
    div8 = bits.flag()
    dist = _PREVIEW_DIV8 if div8 else _PREVIEW_SIDE
    bits.u32(dist)
    if bits.read(3) == 0:
        bits.u32(dist)


def _animation_header(bits: _Bits) -> None:
    bits.u32(_TPS_NUM)
    bits.u32(_TPS_DEN)
    bits.u32(_LOOPS)
    bits.flag()  # have_timecodes


def _bit_depth(bits: _Bits) -> None:
    if bits.flag():  # float samples: their bits, then the exponent's
        bits.u32(_BITS_FLOAT)
        bits.read(4)
    else:
        bits.u32(_BITS_INT)


def _extra_channel(bits: _Bits) -> None:
    if bits.flag():  # all_default: an 8-bit alpha channel
        return
    kind = bits.u32(_ENUM)
    _bit_depth(bits)
    bits.u32(_DIM_SHIFT)
    bits.read(8 * bits.u32(_NAME_LENGTH))
    if kind == _ALPHA:
        bits.flag()  # alpha_associated
    elif kind == _SPOT:
        bits.read(4 * 16)
    elif kind == _CFA:
        bits.u32(_CFA_CHANNEL)


def _colour(bits: _Bits) -> ColourEncoding:
    if bits.flag():  # all_default: sRGB
        return ColourEncoding(icc=False)
    icc = bits.flag()
    space = bits.u32(_ENUM)
    if icc:
        return ColourEncoding(icc=True, space=space)
    white = primaries = None
    if space != XYB:
        white = bits.u32(_ENUM)
        if white == 2:
            bits.u32(_CUSTOM_XY)
            bits.u32(_CUSTOM_XY)
    if space not in (GREY, XYB):
        primaries = bits.u32(_ENUM)
        if primaries == 2:
            for _ in range(6):
                bits.u32(_CUSTOM_XY)
    gamma = transfer = at = None
    if space != XYB:
        if bits.flag():
            gamma = bits.read(24) / 1e7
        else:
            at = bits.pos
            transfer = bits.u32(_ENUM)
    return ColourEncoding(False, space, white, primaries, transfer, gamma, at)


def _headers(codestream: bytes) -> tuple[tuple[int, int], ColourEncoding]:
    if codestream[:2] != b"\xff\x0a":
        raise CodestreamError("no JPEG XL codestream signature")
    bits = _Bits(codestream[2:4096])
    size = _size_header(bits)
    if bits.flag():  # ImageMetadata all_default: 8-bit sRGB
        return size, ColourEncoding(icc=False)
    if bits.flag():  # extra_fields
        bits.read(3)  # orientation - 1
        if bits.flag():
            _size_header(bits)  # intrinsic size
        if bits.flag():
            _preview_header(bits)
        if bits.flag():
            _animation_header(bits)
    _bit_depth(bits)
    bits.flag()  # modular_16_bit_buffer_sufficient
    for _ in range(bits.u32(_EXTRA_COUNT)):
        _extra_channel(bits)
    bits.flag()  # xyb_encoded
    colour = _colour(bits)
    if colour.transfer_at is not None:  # as an offset in the codestream, past its signature
        colour = ColourEncoding(colour.icc, colour.space, colour.white_point,
                                colour.primaries, colour.transfer, colour.gamma,
                                colour.transfer_at + 16)
    return size, colour


def jxl_size(codestream: bytes) -> tuple[int, int]:
    """(width, height) from a codestream's SizeHeader. CodestreamError if unreadable."""
    if codestream[:2] != b"\xff\x0a":
        raise CodestreamError("no JPEG XL codestream signature")
    return _size_header(_Bits(codestream[2:20]))


def colour_encoding(codestream: bytes) -> ColourEncoding:
    """The colour encoding in a codestream's ImageMetadata. CodestreamError if unreadable."""
    return _headers(codestream)[1]


def retag_transfer_srgb(codestream: bytes) -> bytes:
    """The codestream with its transfer function changed from linear to sRGB, nothing else
    (the pixels' numbers stay as they are; what they mean changes). Both are Enum values
    coded as the selector 2 and 4 bits (value - 2), so only those 4 bits change. A
    codestream without a linear transfer function comes back as it is."""
    colour = colour_encoding(codestream)
    if colour.transfer != LINEAR or colour.transfer_at is None:
        return codestream
    out = bytearray(codestream)
    at = colour.transfer_at + 2  # past the selector
    for i in range(4):
        byte, bit = divmod(at + i, 8)
        out[byte] = (out[byte] & ~(1 << bit)) | ((((SRGB - 2) >> i) & 1) << bit)
    return bytes(out)
