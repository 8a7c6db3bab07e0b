"""GIF output: an upscaled image back to at most 256 colours.

Each image (each frame of an animation) gets its own palette from Pillow's fast-octree
quantizer (on upscaled frames, PSNR within 1 dB of median cut and max coverage, and the
smallest files; measured in NOTES-frames.md). Pillow does not dither an adaptive palette, so no
per-frame noise makes still parts of an animation flicker or compress worse. Where the image
has alpha, GIF can only say "transparent or not": pixels under half opacity become the
palette's reserved last index (`TRANSPARENT_INDEX`), marked transparent, and the colour gets
the other 255 entries.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

TRANSPARENT_INDEX = 255  # the index reserved for transparent pixels when there are any
_ALPHA_CUT = 128  # alpha below this (of 255) is transparent in a GIF


def to_gif_palette(img: Image.Image, transparent: bool | None = None) -> Image.Image:
    """A PIL image of any mode -> mode "P" (or "L" for greyscale) ready for Pillow's GIF
    writer.

    `transparent`: reserve TRANSPARENT_INDEX for pixels with alpha < 128 (and set
    `info["transparency"]`); None means "when the image has an alpha band". Images that are
    already "P" or "L" are returned as they are (except that "P" keeps its own transparency).
    16-bit and float grey become 8-bit grey first.
    """
    if img.mode in ("P", "L", "1"):
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 if img.mode == "F" else 255.0 / 65535.0
        return Image.fromarray(np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8))
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La")
    if transparent is None:
        transparent = has_alpha
    rgb = img.convert("RGB")
    if not transparent:
        return rgb.quantize(256, method=Image.Quantize.FASTOCTREE)
    q = rgb.quantize(TRANSPARENT_INDEX, method=Image.Quantize.FASTOCTREE)
    out = q.copy()
    if has_alpha:
        clear = np.asarray(img.getchannel("A")) < _ALPHA_CUT
        out.paste(TRANSPARENT_INDEX, mask=Image.fromarray(clear))
    palette = (q.getpalette("RGB") or [])[: 3 * TRANSPARENT_INDEX]
    out.putpalette(palette + [0] * (3 * 256 - len(palette)), "RGB")  # transparent: black
    out.info["transparency"] = TRANSPARENT_INDEX
    return out
