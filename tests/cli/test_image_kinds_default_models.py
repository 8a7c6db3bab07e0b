"""Issue 11's image kinds through the default model of each scale, as a user runs them: one
folder of small synthetic images (no downloads), `sronnx upscale --scale S` with no --model,
and every output, message, exit code and report record checked.

The detailed cases (every format and option) are in tests/io/test_frames_alpha.py,
tests/io/test_tiff_metadata.py, tests/io/test_image_kinds.py and tests/cli/test_files_folders.py,
run there with a tiny model; here the shipped defaults carry the same kinds end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import png
import pytest
import tifffile
from click.testing import CliRunner
from PIL import Image

from sronnx.cli import main
from sronnx.core.shipped import default_model_name


def _inputs(folder: Path) -> None:
    folder.mkdir()
    rng = np.random.default_rng(7)
    # 16-bit RGB TIFF and a float TIFF in [0, 1], and one with HDR values
    ramp = np.linspace(1000, 60000, 24 * 20).reshape(20, 24).astype(np.uint16)
    tifffile.imwrite(folder / "deep.tif", np.dstack([ramp, ramp[::-1], ramp[:, ::-1]]),
                     photometric="rgb")
    tifffile.imwrite(folder / "float.tif", rng.random((18, 22), dtype=np.float32))
    tifffile.imwrite(folder / "hdr.tif", np.linspace(0, 4, 18 * 22, dtype=np.float32)
                     .reshape(18, 22))
    # an RGB PNG whose background is transparent through a colour key (tRNS)
    key = np.zeros((24, 30, 3), dtype=np.uint8)
    key[6:18, 8:22] = (200, 40, 90)
    Image.fromarray(key).save(folder / "key.png", transparency=(0, 0, 0))
    # a 16-bit grey PNG ramp
    png.from_array(np.tile(np.linspace(20000, 21000, 64).round().astype(np.uint16), (6, 1)),
                   "L;16").save(str(folder / "ramp16.png"))
    # a JPEG with EXIF (camera, description, rotated) and XMP
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x010E], exif[0x0112] = "Acme", "Cam 1", "a pier", 6
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/'
           b'02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"'
           b'><dc:title>Pier at dusk</dc:title></rdf:Description></rdf:RDF></x:xmpmeta>')
    Image.fromarray((rng.random((16, 28, 3)) * 255).astype(np.uint8)).save(
        folder / "photo.jpg", exif=exif.tobytes(), xmp=xmp, quality=95)
    # a 3-frame animated GIF that plays twice
    frames = [Image.fromarray(np.full((14, 18, 3), c, dtype=np.uint8)) for c in
              ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:],
                   duration=[100, 200, 300], loop=1)
    (folder / "notes.txt").write_text("not an image")


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_every_kind_with_the_default_model(tmp_path: Path, scale: int) -> None:
    src, out, rep = tmp_path / "in", tmp_path / "out", tmp_path / "report.json"
    _inputs(src)
    r = CliRunner().invoke(main, ["upscale", str(src), "-o", str(out), "--scale", str(scale),
                                  "--provider", "cpu", "--json", str(rep)])
    assert "Traceback" not in r.output
    assert r.exit_code == 1, r.output  # hdr.tif is refused, the rest is done
    report = json.loads(rep.read_text())
    assert report["model"].endswith(f"{default_model_name(scale, 'cpu')}.onnx")
    files = {Path(f["input"]).name: f for f in report["files"]}
    assert files["hdr.tif"]["status"] == "failed"
    assert "outside [0, 1]" in files["hdr.tif"]["error"] and "4" in files["hdr.tif"]["error"]
    assert "hdr.tif" in r.output
    assert {n for n, f in files.items() if f["status"] == "done"} == {
        "deep.tif", "float.tif", "key.png", "ramp16.png", "photo.jpg", "anim.gif"}
    assert [Path(e["path"]).name for e in report["left_out"]] == ["notes.txt"]

    deep = tifffile.imread(out / "deep.tif")
    assert deep.dtype == np.uint16 and deep.shape == (20 * scale, 24 * scale, 3)
    assert len(np.unique(deep[:, :, 0])) > 1000  # not 8-bit in disguise (at most 256)
    flt = tifffile.imread(out / "float.tif")
    assert flt.dtype == np.float32 and flt.shape == (18 * scale, 22 * scale)

    keyed = np.asarray(Image.open(out / "key.png"))
    assert keyed.shape == (24 * scale, 30 * scale, 4)
    assert keyed[0, 0, 3] == 0 and keyed[12 * scale, 15 * scale, 3] == 255

    w, h, rows, info = png.Reader(filename=str(out / "ramp16.png")).asDirect()
    assert info["bitdepth"] == 16 and (w, h) == (64 * scale, 6 * scale)
    assert len(np.unique(np.asarray(list(rows)[3 * scale]))) > 100

    photo = Image.open(out / "photo.jpg")
    assert photo.size == (16 * scale, 28 * scale)  # turned upright: orientation 6 applied
    exif = photo.getexif()
    assert (exif[0x010F], exif[0x0110], exif[0x010E]) == ("Acme", "Cam 1", "a pier")
    assert exif.get(0x0112, 1) == 1
    assert b"Pier at dusk" in photo.info["xmp"]

    anim = Image.open(out / "anim.gif")
    assert anim.n_frames == 3 and anim.size == (18 * scale, 14 * scale)
    assert anim.info["loop"] == 1
    durations = []
    for i in range(3):
        anim.seek(i)
        durations.append(anim.info["duration"])
        rgb = np.asarray(anim.convert("RGB")).astype(int)
        want = ((250, 0, 0), (0, 250, 0), (0, 0, 250))[i]
        assert np.abs(rgb - want).max() <= 8, i  # a palette per frame: flat stays flat
    assert durations == [100, 200, 300]
