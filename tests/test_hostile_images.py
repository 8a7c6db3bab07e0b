"""Hostile image files: formats sronnx does not read (never handed to Pillow's other
decoders, never to Ghostscript).

Real files written here (by Pillow, tifffile or by hand), the real CLI in a subprocess,
a tiny untrained exported model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sronnx.data import DataError, load_rgb
from sronnx.runtime.frames import read_animation
from sronnx.runtime.imageio import INPUT_FORMATS, ImageReadError, read_image
from sronnx.runtime.plan import image_header

RSP = "rsp:channels=8,blocks=1"
CLI = [sys.executable, "-c", "import sys; from sronnx.cli import main; sys.exit(main())"]
NOT_AN_IMAGE = "not an image file (or an unsupported format)"
# an EPS as Pillow would take it: header, bounding box, one line of hex RGB image data
EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\n%%Pages: 1\n%%EndComments\n"
       b"%%Page: 1 1\n64 48 8 [64 0 0 -48 0 48] {currentfile 192 string readhexstring pop}"
       b" false 3 colorimage\n" + b"00" * 192 * 48 + b"\nshowpage\n%%EOF\n")


@pytest.fixture(scope="module")
def model(exported_models) -> Path:
    return exported_models(RSP, 2)


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300,
                          env=env)


def _good_png(path: Path) -> Path:
    Image.fromarray(np.full((12, 16, 3), 90, np.uint8)).save(path)
    return path


# ---- F1: only the formats sronnx reads ------------------------------------------------


def test_input_formats_are_those_of_the_extensions():
    assert set(INPUT_FORMATS) == {"PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"}
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
    assert failed == [f"failed: {eps}: cannot read image: {NOT_AN_IMAGE}"]
    assert "Traceback" not in r.stderr
    assert (out / "good.png").is_file()
    assert image_header(eps) is None
    assert read_animation(eps) is None


@pytest.mark.parametrize("fmt", ["PCX", "TGA", "PPM", "ICO"])
def test_other_pillow_formats_are_not_read(tmp_path, fmt):
    path = tmp_path / "photo.png"
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(path, format=fmt)
    with Image.open(path) as im:
        assert im.format == fmt  # a file Pillow itself would decode
    with pytest.raises(ImageReadError, match=r"^not an image file \(or an unsupported format\)$"):
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
