"""PNG texts in outputs that hold no texts: EXIF IFD0 tags where EXIF has one and the value
is ASCII, an XMP packet made for the rest where the input has none, notes for what has no
place (`sronnx.io.textmeta`). Every file is made here."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import png_chunk
from PIL import Image

from sronnx.io import metadata as md
from sronnx.io import read_image, write_image
from sronnx.io.textmeta import SRONNX_XMP_NS, parse_date, texts_for_output

NS = {"x": "adobe:ns:meta/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
      "dc": "http://purl.org/dc/elements/1.1/", "xmp": "http://ns.adobe.com/xap/1.0/",
      "exif": "http://ns.adobe.com/exif/1.0/", "sronnx": SRONNX_XMP_NS}
LANG = "{http://www.w3.org/XML/1998/namespace}lang"

TEXTS = [
    (b"tEXt", b"Title\x00Heron at dusk"),
    (b"tEXt", b"Author\x00J. Doe"),
    (b"iTXt", b"Author\x00\x00\x00de\x00\x00" + "Jürgen Müller".encode()),
    (b"tEXt", b"Copyright\x00(c) 2026 J. Doe"),
    (b"tEXt", b"Software\x00OldTool 1.0"),
    (b"zTXt", b"Description\x00\x00" + zlib.compress(b"A grey heron on one leg")),
    (b"tEXt", b"Creation Time\x00Fri, 01 May 2026 18:30:00 GMT"),
    (b"tEXt", b"Source\x00Nikon D850"),
]


def png_with(*chunks: tuple[bytes, bytes], exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(np.full((4, 5, 3), 40, np.uint8))
    img.save(buf, format="PNG", **({"exif": exif} if exif is not None else {}))
    data = buf.getvalue()
    return data[:33] + b"".join(png_chunk(k, d) for k, d in chunks) + data[33:]


def xmp_of(img: Image.Image) -> ET.Element:
    """The output's XMP, parsed (Pillow's getxmp needs defusedxml, which is not installed)."""
    packet = img.info.get("xmp") or img.getexif().get(700)
    assert packet, "no XMP"
    return ET.fromstring(packet)


def prop(root: ET.Element, path: str) -> list[tuple[str | None, str | None]]:
    """(xml:lang, text) of each rdf:li under `path` in the rdf:Description, or of the
    element itself when it has none."""
    desc = root.find("rdf:RDF/rdf:Description", NS)
    assert desc is not None
    found = desc.find(path, NS)
    if found is None:
        return []
    items = found.findall(".//rdf:li", NS)
    return [(li.get(LANG), li.text) for li in items] or [(None, found.text)]


@pytest.mark.parametrize(("fmt", "ext"), [("JPEG", "jpg"), ("WEBP", "webp"), ("TIFF", "tif")])
@pytest.mark.parametrize("as_array", [False, True])
def test_png_texts_into_exif_and_xmp(tmp_path: Path, fmt: str, ext: str,
                                     as_array: bool) -> None:
    src = tmp_path / "t.png"
    src.write_bytes(png_with(*TEXTS))
    d = read_image(src)
    out = tmp_path / f"o.{ext}"
    pixels = np.asarray(d.pixels) if as_array else d.pixels
    assert write_image(out, pixels, fmt, metadata=d.metadata) == []
    with Image.open(out) as img:
        exif = img.getexif()
        assert exif[270] == "A grey heron on one leg"  # Description before Title
        assert exif[315] == "J. Doe"
        assert exif[33432] == "(c) 2026 J. Doe"
        assert exif[305] == "OldTool 1.0"
        assert exif[306] == "2026:05:01 18:30:00"
        root = xmp_of(img)
    assert prop(root, "dc:title") == [("x-default", "Heron at dusk")]
    assert prop(root, "dc:creator") == [(None, "Jürgen Müller")]  # not ASCII: XMP only
    assert prop(root, "dc:description") == [] and prop(root, "dc:rights") == []
    bag = root.find(".//sronnx:texts/rdf:Bag", NS)
    assert bag is not None
    assert [(li.findtext("sronnx:keyword", namespaces=NS), li.findtext("sronnx:text",
                                                                        namespaces=NS))
            for li in bag] == [("Source", "Nikon D850")]


def test_non_ascii_and_taken_tags_go_to_xmp(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[315] = "EXIF Artist"
    exif.get_ifd(md.EXIF_IFD)[0x9003] = "2020:01:02 03:04:05"  # DateTimeOriginal
    src = tmp_path / "e.png"
    src.write_bytes(png_with((b"tEXt", b"Author\x00PNG Author"),
                             (b"tEXt", b"Copyright\x00\xa9 2026 J. Doe"),
                             (b"tEXt", b"Creation Time\x002026-05-01T18:30:00+02:00"),
                             (b"tEXt", b"Comment\x00a note"), exif=exif))
    d = read_image(src)
    assert write_image(tmp_path / "o.webp", d.pixels, "WEBP", metadata=d.metadata) == []
    with Image.open(tmp_path / "o.webp") as img:
        got = img.getexif()
        assert got[315] == "EXIF Artist"  # the input's own value stays
        assert got.get_ifd(md.EXIF_IFD)[0x9003] == "2020:01:02 03:04:05"
        assert got[306] == "2026:05:01 18:30:00" and 33432 not in got
        root = xmp_of(img)
    assert prop(root, "dc:creator") == [(None, "PNG Author")]
    assert prop(root, "dc:rights") == [("x-default", "© 2026 J. Doe")]
    assert prop(root, "exif:UserComment") == [("x-default", "a note")]
    assert prop(root, "xmp:CreateDate") == []  # in the EXIF already
    # a JPEG keeps the comment as a COM segment, not in the XMP
    write_image(tmp_path / "o.jpg", d.pixels, "JPEG", metadata=d.metadata)
    with Image.open(tmp_path / "o.jpg") as img:
        assert img.info["comment"] == b"a note"
        assert prop(xmp_of(img), "exif:UserComment") == []


def test_input_xmp_is_not_merged(tmp_path: Path) -> None:
    packet = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/' \
             b'1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
    src = tmp_path / "x.png"
    src.write_bytes(png_with((b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + packet),
                             (b"tEXt", b"Author\x00J. Doe"), (b"tEXt", b"Title\x00Heron"),
                             (b"tEXt", b"Source\x00Nikon")))
    d = read_image(src)
    assert d.metadata.xmp == packet
    notes = write_image(tmp_path / "o.tif", d.pixels, "TIFF", metadata=d.metadata)
    assert notes == ["text Source not kept: the input's XMP is carried as it is (texts "
                     "are not merged into it)"]
    with Image.open(tmp_path / "o.tif") as img:
        assert img.getexif()[315] == "J. Doe" and img.getexif()[270] == "Heron"
        assert img.tag_v2[700] == packet


def test_odd_dates_and_duplicates(tmp_path: Path) -> None:
    texts = (md.Text("Creation Time", "spring 2026"), md.Text("Title", "Héron"),
             md.Text("Title", "Reiher", "iTXt", lang="de"), md.Text("Title", "again"),
             md.Text("Software", "A"), md.Text("Software", "B"))
    meta, notes = texts_for_output(md.Metadata(texts=texts), "AVIF")
    assert notes == [] and meta is not None and meta.texts == ()
    got = Image.Exif()
    got.load(meta.exif)
    assert dict(got) == {0x010E: "Reiher", 0x0131: "A"}  # Héron is not ASCII
    root = ET.fromstring(meta.xmp)
    assert prop(root, "dc:title") == [("x-default", "Héron")]
    assert prop(root, "xmp:CreatorTool") == [(None, "B")]
    bag = root.find(".//sronnx:texts/rdf:Bag", NS)  # no date; a second untagged title
    assert [li.findtext("sronnx:text", namespaces=NS) for li in bag] == ["spring 2026", "again"]


def test_nothing_changes_without_texts() -> None:
    meta = md.Metadata(exif=b"Exif\x00\x00x", xmp=b"<x/>")
    for fmt in ("JPEG", "WEBP", "TIFF", "PNG", "BMP"):
        assert texts_for_output(meta, fmt) == (meta, [])
    assert texts_for_output(None, "JPEG") == (None, [])
    texts = md.Metadata(texts=(md.Text("Title", "t"),))
    assert texts_for_output(texts, "PNG") == (texts, [])  # PNG keeps its texts as texts
    assert texts_for_output(texts, "BMP") == (texts, [])  # text_notes names them


def test_stripped_carries_no_texts(tmp_path: Path) -> None:
    src = tmp_path / "t.png"
    src.write_bytes(png_with(*TEXTS))
    d = read_image(src)
    assert write_image(tmp_path / "s.jpg", d.pixels, "JPEG",
                       metadata=d.metadata.stripped()) == []
    with Image.open(tmp_path / "s.jpg") as img:
        assert not img.getexif() and "xmp" not in img.info


def test_exif_texts_of_a_jpeg_travel_as_exif(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[270], exif[315], exif[33432] = "a heron", "J. Doe", "(c) J. Doe"
    src = tmp_path / "e.jpg"
    Image.new("RGB", (6, 4), (1, 2, 3)).save(src, exif=exif)
    d = read_image(src)
    for name, fmt in (("o.png", "PNG"), ("o.webp", "WEBP"), ("o.tif", "TIFF")):
        assert write_image(tmp_path / name, d.pixels, fmt, metadata=d.metadata) == []
        with Image.open(tmp_path / name) as img:
            got = img.getexif()
            assert (got[270], got[315], got[33432]) == ("a heron", "J. Doe", "(c) J. Doe")
    assert b"eXIf" in (tmp_path / "o.png").read_bytes()


@pytest.mark.parametrize(("text", "want"), [
    ("2026:05:01 18:30:00", "2026:05:01 18:30:00"),
    ("2026-05-01T18:30:00", "2026:05:01 18:30:00"),
    ("2026-05-01 18:30:00Z", "2026:05:01 18:30:00"),
    ("Fri, 01 May 2026 18:30:00 +0200", "2026:05:01 18:30:00"),
    ("2026-05-01", None), ("yesterday", None), ("", None),
])
def test_parse_date(text: str, want: str | None) -> None:
    when = parse_date(text)
    assert (when.strftime("%Y:%m:%d %H:%M:%S") if when else None) == want


