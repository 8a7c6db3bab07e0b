"""Planning a run: which input files there are, where each output goes, and what a folder
listing leaves out (with the reason), refusing up front any plan that would overwrite an
input or escape the output folder.

Library code: it returns plans and raises PlanError; the CLI decides what to print. Reads file
headers only (image sizes, to tell an earlier output from a file of its own), never pixels.
"""

from __future__ import annotations

import os
import stat
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from sronnx.imaging import target_size
from sronnx.io import (
    EXT_FORMAT,
    FORMAT_EXT,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    VideoEncoding,
    exif_orientation,
    input_formats,
    is_video_path,
    output_extension_for,
    read_only_output,
    video_info,
    video_output_extension,
)


class PlanError(ValueError):
    """The job as asked cannot be run safely (e.g. it would overwrite an input).

    `left_out` holds what the folder listings left out when they ran before the refusal
    (for the report of the refused run), else it is empty.
    """

    def __init__(self, message: str, left_out: list[LeftOut] | None = None) -> None:
        super().__init__(message)
        self.left_out: list[LeftOut] = list(left_out or ())


@dataclass(frozen=True)
class Job:
    source: Path
    output: Path
    error: str | None = None  # known before running (e.g. the input does not exist)


@dataclass(frozen=True)
class OutputOptions:
    format: str = "same"  # same | png | jpg | jpeg | webp | gif | tiff
    quality: int = 95
    png_compress_level: int = 1
    suffix: str = ""
    strip_metadata: bool = False  # leave EXIF, XMP and IPTC out of the outputs
    float_range: str = "refuse"  # float pixels outside [0, 1]: refuse | clip | scale
    # the output size, when not the model's own (`sronnx.imaging.resize.target_size`):
    # a factor (any positive number), or a width and/or height in pixels
    outscale: float | None = None
    width: int | None = None
    height: int | None = None
    video: VideoEncoding = VideoEncoding()  # how video outputs are encoded (sronnx.io.video)

    @property
    def resizes(self) -> bool:
        """Whether an output size other than the model's own was asked for."""
        return self.outscale is not None or self.width is not None or self.height is not None

    def output_size(self, size: tuple[int, int], scale: int) -> tuple[int, int]:
        """The output's (width, height) for an upright input of `size` through a model of
        `scale` (`sronnx.imaging.resize.target_size`)."""
        return target_size(size, scale, self.outscale, self.width, self.height)


def _inside(path: Path, folder: Path) -> bool:
    try:
        _resolved(path).relative_to(folder)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class LeftOut:
    """Something a folder listing found and did not take as an input, and why."""

    path: Path
    reason: str
    # an earlier output: the source it was made from, and how many times that source's size
    # it is (the same in both dimensions); None for everything else
    made_from: Path | None = field(default=None, compare=False)
    factor: int | None = field(default=None, compare=False)
    # inside the output folder: never an input, so a wrong factor only changes the reason
    in_output: bool = field(default=False, compare=False)

    def to_dict(self) -> dict:
        return {"path": str(self.path), "reason": self.reason}


# reasons, also the keys a summary groups by
NOT_AN_IMAGE = "not an image extension"
BROKEN_LINK = "broken symbolic link"
LINKED_FOLDER = "symbolic link to a folder, not followed"
SUB_FOLDER = "sub-folder, not entered without --recursive"
NOT_REGULAR = "not a regular file"
EARLIER_OUTPUT = "earlier output"  # "earlier output of NAME"
INSIDE_OUTPUT = "inside the output folder"  # "inside the output folder OUTDIR"
OUTPUT_FOLDER = "the output folder, not entered"
GIVEN_TWICE = "given twice"
SAME_FILE = "given twice, first as"  # "given twice, first as PATH": under another name
_REASON_KINDS = (EARLIER_OUTPUT, INSIDE_OUTPUT, GIVEN_TWICE)  # SAME_FILE is GIVEN_TWICE


def reason_kind(reason: str) -> str:
    """The reason without the name it carries (e.g. EARLIER_OUTPUT for "earlier output of
    a.png"), for counting left-out entries by reason."""
    return next((k for k in _REASON_KINDS if reason.startswith(k)), reason)


@dataclass
class Plan:
    """What a run will do: `jobs` in order, and what the folder listings `left_out`."""

    jobs: list[Job]
    left_out: list[LeftOut] = field(default_factory=list)
    outdir: Path | None = None  # the output folder, when the plan writes into one

    def require_scale(self, scale: int) -> None:
        """Check, once the model's scale is known, that every earlier output this plan left
        out is `scale` times the size of its source. One in an input folder that is not is a
        file of its own, which the run would otherwise overwrite or take as input: raises
        PlanError naming all of them. One inside the output folder is no input either way:
        its reason becomes INSIDE_OUTPUT."""
        problems: list[str] = []
        for i, e in enumerate(self.left_out):
            if e.made_from is None or e.factor is None or e.factor == scale:
                continue
            if e.in_output:
                self.left_out[i] = LeftOut(e.path, _inside_output(self.outdir),
                                           in_output=True)
                continue
            problems.append(_not_earlier_output(
                e.path, e.made_from, f"it is {e.factor} times the size of "
                f"{e.made_from.name}, and this model makes {scale} times"))
        if problems:
            raise PlanError(_refusal(problems, []), self.left_out)


@dataclass(frozen=True)
class _Source:
    path: Path
    rel: Path  # relative to its input root: the output keeps this layout
    error: str | None = None
    listed: bool = False  # found by listing a folder (not named by the user)


def _classify(p: Path, recursive: bool) -> str | None:
    """None for an image file to take, else why a listed entry is left out. The image test
    is the collectable-extension set itself: a format added to it stops being left out."""
    if p.is_symlink() and not p.exists():
        return BROKEN_LINK
    if p.is_dir():
        if p.is_symlink():
            return LINKED_FOLDER
        return None if recursive else SUB_FOLDER  # recursive: its files are listed
    if p.suffix.lower() not in IMAGE_EXTENSIONS and not is_video_path(p):
        return NOT_AN_IMAGE
    return None if p.is_file() else NOT_REGULAR


def _entry_key(path: Path) -> Path:
    """What makes two mentions of an input the same entry: its folder resolved, its own
    name kept (so `F/a.png`, `./F/a.png` and `/abs/F/a.png` are one entry, while a symbolic
    link beside its target stays an entry of its own, with an output of its own)."""
    return _resolved(path.parent) / path.name


def _collect(inputs: Iterable[Path], recursive: bool, outdir: Path
             ) -> tuple[list[_Source], list[LeftOut], list[Path]]:
    """Every image under the inputs, what the listings left out, and the image files a
    listing found inside OUTDIR where it lies inside an input folder (never inputs: with
    --recursive they would be read again on every rerun, their outputs nested one level
    deeper each time; the caller names them, as earlier outputs where they are). Hidden
    entries (a part of the path starting with '.') are passed over silently. An entry met
    again (the same file named twice, or named and found in a listed folder) is left out:
    the first mention wins, with its relative layout."""
    found: list[_Source] = []
    left_out: list[LeftOut] = []
    in_output: list[Path] = []
    out_resolved = _resolved(outdir)
    roots: dict[Path, Path] = {}  # folders listed so far
    for root in inputs:
        if root.is_dir() and (seen := roots.setdefault(_entry_key(root), root)) is not root:
            left_out.append(LeftOut(root, _again(root, seen)))  # listed once is enough
        elif root.is_dir():
            listed, left, inside = _list_folder(root, recursive, out_resolved)
            found += listed
            left_out += left
            in_output += inside
        elif root.is_file():
            found.append(_Source(root, Path(root.name)))
        else:
            found.append(_Source(root, Path(root.name or "input"), not_a_file(root)))
    first: dict[Path, Path] = {}
    unique: list[_Source] = []
    for s in found:
        seen = first.setdefault(_entry_key(s.path), s.path)
        if seen is s.path:
            unique.append(s)
        else:
            left_out.append(LeftOut(s.path, _again(s.path, seen)))
    # an entry met by two listings (overlapping folders) or named three times: named once
    once: dict[tuple[Path, str], LeftOut] = {}
    for e in left_out:
        once.setdefault((_entry_key(e.path), reason_kind(e.reason)), e)
    return unique, list(once.values()), in_output


def _list_folder(root: Path, recursive: bool, out_resolved: Path
                 ) -> tuple[list[_Source], list[LeftOut], list[Path]]:
    """`_collect` for one input folder `root`: the images its listing finds (sorted), what
    it leaves out, and the image files inside OUTDIR (`out_resolved`) where OUTDIR lies
    strictly inside `root` (its files are outputs, not inputs). Hidden entries are passed
    over."""
    found: list[_Source] = []
    left_out: list[LeftOut] = []
    in_output: list[Path] = []
    # OUTDIR strictly inside this root: its files are outputs, not inputs
    nested = out_resolved != _resolved(root) and _inside(out_resolved, _resolved(root))
    pattern = root.rglob("*") if recursive else root.glob("*")
    for p in sorted(pattern):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        reason = _classify(p, recursive)
        if nested and _inside(p, out_resolved):
            if reason is None and not p.is_dir():
                in_output.append(p)
            elif _resolved(p) == out_resolved and not recursive:
                left_out.append(LeftOut(p, OUTPUT_FOLDER))
            elif reason is not None and reason != SUB_FOLDER:
                left_out.append(LeftOut(p, reason, in_output=True))
        elif reason is not None:
            left_out.append(LeftOut(p, reason))
        elif not p.is_dir():
            found.append(_Source(p, rel, listed=True))
    return found, left_out, in_output


def _again(path: Path, first: Path) -> str:
    """The reason `path` is left out when `first` is the same entry, mentioned earlier."""
    return GIVEN_TWICE if str(path) == str(first) else f"{SAME_FILE} {first}"


NO_SUCH_FILE = "no such file or folder"
_FILE_KINDS = ((stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
               (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
               (stat.S_ISDIR, "folder"))


def not_a_file(path: Path) -> str:
    """Why `path`, named as an input, is not a file sronnx can read: it does not exist, is a
    broken symbolic link, or is a fifo, socket, device or folder."""
    if path.is_symlink() and not path.exists():
        return BROKEN_LINK
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return NO_SUCH_FILE
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "special file")
    return f"{NOT_REGULAR} ({kind})"


def suffix_problem(suffix: str) -> str | None:
    """Why `suffix` cannot be appended to output file stems, or None: it must not contain a
    path separator (outputs would land outside the output folder), NUL or another control
    character, nor be '.' or '..'."""
    shown = ascii(suffix)
    seps = {"/", os.sep, os.altsep} - {None}
    if any(sep in suffix for sep in seps):
        return (f"--suffix {shown} contains a path separator: it is appended to file names "
                "and cannot name a folder")
    bad = next((c for c in suffix if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        return f"--suffix {shown} contains a control character ({ascii(bad)})"
    if suffix in (".", ".."):
        return f"--suffix {shown} is not a usable part of a file name"
    return None


def _header_size(path: Path) -> tuple[int, int] | None:
    """An image's (width, height) from its header alone (no pixels decoded), or None for a
    file that cannot be read as an image (a video: its first video stream's coded size)."""
    from sronnx.io import messages_of

    if is_video_path(path):
        info = video_info(path)
        return None if info is None else info.size

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. DecompressionBombWarning: no pixels read
            # what Pillow logs here is left out: the file's reading reports its own
            with messages_of(path), Image.open(path, formats=input_formats()) as im:
                return im.size
    except Exception:  # noqa: BLE001 - Pillow raises many types for files it cannot read
        pass
    try:  # TIFFs that Pillow cannot open (e.g. float, 16-bit RGB)
        import tifffile

        from sronnx.io import quiet_tifffile

        with quiet_tifffile(), tifffile.TiffFile(path) as tf:
            page = tf.pages[0]
            return int(page.imagewidth), int(page.imagelength)
    except Exception:  # noqa: BLE001 - tifffile raises many types for bad files
        return None


@dataclass(frozen=True)
class Header:
    """What an image file's header says, no pixels decoded: its size upright (EXIF
    orientation applied, where the header carries it) and its frame count (animated GIF,
    APNG, WebP; 1 for everything else, a multi-page TIFF included: its first page is used)."""

    width: int
    height: int
    frames: int = 1
    video: bool = False  # a video file (`sronnx.io.video`)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


_TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def image_header(path: str | Path) -> Header | None:
    """The `Header` of the image at `path`, or None for a file that cannot be read as one.
    Cheap: headers only (an animated GIF's frames are counted by skipping through them
    without decoding); a PNG's EXIF orientation is read only from an eXIf chunk before its
    pixels. For estimates (progress, the model scale for --width/--height): the decoded
    image is the truth. A video's header is its first video stream's coded size and frame
    count, with `video` set (its frames are streamed one at a time, never held together)."""
    from sronnx.io import DEFAULT_MAX_PIXELS, messages_of, open_limit, pillow_pixel_limit

    if is_video_path(path):
        info = video_info(path)
        return None if info is None else Header(info.width, info.height, max(info.frames, 1),
                                                video=True)

    try:
        # no bomb error on a header, but a GIF's open allocates its first canvas: bounded;
        # what libtiff prints here is left out (the file's reading reports its own)
        with pillow_pixel_limit(open_limit(path, DEFAULT_MAX_PIXELS)), messages_of(path):
            im = Image.open(path, formats=input_formats())
        with im:
            w, h = im.size
            frames = 1
            if im.format in ("GIF", "PNG", "WEBP") and getattr(im, "is_animated", False):
                frames = int(im.n_frames)
            orientation = None
            if frames == 1:  # animations are not turned
                with pillow_pixel_limit():
                    if im.format == "PNG":
                        exif = Image.Exif()
                        if im.info.get("exif"):
                            exif.load(im.info["exif"])
                    else:
                        exif = im.getexif()
                    orientation = exif_orientation(exif.get(0x0112))
            if orientation in _TRANSPOSED:
                w, h = h, w
            return Header(w, h, frames) if w > 0 and h > 0 else None
    except Exception:  # noqa: BLE001 - Pillow raises many types for files it cannot read
        pass
    size = _header_size(Path(path))  # TIFFs that Pillow cannot open
    # a header of 0 rows or columns (a broken TIFF, found by fuzzing) says nothing: reading
    # the file then fails with its reason
    return Header(*size) if size is not None and min(size) > 0 else None


def _output_factor(output: Path, source: Path, scale: int | None,
                   opts: OutputOptions | None = None) -> tuple[bool, int | None, str]:
    """Whether the existing file `output` has the size this run makes from `source`, in
    either orientation (EXIF orientation is applied when reading): (True, k, "") when it is
    k times `source` (k = `scale` when known, else any whole k >= 2); with a size request in
    `opts` (--outscale, --width, --height, which fix the size whatever the model's scale),
    (True, None, "") when it is that size. Else (False, None, why it is not)."""
    out_size, src_size = _header_size(output), _header_size(source)
    if out_size is None:
        return False, None, "it cannot be read as an image"
    if src_size is None:
        return False, None, f"{source.name} cannot be read as an image"
    (ow, oh), (sw, sh) = out_size, src_size
    if opts is not None and opts.resizes:
        sizes = [opts.output_size(s, scale or 1) for s in ((sw, sh), (sh, sw)) if s[0] and s[1]]
        if (ow, oh) in sizes or (oh, ow) in sizes:
            return True, None, ""
        return False, None, (f"{ow}x{oh} is not the size this run makes from {source.name} "
                             f"({sizes[0][0]}x{sizes[0][1]})" if sizes else
                             f"{source.name} is empty")
    for w, h in ((sw, sh), (sh, sw)):
        if w and h and ow % w == 0 and oh % h == 0 and ow // w == oh // h >= 2:
            k = ow // w
            if scale is None or k == scale:
                return True, k, ""
            return False, None, (f"it is {k} times the size of {source.name}, and this model "
                                 f"makes {scale} times")
    if (ow, oh) in ((sw, sh), (sh, sw)):
        return False, None, (f"it is the same size as {source.name} ({sw}x{sh}), not an "
                             "upscale of it")
    return False, None, f"{ow}x{oh} is no multiple of {source.name}'s {sw}x{sh}"


def _not_earlier_output(output: Path, source: Path, why: str) -> str:
    return (f"output {output} (made from {source}) would overwrite the input {output} (a file "
            f"of its own, not an earlier output of {source.name}: {why})")


def _inside_output(outdir: Path | None) -> str:
    return INSIDE_OUTPUT if outdir is None else f"{INSIDE_OUTPUT} {outdir}"


_ADVICE = "choose another output folder or a --suffix"


def _refusal(overwrites: list[str], collisions: list[str]) -> str:
    """One message for every conflict found: outputs that would overwrite an input (with
    the advice), and different inputs written to one output. One conflict reads as before;
    several get a head line and one indented line each."""
    if len(overwrites) + len(collisions) == 1:
        return f"{overwrites[0]}; {_ADVICE}" if overwrites else collisions[0]
    head = []
    if overwrites:
        n = len(overwrites)
        head.append(f"{n} output{'s' if n != 1 else ''} would overwrite "
                    f"input{'s' if n != 1 else ''} ({_ADVICE})")
    if collisions:
        n = len(collisions)
        head.append(f"{n} output{'s' if n != 1 else ''} would be written twice")
    return "; ".join(head) + ":" + "".join(f"\n  {m}" for m in (*overwrites, *collisions))


def _output_for(rel: Path, outdir: Path, opts: OutputOptions, video: bool = False) -> Path:
    if video:  # its own container where sronnx writes it, else Matroska; --format is for images
        ext = video_output_extension(rel, opts.video.codec)
    elif opts.format != "same":
        ext = FORMAT_EXT[opts.format]
    else:  # a format sronnx only reads is written as its nearest kind (PSD as PNG)
        ext = output_extension_for(rel.suffix) or ".png"
    return outdir / rel.parent / f"{rel.stem}{opts.suffix}{ext}"


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # e.g. a name too long, a symbolic-link loop
        return path.absolute()


def plan(inputs: Iterable[str | Path], outdir: str | Path, opts: OutputOptions,
         recursive: bool = False, scale: int | None = None) -> Plan:
    """Map each input image to its output path, keeping the inputs' relative layout, and
    name what the folder listings left out (see `Plan`, `LeftOut`).

    A listed file that is the planned output of another input S of this plan (a rerun into
    the input folder itself, e.g. with --suffix) is an earlier output of S, left out, when
    its header says it is k times S's size in both dimensions: k = `scale` when given, else
    any whole k >= 2 (`Plan.require_scale` checks k once the scale is known); with a size
    request in `opts` (outscale, width, height), when it has the size that request makes from
    S. Any other file there is an input of its own that the output would overwrite: refused.

    Where OUTDIR lies inside an input folder, the listing takes nothing from it (its files
    would be read again on every rerun): each file it passes over there is left out, as an
    earlier output of S by the same size rule, else as INSIDE_OUTPUT; without `recursive`
    the folder itself is left out (OUTPUT_FOLDER). The same file met again (named twice,
    under other spellings, or named and also found in a listed folder) is left out as
    GIVEN_TWICE or SAME_FILE: the first mention wins, with its relative layout.

    Raises PlanError, naming every conflict at once, for a plan in which an output would land
    on an input file or different inputs on the same output; and for an OUTDIR that is not a
    folder or an unusable suffix (`suffix_problem`). Inputs that do not exist or are not
    regular files become jobs with an error, reported like any unreadable file.
    """
    outdir = Path(outdir)
    if (problem := suffix_problem(opts.suffix)) is not None:
        raise PlanError(problem)
    if outdir.exists() and not outdir.is_dir():
        raise PlanError(f"output folder {outdir} exists and is not a folder")
    sources, left_out, in_output = _collect([Path(p) for p in inputs], recursive, outdir)
    try:
        return _plan(sources, left_out, in_output, outdir, opts, scale)
    except PlanError as exc:
        exc.left_out = sorted(left_out, key=lambda e: e.path)
        raise


def _plan(sources: list[_Source], left_out: list[LeftOut], in_output: list[Path],
          outdir: Path, opts: OutputOptions, scale: int | None) -> Plan:
    outputs = [_output_for(s.rel, outdir, opts, s.error is None and is_video_path(s.path))
               for s in sources]
    made_by: dict[Path, Path] = {}  # resolved output -> the source it is planned for
    for s, out in zip(sources, outputs, strict=True):
        if s.error is None:
            made_by.setdefault(_resolved(out), s.path)
    for p in in_output:  # never inputs; named as earlier outputs where they are
        maker = made_by.get(_resolved(p))
        earlier, factor, _ = _output_factor(p, maker, scale, opts) if maker is not None else \
            (False, None, "")
        if maker is not None and earlier:
            left_out.append(LeftOut(p, f"{EARLIER_OUTPUT} of {maker.name}", maker, factor,
                                    in_output=True))
        else:
            left_out.append(LeftOut(p, _inside_output(outdir), in_output=True))
    jobs: list[Job] = []
    overwrites: list[str] = []
    collisions: list[str] = []
    seen: dict[Path, Path] = {}
    inputs_at: dict[Path, Path] = {}
    for s, out in zip(sources, outputs, strict=True):
        maker = made_by.get(_resolved(s.path)) if s.error is None else None
        if s.listed and maker is not None and maker != s.path:
            earlier, factor, why = _output_factor(s.path, maker, scale, opts)
            if not earlier:
                overwrites.append(_not_earlier_output(s.path, maker, why))
                continue
            left_out.append(LeftOut(s.path, f"{EARLIER_OUTPUT} of {maker.name}", maker, factor))
            continue
        key = _resolved(out)
        if key in seen and s.error is None:
            collisions.append(f"{s.path} and {seen[key]} would both be written to {out}")
            continue
        seen[key] = s.path
        jobs.append(Job(s.path, out, s.error))
        if s.error is None:
            inputs_at[_resolved(s.path)] = s.path
    for job in jobs:
        overwritten = inputs_at.get(_resolved(job.output))
        if overwritten is not None and job.error is None:
            of = "" if overwritten == job.source else f" (made from {job.source})"
            overwrites.append(f"output {job.output}{of} would overwrite the input {overwritten}")
    if overwrites or collisions:
        raise PlanError(_refusal(overwrites, collisions))
    return Plan(jobs, sorted(left_out, key=lambda e: e.path), outdir)


def plan_jobs(inputs: Iterable[str | Path], outdir: str | Path, opts: OutputOptions,
              recursive: bool = False) -> list[Job]:
    """`plan(...).jobs`: the jobs alone, for callers that do not report what was left out."""
    return plan(inputs, outdir, opts, recursive).jobs


def writes_file(output: str | Path) -> bool:
    """Whether `-o OUTPUT` names one output file rather than a folder: its extension is
    one sronnx writes (.png .jpg .jpeg .webp .tif .tiff .bmp, or a video's: .mp4 .mkv ...)
    and it is not an existing folder."""
    output = Path(output)
    ext = output.suffix.lower()
    return (ext in EXT_FORMAT or ext in VIDEO_EXTENSIONS) and not output.is_dir()


def plan_file(source: str | Path, output: str | Path, opts: OutputOptions) -> Plan:
    """One input file to exactly the file `output`, in the format its extension names
    (--suffix does not apply to a name given in full).

    Raises PlanError if `opts.format` names another format than the extension, if
    `output` is (or links to) the input itself, or is an existing folder. A source that
    does not exist becomes a job with an error, as in `plan`.
    """
    source, output = Path(source), Path(output)
    if (problem := _video_file_problem(source, output)) is not None:
        raise PlanError(problem)
    if is_video_path(source):
        return _one_file(source, output)
    ext_fmt = EXT_FORMAT.get(output.suffix.lower())
    if ext_fmt is None:
        raise PlanError(f"output {output} has no image extension sronnx writes "
                        f"({' '.join(sorted(EXT_FORMAT))})")
    if read_only_output(ext_fmt):
        raise PlanError(f"output {output}: sronnx reads {ext_fmt} but does not write it; "
                        f"name a {read_only_output(ext_fmt)} output instead")
    if opts.format != "same" and EXT_FORMAT[FORMAT_EXT[opts.format]] != ext_fmt:
        raise PlanError(f"--format {opts.format} contradicts the output name {output} "
                        f"({ext_fmt}); change one of them")
    return _one_file(source, output)


def _video_file_problem(source: Path, output: Path) -> str | None:
    """Why a video cannot go to the output file named (or an image to a video name)."""
    video_out = output.suffix.lower() in VIDEO_EXTENSIONS
    if is_video_path(source) and not video_out:
        return (f"output {output}: {source} is a video; name a video output "
                f"({' '.join(sorted(VIDEO_EXTENSIONS))}) or a folder")
    if video_out and source.is_file() and not is_video_path(source):
        return f"output {output} names a video, but {source} is no video"
    return None


def _one_file(source: Path, output: Path) -> Plan:
    """The plan of one input file to the output file `output`, once its names fit."""
    if output.is_dir():
        raise PlanError(f"output {output} is a folder")
    if not source.is_file():
        return Plan([Job(source, output, not_a_file(source))])
    same = _resolved(output) == _resolved(source)
    if not same and output.exists():
        try:
            same = output.samefile(source)  # a hard link to the input
        except OSError:
            same = False
    if same:
        raise PlanError(f"output {output} would overwrite the input {source}")
    return Plan([Job(source, output)])


def folder_problem(folder: Path, what: str = "the output folder") -> str | None:
    """Why `folder` cannot be made (a file where it, or a folder above it, should be), or
    None; `what` names it in the message."""
    for p in (folder, *folder.parents):
        if p.is_dir():
            return None
        if p.exists() or p.is_symlink():
            if p.is_dir():  # made between the two looks, by another worker: not in the way
                return None
            why = ("a file of that name exists" if p == folder else
                   f"{p} exists and is not a folder")
            return f"cannot create {what} {folder}: {why}"
    return None
