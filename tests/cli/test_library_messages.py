"""What the libraries that read a file print on standard error is given to that file: libtiff's
C-level "TIFFFillStrip: Read error ..." (written straight to file descriptor 2) and Pillow's
logged "More samples per pixel than can be decoded: 65535" named no file, printed before or
between sronnx's own lines. Now each goes into the failure line (or the note) of its file,
and nothing else reaches standard error. The command runs as a real process here: only
there is descriptor 2 the terminal's.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
from helpers import save
from PIL import Image

from sronnx.io import describe_messages, messages_of, relay

OWN_LINE = ("model ", "failed: ", "done: ", "note: ", "skipped: ")


def _tags(data: bytes) -> tuple[str, dict[int, int]]:
    """(byte order, tag -> offset of its 12-byte entry) of a TIFF's first directory."""
    order = "<" if data[:2] == b"II" else ">"
    first = struct.unpack(order + "I", data[4:8])[0]
    count = struct.unpack(order + "H", data[first : first + 2])[0]
    entries = (first + 2 + 12 * i for i in range(count))
    return order, {struct.unpack(order + "H", data[e : e + 2])[0]: e for e in entries}


def strip_beyond_the_file(path: Path) -> Path:
    """An LZW TIFF whose one strip claims 1,000,000 bytes: libtiff prints TIFFFillStrip."""
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)).save(
        path, compression="tiff_lzw")
    data = bytearray(path.read_bytes())
    order, tags = _tags(data)
    entry = tags[279]  # StripByteCounts
    data[entry + 8 : entry + 12] = struct.pack(order + "I", 1_000_000)
    path.write_bytes(bytes(data))
    return path


def samples_65535(path: Path) -> Path:
    """A TIFF whose SamplesPerPixel is 65535: Pillow logs an error and refuses it."""
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    order, tags = _tags(data)
    entry = tags[277]
    data[entry + 8 : entry + 10] = struct.pack(order + "H", 65535)
    path.write_bytes(bytes(data))
    return path


def test_every_line_on_stderr_names_its_file(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    strip_beyond_the_file(src / "strip.tif")
    samples_65535(src / "samples.tif")
    save(src / "fine.png", np.full((10, 12, 3), 90, np.uint8))
    run = subprocess.run([sys.executable, "-m", "sronnx", "upscale", str(src), "-o",
                          str(tmp_path / "out"), "--provider", "cpu"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONWARNINGS": "default"})
    assert run.returncode == 1, run.stderr  # two files failed, one done
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    strays = [line for line in lines if not line.startswith(OWN_LINE) and " done, " not in line]
    assert strays == [], run.stderr
    strip = next(line for line in lines if line.startswith("failed: ") and "strip.tif" in line)
    assert "its reader printed: TIFFFillStrip: Read error on strip 0" in strip
    samples = next(line for line in lines if "samples.tif" in line)
    assert "More samples per pixel than can be decoded: 65535" in samples
    assert sum("More samples per pixel" in line for line in lines) == 1
    assert (tmp_path / "out" / "fine.png").exists()


def test_quiet_prints_nothing_when_every_file_is_done(tmp_path: Path) -> None:
    save(tmp_path / "fine.png", np.full((10, 12, 3), 90, np.uint8))
    run = subprocess.run([sys.executable, "-m", "sronnx", "upscale", str(tmp_path / "fine.png"),
                          "-o", str(tmp_path / "out"), "--provider", "cpu", "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


def test_the_relay_collects_per_file_and_gives_descriptor_2_back(tmp_path: Path) -> None:
    path = strip_beyond_the_file(tmp_path / "strip.tif")
    before = os.fstat(2)
    with relay():
        with messages_of(path) as lines, Image.open(path) as im:
            try:
                im.load()
            except OSError:
                pass
    after = os.fstat(2)
    assert (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)
    assert any(line.startswith("TIFFFillStrip: Read error on strip 0") for line in lines)
    assert describe_messages(lines * 2).endswith("(2 times)")


def test_without_a_relay_nothing_is_collected(tmp_path: Path) -> None:
    """Library use: standard error is left as it is; the section collects nothing."""
    path = samples_65535(tmp_path / "samples.tif")
    with messages_of(path) as lines:
        try:
            Image.open(path)
        except Exception:  # noqa: BLE001 - Pillow refuses it: what it prints is the point
            pass
    assert lines == [] and describe_messages(lines) is None
