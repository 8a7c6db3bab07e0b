"""EXIF, XMP and an ICC profile added to a still AVIF that imagecodecs wrote (its encoder,
the one that writes 10 and 12-bit AVIF, keeps no metadata), as libavif itself stores them
(ISO/IEC 23008-12, HEIF): an `Exif` item and an XMP `mime` item ("application/rdf+xml"),
each described by (`cdsc`) the primary item, their bytes at the end of the `mdat`; the ICC
profile as a `colr` property of type `prof` of the primary item. The `meta` box grows, so
every file offset in `iloc` after it moves by as much; the picture's own bytes are not
touched.

Only what imagecodecs writes is expected (`meta` before `mdat`, `iloc` version 0 to 2 with
file offsets, `iinf` entries as `infe` version 2); anything else raises `AvifLayoutError`
and the caller writes the picture another way.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = ["AvifLayoutError", "add_metadata"]

_TRANSFORMS = {b"irot", b"imir", b"clap", b"iscl"}  # properties after every descriptive one


class AvifLayoutError(ValueError):
    """The file is not laid out as expected (see the module's note)."""


@dataclass
class _Box:
    kind: bytes
    start: int  # the box's first byte
    body: int  # its body's first byte
    end: int


def _boxes(data: bytes, start: int, end: int) -> list[_Box]:
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            raise AvifLayoutError(f"a {kind!r} box runs past its parent")
        out.append(_Box(kind, pos, pos + head, pos + size))
        pos += size
    return out


def _find(boxes: list[_Box], kind: bytes) -> _Box | None:
    return next((b for b in boxes if b.kind == kind), None)


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full(kind: bytes, version: int, flags: int, body: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags) + body)


@dataclass
class _Item:
    """One `iloc` entry: its extents are (index, offset, length)."""

    item_id: int
    method: int
    reference: int
    base: int
    extents: list[tuple[int, int, int]] = field(default_factory=list)


@dataclass
class _Locations:
    """An `iloc` box: its version, field sizes (bytes) and entries."""

    version: int
    offset_size: int
    length_size: int
    base_size: int
    index_size: int
    items: list[_Item]

    def to_bytes(self, moved: int) -> bytes:
        """The box, with every file offset (construction method 0) moved by `moved`."""
        v = self.version
        sizes = (self.offset_size << 12) | (self.length_size << 8) | (self.base_size << 4) \
            | (self.index_size if v in (1, 2) else 0)
        out = [struct.pack(">H", sizes), _uint(len(self.items), 4 if v == 2 else 2)]
        for it in self.items:
            out.append(_uint(it.item_id, 4 if v == 2 else 2))
            if v in (1, 2):
                out.append(struct.pack(">H", it.method))
            out.append(struct.pack(">H", it.reference))
            shift = moved if it.method == 0 else 0
            base = it.base + (shift if self.base_size else 0)
            out.append(_uint(base, self.base_size))
            out.append(struct.pack(">H", len(it.extents)))
            for index, offset, length in it.extents:
                if v in (1, 2) and self.index_size:
                    out.append(_uint(index, self.index_size))
                off = offset + (shift if not self.base_size else 0)
                out.append(_uint(off, self.offset_size))
                out.append(_uint(length, self.length_size))
        return _full(b"iloc", v, 0, b"".join(out))


def _uint(value: int, size: int) -> bytes:
    if size == 0:
        if value:
            raise AvifLayoutError("an offset where the file stores none")
        return b""
    if value >= 1 << (8 * size):
        raise AvifLayoutError("an offset too large for the file's field")
    return value.to_bytes(size, "big")


class _Reader:
    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def uint(self, size: int) -> int:
        value = int.from_bytes(self.data[self.pos:self.pos + size], "big") if size else 0
        self.pos += size
        return value


def _locations(data: bytes, box: _Box) -> _Locations:
    r = _Reader(data, box.body)
    v = r.uint(1)
    r.uint(3)
    if v > 2:
        raise AvifLayoutError(f"iloc version {v}")
    sizes = r.uint(2)
    loc = _Locations(v, sizes >> 12, (sizes >> 8) & 15, (sizes >> 4) & 15,
                     sizes & 15 if v in (1, 2) else 0, [])
    for _ in range(r.uint(4 if v == 2 else 2)):
        item_id = r.uint(4 if v == 2 else 2)
        method = r.uint(2) & 15 if v in (1, 2) else 0
        it = _Item(item_id, method, r.uint(2), r.uint(loc.base_size))
        for _ in range(r.uint(2)):
            index = r.uint(loc.index_size) if v in (1, 2) else 0
            it.extents.append((index, r.uint(loc.offset_size), r.uint(loc.length_size)))
        loc.items.append(it)
    return loc


def _associations(data: bytes, box: _Box) -> tuple[int, int, list[tuple[int, list[int]]]]:
    """(version, flags, [(item id, [association entries as stored])]) of an `ipma`."""
    r = _Reader(data, box.body)
    v, flags = r.uint(1), r.uint(3)
    entries = []
    for _ in range(r.uint(4)):
        item_id = r.uint(2 if v < 1 else 4)
        entries.append((item_id, [r.uint(2 if flags & 1 else 1) for _ in range(r.uint(1))]))
    return v, flags, entries


def _ipma(v: int, flags: int, entries: list[tuple[int, list[int]]]) -> bytes:
    out = [struct.pack(">I", len(entries))]
    for item_id, assoc in entries:
        out.append(_uint(item_id, 2 if v < 1 else 4) + struct.pack(">B", len(assoc)))
        out += [_uint(a, 2 if flags & 1 else 1) for a in assoc]
    return _full(b"ipma", v, flags, b"".join(out))


def _with_profile(data: bytes, iprp: _Box, primary: int, icc: bytes | None) -> bytes:
    """The `iprp` box, with a `colr`/`prof` property for the primary item when `icc`."""
    children = _boxes(data, iprp.body, iprp.end)
    ipco, ipma = _find(children, b"ipco"), _find(children, b"ipma")
    if ipco is None or ipma is None or not icc:
        return data[iprp.start:iprp.end]
    props = _boxes(data, ipco.body, ipco.end)
    v, flags, entries = _associations(data, ipma)
    index = len(props) + 1
    mask = 0x7FFF if flags & 1 else 0x7F
    if index > mask:
        raise AvifLayoutError("too many properties for the ipma's index field")
    new_entries = []
    for item_id, assoc in entries:
        if item_id == primary:
            at = next((i for i, a in enumerate(assoc)
                       if 0 < (a & mask) <= len(props)
                       and props[(a & mask) - 1].kind in _TRANSFORMS), len(assoc))
            assoc = [*assoc[:at], index, *assoc[at:]]
        new_entries.append((item_id, assoc))
    colr = _box(b"colr", b"prof" + icc)
    body = b"".join(_box(b"ipco", data[ipco.body:ipco.end] + colr) if c is ipco
                    else _ipma(v, flags, new_entries) if c is ipma
                    else data[c.start:c.end] for c in children)
    return _box(b"iprp", body)


def _infe(item_id: int, kind: bytes, content_type: bytes = b"") -> bytes:
    body = struct.pack(">HH4s", item_id, 0, kind) + b"\0"
    if content_type:
        body += content_type + b"\0"
    return _full(b"infe", 2, 0, body)


def _payloads(first_id: int, exif: bytes | None, xmp: bytes | None
              ) -> list[tuple[int, bytes, bytes, bytes]]:
    """[(item id, item type, content type, bytes)] of the items to add: EXIF as libavif
    stores it (the offset of the TIFF header, 6, then b"Exif\\0\\0" and the TIFF
    structure), XMP as a `mime` item."""
    out = []
    if exif:
        tiff = exif.removeprefix(b"Exif\0\0")
        out.append((first_id, b"Exif", b"", struct.pack(">I", 6) + b"Exif\0\0" + tiff))
    if xmp:
        out.append((first_id + len(out), b"mime", b"application/rdf+xml", xmp))
    return out


def _primary(data: bytes, pitm: _Box) -> int:
    size = 2 if data[pitm.body] == 0 else 4
    return int.from_bytes(data[pitm.body + 4:pitm.body + 4 + size], "big")


def _item_boxes(data: bytes, iinf: _Box, iref: _Box | None, primary: int,
                payloads: list[tuple[int, bytes, bytes, bytes]]) -> tuple[bytes, bytes]:
    """(the new `iinf`, the new `iref`) with the added items and their `cdsc` references."""
    infes = [data[b.start:b.end] for b in _boxes(data, iinf.body + 6, iinf.end)]
    infes += [_infe(i, kind, mime) for i, kind, mime, _ in payloads]
    new_iinf = _full(b"iinf", 0, 0, struct.pack(">H", len(infes)) + b"".join(infes))
    if iref is not None and data[iref.body] != 0:
        raise AvifLayoutError("expected a version 0 iref")
    refs = b"".join(_box(b"cdsc", struct.pack(">HHH", i, 1, primary)) for i, *_ in payloads)
    new_iref = _full(b"iref", 0, 0, (data[iref.body + 4:iref.end] if iref else b"") + refs)
    return new_iinf, new_iref


def _locate(locations: _Locations, payloads: list[tuple[int, bytes, bytes, bytes]],
            at: int) -> None:
    """Add `iloc` entries for the payloads, stored one after the other from file offset
    `at` (before the move); in the base offset where the file has one."""
    for item_id, _kind, _mime, payload in payloads:
        if locations.base_size:
            locations.items.append(_Item(item_id, 0, 0, at, [(0, 0, len(payload))]))
        else:
            locations.items.append(_Item(item_id, 0, 0, 0, [(0, at, len(payload))]))
        at += len(payload)


def add_metadata(data: bytes, exif: bytes | None = None, xmp: bytes | None = None,
                 icc: bytes | None = None) -> bytes:
    """`data` (a still AVIF) with `exif` (Pillow's b"Exif\\0\\0" + TIFF, or a bare TIFF
    structure), `xmp` (the packet) and `icc` (an ICC profile) added; as it is when all are
    None. AvifLayoutError for a layout this does not handle."""
    if not (exif or xmp or icc):
        return data
    top = _boxes(data, 0, len(data))
    meta, mdat = _find(top, b"meta"), _find(top, b"mdat")
    if meta is None or mdat is None or mdat.start < meta.end or top[-1] is not mdat \
            or mdat.body - mdat.start != 8:
        raise AvifLayoutError("expected meta, then an mdat with a 32-bit size, last")
    children = _boxes(data, meta.body + 4, meta.end)
    pitm, iloc, iinf, iref = (_find(children, k) for k in (b"pitm", b"iloc", b"iinf", b"iref"))
    if pitm is None or iloc is None or iinf is None or data[iinf.body] != 0:
        raise AvifLayoutError("expected pitm, iloc and a version 0 iinf")
    primary = _primary(data, pitm)
    locations = _locations(data, iloc)
    payloads = _payloads(max([it.item_id for it in locations.items] + [primary]) + 1,
                         exif, xmp)
    new_iinf, new_iref = _item_boxes(data, iinf, iref, primary, payloads)
    _locate(locations, payloads, len(data))
    iprp = b"".join(_with_profile(data, c, primary, icc) for c in children
                    if c.kind == b"iprp")

    def meta_box(moved: int) -> bytes:
        parts = []
        for c in children:
            if c is iloc:
                parts.append(locations.to_bytes(moved))
            elif c is iinf:
                parts.append(new_iinf + (new_iref if iref is None and payloads else b""))
            elif c is iref:
                parts.append(new_iref)
            else:
                parts.append(iprp if c.kind == b"iprp" else data[c.start:c.end])
        return _box(b"meta", data[meta.body:meta.body + 4] + b"".join(parts))

    moved = len(meta_box(0)) - (meta.end - meta.start)
    added = b"".join(p for *_, p in payloads)
    mdat_box = struct.pack(">I", mdat.end - mdat.start + len(added)) + b"mdat" \
        + data[mdat.body:mdat.end] + added
    return data[:meta.start] + meta_box(moved) + data[meta.end:mdat.start] + mdat_box
