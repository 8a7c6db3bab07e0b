"""Issue 24 part 4: HEIF, AVIF, JPEG XL, PPM/PGM, QOI, TGA read and written; JPEG 2000, PSD,
ICO, DDS, SGI, PCX, DIB and MPO read; refusals that name what a file is. Every file is made
here (by Pillow, pillow-heif, imagecodecs, or by hand)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import imagecodecs
import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageCms

from sronnx.io import (
    ImageReadError,
    Metadata,
    output_extension_for,
    output_format,
    read_image,
    writable_choices,
    write_image,
    written_as_note,
)
from sronnx.io.formats import jxlstream
from sronnx.io.formats.avifitems import AvifLayoutError, add_metadata
from sronnx.io.formats.cicp import cicp_icc, isobmff_colour
from sronnx.io.formats.jxl import ICC_NOTE


def _ramp(h: int, w: int, channels: int, top: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dtype = np.uint8 if top <= 255 else np.uint16
    return rng.integers(0, top + 1, (h, w, channels)).astype(dtype)


def _exif(orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SronnxCam"
    if orientation:
        exif[0x0112] = orientation
    return exif.tobytes()


def _make(meta: Metadata | None) -> str | None:
    if not meta or not meta.exif:
        return None
    exif = Image.Exif()
    exif.load(meta.exif)
    return exif.get(0x010F)


# ---- HEIF ---------------------------------------------------------------------------------


def test_heif_12_bit_rgba_with_irot_exif_xmp(tmp_path: Path) -> None:
    a12 = _ramp(12, 20, 4, 4095)
    pillow_heif.options.SAVE_HDR_TO_12_BIT = True
    heif = pillow_heif.from_bytes(mode="RGBA;16", size=(20, 12), data=(a12 << 4).tobytes())
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><r/></x:xmpmeta>'
    heif.save(tmp_path / "p.heic", quality=-1, chroma=444, exif=_exif(6), xmp=xmp)
    d = read_image(tmp_path / "p.heic")
    assert d.format == "HEIF" and d.pixels.dtype == np.uint16
    # EXIF 6 became the file's irot, which libheif applies: turned once, not twice
    assert d.pixels.shape == (20, 12, 4)
    want = (np.rot90(a12, -1).astype(np.uint32) * 65535 + 2047) // 4095
    assert np.abs(d.pixels.astype(int) - want.astype(int)).max() <= 65535 // 4095 + 1
    assert "12-bit samples widened to 16-bit" in d.notes
    assert _make(d.metadata) == "SronnxCam" and b"xmpmeta" in d.metadata.xmp


def test_heif_written_12_bit_with_metadata_and_icc(tmp_path: Path) -> None:
    arr = _ramp(10, 16, 3, 65535)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    notes = write_image(tmp_path / "o.heic", arr, "HEIF", icc_profile=icc, quality=100,
                        metadata=Metadata(exif=_exif()))
    assert notes == ["16-bit samples written as 12-bit HEIF"]
    back = read_image(tmp_path / "o.heic")
    assert back.pixels.dtype == np.uint16 and back.pixels.shape == arr.shape
    assert back.icc_profile == icc and _make(back.metadata) == "SronnxCam"
    # 8-bit through Pillow's image path
    write_image(tmp_path / "o8.heic", Image.fromarray((arr >> 8).astype(np.uint8)), "HEIF",
                quality=90)
    assert read_image(tmp_path / "o8.heic").pixels.mode == "RGB"


# ---- AVIF ---------------------------------------------------------------------------------


def test_avif_10_bit_full_depth_and_display_p3(tmp_path: Path) -> None:
    a10 = _ramp(8, 12, 3, 1023)
    (tmp_path / "p3.avif").write_bytes(imagecodecs.avif_encode(
        a10, level=100, bitspersample=10, primaries=12, transfer=13, pixelformat="444"))
    d = read_image(tmp_path / "p3.avif")
    assert d.format == "AVIF" and d.pixels.dtype == np.uint16 and d.pixels.shape == (8, 12, 3)
    want = (a10.astype(np.uint32) * 65535 + 511) // 1023
    assert np.abs(d.pixels.astype(int) - want.astype(int)).max() <= 2 * 64
    assert "10-bit samples widened to 16-bit" in d.notes
    profile = ImageCms.ImageCmsProfile(io.BytesIO(d.icc_profile))
    assert "Display P3" in ImageCms.getProfileDescription(profile)
    assert any("Display P3" in n and "ICC profile" in n for n in d.notes)


@pytest.mark.parametrize(("transfer", "name"), [(16, "PQ"), (18, "HLG")])
def test_hdr_avif_is_refused(tmp_path: Path, transfer: int, name: str) -> None:
    (tmp_path / "hdr.avif").write_bytes(imagecodecs.avif_encode(
        _ramp(8, 8, 3, 1023), bitspersample=10, primaries=9, transfer=transfer))
    with pytest.raises(ImageReadError, match=rf"^an HDR AVIF \({name}"):
        read_image(tmp_path / "hdr.avif")


def test_avif_orientation_alpha_and_exif(tmp_path: Path) -> None:
    rgba = _ramp(6, 10, 4, 255)
    Image.fromarray(rgba).save(tmp_path / "o.avif", quality=100, exif=_exif(6))
    d = read_image(tmp_path / "o.avif")
    assert d.pixels.mode == "RGBA" and d.pixels.size == (6, 10)  # turned once
    assert _make(d.metadata) == "SronnxCam"
    assert np.array_equal(np.asarray(d.pixels)[..., 3], np.rot90(rgba[..., 3], -1))


def _png16_with_metadata(path: Path, arr: np.ndarray) -> None:
    """A 16-bit PNG with EXIF (orientation 6, a Make), XMP and a Display P3 ICC profile."""
    notes = write_image(path, arr, "PNG", icc_profile=cicp_icc(12, 13),
                        metadata=Metadata(exif=_exif(6), xmp=_XMP))
    assert notes == []


@pytest.mark.parametrize("quality", [100, 95])
def test_avif_16_bit_png_written_as_12_bit_with_its_metadata(tmp_path: Path,
                                                              quality: int) -> None:
    """16 bits in, 12-bit AVIF out (imagecodecs), EXIF, XMP and ICC added to its file.
    Lossless (--quality 100): every 12-bit value exact, so at most half a 12-bit step
    (8.0 of 65535) off. Lossy at 95 on this ramp: 0.24/255 on average, 4.2 at most; the
    8-bit AVIF Pillow writes at 95 is off by 0.92 on average, 4.3 at most (libavif 1.4)."""
    _png16_with_metadata(tmp_path / "in.png", _smooth(40, 60))
    src = read_image(tmp_path / "in.png")
    assert src.pixels.dtype == np.uint16
    notes = write_image(tmp_path / "o.avif", src.pixels, "AVIF", quality=quality,
                        icc_profile=src.icc_profile, metadata=src.metadata)
    assert notes == ["16-bit samples written as 12-bit AVIF"]
    _cicp, _icc, bits = isobmff_colour((tmp_path / "o.avif").read_bytes())
    assert bits == 12
    d = read_image(tmp_path / "o.avif")
    assert d.pixels.dtype == np.uint16 and d.pixels.shape == src.pixels.shape
    err = np.abs(d.pixels.astype(int) - src.pixels.astype(int))
    if quality == 100:
        assert err.max() <= 65535 / 4095 / 2 + 1e-9
    else:
        assert err.mean() / 257 < 0.5 and err.max() / 257 < 6, (err.mean(), err.max())
    assert d.icc_profile == cicp_icc(12, 13)
    assert _make(d.metadata) == "SronnxCam" and b'tiff:Orientation="1"' in d.metadata.xmp
    exif = Image.Exif()
    exif.load(d.metadata.exif)
    assert exif[0x0112] == 1


def test_avif_metadata_added_to_every_item_layout() -> None:
    """Grey, grey + alpha (an auxiliary item and an iref already there) and RGB files of
    imagecodecs, each item's bytes found again by libavif (Pillow) after the move."""
    exif, icc = _exif(), cicp_icc(12, 13)
    for shape in ((6, 9), (6, 9, 2), (6, 9, 3)):
        arr = _ramp(*shape[:2], shape[2] if len(shape) == 3 else 1, 4095)
        arr = arr.reshape(shape)
        data = add_metadata(imagecodecs.avif_encode(arr, level=100, bitspersample=12),
                            exif, _XMP, icc)
        assert np.array_equal(imagecodecs.avif_decode(data), arr)
        with Image.open(io.BytesIO(data)) as img:
            assert img.info["icc_profile"] == icc and img.info["xmp"] == _XMP
            assert img.getexif()[0x010F] == "SronnxCam"


def test_avif_layout_not_handled_is_refused_not_guessed() -> None:
    data = imagecodecs.avif_encode(_ramp(4, 4, 3, 4095), level=100, bitspersample=12)
    mdat = data.index(b"mdat") - 4
    meta = data.index(b"meta") - 4
    swapped = data[:meta] + data[mdat:] + data[meta:mdat]  # mdat before meta
    with pytest.raises(AvifLayoutError, match="expected meta, then an mdat"):
        add_metadata(swapped, _exif(), None, None)
    assert add_metadata(data) == data  # nothing to add: untouched


# ---- JPEG XL ------------------------------------------------------------------------------


def _smooth(h: int, w: int) -> np.ndarray:
    """A 16-bit RGB picture of smooth ramps (lossy coding keeps it close)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 65535 // (w - 1), y * 65535 // (h - 1),
                     (x + y) * 65535 // (w + h - 2)], axis=2).astype(np.uint16)


_XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
        b'02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        b'tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')


def test_jxl_keeps_exif_and_xmp_and_says_the_icc_profile_is_not_kept(tmp_path: Path) -> None:
    arr = _ramp(9, 14, 4, 65535)
    p3 = cicp_icc(12, 13)  # Display P3
    notes = write_image(tmp_path / "o.jxl", arr, "JXL", metadata=Metadata(exif=_exif(6),
                        xmp=_XMP), icc_profile=p3, quality=100)
    assert notes == [ICC_NOTE]
    data = (tmp_path / "o.jxl").read_bytes()
    assert data.startswith(b"\x00\x00\x00\x0cJXL ") and b"Exif\0\0\0\0MM\0*" in data
    d = read_image(tmp_path / "o.jxl")
    assert d.format == "JXL" and np.array_equal(d.pixels, arr) and d.notes == []
    assert _make(d.metadata) == "SronnxCam" and b'tiff:Orientation="1"' in d.metadata.xmp
    exif = Image.Exif()
    exif.load(d.metadata.exif)
    assert exif[0x0112] == 1  # the pixels are upright: orientation 1, as every output
    stream = jxlstream.colour_encoding(data[data.index(b"jxlc") + 4:])
    assert stream.is_srgb and stream.describe() == "RGB, sRGB primaries, D65 white, sRGB transfer"


def test_jxl_16_bit_tagged_srgb_and_lossy_close(tmp_path: Path) -> None:
    """imagecodecs tags 16-bit pictures as linear light; sronnx's are sRGB-encoded. libjxl
    decodes a lossy (XYB) picture into the colour encoding the codestream names, so a wrong
    tag (or samples not made linear before the XYB coding) moves every value: by 50/255 on
    average on this ramp. The 8-bit picture at the same quality is off by 1.1 on average,
    16 at most (libjxl 0.11)."""
    arr = _smooth(32, 48)
    assert write_image(tmp_path / "q.jxl", arr, "JXL", quality=90) == []
    back = imagecodecs.jpegxl_decode((tmp_path / "q.jxl").read_bytes()).astype(int)
    err = np.abs(back - arr.astype(int)) / 257
    assert err.mean() < 2 and err.max() < 24, (err.mean(), err.max())
    stream = (tmp_path / "q.jxl").read_bytes()
    assert jxlstream.colour_encoding(stream).is_srgb


def test_jxl_linear_light_read_as_srgb(tmp_path: Path) -> None:
    lin = _ramp(6, 10, 3, 65535)
    (tmp_path / "lin.jxl").write_bytes(imagecodecs.jpegxl_encode(lin, lossless=True))
    d = read_image(tmp_path / "lin.jxl")
    assert "linear-light JPEG XL converted to sRGB (16-bit)" in d.notes
    v = lin / 65535.0
    want = np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055) * 65535
    assert np.abs(d.pixels.astype(float) - want).max() <= 0.5 + 1e-9


def test_jxl_codestream_colour_retag_changes_four_bits_only() -> None:
    grey = _ramp(5, 7, 2, 65535)[..., :2]
    data = imagecodecs.jpegxl_encode(grey, lossless=True)
    stream = data[data.index(b"jxlc") + 4:]
    before = jxlstream.colour_encoding(stream)
    assert (before.space, before.primaries, before.transfer) == (1, None, jxlstream.LINEAR)
    after = jxlstream.retag_transfer_srgb(stream)
    changed = np.unpackbits(np.bitwise_xor(np.frombuffer(stream, np.uint8),
                                           np.frombuffer(after, np.uint8))).sum()
    assert 0 < changed <= 4 and len(after) == len(stream)
    assert jxlstream.colour_encoding(after).is_srgb
    assert np.array_equal(imagecodecs.jpegxl_decode(after), imagecodecs.jpegxl_decode(stream))
    eight = imagecodecs.jpegxl_encode(_ramp(5, 7, 3, 255), lossless=True)
    assert jxlstream.retag_transfer_srgb(eight) == eight


def test_jxl_container_exif_and_size_limit(tmp_path: Path) -> None:
    arr = _ramp(8, 8, 3, 255)
    stream = imagecodecs.jpegxl_encode(arr, lossless=True)
    exif = _exif()
    tiff = exif[6:] if exif.startswith(b"Exif") else exif

    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", 8 + len(body)) + kind + body

    data = (b"\x00\x00\x00\x0cJXL \r\n\x87\n" + box(b"ftyp", b"jxl \x00\x00\x00\x00jxl ")
            + box(b"Exif", b"\x00\x00\x00\x00" + tiff) + box(b"jxlc", stream))
    (tmp_path / "c.jxl").write_bytes(data)
    d = read_image(tmp_path / "c.jxl")
    assert np.array_equal(np.asarray(d.pixels), arr) and _make(d.metadata) == "SronnxCam"
    with pytest.raises(ImageReadError, match="8x8 = 64 pixels is over the limit of 10"):
        read_image(tmp_path / "c.jxl", max_pixels=10)


# ---- Netpbm, QOI, TGA ---------------------------------------------------------------------


def test_ppm_and_pgm_16_bit(tmp_path: Path) -> None:
    rgb = _ramp(5, 7, 3, 65535)
    (tmp_path / "a.ppm").write_bytes(b"P6\n# c\n7 5\n65535\n" + rgb.astype(">u2").tobytes())
    d = read_image(tmp_path / "a.ppm")
    assert d.format == "PPM" and np.array_equal(d.pixels, rgb)
    grey = _ramp(5, 7, 1, 4095)[..., 0]
    (tmp_path / "g.pgm").write_bytes(b"P5 7 5 4095\n" + grey.astype(">u2").tobytes())
    g = read_image(tmp_path / "g.pgm")
    assert g.pixels.dtype == np.uint16 and g.pixels.max() <= 65535
    assert np.array_equal(g.pixels, (grey.astype(np.uint32) * 65535 + 2047) // 4095)
    assert write_image(tmp_path / "o.ppm", rgb, "PPM") == []
    assert np.array_equal(read_image(tmp_path / "o.ppm").pixels, rgb)
    (tmp_path / "t.ppm").write_bytes(b"P6 7 5 65535\n" + b"\0" * 10)
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(tmp_path / "t.ppm")


@pytest.mark.parametrize("fmt", ["QOI", "TGA"])
def test_qoi_and_tga_rgba_read_and_written(tmp_path: Path, fmt: str) -> None:
    rgba = _ramp(6, 9, 4, 255)
    path = tmp_path / f"a.{fmt.lower()}"
    Image.fromarray(rgba).save(path, format=fmt)
    d = read_image(path)
    assert d.format == fmt and np.array_equal(np.asarray(d.pixels), rgba)
    assert write_image(tmp_path / f"o.{fmt.lower()}", Image.fromarray(rgba), fmt) == []
    assert np.array_equal(np.asarray(read_image(tmp_path / f"o.{fmt.lower()}").pixels), rgba)
    assert output_format(fmt, "same", tmp_path / f"x.{fmt.lower()}") == fmt


# ---- read only ----------------------------------------------------------------------------


def _psd(rgb: np.ndarray) -> bytes:
    """A minimal RGB PSD: header, empty sections, raw planar composite."""
    h, w, _ = rgb.shape
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3)
    return head + b"\0" * 12 + struct.pack(">H", 0) + np.moveaxis(rgb, 2, 0).tobytes()


def test_read_only_kinds(tmp_path: Path) -> None:
    rgb, rgba = _ramp(6, 8, 3, 255), _ramp(16, 16, 4, 255)
    (tmp_path / "a.psd").write_bytes(_psd(rgb))
    Image.fromarray(rgb).save(tmp_path / "a.pcx")
    Image.fromarray(rgba).save(tmp_path / "a.sgi")
    Image.fromarray(rgba).save(tmp_path / "a.dds")
    Image.fromarray(rgba).save(tmp_path / "a.ico", sizes=[(16, 16)])
    Image.fromarray(rgb).save(tmp_path / "a.dib", format="DIB")
    Image.fromarray(rgb).save(tmp_path / "bm.dib", format="BMP")
    for name, want in (("a.psd", rgb), ("a.pcx", rgb), ("a.sgi", rgba), ("a.dds", rgba),
                       ("a.ico", rgba), ("a.dib", rgb), ("bm.dib", rgb)):
        d = read_image(tmp_path / name)
        assert np.array_equal(np.asarray(d.pixels.convert(d.pixels.mode)), want), name
    assert output_extension_for(".psd") == ".png" and output_extension_for(".dib") == ".bmp"
    assert output_extension_for(".mpo") == ".jpg" and output_extension_for(".TGA") == ".TGA"
    assert output_format("PSD", "same", tmp_path / "x.png") == "PNG"
    assert written_as_note("PSD", "PNG", "same") == [
        "sronnx does not write PSD: written as PNG (keeps alpha and 16-bit)"]
    assert written_as_note("PSD", "JPEG", "jpg") == []
    assert "psd" not in writable_choices() and "jxl" in writable_choices()


def test_jpeg2000_12_bit_and_mpo(tmp_path: Path) -> None:
    a12 = _ramp(6, 8, 3, 4095)
    (tmp_path / "a.jp2").write_bytes(imagecodecs.jpeg2k_encode(a12, level=0,
                                                               bitspersample=12))
    d = read_image(tmp_path / "a.jp2")
    assert d.pixels.dtype == np.uint16
    assert np.array_equal(d.pixels, (a12.astype(np.uint32) * 65535 + 2047) // 4095)
    assert "12-bit samples widened to 16-bit" in d.notes
    first, second = (Image.fromarray(_ramp(6, 8, 3, 255, s)) for s in (1, 2))
    first.save(tmp_path / "a.mpo", format="MPO", save_all=True, append_images=[second],
               exif=_exif())
    m = read_image(tmp_path / "a.mpo")
    assert m.format == "MPO" and m.pixels.size == (8, 6) and _make(m.metadata) == "SronnxCam"
    assert "MPO with 2 pictures: only the first was upscaled" in m.notes


# ---- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "said"), [
    (b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n", "a PDF document: not an image format sronnx reads"),
    (b"%!PS-Adobe-3.0 EPSF-3.0\n", "a PostScript/EPS file (PostScript is a program: never "
                                   "run): not an image format sronnx reads"),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
     "an SVG drawing (vector graphics): not an image format sronnx reads"),
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", "an MP4 video: not an image"),
    (b"\x1aE\xdf\xa3\x01\x00\x00\x00", "a Matroska/WebM video: not an image format"),
    (b"v/1\x01\x02\x00\x00\x00", "an OpenEXR (HDR) image: not an image format"),
])
def test_refusals_name_what_the_file_is(tmp_path: Path, data: bytes, said: str) -> None:
    (tmp_path / "x.png").write_bytes(data + b"\0" * 64)
    with pytest.raises(ImageReadError) as err:
        read_image(tmp_path / "x.png")
    assert str(err.value).startswith(said)
