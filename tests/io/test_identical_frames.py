"""Animations whose consecutive frames are identical: valid files (Pillow decodes every frame)
that Pillow's own writers never make, so they are built here byte by byte. Every writer
merges such frames (adding their durations); sronnx merges them first and says so: in a note,
and in the JSON report's `frames_written`. An animation of one repeated image becomes that
still image. Before, a GIF of identical frames failed with a TypeError in Pillow's writer and
an APNG or WebP came out still without a word.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, no_traceback, png_chunk, save
from PIL import Image

from sronnx.io import merge_identical, read_animation, write_animation

DURATIONS = [100, 200, 300]


def _frames(pattern: str, h: int = 12, w: int = 16) -> list[np.ndarray]:
    """One RGB frame per letter of `pattern`; equal letters give equal frames."""
    rng = np.random.default_rng(7)
    looks = {c: rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for c in sorted(set(pattern))}
    return [looks[c] for c in pattern]


def _gif_blocks(frame: np.ndarray) -> tuple[bytes, bytes]:
    """(header, logical screen and global colour table; the image block) of a one-frame GIF
    that Pillow writes for `frame` (an adaptive palette of its own)."""
    buf = io.BytesIO()
    Image.fromarray(frame).quantize(64).save(buf, "GIF")
    data = buf.getvalue()
    packed = data[10]
    pos = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    head = data[:pos]
    while data[pos] == 0x21:  # extensions Pillow wrote: skip them
        pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    start = pos
    assert data[pos] == 0x2C
    packed = data[pos + 9]
    pos += 10 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0) + 1  # + LZW code size
    while data[pos]:
        pos += data[pos] + 1
    return head, data[start : pos + 1]


def gif_of(path: Path, pattern: str) -> Path:
    """An animated GIF with one image block per letter, each after its own delay."""
    frames = _frames(pattern)
    head, _ = _gif_blocks(frames[0])
    body = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    for frame, ms in zip(frames, DURATIONS, strict=True):
        _, block = _gif_blocks(frame)
        # each block has its own palette (local colour table): keep the image's colours
        block = _with_local_table(frame, block)
        body += b"\x21\xf9\x04\x04" + struct.pack("<H", ms // 10) + b"\x00\x00" + block
    path.write_bytes(head + body + b"\x3b")
    return path


def _with_local_table(frame: np.ndarray, block: bytes) -> bytes:
    """The image block of `frame` with its palette as a local colour table."""
    buf = io.BytesIO()
    img = Image.fromarray(frame).quantize(64)
    img.save(buf, "GIF")
    data = buf.getvalue()
    packed = data[10]
    size = 3 << ((packed & 7) + 1)
    table = data[13 : 13 + size]
    assert block[0] == 0x2C and not block[9] & 0x80
    return block[:9] + bytes([0x80 | (packed & 7)]) + table + block[10:]


def apng_of(path: Path, pattern: str) -> Path:
    """An APNG with one frame per letter (fcTL + IDAT/fdAT), blend source, no disposal."""
    frames = _frames(pattern)
    h, w = frames[0].shape[:2]
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    out += png_chunk(b"acTL", struct.pack(">II", len(frames), 0))
    seq = 0
    for i, (frame, ms) in enumerate(zip(frames, DURATIONS, strict=True)):
        out += png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", seq, w, h, 0, 0, ms, 1000, 0, 0))
        seq += 1
        data = zlib.compress(b"".join(b"\x00" + row.tobytes() for row in frame))
        if i == 0:
            out += png_chunk(b"IDAT", data)
        else:
            out += png_chunk(b"fdAT", struct.pack(">I", seq) + data)
            seq += 1
    path.write_bytes(out + png_chunk(b"IEND", b""))
    return path


def _riff_chunk(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


def _u24(value: int) -> bytes:
    return struct.pack("<I", value)[:3]


def webp_of(path: Path, pattern: str) -> Path:
    """An animated WebP (VP8X, ANIM, one ANMF per letter holding a lossless VP8L frame)."""
    frames = _frames(pattern)
    h, w = frames[0].shape[:2]
    chunks = _riff_chunk(b"VP8X", b"\x02\x00\x00\x00" + _u24(w - 1) + _u24(h - 1))
    chunks += _riff_chunk(b"ANIM", b"\xff\xff\xff\xff\x00\x00")
    for frame, ms in zip(frames, DURATIONS, strict=True):
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, "WEBP", lossless=True)
        still = buf.getvalue()
        assert still[12:16] == b"VP8L"
        payload = _u24(0) + _u24(0) + _u24(w - 1) + _u24(h - 1) + _u24(ms) + b"\x02"
        chunks += _riff_chunk(b"ANMF", payload + still[12:])
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks)
    return path


BUILDERS = {"gif": gif_of, "png": apng_of, "webp": webp_of}


@pytest.mark.parametrize("ext", sorted(BUILDERS))
def test_the_built_files_hold_every_frame(tmp_path: Path, ext: str) -> None:
    """What the tests below start from: Pillow reads three frames with their durations."""
    anim = read_animation(BUILDERS[ext](tmp_path / f"a.{ext}", "AAB"))
    assert anim is not None and len(anim.frames) == 3
    assert [round(d) for d in anim.durations] == DURATIONS
    assert np.array_equal(anim.frames[0], anim.frames[1])
    assert not np.array_equal(anim.frames[1], anim.frames[2])


def run_json(tmp_path: Path, src: Path) -> dict:
    report = tmp_path / "report.json"
    r = cli(src, "-o", tmp_path / "out", "--provider", "cpu", "--json", report)
    no_traceback(r)
    assert r.exit_code == 0, r.output
    return json.loads(report.read_text())["files"][0]


@pytest.mark.parametrize("ext", sorted(BUILDERS))
def test_all_frames_identical_become_one_still_image_with_a_note(tmp_path: Path,
                                                                  ext: str) -> None:
    src = BUILDERS[ext](tmp_path / f"same.{ext}", "AAA")
    rep = run_json(tmp_path, src)
    assert rep["status"] == "done" and rep["frames"] == 3 and rep["frames_written"] == 1
    assert any("all 3 frames are the same image: written as one still image (the animation "
               "showed it for 600 ms)" in n for n in rep["notes"]), rep["notes"]
    with Image.open(rep["output"]) as out:
        assert not getattr(out, "is_animated", False)
        assert out.size == (32, 24)


@pytest.mark.parametrize("ext", sorted(BUILDERS))
def test_repeated_frames_merge_with_their_durations_added(tmp_path: Path, ext: str) -> None:
    src = BUILDERS[ext](tmp_path / f"aab.{ext}", "AAB")
    rep = run_json(tmp_path, src)
    assert rep["frames"] == 3 and rep["frames_written"] == 2
    assert any("1 of 3 frames repeat the frame before them: merged into it with their "
               "durations added" in n for n in rep["notes"]), rep["notes"]
    out = read_animation(rep["output"])
    assert out is not None and len(out.frames) == 2
    assert [round(d) for d in out.durations] == [300, 300]


def test_frames_that_differ_are_written_without_a_note(tmp_path: Path) -> None:
    rep = run_json(tmp_path, gif_of(tmp_path / "abc.gif", "ABC"))
    assert rep["frames"] == 3 and rep["frames_written"] is None
    assert not any("frames" in n and "merged" in n for n in rep["notes"])


def test_write_animation_merges_a_gif_of_one_image_instead_of_failing(tmp_path: Path) -> None:
    """The library call that raised TypeError in Pillow's GIF writer (a per-frame disposal
    list for frames it had merged into one)."""
    anim = read_animation(gif_of(tmp_path / "same.gif", "AAA"))
    assert anim is not None
    notes = write_animation(tmp_path / "out.gif", anim, "GIF")
    assert notes and notes[0].startswith("all 3 frames are the same image")
    with Image.open(tmp_path / "out.gif") as out:
        assert out.n_frames == 1
        assert np.array_equal(np.asarray(out.convert("RGB")), anim.frames[0])


def test_merge_identical_keeps_the_last_disposal_and_the_default_image(tmp_path: Path) -> None:
    anim = read_animation(apng_of(tmp_path / "a.png", "ABB"))
    assert anim is not None
    anim.disposal = [0, 1, 2]
    merged, note = merge_identical(anim)
    assert len(merged.frames) == 2 and merged.durations == [100, 500]
    assert merged.disposal == [0, 2] and note is not None
    anim.default_image = True  # frame A is then not an animation frame: B, B merge alone
    merged, note = merge_identical(anim)
    assert len(merged.frames) == 2 and "all 2 frames are the same image" not in (note or "")
    same = read_animation(apng_of(tmp_path / "b.png", "ABC"))
    assert same is not None and merge_identical(same) == (same, None)


def test_a_still_image_is_not_touched(tmp_path: Path) -> None:
    save(tmp_path / "still.png", _frames("A")[0])
    assert read_animation(tmp_path / "still.png") is None
