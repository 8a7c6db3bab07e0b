"""`sronnx upscale` keeps what a file says besides its pixels (issue 24): 16-bit sBIT values,
the PNG colour description, texts and comments, a ratio-only pHYs, in stills and animations;
what an output cannot hold is a note; `--strip-metadata` removes texts and comments only.

Inputs are made here (pypng and Pillow, chunks put in after IHDR); the model is the tiny
untrained RSP at x2 (exact bicubic), so flat areas stay flat.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import png
from helpers import checked_cli, png_chunk
from PIL import Image

from sronnx.io.formats.png import png_chunks

CHRM = struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)
TEXTS = [(b"tEXt", b"Comment\x00shot at dusk"),
         (b"zTXt", b"Copyright\x00\x00" + zlib.compress(b"(c) 2026 J. Doe")),
         (b"iTXt", b"Title\x00\x00\x00ja\x00\x00" + "夕暮れの鷺".encode())]


def with_chunks(data: bytes, *chunks: tuple[bytes, bytes]) -> bytes:
    return data[:33] + b"".join(png_chunk(k, d) for k, d in chunks) + data[33:]


def upscale(src: Path, out: Path, model: Path, *extra: object) -> tuple[str, dict]:
    report = out.parent / f"{out.name}.json"
    r = checked_cli(src, "-o", out, "--model", model, "--provider", "cpu", "--json", report,
                    *extra)
    assert r.exit_code == 0, r.output
    return r.output, json.loads(report.read_text())["files"][0]


def chunks_of(path: Path) -> dict[bytes, list[bytes]]:
    found: dict[bytes, list[bytes]] = {}
    for kind, data in png_chunks(path):
        found.setdefault(kind, []).append(data)
    return found


def test_16bit_sbit_rgba_keeps_its_values(tmp_path: Path, model: Path) -> None:
    for bits in (10, 12, 13):
        arr = np.empty((6, 8, 4), np.uint16)
        arr[...] = (65535, 40000, 1234, 65535)
        buf = io.BytesIO()
        png.Writer(8, 6, greyscale=False, alpha=True, bitdepth=16).write(
            buf, arr.reshape(6, 32).tolist())
        src = tmp_path / f"s{bits}.png"
        src.write_bytes(with_chunks(buf.getvalue(), (b"sBIT", bytes([bits] * 4))))
        out = tmp_path / f"o{bits}.png"
        _, rec = upscale(src, out, model)
        assert rec["notes"] == []
        w, h, rows, info = png.Reader(filename=str(out)).read()  # as stored, no sBIT shift
        got = np.vstack([np.asarray(r, np.int64) for r in rows]).reshape(h, w, 4)
        assert (w, h, info["bitdepth"]) == (16, 12, 16)
        assert np.abs(got - arr[0, 0]).max() <= 2  # 65535 stays 65535, not 65535 >> n
        assert chunks_of(out)[b"sBIT"] == [bytes([bits] * 4)]


def test_linear_gamma_png_kept_and_jpeg_gets_a_profile(tmp_path: Path, model: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (128, 128, 128)).save(buf, format="PNG")
    src = tmp_path / "lin.png"
    src.write_bytes(with_chunks(buf.getvalue(), (b"gAMA", struct.pack(">I", 100000)),
                                (b"cHRM", CHRM)))
    out, rec = upscale(src, tmp_path / "o.png", model)
    found = chunks_of(tmp_path / "o.png")
    assert found[b"gAMA"] == [struct.pack(">I", 100000)] and found[b"cHRM"] == [CHRM]
    assert "linear light" in rec["notes"][0] and "note: " in out
    _, rec = upscale(src, tmp_path / "o.jpg", model, "--format", "jpg")
    assert "gAMA 1, cHRM written as an ICC profile: JPEG has no gAMA or cHRM" in rec["notes"]
    assert Image.open(tmp_path / "o.jpg").info.get("icc_profile")
    _, rec = upscale(src, tmp_path / "o.bmp", model, "--format", "bmp")
    assert any(n.startswith("colour description (gAMA 1, cHRM) not kept: BMP")
               for n in rec["notes"])


def test_texts_kept_noted_and_stripped(tmp_path: Path, model: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 20, 30)).save(buf, format="PNG")
    src = tmp_path / "t.png"
    src.write_bytes(with_chunks(buf.getvalue(), (b"sRGB", b"\x00"),
                                (b"pHYs", struct.pack(">IIB", 2, 3, 0)), *TEXTS))
    _, rec = upscale(src, tmp_path / "o.png", model)
    found = chunks_of(tmp_path / "o.png")
    assert rec["notes"] == []
    assert [(k, d) for k, d in png_chunks(tmp_path / "o.png")
            if k in (b"tEXt", b"zTXt", b"iTXt")] == TEXTS
    assert found[b"sRGB"] == [b"\x00"] and found[b"pHYs"] == [struct.pack(">IIB", 2, 3, 0)]
    _, rec = upscale(src, tmp_path / "o.jpg", model, "--format", "jpg")
    assert rec["notes"] == []  # Copyright in the EXIF, the Japanese title in the XMP
    with Image.open(tmp_path / "o.jpg") as img:
        assert img.info["comment"] == b"shot at dusk"
        assert img.getexif()[0x8298] == "(c) 2026 J. Doe"
        assert "夕暮れの鷺" in img.info["xmp"].decode()
        assert (img.info["jfif_unit"], img.info["jfif_density"]) == (0, (2, 3))
    upscale(src, tmp_path / "s.jpg", model, "--strip-metadata")
    with Image.open(tmp_path / "s.jpg") as img:
        assert "xmp" not in img.info and not img.getexif() and "comment" not in img.info
    _, rec = upscale(src, tmp_path / "s.png", model, "--strip-metadata")
    found = chunks_of(tmp_path / "s.png")
    assert not {b"tEXt", b"zTXt", b"iTXt"} & set(found)
    assert found[b"sRGB"] == [b"\x00"] and found[b"pHYs"] == [struct.pack(">IIB", 2, 3, 0)]
    assert rec["notes"] == []
    # an output size out of proportion changes the pixels' aspect ratio: 16x6 from 8x6
    upscale(src, tmp_path / "w.png", model, "--width", "16", "--height", "6")
    assert chunks_of(tmp_path / "w.png")[b"pHYs"] == [struct.pack(">IIB", 4, 3, 0)]


def test_jpeg_comments_kept(tmp_path: Path, model: Path) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 90, 90)).save(buf, format="JPEG")
    data = buf.getvalue()
    coms = [b"one", "zwei — 二".encode()]
    src = tmp_path / "c.jpg"
    src.write_bytes(data[:2] + b"".join(b"\xff\xfe" + struct.pack(">H", len(c) + 2) + c
                                        for c in coms) + data[2:])
    _, rec = upscale(src, tmp_path / "o.jpg", model)
    assert rec["notes"] == []
    assert [v for k, v in Image.open(tmp_path / "o.jpg").applist if k == "COM"] == coms
    upscale(src, tmp_path / "o.png", model, "--format", "png")
    assert chunks_of(tmp_path / "o.png")[b"tEXt"] == [b"Comment\x00one"]
    assert chunks_of(tmp_path / "o.png")[b"iTXt"] == [
        b"Comment\x00\x00\x00\x00\x00" + "zwei — 二".encode()]
    upscale(src, tmp_path / "s.jpg", model, "--strip-metadata")
    assert not [k for k, _ in Image.open(tmp_path / "s.jpg").applist if k == "COM"]


def test_animation_texts_kept(tmp_path: Path, model: Path) -> None:
    frames = [Image.new("RGB", (8, 6), c) for c in ((200, 0, 0), (0, 200, 0))]
    gif = tmp_path / "a.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0,
                   comment=b"a looping comment")
    upscale(gif, tmp_path / "o.gif", model)
    assert Image.open(tmp_path / "o.gif").info["comment"] == b"a looping comment"
    _, rec = upscale(gif, tmp_path / "o.png", model, "--format", "png")
    assert rec["frames"] == 2
    assert chunks_of(tmp_path / "o.png")[b"tEXt"] == [b"Comment\x00a looping comment"]
    _, rec = upscale(gif, tmp_path / "o.webp", model, "--format", "webp")
    assert not [n for n in rec["notes"] if n.startswith("text")]
    assert b"a looping comment" in Image.open(tmp_path / "o.webp").info["xmp"]
    upscale(gif, tmp_path / "s.gif", model, "--strip-metadata")
    assert "comment" not in Image.open(tmp_path / "s.gif").info
    buf = io.BytesIO()
    frames[0].save(buf, format="PNG", save_all=True, append_images=frames[1:], duration=100)
    apng = tmp_path / "a.png"
    apng.write_bytes(with_chunks(buf.getvalue(), (b"gAMA", struct.pack(">I", 100000)),
                                 *TEXTS))
    upscale(apng, tmp_path / "o2.png", model)
    found = chunks_of(tmp_path / "o2.png")
    assert found[b"gAMA"] == [struct.pack(">I", 100000)] and b"acTL" in found
    assert [(k, d) for k, d in png_chunks(tmp_path / "o2.png")
            if k in (b"tEXt", b"zTXt", b"iTXt")] == TEXTS
