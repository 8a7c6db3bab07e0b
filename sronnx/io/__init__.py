"""Files: reading and writing images and animations at full precision with their metadata
(EXIF, XMP, IPTC, ICC, DPI), file names and atomic writes. Formats that need their own reader
or writer register in `sronnx.io.registry` (TIFF does); the rest go through Pillow. No model,
no ONNX Runtime, no torch.

The names below are the package's public face: scripts and other packages import them from
here, and the modules behind them may move."""

from __future__ import annotations

from sronnx.io.animation import (
    ANIMATED_INPUTS,
    ANIMATED_OUTPUTS,
    Animation,
    not_animated_message,
    read_animation,
    write_animation,
)
from sronnx.io.images import (
    DEFAULT_MAX_PIXELS,
    EXT_FORMAT,
    FORMAT_EXT,
    IMAGE_EXTENSIONS,
    INPUT_FORMATS,
    Decoded,
    ImageReadError,
    exif_orientation,
    name_bytes,
    name_max,
    open_limit,
    output_format,
    pillow_pixel_limit,
    read_image,
    remove_stale_parts,
    side_problem,
    write_image,
    write_png,
)
from sronnx.io.jpeg import (
    jpeg_quality,
)
from sronnx.io.metadata import (
    Metadata,
)
from sronnx.io.registry import (
    register_array_writer,
    register_reader,
)
from sronnx.io.tiff import (
    FloatRangeError,
    FloatSpan,
    fit_float_range,
    quiet_tifffile,
    restore_float_range,
)

__all__ = [
    "ANIMATED_INPUTS",
    "ANIMATED_OUTPUTS",
    "Animation",
    "DEFAULT_MAX_PIXELS",
    "Decoded",
    "EXT_FORMAT",
    "FORMAT_EXT",
    "FloatRangeError",
    "FloatSpan",
    "IMAGE_EXTENSIONS",
    "INPUT_FORMATS",
    "ImageReadError",
    "Metadata",
    "exif_orientation",
    "fit_float_range",
    "jpeg_quality",
    "name_bytes",
    "name_max",
    "not_animated_message",
    "open_limit",
    "output_format",
    "pillow_pixel_limit",
    "quiet_tifffile",
    "read_animation",
    "read_image",
    "register_array_writer",
    "register_reader",
    "remove_stale_parts",
    "restore_float_range",
    "side_problem",
    "write_animation",
    "write_image",
    "write_png",
]
