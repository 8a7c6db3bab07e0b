"""Hostile image files: formats sronnx does not read (never handed to Pillow's other
decoders, never to Ghostscript), TIFFs that decode to far more bytes than their pixel
count suggests, and what tifffile and Pillow would print to stderr without a file name.

Real files written here (by Pillow, tifffile or by hand), the real CLI in a subprocess,
a tiny untrained exported model.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from helpers import CLI
from PIL import Image

from sronnx.engine.planner import image_header
from sronnx.io.animation import read_animation
from sronnx.io.formats.tiff import DECODED_BYTES_PER_PIXEL
from sronnx.io.images import INPUT_FORMATS, ImageReadError, read_image
from sronnx.train.data import DataError, load_rgb

NOT_AN_IMAGE = "not an image file (or an unsupported format)"
# an EPS as Pillow would take it: header, bounding box, one line of hex RGB image data
EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\n%%Pages: 1\n%%EndComments\n"
       b"%%Page: 1 1\n64 48 8 [64 0 0 -48 0 48] {currentfile 192 string readhexstring pop}"
       b" false 3 colorimage\n" + b"00" * 192 * 48 + b"\nshowpage\n%%EOF\n")


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300,
                          env=env)


def _good_png(path: Path) -> Path:
    Image.fromarray(np.full((12, 16, 3), 90, np.uint8)).save(path)
    return path


# ---- F1: only the formats sronnx reads ------------------------------------------------


def test_input_formats_are_those_of_the_extensions():
    assert set(INPUT_FORMATS) == {"PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF", "AVIF", "PPM",
                                  "QOI", "JPEG2000", "PSD", "ICO", "CUR", "DDS", "SGI", "PCX",
                                  "DIB", "TGA"}  # HEIF, JXL: their own readers; MPO: JPEG's
    assert "EPS" not in INPUT_FORMATS


def test_eps_named_png_never_runs_ghostscript(tmp_path, model):
    marker = tmp_path / "GS_WAS_RUN"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gs = bin_dir / "gs"  # a fake Ghostscript: leaves a marker when run
    gs.write_text(f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo 10.02.1; exit 0; fi\n'
                  f'echo "$@" >> "{marker}"\nexit 1\n')
    gs.chmod(0o755)
    eps = tmp_path / "in" / "photo.png"
    eps.parent.mkdir()
    eps.write_bytes(EPS)
    good = _good_png(tmp_path / "in" / "good.png")
    with Image.open(eps) as im:  # Pillow left to itself takes it (and runs gs on load)
        assert im.format == "EPS"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    out = tmp_path / "out"
    r = _run(["upscale", str(eps), str(good), "-o", str(out), "--model", str(model)], env)
    assert r.returncode == 1, r.stderr
    assert not marker.exists()
    failed = [ln for ln in r.stderr.splitlines() if ln.startswith("failed:")]
    assert failed == [f"failed: {eps}: cannot read image: a PostScript/EPS file (PostScript is "
                      "a program: never run): not an image format sronnx reads"]
    assert "Traceback" not in r.stderr
    assert (out / "good.png").is_file()
    assert image_header(eps) is None
    assert read_animation(eps) is None


@pytest.mark.parametrize("fmt", ["MSP", "XBM"])
def test_other_pillow_formats_are_not_read(tmp_path, fmt):
    path = tmp_path / "photo.png"
    mode = "RGB" if fmt == "IM" else "1"
    Image.new(mode, (16, 16), "white").save(path, format=fmt)
    with Image.open(path) as im:
        assert im.format == fmt  # a file Pillow itself would decode
    with pytest.raises(ImageReadError,
                       match=rf"^a {fmt} file: not an image format sronnx reads$"):
        read_image(path)
    assert image_header(path) is None
    with pytest.raises(DataError):  # training data too
        load_rgb(path)


def test_phone_jpeg_mpo_still_reads(tmp_path):
    path = tmp_path / "phone.jpg"
    first = Image.fromarray(np.full((24, 32, 3), 120, np.uint8))
    second = Image.fromarray(np.full((24, 32, 3), 30, np.uint8))
    first.save(path, format="MPO", save_all=True, append_images=[second])
    decoded = read_image(path)
    assert decoded.format == "MPO"
    assert decoded.size == (32, 24)
    assert abs(int(np.asarray(decoded.pixels)[12, 16, 0]) - 120) <= 2
    assert image_header(path) is not None


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp", ".tif", ".gif"])
def test_every_listed_format_still_reads(tmp_path, ext):
    path = tmp_path / f"a{ext}"
    Image.fromarray(np.full((10, 14, 3), 64, np.uint8)).save(path)
    assert read_image(path).size == (14, 10)
    assert image_header(path).size == (14, 10)


# ---- F4: TIFF decoded-bytes bomb --------------------------------------------------------


def _deflate_bomb_tiff(path: Path, w: int, h: int) -> Path:
    """A float64 RGBA TIFF of w x h whose strips (one row each) all point at the same
    small deflate-compressed row: a small file that decodes to w * h * 32 bytes."""
    z = zlib.compress(np.zeros((1, w, 4), np.float64).tobytes(), 9)
    n = 13
    ifd_size = 2 + 12 * n + 4
    bps_off = 8 + ifd_size
    sf_off = bps_off + 8
    z_off = sf_off + 8
    offs_off = z_off + len(z)
    cnts_off = offs_off + 4 * h
    entries = sorted([
        (256, 4, 1, w), (257, 4, 1, h), (258, 3, 4, bps_off), (259, 3, 1, 8),
        (262, 3, 1, 2), (273, 4, h, offs_off), (277, 3, 1, 4), (278, 4, 1, 1),
        (279, 4, h, cnts_off), (284, 3, 1, 1), (338, 3, 1, 2), (339, 3, 4, sf_off),
        (317, 3, 1, 1)])
    ifd = struct.pack("<H", n)
    for tag, typ, count, value in entries:
        ifd += (struct.pack("<HHIHH", tag, typ, count, value, 0) if typ == 3 and count == 1
                else struct.pack("<HHII", tag, typ, count, value))
    ifd += struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<4H", *[64] * 4)
                     + struct.pack("<4H", *[3] * 4) + z + struct.pack(f"<{h}I", *[z_off] * h)
                     + struct.pack(f"<{h}I", *[len(z)] * h))
    return path


def test_tiff_decoded_bytes_over_the_budget_is_refused(tmp_path):
    # 2000 x 2000 float64 RGBA: 4 MP, 128 MB decoded; limit 5 MP x 16 bytes = 80 MB
    path = _deflate_bomb_tiff(tmp_path / "bomb.tif", 2000, 2000)
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageReadError) as err:
        read_image(path, max_pixels=5_000_000)
    msg = str(err.value)
    assert "2000x2000" in msg and "128,000,000 bytes" in msg
    assert f"{5_000_000 * DECODED_BYTES_PER_PIXEL:,}" in msg and "--max-pixels" in msg


def test_tiff_bomb_under_the_pixel_limit_fails_before_decoding(tmp_path):
    """The reviewer's file: 13000 x 13000 (169 MP, under the default pixel limit), 5.4 GB
    decoded. Read in a child with 1.5 GB of address space: decoding would not fit."""
    path = _deflate_bomb_tiff(tmp_path / "bomb.tif", 13000, 13000)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))

    code = ("import sys; from sronnx.io.images import read_image, ImageReadError\n"
            "try:\n    read_image(sys.argv[1])\nexcept ImageReadError as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                       text=True, timeout=120, preexec_fn=cap)
    assert r.returncode == 0, r.stderr
    assert "decodes to 5,408,000,000 bytes, over the limit of 2,863,311,520" in r.stdout


def test_tiff_at_the_byte_budget_reads(tmp_path):
    # float32 RGBA: 16 bytes a pixel, exactly the budget at max_pixels = w * h
    f32 = tmp_path / "f32.tif"
    tifffile.imwrite(f32, np.full((10, 12, 4), 0.5, np.float32), photometric="rgb",
                     extrasamples=[2])
    assert read_image(f32, max_pixels=120).size == (12, 10)
    f64 = tmp_path / "f64.tif"  # 32 bytes a pixel: over
    tifffile.imwrite(f64, np.full((10, 12, 4), 0.5, np.float64), photometric="rgb",
                     extrasamples=[2])
    with pytest.raises(ImageReadError, match="decodes to 3,840 bytes, over the limit of 1,920 "):
        read_image(f64, max_pixels=120)
    assert read_image(f64, max_pixels=240).size == (12, 10)


def test_16bit_rgb_tiff_still_reads(tmp_path):
    a16 = np.random.default_rng(0).integers(0, 65535, (20, 30, 3)).astype(np.uint16)
    path = tmp_path / "a16.tif"
    tifffile.imwrite(path, a16, photometric="rgb", compression="zlib")
    decoded = read_image(path)
    assert decoded.pixels.dtype == np.uint16
    np.testing.assert_array_equal(decoded.pixels, a16)


# ---- F8, F9: nothing on stderr without a file name; a clear reason ---------------------


def _set_tag(buf: bytearray, tag: int, value: int) -> None:
    """Overwrite the value of `tag` (SHORT or LONG, one value) in IFD0 of a little-endian
    TIFF."""
    off = struct.unpack_from("<I", buf, 4)[0]
    for i in range(struct.unpack_from("<H", buf, off)[0]):
        e = off + 2 + 12 * i
        if struct.unpack_from("<H", buf, e)[0] == tag:
            typ = struct.unpack_from("<H", buf, e + 2)[0]
            struct.pack_into("<H" if typ == 3 else "<I", buf, e + 8, value)
            return
    raise AssertionError(f"tag {tag} not found")


def _noisy_tiffs(folder: Path) -> dict[str, Path]:
    """The reviewer's noisy TIFFs, 16-bit (tifffile's path) and 8-bit (Pillow's)."""
    folder.mkdir()
    a16 = np.random.default_rng(0).integers(0, 65535, (20, 30, 3)).astype(np.uint16)
    a8 = (a16 >> 8).astype(np.uint8)
    files: dict[str, Path] = {}
    for prefix, arr in (("t", a16), ("t8", a8)):
        huge = folder / f"{prefix}_hugewidth.tif"  # 60000 x 2000 declared, 20 x 30 stored
        tifffile.imwrite(huge, arr, photometric="rgb")
        buf = bytearray(huge.read_bytes())
        _set_tag(buf, 256, 60000)
        _set_tag(buf, 257, 2000)
        huge.write_bytes(buf)
        files[huge.name] = huge
        orient = folder / f"{prefix}_orient_huge.tif"
        tifffile.imwrite(orient, arr, photometric="rgb",
                         extratags=[(274, 4, 1, 4_000_000_000, True)])
        files[orient.name] = orient
    loop = folder / "t_ifd_loop.tif"  # IFD0's next-IFD pointer points at IFD0
    tifffile.imwrite(loop, a16, photometric="rgb")
    buf = bytearray(loop.read_bytes())
    off = struct.unpack_from("<I", buf, 4)[0]
    struct.pack_into("<I", buf, off + 2 + 12 * struct.unpack_from("<H", buf, off)[0], off)
    loop.write_bytes(buf)
    files[loop.name] = loop
    return files


def test_noisy_tiffs_print_only_sronnx_lines(tmp_path, model):
    files = _noisy_tiffs(tmp_path / "in")
    r = _run(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
              "--model", str(model)])
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert not [ln for ln in lines if ln.startswith("<tifffile")
                or "DecompressionBombWarning" in ln or "warnings.warn" in ln], r.stderr
    for ln in lines[1:-1]:  # between the run's first line (model) and its summary
        assert ln.startswith(("failed: ", "done: ", "note: ")), ln
        assert any(str(p) in ln for p in files.values()), ln
    failed = {ln.split(": ")[1] for ln in lines if ln.startswith("failed: ")}
    assert {str(files["t_hugewidth.tif"]), str(files["t8_hugewidth.tif"])} <= failed
    assert "Traceback" not in r.stderr


def test_tifffile_log_records_are_dropped_only_while_sronnx_reads(tmp_path, caplog):
    files = _noisy_tiffs(tmp_path / "in")
    with caplog.at_level("WARNING", logger="tifffile"):
        with pytest.raises(ImageReadError):
            read_image(files["t_hugewidth.tif"])
        assert not caplog.records
        with tifffile.TiffFile(files["t_hugewidth.tif"]) as tf:  # someone else's use
            _ = tf.pages.first
        assert any("StripByteCounts" in rec.getMessage() for rec in caplog.records)


def test_unknown_compressions_are_named(tmp_path):
    a16 = np.zeros((10, 12, 3), np.uint16)
    zstd_decoder = (importlib.util.find_spec("imagecodecs") is not None
                    or sys.version_info >= (3, 14))  # tifffile's ZSTD without imagecodecs
    for compression, reason in ((50000, "compressed with ZSTD (50000): reading it at full "
                                        "precision needs the imagecodecs package"),
                                (12345, "unsupported TIFF compression 12345")):
        path = tmp_path / f"c{compression}.tif"
        tifffile.imwrite(path, a16, photometric="rgb")
        buf = bytearray(path.read_bytes())
        _set_tag(buf, 259, compression)
        path.write_bytes(buf)
        with pytest.raises(ImageReadError) as err:
            read_image(path)
        assert "No module named" not in str(err.value)
        if compression != 50000 or not zstd_decoder:
            assert reason in str(err.value)
