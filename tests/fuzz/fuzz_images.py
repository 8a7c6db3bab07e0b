"""Fuzz target: any bytes as an image file through what `sronnx upscale` does to an input:
`image_header` (planning: None or a size of at least 1x1), `read_animation` (GIF, APNG,
WebP), else `read_image` (PNG 8/16-bit, palette, RGBA, JPEG incl. EXIF-rotated and CMYK,
TIFF, BMP, ...) and the conversion to the upscaler's arrays (`pil_to_array`,
`fit_float_range`), at least 1x1 pixels. Acceptable: ImageReadError, FloatRangeError and
pil_to_array's named refusals of an unsupported mode; anything else is a finding.

    python -m tests.fuzz.run images --seconds 60
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["sronnx"]):
    from sronnx.engine.planner import image_header
    from sronnx.imaging.modes import pil_to_array
    from sronnx.io.animation import read_animation
    from sronnx.io.formats.tiff import FloatRangeError, fit_float_range
    from sronnx.io.images import ImageReadError, read_image

from PIL import Image  # noqa: E402

from tests.fuzz.common import main, scratch_file  # noqa: E402

MAX_PIXELS = 4_000_000  # a fuzzer's image may claim any size: keep decodes small
_MODE_REFUSALS = ("unsupported image mode", "image mode I:")


def check(data: bytes) -> None:
    """The target's work on one input; raises only what is a finding."""
    path = scratch_file(data, "input.img")
    header = image_header(path)
    assert header is None or min(header.size) >= 1, f"header size {header.size}"
    try:
        anim = read_animation(path, MAX_PIXELS)
        if anim is not None:
            assert anim.frames and len(anim.durations) == len(anim.frames)
            shape = anim.frames[0].shape
            assert min(shape[:2]) >= 1, f"frames of {shape}"
            assert all(f.shape == shape for f in anim.frames), "frames of differing shapes"
            return
        decoded = read_image(path, MAX_PIXELS)
    except ImageReadError:
        return
    if isinstance(decoded.pixels, Image.Image):
        try:
            arr, _mode = pil_to_array(decoded.pixels)
        except ValueError as exc:
            if str(exc).startswith(_MODE_REFUSALS):
                return
            raise
    else:
        arr = decoded.pixels
    assert arr.ndim in (2, 3), f"array of rank {arr.ndim}"
    assert min(arr.shape[:2]) >= 1, f"empty image {arr.shape}"
    assert (arr.shape[1], arr.shape[0]) == decoded.size
    if arr.dtype.kind == "f":
        try:
            fit_float_range(arr, "clip")
        except FloatRangeError:
            return


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    check(data)


if __name__ == "__main__":
    main(TestOneInput)
