"""Files: reading and writing images and animations at full precision with their metadata
(EXIF, XMP, IPTC, ICC, DPI), file names and atomic writes. Each image format is a module of
`sronnx.io.formats` that registers its record (`ImageFormat`) in `sronnx.io.registry`, as
Pillow's plugins do; importing this package imports them all. The generic reader and writer
ask the table. No model, no ONNX Runtime, no torch.

The names below are the package's public face: scripts and other packages import them from
here, and the modules behind them may move."""

from __future__ import annotations

# first: every format registers itself before anything asks the table
from sronnx.io import formats  # noqa: F401, I001
from sronnx.io.animation import (
    ANIMATED_INPUTS,
    ANIMATED_OUTPUTS,
    Animation,
    merge_identical,
    not_animated_message,
    read_animation,
    write_animation,
)
from sronnx.io.cmessages import (
    describe_messages,
    messages_of,
    relay,
)
from sronnx.io.formats.jpeg import (
    jpeg_quality,
)
from sronnx.io.formats.png import (
    write_png,
)
from sronnx.io.formats.tiff import (
    FloatRangeError,
    FloatSpan,
    fit_float_range,
    quiet_tifffile,
    restore_float_range,
)
from sronnx.io.images import (
    DEFAULT_MAX_PIXELS,
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
    written_as_note,
)
from sronnx.io.metadata import (
    Metadata,
)
from sronnx.io.registry import (
    EXT_FORMAT,
    FORMAT_EXT,
    IMAGE_EXTENSIONS,
    INPUT_FORMATS,
    Encoding,
    ImageFormat,
    format_for_choice,
    format_for_extension,
    get_format,
    image_extensions,
    input_formats,
    output_extension,
    output_extension_for,
    read_only_output,
    register_array_writer,
    register_format,
    register_reader,
    unregister_format,
    writable_choices,
    writable_formats,
)
from sronnx.io.video import (
    DEFAULT_CRF,
    DEFAULT_VIDEO_CODEC,
    VIDEO_EXTENSIONS,
    VideoEncoding,
    VideoError,
    VideoInfo,
    is_video_path,
    video_info,
    video_output_extension,
)
from sronnx.io.video_segments import transcode_video

__all__ = [
    "ANIMATED_INPUTS",
    "ANIMATED_OUTPUTS",
    "Animation",
    "DEFAULT_CRF",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_VIDEO_CODEC",
    "Decoded",
    "EXT_FORMAT",
    "Encoding",
    "FORMAT_EXT",
    "FloatRangeError",
    "FloatSpan",
    "IMAGE_EXTENSIONS",
    "INPUT_FORMATS",
    "ImageFormat",
    "ImageReadError",
    "Metadata",
    "VIDEO_EXTENSIONS",
    "VideoEncoding",
    "VideoError",
    "VideoInfo",
    "describe_messages",
    "exif_orientation",
    "fit_float_range",
    "format_for_choice",
    "format_for_extension",
    "get_format",
    "image_extensions",
    "input_formats",
    "is_video_path",
    "jpeg_quality",
    "merge_identical",
    "messages_of",
    "name_bytes",
    "name_max",
    "not_animated_message",
    "open_limit",
    "output_extension",
    "output_extension_for",
    "output_format",
    "pillow_pixel_limit",
    "quiet_tifffile",
    "read_animation",
    "read_image",
    "read_only_output",
    "register_array_writer",
    "register_format",
    "register_reader",
    "relay",
    "remove_stale_parts",
    "restore_float_range",
    "side_problem",
    "transcode_video",
    "unregister_format",
    "video_info",
    "video_output_extension",
    "writable_choices",
    "writable_formats",
    "write_animation",
    "write_image",
    "write_png",
    "written_as_note",
]
