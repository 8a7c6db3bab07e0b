"""Image kinds the upscaler must keep (found in the issue 11 review): colour keys on 2- and
4-bit grey PNGs, lossless WebP, alpha in formats without it (JPEG, BMP), Pillow's warnings
about corrupt EXIF, the .jfif/.jpe JPEG names, and loop counts between GIF, APNG and WebP.

Every input is a small synthetic image built here; the runs use a tiny untrained export
(`rsp` untrained is exact bicubic) and real onnxruntime.
"""

from __future__ import annotations

import io
import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import png
import pytest
from helpers import CLI, cli, no_traceback
from PIL import Image, ImageSequence

from sronnx.engine.upscaler import Upscaler
from sronnx.imaging.modes import pil_to_array
from sronnx.io.animation import loop_for, plays_from_loop
from sronnx.io.formats.webp import webp_lossless
from sronnx.io.images import read_image


def run(model: Path, *args: object) -> dict:
    """`sronnx upscale ARGS` in-process with a --json report; the report."""
    report = Path(str(args[args.index("-o") + 1]) + ".report.json")
    r = cli(*args, "--model", model, "--provider", "cpu", "--json", report)
    no_traceback(r)
    assert r.exit_code == 0, r.output
    return json.loads(report.read_text())


def notes_of(report: dict) -> list[str]:
    (entry,) = report["files"]
    return entry["notes"]


def riff_chunks(data: bytes) -> list[bytes]:
    """Top-level chunk names of a RIFF WebP."""
    pos, out = 12, []
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        out.append(data[pos : pos + 4])
        pos += 8 + size + (size & 1)
    return out


# ---- 1. colour key on 1-, 2- and 4-bit grey PNGs ----------------------------------------

KEYS = [(1, 0, 1), (1, 1, 0), (2, 0, 3), (2, 1, 2), (2, 3, 0), (4, 0, 9), (4, 7, 12),
        (4, 15, 3)]  # (bit depth, key, the object's value)


def keyed_grey(path: Path, bits: int, key: int, obj: int) -> np.ndarray:
    """A 60x40 low-bit grey PNG: background = the key, a 30x20 object of value `obj`.
    Returns the object mask."""
    mask = np.zeros((40, 60), bool)
    mask[10:30, 15:45] = True
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        png.Writer(60, 40, greyscale=True, bitdepth=bits, transparent=key).write(
            fh, np.where(mask, obj, key).tolist())
    return mask


@pytest.mark.parametrize(("bits", "key", "obj"), KEYS)
def test_low_bit_grey_key_becomes_alpha_on_reading(tmp_path: Path, bits: int, key: int,
                                                   obj: int) -> None:
    mask = keyed_grey(tmp_path / "k.png", bits, key, obj)
    arr, mode = pil_to_array(read_image(tmp_path / "k.png").pixels)
    assert mode == "LA" and arr.shape == (40, 60, 2)
    assert (arr[..., 1] == np.where(mask, 255, 0)).all()  # transparent exactly on the key
    top = (1 << bits) - 1
    assert (arr[..., 0][mask] == obj * 255 // top).all()


def test_low_bit_grey_key_stays_transparent_through_upscale(tmp_path: Path,
                                                            model: Path) -> None:
    for bits, key, obj in KEYS:
        keyed_grey(tmp_path / "in" / f"k{bits}_{key}.png", bits, key, obj)
    run(model, tmp_path / "in", "-o", tmp_path / "out")
    for bits, key, _ in KEYS:
        w, h, rows, info = png.Reader(filename=str(tmp_path / "out" / f"k{bits}_{key}.png")
                                      ).asDirect()
        out = np.vstack([np.asarray(r) for r in rows]).reshape(h, w, info["planes"])
        assert info["alpha"] and (w, h) == (120, 80)
        assert out[0, 0, -1] == 0 and out[:10, :, -1].max() == 0, (bits, key)  # background
        assert (out[30:50, 40:80, -1] == 255).all(), (bits, key)  # inside the object


# ---- 2. lossless WebP stays lossless ----------------------------------------------------


def test_webp_lossless_reads_the_bitstream_kind(tmp_path: Path) -> None:
    rgb = np.random.RandomState(0).randint(0, 256, (20, 24, 3), np.uint8)
    rgba = np.dstack([rgb, np.full((20, 24), 128, np.uint8)])
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    cases = {
        "lossless.webp": (lambda p: Image.fromarray(rgb).save(p, lossless=True), True),
        "lossy.webp": (lambda p: Image.fromarray(rgb).save(p, quality=90), False),
        "lossless_alpha.webp": (lambda p: Image.fromarray(rgba).save(p, lossless=True), True),
        "lossy_alpha.webp": (lambda p: Image.fromarray(rgba).save(p, quality=90), False),
        "lossless_exif.webp": (lambda p: Image.fromarray(rgb).save(
            p, lossless=True, exif=Image.Exif().tobytes()), True),
        "anim_lossless.webp": (lambda p: frames[0].save(
            p, save_all=True, append_images=frames[1:], lossless=True), True),
        "anim_lossy.webp": (lambda p: frames[0].save(
            p, save_all=True, append_images=frames[1:], quality=80), False),
        "a.png": (lambda p: Image.fromarray(rgb).save(p), False),
    }
    for name, (make, want) in cases.items():
        make(tmp_path / name)
        assert webp_lossless(tmp_path / name) is want, name
    data = (tmp_path / "lossless.webp").read_bytes()
    for cut in (10, 16):  # before the format name, inside the first chunk header
        (tmp_path / "cut.webp").write_bytes(data[:cut])
        assert webp_lossless(tmp_path / "cut.webp") is False
    assert webp_lossless(tmp_path / "missing.webp") is False
    assert b"VP8X" in riff_chunks((tmp_path / "lossless_exif.webp").read_bytes())


def test_lossless_webp_comes_back_lossless_and_exact(tmp_path: Path, model: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.full((40, 50, 3), (0, 255, 0), np.uint8)).save(src / "flat.webp",
                                                                       lossless=True)
    yy, xx = np.mgrid[:40, :50]
    ramp = np.dstack([xx * 5, yy * 6, 255 - xx * 5]).astype(np.uint8)
    Image.fromarray(ramp).save(src / "ramp.webp", lossless=True)
    Image.fromarray(ramp).save(src / "lossy.webp", quality=90)
    run(model, src, "-o", tmp_path / "out")
    out = tmp_path / "out"
    flat = np.asarray(Image.open(out / "flat.webp").convert("RGB"))
    assert flat.shape == (80, 100, 3) and (flat == (0, 255, 0)).all()
    assert riff_chunks((out / "flat.webp").read_bytes())[-1:] == [b"VP8L"]
    want = Upscaler(model, "cpu").upscale_array(ramp)
    got = np.asarray(Image.open(out / "ramp.webp").convert("RGB"))
    assert np.array_equal(got, want)  # every pixel exactly what the model gave
    assert webp_lossless(out / "flat.webp") and webp_lossless(out / "ramp.webp")
    assert not webp_lossless(out / "lossy.webp")  # a lossy input stays lossy
    assert b"VP8 " in riff_chunks((out / "lossy.webp").read_bytes())


def test_lossless_animated_webp_stays_lossless(tmp_path: Path, model: Path) -> None:
    yy, xx = np.mgrid[:24, :32]
    frames = [np.dstack([xx * 8, yy * 10, np.full_like(xx, 60 * k)]).astype(np.uint8)
              for k in range(3)]
    imgs = [Image.fromarray(f) for f in frames]
    src = tmp_path / "in" / "a.webp"
    src.parent.mkdir()
    imgs[0].save(src, save_all=True, append_images=imgs[1:], duration=100, loop=0,
                 lossless=True)
    imgs[0].save(tmp_path / "in" / "b.webp", save_all=True, append_images=imgs[1:],
                 duration=100, loop=0, quality=80)
    run(model, tmp_path / "in", "-o", tmp_path / "out")
    assert webp_lossless(tmp_path / "out" / "a.webp")
    assert not webp_lossless(tmp_path / "out" / "b.webp")
    up = Upscaler(model, "cpu")
    with Image.open(tmp_path / "out" / "a.webp") as im:
        got = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
    assert len(got) == 3
    for g, f in zip(got, frames, strict=True):
        assert np.array_equal(g, up.upscale_array(f))


# ---- 3. alpha into JPEG and BMP ---------------------------------------------------------


@pytest.mark.parametrize("ext", ["bmp", "jpg"])
def test_alpha_is_flattened_over_white_with_a_note(tmp_path: Path, model: Path,
                                                   ext: str) -> None:
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[..., 0] = 255  # red everywhere...
    rgba[:, 20:, 3] = 128  # ...clear on the left, half opaque on the right
    src = tmp_path / "clear_red.png"
    Image.fromarray(rgba, "RGBA").save(src)
    notes = notes_of(run(model, src, "-o", tmp_path / f"o.{ext}"))
    fmt = {"bmp": "BMP", "jpg": "JPEG"}[ext]
    assert f"alpha flattened over white: {fmt} has no alpha" in notes
    with Image.open(tmp_path / f"o.{ext}") as im:
        assert im.format == fmt and im.mode == "RGB"
        out = np.asarray(im).astype(int)
    tol = 0 if ext == "bmp" else 3
    assert np.abs(out[:, :30] - 255).max() <= tol  # transparent red: white, not red/black
    assert np.abs(out[:, 50:] - (255, 127, 127)).max() <= tol + 1  # half red over white


def test_no_alpha_note_when_every_pixel_is_opaque(tmp_path: Path, model: Path) -> None:
    rgba = np.zeros((20, 24, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 200, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    notes = notes_of(run(model, tmp_path / "opaque.png", "-o", tmp_path / "o.bmp"))
    assert not any("alpha" in n for n in notes)
    assert np.asarray(Image.open(tmp_path / "o.bmp"))[0, 0].tolist() == [0, 0, 200]


def test_grey_alpha_and_palette_transparency_to_bmp(tmp_path: Path, model: Path) -> None:
    la = np.dstack([np.full((20, 24), 40, np.uint8), np.zeros((20, 24), np.uint8)])
    Image.fromarray(la, "LA").save(tmp_path / "la.png")  # BMP has no LA: it used to fail
    notes = notes_of(run(model, tmp_path / "la.png", "-o", tmp_path / "la.bmp"))
    assert "alpha flattened over white: BMP has no alpha" in notes
    with Image.open(tmp_path / "la.bmp") as im:
        assert im.mode == "L" and np.asarray(im).min() == 255
    pal = Image.new("P", (24, 20), 1)
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.save(tmp_path / "pal.png", transparency=1)  # all blue, blue is the transparent index
    notes = notes_of(run(model, tmp_path / "pal.png", "-o", tmp_path / "pal.bmp"))
    assert "alpha flattened over white: BMP has no alpha" in notes
    assert (np.asarray(Image.open(tmp_path / "pal.bmp").convert("RGB")) == 255).all()


# ---- 4. corrupt EXIF: no Pillow warnings -------------------------------------------------


def bad_exif_jpeg(path: Path) -> Path:
    buf = io.BytesIO()
    Image.fromarray(np.full((20, 20, 3), 128, np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    bad = b"Exif\x00\x00II*\x00\xff\xff\xff\x7f" + b"\x00" * 20
    path.write_bytes(data[:2] + b"\xff\xe1" + (len(bad) + 2).to_bytes(2, "big") + bad
                     + data[2:])
    return path


def test_corrupt_exif_reads_without_warnings(tmp_path: Path) -> None:
    src = bad_exif_jpeg(tmp_path / "bad.jpg")
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decoded = read_image(src)
    assert [str(w.message) for w in caught] == []
    assert warnings.filters == before  # the silencing does not leak
    assert any("EXIF could not be read" in n for n in decoded.notes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Image.open(src) as im:  # Pillow alone warns (reading the EXIF for the DPI)
            im.getexif()
    assert caught, "the input no longer makes Pillow warn: the test proves nothing"


@pytest.mark.parametrize("quiet", [False, True])
def test_corrupt_exif_cli_stderr_has_no_warning(tmp_path: Path, model: Path,
                                                quiet: bool) -> None:
    src = bad_exif_jpeg(tmp_path / "bad.jpg")
    cmd = [*CLI, "upscale", str(src), "-o", str(tmp_path / "o.jpg"), "--model", str(model),
           "--provider", "cpu", *(["--quiet"] if quiet else [])]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    if not quiet:
        assert "EXIF could not be read" in r.stdout + r.stderr
    assert Image.open(tmp_path / "o.jpg").size == (40, 40)


# ---- 5. .jfif and .jpe --------------------------------------------------------------------


def test_jfif_and_jpe_are_collected_and_keep_their_names(tmp_path: Path, model: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    img = Image.fromarray(np.full((16, 20, 3), 90, np.uint8))
    for name in ("a.jfif", "b.JPE", "c.jpg"):
        img.save(src / name, format="JPEG")
    report = run(model, src, "-o", tmp_path / "out")
    assert sorted(Path(f["input"]).name for f in report["files"]) == ["a.jfif", "b.JPE",
                                                                     "c.jpg"]
    assert not report.get("left_out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()
                  if not p.name.endswith(".json")) == ["a.jfif", "b.JPE", "c.jpg"]
    for name in ("a.jfif", "b.JPE"):
        with Image.open(tmp_path / "out" / name) as im:
            assert im.format == "JPEG" and im.size == (40, 32)
    run(model, src / "a.jfif", "-o", tmp_path / "one")  # named by hand: still .jfif, JPEG
    assert [p.name for p in (tmp_path / "one").iterdir() if p.suffix != ".json"] == ["a.jfif"]
    run(model, src / "c.jpg", "-o", tmp_path / "x.jpe")  # -o FILE.jpe names a JPEG file
    assert Image.open(tmp_path / "x.jpe").format == "JPEG"


# ---- 6. loop counts: plays, not a format's count ----------------------------------------


def test_plays_from_loop_and_back() -> None:
    assert plays_from_loop("GIF", None) == 1  # no NETSCAPE extension: plays once
    assert [plays_from_loop("GIF", n) for n in (0, 1, 4)] == [0, 2, 5]
    assert [plays_from_loop(f, n) for f in ("PNG", "WEBP") for n in (0, 1, 3)] == \
        [0, 1, 3, 0, 1, 3]
    assert [loop_for("GIF", p) for p in (0, 1, 2, 5)] == [0, None, 1, 4]
    assert [loop_for(f, p) for f in ("PNG", "WEBP") for p in (0, 1, 3)] == [0, 1, 3, 0, 1, 3]
    for fmt in ("GIF", "PNG", "WEBP"):  # round trips
        for plays in (0, 1, 2, 7):
            assert plays_from_loop(fmt, loop_for(fmt, plays)) == plays


# (input name, Pillow loop to save with, None = no loop argument) -> plays
LOOPS = {"g_none.gif": (None, 1), "g0.gif": (0, 0), "g1.gif": (1, 2), "g4.gif": (4, 5),
         "p1.png": (1, 1), "p3.png": (3, 3), "p0.png": (0, 0),
         "w1.webp": (1, 1), "w3.webp": (3, 3), "w0.webp": (0, 0)}


@pytest.mark.parametrize("fmt", ["gif", "png", "webp"])
def test_loop_counts_convert_between_formats(tmp_path: Path, model: Path, fmt: str) -> None:
    src = tmp_path / "in"
    src.mkdir()
    frames = [Image.fromarray(np.full((12, 16, 3), 70 * k, np.uint8)) for k in range(3)]
    for name, (loop, _) in LOOPS.items():
        kw = {} if loop is None else {"loop": loop}
        frames[0].save(src / name, save_all=True, append_images=frames[1:], duration=50, **kw)
        with Image.open(src / name) as im:  # the input says what we meant
            assert im.info.get("loop") == loop and im.n_frames == 3
    run(model, src, "-o", tmp_path / "out", "--format", fmt)
    pil_fmt = {"gif": "GIF", "png": "PNG", "webp": "WEBP"}[fmt]
    for name, (_, plays) in LOOPS.items():
        with Image.open(tmp_path / "out" / f"{Path(name).stem}.{fmt}") as im:
            assert im.format == pil_fmt and im.n_frames == 3
            want = loop_for(pil_fmt, plays)
            assert im.info.get("loop") == want, (name, fmt, im.info.get("loop"), want)
    gif_loops = {"g_none": None, "g0": 0, "g1": 1, "g4": 4, "p1": None, "p3": 2, "p0": 0,
                 "w1": None, "w3": 2, "w0": 0}
    if fmt == "gif":  # spelled out: GIF loop 1 is two plays, APNG/WebP 3 is GIF loop 2
        for stem, loop in gif_loops.items():
            assert Image.open(tmp_path / "out" / f"{stem}.gif").info.get("loop") == loop
    else:
        assert Image.open(tmp_path / "out" / f"g1.{fmt}").info["loop"] == 2
        assert Image.open(tmp_path / "out" / f"g_none.{fmt}").info["loop"] == 1
