"""Image I/O: what people's files carry survives, bad files fail with a reason, writes are
atomic. No model needed here; the command-level tests are in tests/cli/test_upscale.py."""

from __future__ import annotations

import io
import os
import resource
from pathlib import Path

import numpy as np
import png
import pytest
from helpers import huge_png
from helpers import photo as _photo
from PIL import Image, ImageCms, ImageOps

from sronnx.io.formats.png import png_bit_depth, write_png
from sronnx.io.images import (
    PART_SUFFIX,
    ImageReadError,
    orient_array,
    read_image,
    remove_stale_parts,
    write_image,
)


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize("level", [1, 6])  # the Sub and the Paeth row filter
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [0, 2, 3, 4])
def test_write_png_round_trips_exactly_with_icc_and_dpi(tmp_path: Path, dtype, channels: int,
                                                        level: int) -> None:
    rng = np.random.default_rng(channels)
    shape = (37, 53) if channels == 0 else (37, 53, channels)
    smooth = np.cumsum(rng.integers(0, 3, shape), axis=1) * (300 if dtype == np.uint16 else 1)
    arr = np.where(rng.random(shape) < 0.5, smooth, rng.integers(0, np.iinfo(dtype).max, shape))
    arr = arr.astype(dtype)
    icc = srgb_icc()
    path = tmp_path / "a.png"
    with open(path, "wb") as fh:
        write_png(fh, arr, icc_profile=icc, dpi=(144.0, 96.0), compress_level=level)
    width, height, rows, info = png.Reader(filename=str(path)).read()
    back = np.vstack([np.asarray(r) for r in rows]).reshape(arr.shape)
    assert info["bitdepth"] == (16 if dtype == np.uint16 else 8)
    assert np.array_equal(back, arr)
    with Image.open(path) as im:
        im.load()
        assert im.info["icc_profile"] == icc
        assert im.info["dpi"] == pytest.approx((144.0, 96.0), abs=0.02)



@pytest.mark.parametrize("level", [0, 1, 9])
def test_write_png_one_shot_and_streamed_deflate_give_the_same_pixels(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: int) -> None:
    """Both deflate paths (libdeflate in one call; zlib band by band, for pictures over
    ONE_SHOT_BYTES or when asked) and IDAT pieces smaller than the data decode to the array
    exactly."""
    import sronnx.io.formats.png as png_format

    arr8 = _photo(301, 257)
    arr16 = (np.dstack([arr8, arr8[:, :, :1]]).astype(np.uint16) * 257) ^ np.uint16(0x35)
    monkeypatch.setattr(png_format, "IDAT_BYTES", 4096)
    for arr in (arr8, arr16):
        for streamed in (False, True, None):
            if streamed is None:  # chosen by size: this one is over the limit
                monkeypatch.setattr(png_format, "ONE_SHOT_BYTES", arr.nbytes // 2)
            path = tmp_path / f"{arr.dtype}-{streamed}.png"
            with open(path, "wb") as fh:
                write_png(fh, arr, compress_level=level, streamed=streamed)
            _, _, rows, _ = png.Reader(filename=str(path)).read()
            assert np.array_equal(np.vstack([np.asarray(r) for r in rows]).reshape(arr.shape),
                                  arr), (arr.dtype, streamed)
            chunks = png.Reader(filename=str(path)).chunks()
            assert [kind for kind, _ in chunks].count(b"IDAT") > 1
        monkeypatch.undo()
        monkeypatch.setattr(png_format, "IDAT_BYTES", 4096)


def test_read_16_bit_png_keeps_every_bit(tmp_path: Path) -> None:
    arr = (_photo().astype(np.uint16) * 257) ^ np.uint16(0x5A)  # low byte != high byte
    for channels, mode in [(3, "RGB;16"), (1, "L;16")]:
        a = arr if channels == 3 else arr[:, :, 0]
        path = tmp_path / f"c{channels}.png"
        png.from_array(a.reshape(a.shape[0], -1), mode).save(str(path))
        d = read_image(path)
        assert isinstance(d.pixels, np.ndarray) and d.pixels.dtype == np.uint16
        assert np.array_equal(d.pixels, a)
    ga = np.dstack([arr[:, :, 0], arr[:, :, 1]])
    png.from_array(ga.reshape(ga.shape[0], -1), "LA;16").save(str(tmp_path / "ga.png"))
    assert np.array_equal(read_image(tmp_path / "ga.png").pixels, ga)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_array_matches_pillow_exif_transpose(orientation: int) -> None:
    arr = _photo(11, 17)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(buf)))
    assert np.array_equal(orient_array(arr, orientation), expected)


def test_exif_orientation_applied_on_read(tmp_path: Path) -> None:
    arr = _photo(20, 40)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
    img.save(tmp_path / "r.jpg", quality=95, exif=exif)
    d = read_image(tmp_path / "r.jpg")
    assert d.size == (20, 40)


def test_bad_files_fail_with_a_reason(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.fromarray(_photo()).save(good)
    cases = {
        "empty.png": (b"", "empty file"),
        "text.jpg": (b"this is not an image, just text\n" * 10, "not an image"),
        "random.png": (os.urandom(3000), "not an image"),
        "truncated.png": (good.read_bytes()[: good.stat().st_size // 2], "truncated"),
    }
    for name, (data, reason) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageReadError, match=reason):
            read_image(tmp_path / name)
    with pytest.raises(ImageReadError, match="cannot open"):
        read_image(tmp_path / "missing.png")


def test_huge_declared_size_fails_before_allocating(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    huge_png(bomb)
    assert bomb.stat().st_size < 100
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImageReadError, match=r"100000x100000 .* over the limit.*--max-pixels"):
        read_image(bomb)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 50  # the 30 GB it declares were never allocated


def test_pixel_limit_is_ours_not_pillows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         recwarn: pytest.WarningsRecorder) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(_photo(20, 20)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow would refuse (or warn)
    assert read_image(path, max_pixels=1000).size == (20, 20)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]
    assert Image.MAX_IMAGE_PIXELS == 100  # restored
    with pytest.raises(ImageReadError, match="over the limit of 300"):
        read_image(path, max_pixels=300)


def test_cmyk_jpeg_reads_as_rgb(tmp_path: Path) -> None:
    Image.new("CMYK", (16, 12), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=95)
    d = read_image(tmp_path / "c.jpg")
    assert d.pixels.mode == "RGB"
    r, g, b = np.asarray(d.pixels).reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60  # CMYK 0/100/100/0 is red


def test_write_image_is_atomic_and_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "o.png"
    with pytest.raises(ValueError):
        write_image(out, np.zeros((4, 4, 3), np.float64), "PNG")  # fails while encoding
    assert list(tmp_path.iterdir()) == []
    write_image(out, np.zeros((4, 4, 3), np.uint16), "PNG")
    assert png_bit_depth(out) == 16 and list(tmp_path.iterdir()) == [out]
    with pytest.raises(ValueError, match="WEBP cannot hold"):
        write_image(tmp_path / "w.webp", np.zeros((2, 17000), np.uint8), "WEBP")
    assert list(tmp_path.iterdir()) == [out]


def test_jpeg_output_flattens_alpha_over_white_and_keeps_grey(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :, 0] = 200
    rgba[:, 4:, 3] = 255  # left half transparent
    write_image(tmp_path / "a.jpg", Image.fromarray(rgba), "JPEG", quality=95)
    back = np.asarray(Image.open(tmp_path / "a.jpg")).astype(int)
    assert back[:, :2].min() > 240 and abs(back[:, 6:, 0].mean() - 200) < 8
    la = Image.fromarray(np.dstack([np.full((8, 8), 90, np.uint8), np.full((8, 8), 255,
                                                                            np.uint8)]))
    write_image(tmp_path / "g.jpg", la, "JPEG")
    assert Image.open(tmp_path / "g.jpg").mode == "L"


def test_remove_stale_parts_spares_live_writers_and_other_files(tmp_path: Path) -> None:
    dead = tmp_path / f".a.png.999999999{PART_SUFFIX}"
    live = tmp_path / f".b.png.{os.getppid()}{PART_SUFFIX}"
    keep = tmp_path / "c.png"
    for p in (dead, live, keep):
        p.write_bytes(b"x")
    assert remove_stale_parts(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and keep.exists()
