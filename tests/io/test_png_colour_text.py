"""What a PNG says besides its pixels, read and written by sronnx.io: sBIT (16-bit values kept
as stored), gAMA / cHRM / sRGB / iCCP, tEXt / zTXt / iTXt texts, a ratio-only pHYs; JPEG and
GIF comments; the ICC profile made from gAMA and cHRM for formats without PNG's chunks.

Every file is made here: PNGs written by pypng or Pillow with the chunks put in after IHDR.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import png
import pytest
from helpers import png_chunk
from PIL import Image, ImageCms

from sronnx.io import metadata as md
from sronnx.io import read_image, write_image
from sronnx.io.colour import profile_from_png
from sronnx.io.formats.png import png_chunks

CHRM_709 = (31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)


def with_chunks(data: bytes, *chunks: tuple[bytes, bytes]) -> bytes:
    """PNG bytes with `chunks` put right after IHDR (8 + 25 bytes)."""
    return data[:33] + b"".join(png_chunk(k, d) for k, d in chunks) + data[33:]


def png16(arr: np.ndarray) -> bytes:
    """A 16-bit PNG of an HxWxC uint16 array (pypng)."""
    h, w, c = arr.shape
    buf = io.BytesIO()
    png.Writer(w, h, greyscale=c < 3, alpha=c in (2, 4), bitdepth=16).write(
        buf, arr.reshape(h, w * c).tolist())
    return buf.getvalue()


def png8(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def raw16(path: Path) -> np.ndarray:
    """A 16-bit PNG's samples as stored (pypng's read(): no sBIT shift)."""
    w, h, rows, info = png.Reader(filename=str(path)).read()
    return np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(
        h, w, info["planes"])


def chunks_of(path: Path) -> list[tuple[bytes, bytes]]:
    return list(png_chunks(path))


def texts_of(path: Path) -> list[tuple[bytes, bytes]]:
    return [(k, d) for k, d in chunks_of(path) if k in (b"tEXt", b"zTXt", b"iTXt")]


def rgba16() -> np.ndarray:
    y, x = np.mgrid[0:6, 0:8]
    arr = np.stack([x * 8000 + 100, y * 9000 + 7, np.full_like(x, 65535),
                    np.full_like(x, 65535)], axis=-1)
    arr[0, 0] = (65535, 0, 8191, 4096)
    return arr.astype(np.uint16)


@pytest.mark.parametrize("bits", [10, 12, 13])
def test_16bit_sbit_values_are_read_as_stored(tmp_path: Path, bits: int) -> None:
    arr = rgba16()
    src = tmp_path / "s.png"
    src.write_bytes(with_chunks(png16(arr), (b"sBIT", bytes([bits] * 4))))
    d = read_image(src)
    assert d.pixels.dtype == np.uint16
    np.testing.assert_array_equal(d.pixels, arr)  # 65535 stays 65535, alpha included
    assert d.metadata.sbit == (bits,) * 4


def test_16bit_sbit_is_written_for_the_output_depth(tmp_path: Path) -> None:
    arr = rgba16()
    src = tmp_path / "s.png"
    src.write_bytes(with_chunks(png16(arr), (b"sBIT", bytes([12, 12, 12, 10]))))
    d = read_image(src)
    out = tmp_path / "o.png"
    assert write_image(out, d.pixels, "PNG", metadata=d.metadata) == []
    np.testing.assert_array_equal(raw16(out), arr)
    assert dict(chunks_of(out))[b"sBIT"] == bytes([12, 12, 12, 10])
    out8 = tmp_path / "o8.png"  # the same meaning at 8 bits: at most 8 significant bits
    write_image(out8, (arr >> 8).astype(np.uint8), "PNG", metadata=d.metadata)
    assert dict(chunks_of(out8))[b"sBIT"] == bytes([8, 8, 8, 8])
    assert md.output_sbit((5,), 8, 4) == (5, 5, 5, 8)  # grey -> RGBA; a key's alpha: full
    assert md.output_sbit((5, 6, 7), 8, 1) == (7,)


def test_sbit_with_a_zero_entry_no_longer_fails_the_file(tmp_path: Path) -> None:
    src = tmp_path / "z.png"
    src.write_bytes(with_chunks(png16(rgba16()), (b"sBIT", bytes([0, 12, 12, 12]))))
    d = read_image(src)
    np.testing.assert_array_equal(d.pixels, rgba16())
    assert d.metadata is None or d.metadata.sbit is None


def test_gamma_and_chromaticities_kept_in_png(tmp_path: Path) -> None:
    arr = np.full((4, 5, 3), 128, np.uint8)
    src = tmp_path / "lin.png"
    src.write_bytes(with_chunks(png8(arr), (b"gAMA", struct.pack(">I", 100000)),
                                (b"cHRM", struct.pack(">8I", *CHRM_709))))
    d = read_image(src)
    assert d.metadata.colour == md.Colour(gamma=100000, chromaticities=CHRM_709)
    assert any("linear light" in n for n in d.notes)
    for name, pixels in (("a.png", d.pixels), ("b.png", np.asarray(d.pixels))):
        out = tmp_path / name
        assert write_image(out, pixels, "PNG", metadata=d.metadata) == []
        found = dict(chunks_of(out))
        assert found[b"gAMA"] == struct.pack(">I", 100000)
        assert found[b"cHRM"] == struct.pack(">8I", *CHRM_709)
        np.testing.assert_array_equal(np.asarray(Image.open(out)), arr)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "TIFF"])
def test_gamma_becomes_an_icc_profile_where_png_chunks_cannot_go(tmp_path: Path,
                                                                 fmt: str) -> None:
    meta = md.Metadata(colour=md.Colour(gamma=100000, chromaticities=CHRM_709))
    out = tmp_path / f"o.{fmt.lower()}"
    notes = write_image(out, np.full((8, 8, 3), 128, np.uint8), fmt, metadata=meta)
    assert notes == [f"gAMA 1, cHRM written as an ICC profile: {fmt} has no gAMA or cHRM"]
    with Image.open(out) as img:
        icc = img.info["icc_profile"]
        shown = ImageCms.profileToProfile(img.convert("RGB"),
                                          ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                          ImageCms.createProfile("sRGB"))
    assert abs(shown.getpixel((4, 4))[1] - 188) <= 2  # linear 0.5 is sRGB 188


@pytest.mark.parametrize(("fmt", "space"), [("JPEG", "GRAY"), ("TIFF", "GRAY"),
                                            ("WEBP", "RGB ")])
def test_grey_image_gets_the_profile_its_format_stores(tmp_path: Path, fmt: str,
                                                       space: str) -> None:
    meta = md.Metadata(colour=md.Colour(gamma=100000))
    out = tmp_path / f"g.{fmt.lower()}"
    write_image(out, np.full((8, 8), 128, np.uint8), fmt, metadata=meta)
    with Image.open(out) as img:
        assert img.info["icc_profile"][16:20] == space.encode()
        shown = ImageCms.profileToProfile(
            img, ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"])),
            ImageCms.createProfile("sRGB"), outputMode="RGB")
    assert abs(shown.getpixel((4, 4))[0] - 188) <= 2


def test_icc_profile_made_for_grey_and_plain_gamma() -> None:
    grey = ImageCms.ImageCmsProfile(io.BytesIO(profile_from_png(100000, None, grey=True)))
    shown = ImageCms.profileToProfile(Image.new("L", (1, 1), 128), grey,
                                      ImageCms.createProfile("sRGB"), outputMode="RGB")
    assert abs(shown.getpixel((0, 0))[0] - 188) <= 2
    srgb_like = ImageCms.ImageCmsProfile(io.BytesIO(profile_from_png(45455, None)))
    shown = ImageCms.profileToProfile(Image.new("RGB", (1, 1), (128, 60, 200)), srgb_like,
                                      ImageCms.createProfile("sRGB"))
    assert all(abs(a - b) <= 4 for a, b in zip(shown.getpixel((0, 0)), (128, 60, 200),
                                               strict=True))


def test_colour_description_lost_in_bmp_and_gif_is_noted(tmp_path: Path) -> None:
    meta = md.Metadata(colour=md.Colour(gamma=100000), sbit=(5, 5, 5), aspect=(2, 1))
    for fmt in ("BMP", "GIF"):
        notes = write_image(tmp_path / f"o.{fmt.lower()}", np.zeros((4, 4, 3), np.uint8),
                            fmt, metadata=meta)
        assert notes == [
            f"pixel aspect ratio 2:1 not kept: {fmt} cannot hold it; viewers will show "
            "square pixels",
            f"colour description (gAMA 1) not kept: {fmt} holds no ICC profile; viewers "
            "will show the values as sRGB",
            f"sBIT (significant bits 5, 5, 5) not kept: {fmt} cannot hold it"]


def test_srgb_and_iccp(tmp_path: Path) -> None:
    arr = np.full((4, 5, 3), 90, np.uint8)
    src = tmp_path / "srgb.png"
    src.write_bytes(with_chunks(png8(arr), (b"sRGB", b"\x00"),
                                (b"gAMA", struct.pack(">I", 45455))))
    d = read_image(src)
    out = tmp_path / "o.png"
    write_image(out, d.pixels, "PNG", metadata=d.metadata)
    found = dict(chunks_of(out))
    assert found[b"sRGB"] == b"\x00" and found[b"gAMA"] == struct.pack(">I", 45455)
    # an sRGB image needs no profile elsewhere: an untagged JPEG is read as sRGB
    jpg = tmp_path / "o.jpg"
    assert write_image(jpg, d.pixels, "JPEG", metadata=d.metadata) == []
    assert "icc_profile" not in Image.open(jpg).info
    # with an ICC profile: iCCP kept, and no sRGB beside it (PNG allows one of them)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src2 = tmp_path / "icc.png"
    Image.fromarray(arr).save(src2, icc_profile=icc)
    d2 = read_image(src2)
    out2 = tmp_path / "o2.png"
    write_image(out2, d2.pixels, "PNG", icc_profile=d2.icc_profile, metadata=d.metadata)
    kinds = [k for k, _ in chunks_of(out2)]
    assert b"iCCP" in kinds and b"sRGB" not in kinds
    assert Image.open(out2).info["icc_profile"] == icc


TEXTS = [
    (b"tEXt", b"Comment\x00a plain comment"),
    (b"tEXt", b"Copyright\x00\xa9 2026 J. Doe"),
    (b"zTXt", b"Description\x00\x00" + zlib.compress(b"long " * 50)),
    (b"iTXt", b"Title\x00\x00\x00ja\x00\xe9\xa1\x8c\x00" + "東京の夜景 — Zürich".encode()),
    (b"iTXt", b"Author\x00\x01\x00\x00\x00" + zlib.compress("Jürgen 😀".encode())),
    (b"tEXt", b"Software\x00OldTool 1.0"),
]


def test_png_texts_carried_as_stored(tmp_path: Path) -> None:
    arr = np.full((4, 5, 3), 20, np.uint8)
    src = tmp_path / "t.png"
    src.write_bytes(with_chunks(png8(arr), *TEXTS))
    d = read_image(src)
    got = {t.key: t for t in d.metadata.texts}
    assert got["Title"].value == "東京の夜景 — Zürich" and got["Title"].lang == "ja"
    assert got["Author"].value == "Jürgen 😀" and got["Author"].zipped
    assert got["Copyright"].value == "© 2026 J. Doe"
    for name, pixels in (("a.png", d.pixels), ("b.png", np.asarray(d.pixels))):
        out = tmp_path / name
        write_image(out, pixels, "PNG", metadata=d.metadata)
        assert texts_of(out) == TEXTS  # the same chunks, bytes and order
        assert Image.open(out).text["Title"] == "東京の夜景 — Zürich"


def test_png_texts_in_jpeg_and_webp(tmp_path: Path) -> None:
    src = tmp_path / "t.png"
    src.write_bytes(with_chunks(png8(np.zeros((4, 5, 3), np.uint8)), *TEXTS))
    d = read_image(src)
    jpg = tmp_path / "o.jpg"
    notes = write_image(jpg, d.pixels, "JPEG", metadata=d.metadata)
    assert notes == []  # the comment a COM segment, the rest in EXIF and XMP
    assert [v for k, v in Image.open(jpg).applist if k == "COM"] == [b"a plain comment"]
    notes = write_image(tmp_path / "o.webp", d.pixels, "WEBP", metadata=d.metadata)
    assert notes == []
    with Image.open(tmp_path / "o.webp") as img:
        assert img.getexif()[305] == "OldTool 1.0"
        assert "東京の夜景" in img.info["xmp"].decode() and b"a plain comment" in img.info["xmp"]
    notes = write_image(tmp_path / "o.bmp", d.pixels, "BMP", metadata=d.metadata)
    assert notes == ["text Comment, Copyright, Description, Title, Author, Software not "
                     "kept: BMP cannot hold text"]


def test_jpeg_comments_carried(tmp_path: Path) -> None:
    src = tmp_path / "c.jpg"
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 99, np.uint8)).save(buf, format="JPEG")
    data = buf.getvalue()
    coms = [b"first comment", "zweiter Kommentar: Größe — 東京".encode(), b"\xe9t\xe9 latin-1"]
    segs = b"".join(b"\xff\xfe" + struct.pack(">H", len(c) + 2) + c for c in coms)
    src.write_bytes(data[:2] + segs + data[2:])
    d = read_image(src)
    assert [t.value for t in d.metadata.texts] == [
        "first comment", "zweiter Kommentar: Größe — 東京", "été latin-1"]
    jpg = tmp_path / "o.jpg"
    assert write_image(jpg, d.pixels, "JPEG", metadata=d.metadata) == []
    assert [v for k, v in Image.open(jpg).applist if k == "COM"] == coms  # bytes as stored
    out = tmp_path / "o.png"
    write_image(out, np.asarray(d.pixels), "PNG", metadata=d.metadata)
    assert [t.value for t in read_image(out).metadata.texts] == [t.value for t in
                                                                 d.metadata.texts]
    assert [k for k, _ in texts_of(out)] == [b"tEXt", b"iTXt", b"tEXt"]


def test_gif_comment_carried(tmp_path: Path) -> None:
    src = tmp_path / "c.gif"
    Image.new("P", (6, 6), 3).save(src, comment=b"made by hand")
    d = read_image(src)
    assert [t.value for t in d.metadata.texts] == ["made by hand"]
    out = tmp_path / "o.gif"
    assert write_image(out, d.pixels, "GIF", metadata=d.metadata) == []
    assert Image.open(out).info["comment"] == b"made by hand"
    png_out = tmp_path / "o.png"
    write_image(png_out, np.asarray(d.pixels.convert("RGB")), "PNG", metadata=d.metadata)
    assert texts_of(png_out) == [(b"tEXt", b"Comment\x00made by hand")]


def test_ratio_only_phys(tmp_path: Path) -> None:
    src = tmp_path / "r.png"
    src.write_bytes(with_chunks(png8(np.zeros((4, 6, 3), np.uint8)),
                                (b"pHYs", struct.pack(">IIB", 3, 2, 0))))
    d = read_image(src)
    assert d.metadata.aspect == (3, 2) and d.dpi is None
    assert d.metadata.resized((6, 4), (12, 8)).aspect == (3, 2)  # x2: the same ratio
    assert d.metadata.resized((6, 4), (12, 4)).aspect == (3, 1)  # twice as many columns
    for name, pixels in (("a.png", d.pixels), ("b.png", np.asarray(d.pixels))):
        out = tmp_path / name
        write_image(out, pixels, "PNG", metadata=d.metadata.stripped())
        assert dict(chunks_of(out))[b"pHYs"] == struct.pack(">IIB", 3, 2, 0)
        assert Image.open(out).info["aspect"] == (3, 2)
    jpg = tmp_path / "o.jpg"  # JFIF density unit 0: the same ratio, and back
    assert write_image(jpg, d.pixels, "JPEG", metadata=d.metadata) == []
    with Image.open(jpg) as img:
        assert (img.info["jfif_unit"], img.info["jfif_density"]) == (0, (3, 2))
    assert read_image(jpg).metadata.aspect == (3, 2)
    assert write_image(tmp_path / "o.webp", d.pixels, "WEBP", metadata=d.metadata) == [
        "pixel aspect ratio 3:2 not kept: WEBP cannot hold it; viewers will show square pixels"]


def test_bad_texts_are_left_out_with_a_note(tmp_path: Path) -> None:
    src = tmp_path / "bad.png"
    src.write_bytes(with_chunks(png8(np.zeros((4, 5, 3), np.uint8)),
                                (b"zTXt", b"Comment\x00\x00not zlib at all"),
                                (b"iTXt", b"Title\x00\x00\x00\x00\x00\xff\xfe bad utf-8"),
                                (b"tEXt", b"Raw profile type 8bim\x00\n8bim\n 4\n00000000\n"),
                                (b"tEXt", b"Author\x00kept")))
    d = read_image(src)
    assert [t.key for t in d.metadata.texts] == ["Author"]
    assert len(d.notes) == 3 and all("left out" in n for n in d.notes)


def test_strip_keeps_meaning_only() -> None:
    meta = md.Metadata(exif=b"x", texts=(md.Text("Comment", "hi"),),
                       colour=md.Colour(gamma=100000), sbit=(5,), aspect=(1, 2))
    assert meta.stripped() == md.Metadata(colour=md.Colour(gamma=100000), sbit=(5,),
                                          aspect=(1, 2))
    assert md.Metadata(texts=(md.Text("Comment", "hi"),)).stripped() is None


def test_many_broken_texts_make_few_notes(tmp_path: Path) -> None:
    src = tmp_path / "many.png"
    src.write_bytes(with_chunks(png8(np.zeros((4, 5, 3), np.uint8)),
                                *[(b"zTXt", b"K\x00\x00junk")] * 40))
    d = read_image(src)
    assert len(d.notes) == 6 and d.notes[-1] == "35 more texts left out"
    cut = tmp_path / "cut.png"  # a text chunk cut short ends the walk; Pillow says why
    cut.write_bytes(src.read_bytes()[:60])
    with pytest.raises(ValueError):
        read_image(cut)
