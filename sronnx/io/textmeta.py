"""PNG texts (and comments) in the EXIF and XMP of an output that holds no texts.

An output that cannot hold PNG's tEXt / zTXt / iTXt (JPEG, WebP, TIFF, HEIF, AVIF) but holds
EXIF or XMP gets them there, as exiftool maps them, where the input has no value of its own:

- EXIF IFD0 (ASCII only; a value with other characters goes to XMP): Description, else
  Title -> ImageDescription (270), Author -> Artist (315), Copyright -> Copyright (33432),
  Software -> Software (305), Creation Time -> DateTime (306) when it reads as a date and
  time (EXIF's own form, ISO 8601 or RFC 1123 as the PNG specification suggests). A tag the
  input's EXIF already has is left as it is.
- XMP, a packet made here when the input has none (an input's XMP is carried as it is, never
  merged): Title -> dc:title, Description -> dc:description, Author -> dc:creator, Copyright
  -> dc:rights, Software -> xmp:CreatorTool, Creation Time -> xmp:CreateDate (a date and
  time), Comment -> exif:UserComment; every other text (and a second one under a keyword
  that holds one) as a keyword and text pair in sronnx's own namespace (`sronnx:texts`).
  A JPEG keeps its comments as COM segments.

What still has no place is named in a note. `--strip-metadata` has removed the texts before.
"""

from __future__ import annotations

import dataclasses
import email.utils
import re
from datetime import datetime

from PIL import Image

from sronnx.io import metadata as md

SRONNX_XMP_NS = "http://ns.sronnx.org/png-text/1.0/"

# EXIF IFD0 ASCII tags, in the order they are filled (Description before Title: both 270)
_EXIF_TAGS = (("Description", 0x010E), ("Title", 0x010E), ("Author", 0x013B),
              ("Copyright", 0x8298), ("Software", 0x0131), ("Creation Time", 0x0132))
_DATE_KEY = "Creation Time"
# keyword -> (XMP property, its form: "alt" language alternatives, "seq" an ordered list,
# "one" a single value)
_XMP_PROPERTIES = {
    "Title": ("dc:title", "alt"), "Description": ("dc:description", "alt"),
    "Author": ("dc:creator", "seq"), "Copyright": ("dc:rights", "alt"),
    "Software": ("xmp:CreatorTool", "one"), _DATE_KEY: ("xmp:CreateDate", "one"),
    "Comment": ("exif:UserComment", "alt"),
}
_NAMESPACES = (("dc", "http://purl.org/dc/elements/1.1/"), ("xmp", "http://ns.adobe.com/xap/1.0/"),
               ("exif", "http://ns.adobe.com/exif/1.0/"), ("sronnx", SRONNX_XMP_NS))
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    """`text` as XML character data (&, < and > escaped): xml.sax.saxutils.escape, imported
    when first needed, since it pulls in urllib.request (13 ms of every start of sronnx)."""
    from xml.sax.saxutils import escape as sax_escape

    return sax_escape(text)


def texts_for_output(meta: md.Metadata | None, fmt: str) -> tuple[md.Metadata | None,
                                                                    list[str]]:
    """`meta` for an output of format `fmt`: the texts the format cannot hold moved into its
    EXIF and XMP where they have a place (see the module's text), and notes naming those
    that have none. The texts left in the result are those the format holds itself (all
    for PNG, the comments for JPEG); a format that holds neither EXIF nor XMP gets `meta`
    as it is (`metadata.text_notes` names what it loses)."""
    if not meta or not meta.texts:
        return meta, []
    held = md.holds(fmt)
    if "TEXT" in held or not held & {"EXIF", "XMP"}:
        return meta, []
    kept = tuple(t for t in meta.texts if "COMMENT" in held and t.key == md.COMMENT_KEY)
    rest = [t for t in meta.texts if t not in kept]
    if not rest:
        return meta, []
    exif = meta.exif
    if "EXIF" in held:
        exif, rest = _into_exif(meta.exif, rest)
    xmp, notes = meta.xmp, []
    if rest and "XMP" in held and not meta.xmp:
        xmp, rest = _xmp_packet(rest)
    if rest:
        keys = ", ".join(dict.fromkeys(t.key for t in rest))
        why = ("the input's XMP is carried as it is (texts are not merged into it)"
               if "XMP" in held and meta.xmp else f"{fmt} has no place for it")
        notes.append(f"text {keys} not kept: {why}")
    return dataclasses.replace(meta, exif=exif, xmp=xmp, texts=kept), notes


def _exif_ascii(text: md.Text) -> str | None:
    """The text as an EXIF ASCII value, or None where EXIF cannot hold it."""
    value = text.value
    if not value.strip() or not value.isascii() or "\x00" in value:
        return None
    if text.key == _DATE_KEY:
        when = parse_date(value)
        return when.strftime("%Y:%m:%d %H:%M:%S") if when else None
    return value


def _into_exif(exif_bytes: bytes | None, texts: list[md.Text]) -> tuple[bytes | None,
                                                                         list[md.Text]]:
    """The EXIF with the texts it has a tag for (and that tag free), and the texts left."""
    exif = Image.Exif()
    if exif_bytes:
        exif.load(exif_bytes)
        for tag in (md.EXIF_IFD, md.GPS_IFD):
            if tag in exif:
                exif.get_ifd(tag)  # read now, so that tobytes writes it again
    placed: list[md.Text] = []
    for key, tag in _EXIF_TAGS:
        if tag in exif:
            continue
        for t in texts:
            if t.key == key and t not in placed and (value := _exif_ascii(t)) is not None:
                exif[tag] = value
                placed.append(t)
                break
    if not placed:
        return exif_bytes, texts
    return exif.tobytes(), [t for t in texts if t not in placed]


def parse_date(value: str) -> datetime | None:
    """A date and time as EXIF ("2026:05:01 18:30:00"), ISO 8601 ("2026-05-01T18:30:00+02:00")
    or RFC 1123 ("Fri, 01 May 2026 18:30:00 GMT") writes it; None for anything else (a date
    without a time too)."""
    value = value.strip()
    try:
        return datetime.strptime(value, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        pass
    if len(value) > 10 and value[10] in "T ":
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def _xmp_value(text: md.Text) -> str | None:
    """The text as an XMP value (xmp:CreateDate in ISO 8601), None where it has none."""
    if _NOT_XML.search(text.value) or _NOT_XML.search(text.key):
        return None
    if text.key != _DATE_KEY:
        return text.value
    when = parse_date(text.value)
    return when.isoformat() if when else None


def _xmp_packet(texts: list[md.Text]) -> tuple[bytes | None, list[md.Text]]:
    """An XMP packet of the texts, and the texts it cannot hold (characters XML forbids)."""
    props: dict[str, list[str]] = {}
    others: list[str] = []
    left: list[md.Text] = []
    langs: dict[str, set[str]] = {}
    for t in texts:
        if _NOT_XML.search(t.value) or _NOT_XML.search(t.key):
            left.append(t)
            continue
        name, form = _XMP_PROPERTIES.get(t.key, ("", ""))
        value = _xmp_value(t) if name else None
        item = _xmp_item(form, value, t.lang, langs.setdefault(name, set())) if value else None
        if name and item is not None and (form != "one" or name not in props):
            props.setdefault(name, []).append(item)
        else:
            others.append(f'<rdf:li rdf:parseType="Resource"><sronnx:keyword>{escape(t.key)}'
                          f"</sronnx:keyword><sronnx:text>{escape(t.value)}</sronnx:text>"
                          "</rdf:li>")
    if not props and not others:
        return None, left
    if others:
        props["sronnx:texts"] = others
    body = "".join(_xmp_property(name, items) for name, items in props.items())
    ns = " ".join(f'xmlns:{p}="{uri}"' for p, uri in _NAMESPACES)
    packet = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
              '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
              '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              f'<rdf:Description rdf:about="" {ns}>{body}</rdf:Description>'
              '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')
    return packet.encode("utf-8"), left


def _xmp_item(form: str, value: str, lang: str, used: set[str]) -> str | None:
    """One value of a property: an rdf:li of an Alt (its language: x-default first, then the
    iTXt's language tag; None when that one is taken) or Seq, or the value itself."""
    if form == "alt":
        tag = "x-default" if not used else lang.strip()
        if not tag or tag in used or not re.fullmatch(r"[A-Za-z0-9-]+", tag):
            return None
        used.add(tag)
        return f'<rdf:li xml:lang="{tag}">{escape(value)}</rdf:li>'
    if form == "seq":
        return f"<rdf:li>{escape(value)}</rdf:li>"
    return escape(value)


def _xmp_property(name: str, items: list[str]) -> str:
    if name in ("dc:creator",):
        return f"<{name}><rdf:Seq>{''.join(items)}</rdf:Seq></{name}>"
    if name == "sronnx:texts":
        return f"<{name}><rdf:Bag>{''.join(items)}</rdf:Bag></{name}>"
    if items[0].startswith("<rdf:li xml:lang"):
        return f"<{name}><rdf:Alt>{''.join(items)}</rdf:Alt></{name}>"
    return f"<{name}>{items[0]}</{name}>"


__all__ = ["texts_for_output", "parse_date", "SRONNX_XMP_NS"]
