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
# isort: on

__all__: list[str] = []
