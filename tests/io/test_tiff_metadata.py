"""TIFF at full precision (16-bit, float, HDR) and EXIF / XMP / IPTC carried to outputs.

Every case is a small synthetic image made here, run through `sronnx upscale` (click's
runner, real onnxruntime, an untrained rsp = exact bicubic) and read back with tifffile and
Pillow: the right pixels and metadata, or the right message, exit code and report.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import Result
from helpers import checked_cli as cli
from PIL import Image, ImageCms, IptcImagePlugin, PngImagePlugin

from sronnx.engine.upscaler import Upscaler
from sronnx.io import metadata as md
from sronnx.io.formats.tiff import FloatRangeError, fit_float_range, restore_float_range

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
       b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
       b'xmlns:dc="http://purl.org/dc/elements/1.1/" tiff:Orientation="6" '
       b'exif:PixelXDimension="40" exif:PixelYDimension="30"><dc:title><rdf:Alt>'
       b'<rdf:li xml:lang="x-default">Heron at dawn</rdf:li></rdf:Alt></dc:title>'
       b"</rdf:Description></rdf:RDF></x:xmpmeta>")
IPTC = b"\x1c\x02\x05\x00\x0dHeron at dawn\x1c\x02\x19\x00\x04bird\x1c\x02\x74\x00\x05J Doe"


@pytest.fixture(scope="module")
def up(model: Path) -> Upscaler:
    return Upscaler(model, "cpu")


def run(inputs: Path, out: Path, model: Path, *extra: object) -> tuple[Result, dict]:
    report = out.parent / f"{out.name}.json"
    r = cli(inputs, "-o", out, "--model", model, "--provider", "cpu", "--json", report, *extra)
    rep = json.loads(report.read_text()) if report.exists() else {}
    return r, {Path(f["input"]).name: f for f in rep.get("files", [])}


def ramp(h: int = 30, w: int = 40, c: int = 3) -> np.ndarray:
    """Smooth float32 content in [0, 1], HxWxC (HxW for c == 1)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = [x / w, y / h, (x + y) / (w + h), 0.25 + 0.5 * (x * y) / (w * h)][:c]
    arr = np.stack(planes, axis=-1)
    return arr[:, :, 0] if c == 1 else arr


def as16(arr: np.ndarray) -> np.ndarray:
    return np.round(arr * 65535).astype(np.uint16)


def exif_sample(orientation: int = 6) -> Image.Exif:
    ex = Image.Exif()
    ex[0x010F], ex[0x0110] = "Canon", "EOS R5"
    ex[0x0132], ex[0x010E] = "2024:05:06 07:08:09", "A heron on a post"
    ex[0x0112] = orientation
    sub = ex.get_ifd(md.EXIF_IFD)
    sub[0x9003], sub[0xA002], sub[0xA003] = "2024:05:06 07:08:09", 40, 30
    ex.get_ifd(md.GPS_IFD)[1] = "N"
    return ex


def jpeg_with_metadata(path: Path, arr: np.ndarray, orientation: int = 6) -> Path:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, exif=exif_sample(orientation), xmp=XMP)
    path.write_bytes(md.insert_jpeg_segment(buf.getvalue(), md.photoshop_iptc_segment(IPTC)))
    return path


def check_metadata(img: Image.Image, size: tuple[int, int], iptc: bool = True) -> None:
    """The sample's EXIF, XMP (and IPTC) are in `img`, updated for an upright output."""
    assert img.size == size
    ex = img.getexif()
    assert (ex[0x010F], ex[0x0110], ex[0x0132], ex[0x010E]) == \
        ("Canon", "EOS R5", "2024:05:06 07:08:09", "A heron on a post")
    assert ex.get(0x0112, 1) == 1
    sub = ex.get_ifd(md.EXIF_IFD)
    assert sub[0x9003] == "2024:05:06 07:08:09"
    assert (sub[0xA002], sub[0xA003]) == size
    assert ex.get_ifd(md.GPS_IFD)[1] == "N"
    xmp = img.info["xmp"]
    xmp = xmp.encode() if isinstance(xmp, str) else xmp
    assert b"Heron at dawn" in xmp and b'tiff:Orientation="1"' in xmp
    assert f'exif:PixelXDimension="{size[0]}"'.encode() in xmp
    if iptc:
        info = IptcImagePlugin.getiptcinfo(img) if img.format != "PNG" else None
        if img.format == "PNG":
            text = img.info["Raw profile type iptc"]
            assert bytes.fromhex("".join(text.strip().split("\n")[2:])) == IPTC
        else:
            assert info[(2, 5)] == b"Heron at dawn" and info[(2, 116)] == b"J Doe"


# ---- 16-bit and float TIFF -----------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_tiff_comes_back_16bit_with_icc_and_dpi(model: Path, up: Upscaler,
                                                      tmp_path: Path, channels: int) -> None:
    arr = as16(ramp(c=channels))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "in" / "deep.tif"
    src.parent.mkdir()
    tifffile.imwrite(src, arr, photometric="rgb" if channels >= 3 else "minisblack",
                     extrasamples=(2,) if channels in (2, 4) else None, compression="zlib",
                     iccprofile=icc, resolution=(300, 300), resolutionunit="INCH")
    r, rep = run(src.parent, tmp_path / "out", model)
    assert r.exit_code == 0, r.output
    with tifffile.TiffFile(tmp_path / "out" / "deep.tif") as tf:
        page = tf.pages.first
        out = page.asarray()
        assert page.compression == 8 and page.tags[34675].value == icc
        assert page.tags[282].value == (600, 1)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, up.upscale_array(arr))
    assert np.count_nonzero(out % 257) > out.size // 2  # 16-bit levels, not 8-bit x 257
    assert rep["deep.tif"]["status"] == "done"


def test_float_tiff_in_range_comes_back_float(model: Path, up: Upscaler,
                                              tmp_path: Path) -> None:
    arr = ramp()
    src = tmp_path / "in" / "lin.tif"
    src.parent.mkdir()
    tifffile.imwrite(src, arr, photometric="rgb")
    r, _ = run(src.parent, tmp_path / "out", model)
    assert r.exit_code == 0, r.output
    out = tifffile.imread(tmp_path / "out" / "lin.tif")
    assert out.dtype == np.float32 and out.shape == (60, 80, 3)
    np.testing.assert_array_equal(out, up.upscale_array(arr))


def test_hdr_float_is_refused_named_with_its_range_and_the_folder_goes_on(
        model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "hdr.tif", ramp() * 4, photometric="rgb")
    # Pillow's own mode F TIFF (grey float), the case the issue names
    Image.fromarray(ramp(c=1) * 4, "F").save(src / "grey_hdr.tif")
    tifffile.imwrite(src / "ok.tif", as16(ramp()), photometric="rgb")
    r, rep = run(src, tmp_path / "out", model)
    assert r.exit_code == 1
    for name in ("hdr.tif", "grey_hdr.tif"):
        assert rep[name]["status"] == "failed"
        assert "outside [0, 1]" in rep[name]["error"] and "to 3.9" in rep[name]["error"]
        assert f"failed: {src / name}: float values from 0 to 3.9" in r.output
        assert "--float-range" in rep[name]["error"]
        assert not (tmp_path / "out" / name).exists()
    assert rep["ok.tif"]["status"] == "done"


def test_hdr_scale_keeps_the_range_and_clip_cuts_it(model: Path, up: Upscaler,
                                                    tmp_path: Path) -> None:
    arr = ramp() * 4
    src = tmp_path / "hdr.tif"
    tifffile.imwrite(src, arr, photometric="rgb")
    r, rep = run(src, tmp_path / "scale", model, "--float-range", "scale")
    assert r.exit_code == 0, r.output
    out = tifffile.imread(tmp_path / "scale" / "hdr.tif")
    assert out.dtype == np.float32 and out.max() > 3.5
    top = float(arr.max())
    np.testing.assert_allclose(out, up.upscale_array(arr / top) * top, atol=1e-5)
    assert any("--float-range scale" in n for n in rep["hdr.tif"]["notes"])
    r, rep = run(src, tmp_path / "clip", model, "--float-range", "clip")
    assert r.exit_code == 0
    out = tifffile.imread(tmp_path / "clip" / "hdr.tif")
    np.testing.assert_array_equal(out, up.upscale_array(np.clip(arr, 0, 1)))
    assert any("clipped to [0, 1]" in n for n in rep["hdr.tif"]["notes"])


def test_nan_is_refused_whatever_the_policy(model: Path, tmp_path: Path) -> None:
    arr = ramp()
    arr[3, 4, 1] = np.nan
    src = tmp_path / "nan.tif"
    tifffile.imwrite(src, arr, photometric="rgb")
    r, rep = run(src, tmp_path / "out", model, "--float-range", "scale")
    assert r.exit_code == 1
    assert "1 float values are NaN or infinite" in rep["nan.tif"]["error"]


def test_float_range_functions() -> None:
    arr = np.array([[-0.5, 0.0], [1.0, 2.0]], dtype=np.float32)
    with pytest.raises(FloatRangeError, match="from -0.5 to 2"):
        fit_float_range(arr)
    fitted, span = fit_float_range(arr, "scale")
    assert fitted.min() == 0.0 and fitted.max() == 1.0
    np.testing.assert_allclose(restore_float_range(fitted.copy(), span), arr, atol=1e-6)
    same, none = fit_float_range(np.full((2, 2), 0.5, np.float32), "refuse")
    assert none is None and same.max() == 0.5
    assert fit_float_range(np.zeros((2, 2), np.uint16))[1] is None


def test_float16_orientation_and_pages_are_said(model: Path, up: Upscaler,
                                                tmp_path: Path) -> None:
    arr = ramp(30, 40).astype(np.float16)
    src = tmp_path / "in" / "half.tif"
    src.parent.mkdir()
    with tifffile.TiffWriter(src) as tw:  # orientation 6 (rotate 90 cw), then a second page
        tw.write(arr, photometric="rgb", extratags=[(274, 3, 1, 6, True)])
        tw.write(arr, photometric="rgb")
    r, rep = run(src.parent, tmp_path / "out", model)
    assert r.exit_code == 0, r.output
    out = tifffile.imread(tmp_path / "out" / "half.tif")
    upright = np.rot90(arr.astype(np.float32), -1)
    assert out.shape == (80, 60, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, up.upscale_array(np.ascontiguousarray(upright)))
    notes = rep["half.tif"]["notes"]
    assert "float16 samples processed as float32" in notes
    assert "multi-page TIFF: only the first of 2 pages was upscaled" in notes
    assert "note: " in r.output and "only the first of 2 pages" in r.output


def test_8bit_multipage_tiff_through_pillow_says_so(model: Path, tmp_path: Path) -> None:
    frames = [Image.fromarray((ramp() * 255).astype(np.uint8)) for _ in range(3)]
    src = tmp_path / "pages.tif"
    frames[0].save(src, save_all=True, append_images=frames[1:])
    r, rep = run(src, tmp_path / "out", model)
    assert r.exit_code == 0
    assert "multi-page TIFF: only the first of 3 pages was upscaled" in rep["pages.tif"]["notes"]


def test_grey_16bit_lzw_tiff_is_read_losslessly_without_imagecodecs(model: Path, up: Upscaler,
                                                                    tmp_path: Path) -> None:
    arr = as16(ramp(c=1))
    src = tmp_path / "lzw.tif"
    Image.fromarray(arr).save(src, compression="tiff_lzw")
    r, _ = run(src, tmp_path / "out", model)
    assert r.exit_code == 0, r.output
    out = tifffile.imread(tmp_path / "out" / "lzw.tif")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, up.upscale_array(arr))


def test_unsupported_tiffs_are_refused_with_the_reason(model: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "cmyk16.tif", as16(ramp(c=4)), photometric="separated")
    tifffile.imwrite(src / "int32.tif", np.zeros((8, 8), np.int32))
    (src / "broken.tif").write_bytes(b"II*\x00" + b"\xff" * 40)
    r, rep = run(src, tmp_path / "out", model)
    assert r.exit_code == 1
    assert "SEPARATED TIFF is not supported (grey or RGB only)" in rep["cmyk16.tif"]["error"]
    assert "32-bit signed integer TIFF is not supported" in rep["int32.tif"]["error"]
    assert rep["broken.tif"]["error"].startswith("cannot read image:")


@pytest.mark.parametrize("fmt,dtype,note", [
    ("png", np.uint16, None), ("png", np.float32, "float samples written as 16-bit PNG"),
    ("jpg", np.uint16, "16-bit samples written as 8-bit JPEG"),
    ("webp", np.float32, "float samples written as 8-bit WEBP"),
])
def test_deep_tiff_to_other_formats_says_what_it_kept(model: Path, tmp_path: Path, fmt: str,
                                                     dtype: type, note: str | None) -> None:
    arr = ramp() if dtype == np.float32 else as16(ramp())
    src = tmp_path / "deep.tif"
    tifffile.imwrite(src, arr, photometric="rgb")
    r, rep = run(src, tmp_path / "out", model, "--format", fmt)
    assert r.exit_code == 0, r.output
    out_path = next((tmp_path / "out").iterdir())
    img = Image.open(out_path)
    assert img.size == (80, 60)
    if fmt == "png":
        from sronnx.io.formats.png import png_bit_depth

        assert png_bit_depth(out_path) == 16
    notes = rep["deep.tif"]["notes"]
    assert (note in notes) if note else not notes


# ---- metadata -----------------------------------------------------------------------


def test_jpeg_exif_xmp_iptc_round_trip(model: Path, tmp_path: Path) -> None:
    rgb = (ramp() * 255).astype(np.uint8)
    src = jpeg_with_metadata(tmp_path / "heron.jpg", rgb)
    r, rep = run(src, tmp_path / "out", model)
    assert r.exit_code == 0, r.output
    img = Image.open(tmp_path / "out" / "heron.jpg")
    # orientation 6 was applied on read: a 40x30 input is 30x40 upright, 60x80 at x2
    check_metadata(img, (60, 80))
    assert rep["heron.jpg"]["notes"] == []


@pytest.mark.parametrize("fmt,kept_iptc", [("png", True), ("webp", False)])
def test_jpeg_metadata_to_png_and_webp(model: Path, tmp_path: Path, fmt: str,
                                       kept_iptc: bool) -> None:
    src = jpeg_with_metadata(tmp_path / "heron.jpg", (ramp() * 255).astype(np.uint8))
    r, rep = run(src, tmp_path / "out", model, "--format", fmt)
    assert r.exit_code == 0, r.output
    img = Image.open(next((tmp_path / "out").iterdir()))
    img.load()  # PNG text after IDAT is read on load
    check_metadata(img, (60, 80), iptc=kept_iptc)
    notes = rep["heron.jpg"]["notes"]
    assert notes == ([] if kept_iptc else ["IPTC not kept: WEBP cannot hold it"])


def test_strip_metadata_drops_exif_xmp_iptc_but_keeps_icc_and_dpi(model: Path,
                                                                   tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    Image.fromarray((ramp() * 255).astype(np.uint8)).save(
        buf, "JPEG", exif=exif_sample(1), xmp=XMP, icc_profile=icc, dpi=(200, 200))
    src = tmp_path / "p.jpg"
    src.write_bytes(md.insert_jpeg_segment(buf.getvalue(), md.photoshop_iptc_segment(IPTC)))
    r, _ = run(src, tmp_path / "out", model, "--strip-metadata")
    assert r.exit_code == 0, r.output
    img = Image.open(tmp_path / "out" / "p.jpg")
    assert not dict(img.getexif()) and "xmp" not in img.info
    assert IptcImagePlugin.getiptcinfo(img) is None
    assert img.info["icc_profile"] == icc and img.info["dpi"] == (400, 400)


def test_png_exif_xmp_iptc_through_the_streaming_writer(model: Path, tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    hexed = IPTC.hex()
    info.add_text("Raw profile type iptc", f"\niptc\n{len(IPTC):8d}\n{hexed}\n", zip=True)
    src = tmp_path / "p.png"
    Image.fromarray((ramp() * 255).astype(np.uint8)).save(src, exif=exif_sample(6),
                                                          pnginfo=info)
    r, rep = run(src, tmp_path / "out", model)
    assert r.exit_code == 0, r.output
    img = Image.open(tmp_path / "out" / "p.png")
    img.load()
    check_metadata(img, (60, 80))


def test_16bit_tiff_metadata_in_ifd0_and_its_exif_gps_ifds(model: Path, tmp_path: Path) -> None:
    src = tmp_path / "deep.tif"
    ex = exif_sample(1)
    tifffile.imwrite(src, as16(ramp()), photometric="rgb", metadata=None, extratags=[
        (271, 2, 0, "Canon", True), (272, 2, 0, "EOS R5", True),
        (306, 2, 0, "2024:05:06 07:08:09", True), (270, 2, 0, "A heron on a post", True),
        (700, 1, len(XMP), XMP, True), (33723, 7, len(IPTC), IPTC, True)])
    # the Exif and GPS IFDs come from a JPEG's EXIF: write them as the writer does
    from sronnx.io.formats.tiff import write_tiff

    meta = md.Metadata(ex.tobytes(), XMP, IPTC)
    with open(src, "w+b") as fh:
        write_tiff(fh, as16(ramp()), meta=meta)
    r, rep = run(src, tmp_path / "out", model)
    assert r.exit_code == 0, r.output
    img = Image.open(tmp_path / "out" / "deep.tif")
    check_metadata(img, (80, 60))
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "deep.tif").shape,
                                  (60, 80, 3))


def test_8bit_tiff_metadata_through_pillow(model: Path, tmp_path: Path) -> None:
    src = jpeg_with_metadata(tmp_path / "heron.jpg", (ramp() * 255).astype(np.uint8))
    r, _ = run(src, tmp_path / "mid", model, "--format", "png")
    mid = tmp_path / "mid" / "heron.png"
    Image.open(mid).save(tmp_path / "t.tif", **md.pil_save_kwargs(
        md.from_pil(Image.open(mid))[0], "TIFF", (60, 80), None))
    r, _ = run(tmp_path / "t.tif", tmp_path / "out", model)
    assert r.exit_code == 0, r.output
    check_metadata(Image.open(tmp_path / "out" / "t.tif"), (120, 160))


def test_corrupt_exif_drops_only_the_exif(model: Path, tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray((ramp() * 255).astype(np.uint8)).save(buf, "JPEG", xmp=XMP)
    app1 = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x09\x01\x0f\x00\x02"  # IFD cut short
    seg = b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1
    src = tmp_path / "bad.jpg"
    src.write_bytes(md.insert_jpeg_segment(buf.getvalue(), seg))
    r, rep = run(src, tmp_path / "out", model)
    assert r.exit_code == 0, r.output
    img = Image.open(tmp_path / "out" / "bad.jpg")
    assert b"Heron at dawn" in img.info["xmp"]
    assert "exif" not in img.info  # (getexif() would show an orientation Pillow reads from XMP)
    notes = rep["bad.jpg"]["notes"]
    assert len(notes) == 1 and notes[0].startswith("EXIF could not be read")


def test_insert_jpeg_segment_goes_after_app_segments() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "JPEG", exif=exif_sample(1))
    data = buf.getvalue()
    seg = md.photoshop_iptc_segment(IPTC)
    out = md.insert_jpeg_segment(data, seg)
    at = out.index(seg)
    assert out[:at].count(b"\xff\xe1") == 1 and out[at + len(seg):at + len(seg) + 2] == b"\xff\xdb"
    assert IptcImagePlugin.getiptcinfo(Image.open(io.BytesIO(out)))[(2, 25)] == b"bird"
    with pytest.raises(ValueError, match="not a JPEG"):
        md.insert_jpeg_segment(b"\x89PNG....", seg)
    with pytest.raises(ValueError, match="does not fit"):
        md.photoshop_iptc_segment(b"x" * 70000)
