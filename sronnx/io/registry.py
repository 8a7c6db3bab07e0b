"""The format table, in the manner of Pillow's plugin registry (`Image.OPEN` / `SAVE` /
`EXTENSION`, filled by each `*ImagePlugin`'s `register_open` / `register_save` /
`register_extensions`): each format module in `sronnx.io.formats` describes its format as one
`ImageFormat` record and calls `register_format`; the generic reader and writer
(`sronnx.io.images`, `sronnx.io.animation`) and the file-name rules ask the table
(`format_for_extension`, `input_formats`, `output_extension`, `get_format`, ...) instead of
naming a format.

A record holds what a format is (Pillow's name, its file extensions, the `--format` names
that choose it), what it holds (alpha, 16-bit, float, animation, which metadata, the longest
side) and, optionally, hooks for what only it does: a reader of its own tried before Pillow,
a full-precision array writer, a fix-up of what Pillow opened, an array decoder, extra facts
about the decoded file, a conversion before Pillow saves, Pillow's save options and a save
of its own. A format without hooks is read and written by Pillow alone.

Readers are tried in registration order before Pillow's generic decoder; one that returns
None leaves the file to Pillow. Array writers take an HxW[xC] array at full precision
(uint16, float32) for their format; formats without one get 8-bit images through Pillow.
No import of any format module here, and no format named: they import this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ANIMATED_INPUTS", "ANIMATED_OUTPUTS", "ArrayWriter", "EXT_FORMAT", "Encoding",
    "FORMAT_EXT", "IMAGE_EXTENSIONS", "INPUT_FORMATS",
    "ImageFormat", "Reader", "animated_formats", "array_writer", "default_output_format",
    "format_for_choice", "format_for_extension", "formats", "get_format", "image_extensions",
    "input_formats", "output_extension", "output_extension_for", "read_only_output",
    "readers", "register_array_writer", "register_format", "register_reader",
    "unregister_format", "writable_choices", "writable_formats",
]

#: (fh, HxW[xC] array, keyword options of `write_image`: icc_profile, dpi, meta,
#: compress_level) -> None; `fh` is open for reading and writing.
ArrayWriter = Callable[..., None]

#: the kinds of descriptive metadata (`sronnx.io.metadata.Metadata.kinds`), and what else a
#: format holds of what the input says besides its pixels: "TEXT" keyword texts (PNG tEXt,
#: zTXt, iTXt), "COMMENT" comments (JPEG COM, GIF comment), "ICC" an ICC profile, "GAMMA"
#: PNG's colour and sample chunks (gAMA, cHRM, sRGB, cICP, sBIT), "ASPECT" a pixel aspect
#: ratio without a unit (PNG pHYs unit 0, JFIF density unit 0)
METADATA_KINDS = frozenset({"EXIF", "XMP", "IPTC", "TEXT", "COMMENT", "ICC", "GAMMA",
                            "ASPECT"})


@dataclass(frozen=True)
class Reader:
    """A format's own reader: `accepts(path)` says whether it takes the file (from its first
    bytes); `read(path, max_pixels)` decodes it (a `sronnx.io.images.Decoded`), or returns None
    to leave it to Pillow. `read` raises `ImageReadError` for a file it cannot decode."""

    name: str
    accepts: Callable[[Path], bool]
    read: Callable[[Path, int | None], Any]


@dataclass(frozen=True)
class Encoding:
    """How an output is encoded (what `write_image` takes as keywords): `quality` 1..100 for
    lossy formats, the zlib `png_compress_level` 0..9 for deflate formats, and `lossless`
    (the input was lossless in a format that can be either: written lossless again)."""

    quality: int = 95
    png_compress_level: int = 1
    lossless: bool = False


@dataclass(frozen=True)
class ImageFormat:
    """One image format: what it is, what it holds, and the hooks for what only it does.

    What it is: `name`, Pillow's format name ("PNG"), also the name inputs are opened as
    (`Image.open(..., formats=input_formats())`); `extensions`, the file names read as it,
    the first being the one outputs get; `choices`, the `--format` names that choose it;
    `magic`, the first bytes of its files (for `limit_open`).

    What it holds: `alpha` (False: alpha is flattened over white, except in `modes`, the
    Pillow modes written as they are); `sixteen_bit` (uint16 arrays kept; float arrays
    become 16-bit); `float_samples` (float arrays kept as they are); `max_side` (pixels a
    side, checked before encoding; None: no limit); `metadata`, the kinds it holds ("EXIF",
    "XMP", "IPTC", and "TEXT", "COMMENT", "ICC", "GAMMA", "ASPECT": see METADATA_KINDS);
    `animated`
    (read and written as an animation), `animation_label` (the animated kind's own name,
    "APNG"). `limit_open`: Pillow allocates pixels while it opens
    the file (a GIF's first-frame canvas), so Pillow's own limit is kept during the open.
    `exif_after_pixels`: EXIF may follow the pixels (decode before reading it).
    `default_output`: the output format when the input's own cannot be written.
    `writable` (False: read only; its inputs are written as `output_as`, a format name, or
    the default output format); `pillow_opens` (False: not passed to `Image.open` by its name,
    which Pillow has no opener for: MPO comes from JPEG's opener, HEIF and JPEG XL from
    their own readers); `encoded_array`: `write_array` also
    takes `encoding` (the `Encoding`: quality, lossless) and `notes` (a list to add to).

    Hooks, each optional: `reader` (tried before Pillow); `write_array(fh, arr, *,
    icc_profile, dpi, meta, compress_level)` (full precision); `fix_open(img, path)` amends
    what Pillow opened before it decodes; `read_array(img, path)` decodes the pixels itself
    (an array) or returns None for Pillow's; `describe(img, path, notes)` returns `Decoded`
    fields (e.g. `{"jpeg_quality": 85}`) and may add notes; `prepare(img)` converts an image
    before Pillow saves it (a palette); `save_options(kwargs, enc)` sets Pillow's save
    options from the `Encoding` (in place); `save(fh, img, kwargs, metadata, notes)` saves
    in its own way instead of `img.save`; `metadata_options(meta, size, dpi)` returns
    Pillow's save keywords for the metadata (None: `exif` and `xmp`).
    """

    name: str
    extensions: tuple[str, ...]
    choices: tuple[str, ...] = ()
    magic: tuple[bytes, ...] = ()
    alpha: bool = True
    modes: tuple[str, ...] = ()
    sixteen_bit: bool = False
    float_samples: bool = False
    max_side: int | None = None
    metadata: frozenset[str] = field(default_factory=frozenset)
    animated: bool = False
    animation_label: str | None = None
    limit_open: bool = False
    exif_after_pixels: bool = False
    default_output: bool = False
    writable: bool = True
    output_as: str | None = None
    pillow_opens: bool = True
    encoded_array: bool = False
    reader: Reader | None = None
    write_array: ArrayWriter | None = None
    fix_open: Callable[[Any, Path], None] | None = None
    read_array: Callable[[Any, Path], Any] | None = None
    describe: Callable[[Any, Path, list[str]], dict[str, Any]] | None = None
    prepare: Callable[[Any], Any] | None = None
    save_options: Callable[[dict[str, Any], Encoding], None] | None = None
    save: Callable[..., None] | None = None
    metadata_options: Callable[..., dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.upper():
            raise ValueError(f"a format's name is Pillow's, in capitals: {self.name!r}")
        if not self.extensions or not all(e.startswith(".") and e == e.lower()
                                          for e in self.extensions):
            raise ValueError(f"{self.name}: extensions are lower case with a dot: "
                             f"{self.extensions!r}")
        if not self.metadata <= METADATA_KINDS:
            raise ValueError(f"{self.name}: metadata kinds are {sorted(METADATA_KINDS)}")

    @property
    def output_extension(self) -> str:
        """The extension outputs in this format get."""
        return self.extensions[0]

    @property
    def shown_name(self) -> str:
        """The name in messages about animations: "PNG (APNG)"."""
        return f"{self.name} ({self.animation_label})" if self.animation_label else self.name

    @property
    def animation_choice(self) -> str:
        """How `--format` names it for an animation: "png (APNG)"."""
        first = self.choices[0] if self.choices else self.name.lower()
        return f"{first} ({self.animation_label})" if self.animation_label else first


_FORMATS: dict[str, ImageFormat] = {}
_READERS: list[Reader] = []
_ARRAY_WRITERS: dict[str, ArrayWriter] = {}


def register_format(fmt: ImageFormat) -> ImageFormat:
    """Add (or replace, by name) a format; its reader and array writer are registered too.
    An extension or `--format` name another format already has is refused (ValueError)."""
    for other in _FORMATS.values():
        if other.name == fmt.name:
            continue
        clash = (set(other.extensions) & set(fmt.extensions)) | \
            (set(other.choices) & set(fmt.choices))
        if clash:
            raise ValueError(f"{fmt.name}: {', '.join(sorted(clash))} already belong to "
                             f"{other.name}")
    unregister_format(fmt.name)
    _FORMATS[fmt.name] = fmt
    if fmt.reader is not None:
        register_reader(fmt.reader.name, fmt.reader.accepts, fmt.reader.read)
    if fmt.write_array is not None:
        _ARRAY_WRITERS[fmt.name] = fmt.write_array
    return fmt


def unregister_format(name: str) -> ImageFormat | None:
    """Remove a format with its reader and array writer; returns what was removed."""
    fmt = _FORMATS.pop(name, None)
    if fmt is not None:
        if fmt.reader is not None:
            _READERS[:] = [r for r in _READERS if r.name != fmt.reader.name]
        _ARRAY_WRITERS.pop(name, None)
    return fmt


def formats() -> tuple[ImageFormat, ...]:
    """The registered formats, in registration order."""
    return tuple(_FORMATS.values())


def get_format(name: str | None) -> ImageFormat | None:
    """The record of Pillow format name `name`, or None."""
    return _FORMATS.get(name) if name else None


def format_for_extension(ext: str) -> str | None:
    """The format name of a file extension (".JPG" -> "JPEG"), or None."""
    ext = ext.lower()
    return next((f.name for f in _FORMATS.values() if ext in f.extensions), None)


def format_for_choice(choice: str) -> str:
    """The format name a `--format` name chooses ("jpg" -> "JPEG"); KeyError if none."""
    for f in _FORMATS.values():
        if choice in f.choices:
            return f.name
    raise KeyError(choice)


def output_extension(fmt_or_choice: str) -> str:
    """The extension an output gets, from a format name ("JPEG") or a `--format` name
    ("jpeg"): ".jpg". KeyError if neither."""
    record = _FORMATS.get(fmt_or_choice)
    if record is None:
        record = _FORMATS[format_for_choice(fmt_or_choice)]
    return record.output_extension


def image_extensions() -> frozenset[str]:
    """Every extension read as an image."""
    return frozenset(e for f in _FORMATS.values() for e in f.extensions)


def input_formats() -> tuple[str, ...]:
    """The Pillow formats an input may be opened as (`Image.open(path, formats=...)`): the
    registered ones and no other. Left to itself Pillow tries every format it knows,
    whatever the file's name: a PostScript file named photo.png would have Ghostscript
    (`gs`) run on it (EPS), and dozens of rarely used decoders would parse untrusted bytes.
    A file in another format fails naming the format its first bytes show (see
    `sronnx.io.sniff`). A format Pillow has no opener for by its name (`pillow_opens`) is
    left out."""
    return tuple(n for n, f in _FORMATS.items() if f.pillow_opens)


def animated_formats() -> tuple[ImageFormat, ...]:
    """The formats read and written as animations, by name (GIF, PNG, WEBP)."""
    return tuple(sorted((f for f in _FORMATS.values() if f.animated), key=lambda f: f.name))


def default_output_format() -> str:
    """The format an output gets when the input's own cannot be written."""
    return next(f.name for f in _FORMATS.values() if f.default_output)


def writable_formats() -> tuple[ImageFormat, ...]:
    """The formats sronnx writes, in registration order."""
    return tuple(f for f in _FORMATS.values() if f.writable)


def writable_choices() -> tuple[str, ...]:
    """The `--format` names of the formats sronnx writes, in registration order."""
    return tuple(c for f in _FORMATS.values() if f.writable for c in f.choices)


def read_only_output(name: str | None) -> str | None:
    """For a read-only format (TGA is not, PSD is): the format its inputs are written as
    (`output_as`, else the default output format); None for a writable or unknown one."""
    record = _FORMATS.get(name) if name else None
    if record is None or record.writable:
        return None
    return record.output_as or default_output_format()


def output_extension_for(ext: str) -> str | None:
    """The extension an output of an input named `*ext` gets when no format is asked: the
    same where sronnx writes its format (".JPEG" -> ".JPEG"), else that of the format its
    inputs are written as (".psd" -> ".png", ".mpo" -> ".jpg"); None for an extension that
    is no image's."""
    name = format_for_extension(ext)
    if name is None:
        return None
    instead = read_only_output(name)
    return _FORMATS[instead].output_extension if instead else ext


def register_reader(name: str, accepts: Callable[[Path], bool],
                    read: Callable[[Path, int | None], Any]) -> None:
    """Add (or replace, by `name`) a reader tried before Pillow (`ImageFormat.reader` does
    this for a registered format)."""
    _READERS[:] = [r for r in _READERS if r.name != name]
    _READERS.append(Reader(name, accepts, read))


def readers() -> tuple[Reader, ...]:
    """The registered readers, in registration order."""
    return tuple(_READERS)


def register_array_writer(fmt: str, write: ArrayWriter) -> None:
    """The full-precision writer of Pillow format name `fmt` (`ImageFormat.write_array`
    does this for a registered format)."""
    _ARRAY_WRITERS[fmt] = write


def array_writer(fmt: str) -> ArrayWriter | None:
    """The registered full-precision writer for `fmt`, or None (8-bit through Pillow)."""
    return _ARRAY_WRITERS.get(fmt)


# ---- the tables as read-only views, for code that used the constants --------------------


class _ExtensionFormats(Mapping[str, str]):
    """extension -> format name (".jpg" -> "JPEG"), always as registered now."""

    def __getitem__(self, ext: str) -> str:
        for f in _FORMATS.values():
            if ext in f.extensions:
                return f.name
        raise KeyError(ext)

    def __iter__(self) -> Iterator[str]:
        return (e for f in tuple(_FORMATS.values()) for e in f.extensions)

    def __len__(self) -> int:
        return sum(len(f.extensions) for f in _FORMATS.values())

    def __repr__(self) -> str:
        return f"EXT_FORMAT({dict(self)!r})"


class _ChoiceExtensions(Mapping[str, str]):
    """`--format` name -> output extension ("jpeg" -> ".jpg"), as registered now."""

    def __getitem__(self, choice: str) -> str:
        return _FORMATS[format_for_choice(choice)].output_extension

    def __iter__(self) -> Iterator[str]:
        return (c for f in tuple(_FORMATS.values()) for c in f.choices)

    def __len__(self) -> int:
        return sum(len(f.choices) for f in _FORMATS.values())

    def __repr__(self) -> str:
        return f"FORMAT_EXT({dict(self)!r})"


class _Extensions(Set[str]):
    """Every extension read as an image, as registered now."""

    def __contains__(self, ext: object) -> bool:
        return ext in image_extensions()

    def __iter__(self) -> Iterator[str]:
        return iter(image_extensions())

    def __len__(self) -> int:
        return len(image_extensions())

    def __repr__(self) -> str:
        return f"IMAGE_EXTENSIONS({set(image_extensions())!r})"


class _InputFormats(Sequence[str]):
    """The Pillow formats inputs are opened as, as registered now. Pillow's `Image.open`
    takes only a list or tuple: pass it `input_formats()`."""

    def __getitem__(self, index: Any) -> Any:
        return input_formats()[index]

    def __len__(self) -> int:
        return len(_FORMATS)

    def __repr__(self) -> str:
        return f"INPUT_FORMATS({input_formats()!r})"


EXT_FORMAT: Mapping[str, str] = _ExtensionFormats()
FORMAT_EXT: Mapping[str, str] = _ChoiceExtensions()
IMAGE_EXTENSIONS: Set[str] = _Extensions()
INPUT_FORMATS: Sequence[str] = _InputFormats()


class _AnimatedInputs(Set[str]):
    """The format names read as animations, as registered now."""

    def __contains__(self, name: object) -> bool:
        return any(f.name == name for f in animated_formats())

    def __iter__(self) -> Iterator[str]:
        return iter([f.name for f in animated_formats()])

    def __len__(self) -> int:
        return len(animated_formats())

    def __repr__(self) -> str:
        return f"ANIMATED_INPUTS({set(self)!r})"


class _AnimatedOutputs(Mapping[str, str]):
    """Format name -> how `--format` names it for an animation ("PNG" -> "png (APNG)")."""

    def __getitem__(self, name: str) -> str:
        for f in animated_formats():
            if f.name == name:
                return f.animation_choice
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter([f.name for f in animated_formats()])

    def __len__(self) -> int:
        return len(animated_formats())

    def __repr__(self) -> str:
        return f"ANIMATED_OUTPUTS({dict(self)!r})"


ANIMATED_INPUTS: Set[str] = _AnimatedInputs()
ANIMATED_OUTPUTS: Mapping[str, str] = _AnimatedOutputs()
