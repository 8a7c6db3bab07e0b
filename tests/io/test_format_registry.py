"""The format table (`sronnx.io.registry`): a format registered through the public API is
read, written and named by the generic reader and writer with no change to them, and the
generic reader and writer name no format themselves."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pytest
from helpers import ROOT
from PIL import Image

from sronnx.io import (
    EXT_FORMAT,
    FORMAT_EXT,
    IMAGE_EXTENSIONS,
    INPUT_FORMATS,
    Encoding,
    ImageFormat,
    ImageReadError,
    format_for_extension,
    get_format,
    image_extensions,
    input_formats,
    output_extension,
    output_format,
    read_image,
    register_format,
    side_problem,
    unregister_format,
    write_image,
)
from sronnx.io.registry import formats

NOT_AN_IMAGE = "not an image file (or an unsupported format)"


def _write_ppm16(fh: BinaryIO, arr: np.ndarray, **_: Any) -> None:
    """A 16-bit binary PPM (P6, maxval 65535) of an HxWx3 uint16 array."""
    h, w = arr.shape[:2]
    fh.write(f"P6\n{w} {h}\n65535\n".encode() + arr.astype(">u2").tobytes())


@pytest.fixture
def ppm() -> Iterator[list[str]]:
    """Pillow's PPM registered as a plugin would do it, for the test only; the calls of its
    save-option hook are listed in the list given."""
    calls: list[str] = []

    def save_options(kwargs: dict[str, Any], enc: Encoding) -> None:
        calls.append(f"save_options {enc.quality}")

    before = formats()
    shipped = unregister_format("PPM")  # sronnx's own, replaced by the test's for the test
    register_format(ImageFormat(
        "PPM", (".ppm", ".pnm"), choices=("ppm",), magic=(b"P6",), alpha=False,
        modes=("L", "RGB"), sixteen_bit=True, max_side=4096, write_array=_write_ppm16,
        save_options=save_options))
    try:
        yield calls
    finally:
        unregister_format("PPM")
        if shipped is not None:
            register_format(shipped)
        assert {f.name for f in formats()} == {f.name for f in before}


def test_a_registered_format_is_read_and_written_by_the_generic_code(
        ppm: list[str], tmp_path: Path) -> None:
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    Image.fromarray(rgb).save(tmp_path / "in.ppm")
    decoded = read_image(tmp_path / "in.ppm")
    assert decoded.format == "PPM" and np.array_equal(np.asarray(decoded.pixels), rgb)

    # named: extensions, --format names, the output's format and extension
    assert ".ppm" in IMAGE_EXTENSIONS and ".pnm" in image_extensions()
    assert EXT_FORMAT[".pnm"] == "PPM" and FORMAT_EXT["ppm"] == ".ppm"
    assert format_for_extension(".PPM") == "PPM" and output_extension("PPM") == ".ppm"
    assert "PPM" in INPUT_FORMATS and input_formats()[-1] == "PPM"
    assert output_format("PNG", "ppm", tmp_path / "x.png") == "PPM"
    assert output_format("PPM", "same", tmp_path / "x.ppm") == "PPM"

    # written by Pillow (8-bit), with its save-option hook; alpha flattened (alpha=False)
    rgba = np.dstack([rgb, np.full((4, 5), 0, np.uint8)])
    notes = write_image(tmp_path / "a.ppm", Image.fromarray(rgba), "PPM", quality=70)
    assert notes == ["alpha flattened over white: PPM has no alpha"]
    assert ppm == ["save_options 70"]
    with Image.open(tmp_path / "a.ppm") as back:
        assert back.format == "PPM" and back.mode == "RGB"
        assert np.all(np.asarray(back) == 255)

    # arrays go to its full-precision writer
    wide = (rgb.astype(np.uint16) * 257 + 1).astype(np.uint16)
    assert write_image(tmp_path / "w.ppm", wide, "PPM") == []
    raw = (tmp_path / "w.ppm").read_bytes()
    assert raw.startswith(b"P6\n5 4\n65535\n") and raw.endswith(wide.astype(">u2").tobytes())

    # its side limit
    assert side_problem("PPM", (5000, 10)) == ("PPM cannot hold a 5000x10 image (at most 4096 "
                                               "pixels a side)")
    with pytest.raises(ValueError, match="PNG, TIFF.* have no such limit"):
        write_image(tmp_path / "big.ppm", np.zeros((1, 5000, 3), np.uint8), "PPM")


def test_an_unregistered_format_is_not_read(tmp_path: Path) -> None:
    Image.new("RGB", (3, 2)).save(tmp_path / "in.ppm")
    Image.new("1", (3, 2)).save(tmp_path / "in.xbm", format="XBM")
    (tmp_path / "in.raw").write_bytes(bytes(range(7, 200)))
    shipped = unregister_format("PPM")
    try:
        assert get_format("PPM") is None and ".ppm" not in IMAGE_EXTENSIONS
        # the refusal names the format Pillow's byte test recognises
        with pytest.raises(ImageReadError, match=re.escape("a PPM file: not an image format "
                                                           "sronnx reads")):
            read_image(tmp_path / "in.ppm")
    finally:
        register_format(shipped)
    with pytest.raises(ImageReadError, match=re.escape("a XBM file: not an image format")):
        read_image(tmp_path / "in.xbm")
    with pytest.raises(ImageReadError, match=re.escape(NOT_AN_IMAGE)):
        read_image(tmp_path / "in.raw")


def test_an_extension_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\.jpg already belong to JPEG"):
        register_format(ImageFormat("JPEG2", (".jpg",)))
    assert get_format("JPEG2") is None


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module's code (f-string parts included), docstrings left
    out: the words its code acts on or prints."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_the_generic_reader_and_writer_name_no_format() -> None:
    """images.py asks the registry; a format's name or extension in its code would be a
    format decided there (comments and docstrings may name them as examples)."""
    names = {f.name for f in formats()} | {"MPO", "APNG"}
    words = re.compile(r"\b(" + "|".join(sorted(names)) + r")\b", re.IGNORECASE)
    exts = re.compile(r"(?<![\w.])(" + "|".join(re.escape(e) for e in
                                                sorted(image_extensions())) + r")\b")
    path = ROOT / "sronnx" / "io" / "images.py"
    found = [f"{path.name}:{line}: {text!r}" for line, text in _code_strings(path)
             if words.search(text) or exts.search(text)]
    assert found == []


def test_the_shipped_formats_make_the_tables_they_replaced() -> None:
    old = {".png": "PNG", ".apng": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG",
           ".jfif": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
           ".gif": "GIF"}
    assert {e: f for e, f in EXT_FORMAT.items() if e in old} == old
    assert {e: f for e, f in EXT_FORMAT.items() if e not in old} == {
        ".heic": "HEIF", ".heif": "HEIF", ".hif": "HEIF", ".avif": "AVIF", ".jxl": "JXL",
        ".ppm": "PPM", ".pgm": "PPM", ".pbm": "PPM", ".pnm": "PPM", ".qoi": "QOI",
        ".jp2": "JPEG2000", ".j2k": "JPEG2000", ".j2c": "JPEG2000", ".jpc": "JPEG2000",
        ".jpf": "JPEG2000", ".jpx": "JPEG2000", ".psd": "PSD", ".ico": "ICO", ".cur": "CUR",
        ".dds": "DDS", ".sgi": "SGI", ".rgb": "SGI", ".rgba": "SGI", ".bw": "SGI",
        ".mpo": "MPO", ".pcx": "PCX", ".dib": "DIB", ".tga": "TGA", ".icb": "TGA",
        ".vda": "TGA", ".vst": "TGA"}
    assert dict(FORMAT_EXT) == {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp",
                                "bmp": ".bmp", "tiff": ".tif", "tif": ".tif", "gif": ".gif",
                                "heic": ".heic", "heif": ".heic", "avif": ".avif",
                                "jxl": ".jxl", "ppm": ".ppm", "pgm": ".ppm", "pnm": ".ppm",
                                "qoi": ".qoi", "tga": ".tga"}
    assert input_formats()[:6] == ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
    assert set(input_formats()[6:]) == {"AVIF", "PPM", "QOI", "JPEG2000", "PSD", "ICO", "CUR",
                                        "DDS", "SGI", "PCX", "DIB", "TGA"}
    assert {f.name: f.max_side for f in formats() if f.max_side and f.name in old.values()} == {
        "WEBP": 16383, "JPEG": 65535, "GIF": 65535}
    assert {f.name for f in formats() if not f.alpha} == {"JPEG", "BMP", "PPM", "MPO"}
    assert {f.name: f.metadata for f in formats() if f.metadata} == {
        "JPEG": {"EXIF", "XMP", "IPTC", "COMMENT", "ICC", "ASPECT"},
        "PNG": {"EXIF", "XMP", "IPTC", "TEXT", "COMMENT", "ICC", "GAMMA", "ASPECT"},
        "TIFF": {"EXIF", "XMP", "IPTC", "ICC"}, "WEBP": {"EXIF", "XMP", "ICC"},
        "GIF": {"COMMENT"}, "HEIF": {"EXIF", "XMP", "ICC"}, "AVIF": {"EXIF", "XMP", "ICC"},
        "MPO": {"EXIF", "XMP"}, "JXL": {"EXIF", "XMP"}}
