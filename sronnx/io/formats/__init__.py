"""The image formats, one module each (Pillow's `*ImagePlugin`s): importing a module registers
its `ImageFormat` in `sronnx.io.registry`. This is the one place that imports them, in the
order inputs are tried by Pillow (`registry.input_formats()`); `sronnx.io` imports this
package, so every format is registered once `sronnx.io` (or any module in it) is imported.

A new format is a module here that builds one `registry.ImageFormat` and calls
`registry.register_format`, plus its line below.
"""

from __future__ import annotations

# isort: off
from sronnx.io.formats import png  # noqa: F401 - registers PNG
from sronnx.io.formats import jpeg  # noqa: F401 - registers JPEG
from sronnx.io.formats import webp  # noqa: F401 - registers WEBP
from sronnx.io.formats import bmp  # noqa: F401 - registers BMP
from sronnx.io.formats import tiff  # noqa: F401 - registers TIFF
from sronnx.io.formats import gif  # noqa: F401 - registers GIF
from sronnx.io.formats import heif  # noqa: F401 - registers HEIF (its own reader)
from sronnx.io.formats import avif  # noqa: F401 - registers AVIF
from sronnx.io.formats import jxl  # noqa: F401 - registers JXL (its own reader)
from sronnx.io.formats import ppm  # noqa: F401 - registers PPM
from sronnx.io.formats import qoi  # noqa: F401 - registers QOI
from sronnx.io.formats import jpeg2000  # noqa: F401 - registers JPEG2000 (read only)
from sronnx.io.formats import psd  # noqa: F401 - registers PSD (read only)
from sronnx.io.formats import ico  # noqa: F401 - registers ICO and CUR (read only)
from sronnx.io.formats import dds  # noqa: F401 - registers DDS (read only)
from sronnx.io.formats import sgi  # noqa: F401 - registers SGI (read only)
from sronnx.io.formats import mpo  # noqa: F401 - registers MPO (.mpo names; read only)
from sronnx.io.formats import pcx  # noqa: F401 - registers PCX (read only)
from sronnx.io.formats import dib  # noqa: F401 - registers DIB (read only)
from sronnx.io.formats import tga  # noqa: F401 - registers TGA (last: no magic to test)
# isort: on

__all__: list[str] = []
