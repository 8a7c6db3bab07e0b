"""`sronnx upscale` on the formats of issue 24 part 4, with the shipped default model: a
read-only input is written as PNG with a note, .mpo and .dib names are taken, the new
--format names are offered, and a PDF named .png is refused naming what it is."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from helpers import checked_cli
from PIL import Image

from sronnx.io import Metadata, read_image, write_image
from sronnx.io.formats.cicp import cicp_icc


def _psd(rgb: np.ndarray) -> bytes:
    h, w, _ = rgb.shape
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3)
    return head + b"\0" * 12 + struct.pack(">H", 0) + np.moveaxis(rgb, 2, 0).tobytes()


def test_new_formats_through_the_cli(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    rgb = np.random.default_rng(3).integers(0, 256, (12, 16, 3)).astype(np.uint8)
    (src / "a.psd").write_bytes(_psd(rgb))
    Image.fromarray(rgb).save(src / "b.mpo", format="MPO")
    Image.fromarray(rgb).save(src / "c.dib", format="BMP")
    Image.fromarray(rgb).save(src / "d.qoi")
    (src / "e.png").write_bytes(b"%PDF-1.7\n" + b"\0" * 64)
    r = checked_cli(src, "-o", out, "--scale", "2")
    assert r.exit_code == 1, r.output
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg", "c.bmp", "d.qoi"]
    assert Image.open(out / "a.png").size == (32, 24)
    assert "sronnx does not write PSD: written as PNG (keeps alpha and 16-bit)" in r.output
    assert "a PDF document: not an image format sronnx reads" in r.output
    r = checked_cli(src / "d.qoi", "-o", tmp_path / "x.jxl", "--scale", "2", "--format", "jxl")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "x.jxl").read_bytes()[:2] in (b"\xff\x0a", b"\x00\x00")


def test_format_choices_come_from_the_table() -> None:
    r = checked_cli("--help")
    for name in ("heic", "avif", "jxl", "ppm", "qoi", "tga"):
        assert name in r.output


def test_jxl_output_keeps_exif_and_xmp(tmp_path: Path) -> None:
    rgb = np.random.default_rng(4).integers(0, 256, (12, 16, 3)).astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "SronnxCam", 6
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><r a="1"/></x:xmpmeta>'
    Image.fromarray(rgb).save(tmp_path / "e.jpg", quality=95, exif=exif, xmp=xmp)
    r = checked_cli(tmp_path / "e.jpg", "-o", tmp_path / "e.jxl", "--scale", "2",
                    "--format", "jxl")
    assert r.exit_code == 0, r.output
    back = read_image(tmp_path / "e.jxl")
    assert np.asarray(back.pixels).shape == (32, 24, 3)  # turned upright, then x2
    kept = Image.Exif()
    kept.load(back.metadata.exif)
    assert kept[0x010F] == "SronnxCam" and kept[0x0112] == 1
    assert b'<r a="1"/>' in back.metadata.xmp


def test_16_bit_png_to_avif_keeps_depth_and_metadata(tmp_path: Path) -> None:
    """The same run written as PNG (16-bit) and as AVIF: the AVIF is 12-bit, within the
    lossy coding's error of the PNG (measured 0.37/255 on average; the same output as an
    8-bit AVIF at the same quality: 0.90), with EXIF, XMP and the ICC profile."""
    y, x = np.mgrid[0:24, 0:32]
    arr = np.stack([x * 65535 // 31, y * 65535 // 23, (x + y) * 65535 // 54],
                   axis=2).astype(np.uint16)
    exif = Image.Exif()
    exif[0x010F] = "SronnxCam"
    icc = cicp_icc(12, 13)
    xmp = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
    write_image(tmp_path / "d.png", arr, "PNG", icc_profile=icc,
                metadata=Metadata(exif=exif.tobytes(), xmp=xmp))
    for fmt in ("png", "avif"):
        r = checked_cli(tmp_path / "d.png", "-o", tmp_path / f"o.{fmt}", "--scale", "2",
                        "--format", fmt)
        assert r.exit_code == 0, r.output
    assert "16-bit samples written as 12-bit AVIF" in r.output
    png, avif = read_image(tmp_path / "o.png"), read_image(tmp_path / "o.avif")
    assert png.pixels.dtype == avif.pixels.dtype == np.uint16
    err = np.abs(avif.pixels.astype(int) - png.pixels.astype(int)) / 257
    assert err.mean() < 0.5, err.mean()
    assert avif.icc_profile == icc and b"xmpmeta" in avif.metadata.xmp
    kept = Image.Exif()
    kept.load(avif.metadata.exif)
    assert kept[0x010F] == "SronnxCam"
