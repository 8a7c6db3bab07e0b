"""What a file that sronnx cannot read is, from its first bytes, for the one line that refuses
it: "a PDF document: not an image format sronnx reads" rather than "not an image file".

Only bytes are compared (no decoder parses the file): the table below for common files that
are not images sronnx reads (documents, vector graphics, video and audio containers,
archives, HDR images), then Pillow's own `accept` tests of the formats it knows but sronnx
does not open (`Image.OPEN`; each looks at the first bytes only).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from sronnx.io import registry

__all__ = ["read_head", "refusal", "unreadable_kind"]

_HEAD = 4096
_NOT_READ = "not an image format sronnx reads"

#: (offset, bytes) -> what the file is
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF", "a PDF document"),
    (0, b"%!PS", "a PostScript/EPS file (PostScript is a program: never run)"),
    (0, b"\xc5\xd0\xd3\xc6", "an EPS file (PostScript is a program: never run)"),
    (0, b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
    (0, b"OggS", "an Ogg audio/video file"),
    (0, b"ID3", "an MP3 audio file"),
    (0, b"fLaC", "a FLAC audio file"),
    (0, b"PK\x03\x04", "a ZIP archive (or an office document)"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"Rar!", "a RAR archive"),
    (0, b"\x89HDF", "an HDF5 file"),
    (0, b"v/1\x01", "an OpenEXR (HDR) image"),
    (0, b"#?RADIANCE", "a Radiance HDR image"),
    (0, b"#?RGBE", "a Radiance HDR image"),
    (0, b"SIMPLE  =", "a FITS image"),
    (0, b"\xd7\xcd\xc6\x9a", "a Windows metafile (WMF)"),
    (40, b" EMF", "a Windows enhanced metafile (EMF)"),
    (0, b"FWS", "a Flash (SWF) file"),
    (0, b"CWS", "a Flash (SWF) file"),
    (0, b"\x7fELF", "a program (ELF)"),
    (0, b"MZ", "a Windows program"),
    (0, b"icns", "a macOS icon set (ICNS)"),
)

_OURS = "an AVIF file"  # a format sronnx reads, that its decoder refused
_RIFF = {b"AVI ": "an AVI video", b"WAVE": "a WAV audio file"}
#: ISO base media (ftyp) brands of video and audio files
_VIDEO_BRANDS = {
    b"isom": "an MP4 video", b"iso2": "an MP4 video", b"mp41": "an MP4 video",
    b"mp42": "an MP4 video", b"avc1": "an MP4 video", b"M4V ": "an MP4 video",
    b"qt  ": "a QuickTime video", b"M4A ": "an M4A audio file", b"3gp4": "a 3GP video",
    b"3gp5": "a 3GP video", b"3g2a": "a 3GP video", b"crx ": "a Canon CR3 raw photo",
}


def read_head(path: str | Path, size: int = _HEAD) -> bytes:
    """The first `size` bytes of the file at `path` (fewer for a shorter file); b"" when it
    cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def _container(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return _OURS

        return _VIDEO_BRANDS.get(brand, f"an ISO media file (brand {brand.decode('latin-1')!r})")
    return None


def _text(head: bytes) -> str | None:
    head = head.rstrip(b"\0")
    if b"\0" in head:
        return None
    try:
        text = head.decode("utf-8").lower()
    except UnicodeDecodeError:
        return None
    if "<svg" in text:
        return "an SVG drawing (vector graphics)"
    if text.lstrip().startswith(("<!doctype html", "<html")):
        return "an HTML page"
    return "a text file" if text.strip() else None


def _pillow_kind(head: bytes) -> str | None:
    """The Pillow format whose `accept` test takes `head`, among those sronnx does not open."""
    opened = set(registry.input_formats())
    Image.init()
    for name, (_factory, accept) in Image.OPEN.items():
        if name in opened or accept is None:
            continue
        try:
            if accept(head):
                return f"a {name} file"
        except Exception:  # noqa: BLE001, S112 - a test that fails on these bytes says no
            continue
    return None


def unreadable_kind(path: str | Path) -> str | None:
    """What the file at `path` is by its first bytes ("a PDF document"), or None."""
    head = read_head(path)
    if not head:
        return None
    for offset, magic, kind in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return kind
    return _container(head) or _pillow_kind(head) or _text(head)


def refusal(path: str | Path) -> str:
    """The reason a file that no reader took is refused, naming what it is where known."""
    kind = unreadable_kind(path)
    if kind is None:
        return "not an image file (or an unsupported format)"
    if kind == _OURS:
        return f"{kind} that could not be decoded (corrupt, or larger than the decoder takes)"
    return f"{kind}: {_NOT_READ}"
