"""Animated GIF, APNG and WebP: every frame upscaled, and its timing, looping and disposal
kept, in an animated format.

Pillow decodes each frame as a whole canvas (earlier frames, disposal and blending already
composited), so each canvas goes through the model like a still image (same tiling, same
alpha handling) and is written back as a whole canvas; Pillow's writers store only the
changed rectangle of each frame. What is kept, per output format:

- GIF: per-frame durations, how many times it plays, per-frame disposal; each frame is
  quantized to its own palette (`sronnx.io.palette`). A frame's disposal becomes "restore
  to background" (2) only where keeping it would leave an earlier opaque pixel showing through
  a pixel that is now transparent.
- APNG: durations, how many times it plays, disposal, and the default-image flag; every frame
  is written with blend "source", which replaces its rectangle and so shows exactly the
  upscaled canvas.
- WebP: durations, how many times it plays, background colour; lossless stays lossless.

Loop counts mean different things: a GIF's NETSCAPE loop count N repeats the animation N
more times (it plays N + 1 times; 0 forever; a GIF without one plays once), while APNG's
num_plays and WebP's loop count are the number of plays (0 forever; libwebp's gif2webp adds
1 to a GIF's count for the same reason). `Animation.plays` holds the number of plays, and
each format's count is made from it, so GIF loop 1 becomes APNG/WebP 2 and APNG/WebP 3
becomes GIF loop 2.

What a format cannot hold is changed or left out with a note (`write_animation` returns
them; the CLI lists them under the file's `notes`): an APNG's default image (not an animation
frame) has no place in GIF or WebP; GIF stores durations in 10 ms steps (rounded to the
nearest step here; Pillow alone would truncate them) of at most 655.35 s, WebP in whole
milliseconds. Every writer (Pillow's GIF and APNG writers, libwebp's) merges consecutive
frames that are identical, adding their durations: `merge_identical` does it first, so that
the frames written are known and said in a note (an animation whose frames are all one
image is written as that one still image).

In code (`read_animation` returns None for a still image):

    anim = read_animation("in.gif")
    write_animation("out.gif", upscale_animation(Upscaler("rsp-x2-int8"), anim))
Frames are held in memory (inputs, then outputs: Pillow's writers need all of them), so an
animation is refused when frames x width x height is over the --max-pixels budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from sronnx.io import registry
from sronnx.io.colour import colour_for_output
from sronnx.io.images import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    atomic_file,
    open_limit,
    pillow_pixel_limit,
    read_reason,
    side_problem,
    unlimited,
)
from sronnx.io.metadata import Metadata, pil_save_kwargs, text_notes
from sronnx.io.palette import to_gif_palette
from sronnx.io.registry import ANIMATED_INPUTS, ANIMATED_OUTPUTS  # the formats `animated`
from sronnx.io.textmeta import texts_for_output

# disposal codes: GIF 0/1 keep, 2 background, 3 previous; APNG 0 none, 1 background, 2 previous
_GIF_TO_APNG = {0: 0, 1: 0, 2: 1, 3: 2}
_APNG_TO_GIF = {0: 1, 1: 2, 2: 3}


@dataclass
class Animation:
    """The frames of an animation and how they play.

    frames: whole canvases, each HxWx3 (RGB) or HxWx4 (RGBA) uint8, all the same shape.
    durations: per frame, in milliseconds. plays: how many times the animation plays, 0 =
    forever (not a format's loop count: see `plays_from_loop`). disposal: per frame in the
    source format's codes (GIF or APNG), None when it has none (WebP). lossless: a WebP
    whose frames are all lossless (written lossless again as WebP). metadata: an APNG's
    texts, colour description, sBIT and aspect ratio, a GIF's comment.
    """

    frames: list[np.ndarray]
    durations: list[float]
    plays: int
    disposal: list[int] | None
    format: str
    icc_profile: bytes | None = None
    background: tuple[int, ...] | None = None  # WebP's background colour (RGBA)
    default_image: bool = False  # APNG: the first frame is shown only by non-APNG viewers
    notes: list[str] = field(default_factory=list)
    lossless: bool = False
    metadata: Metadata | None = None  # texts and colour chunks (PNG), a GIF's comment

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every frame."""
        return self.frames[0].shape[1], self.frames[0].shape[0]


def read_animation(path: str | Path,
                   max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Animation | None:
    """Every frame of an animated GIF, APNG or WebP at `path`; None for anything else (a
    still image, another format, or a file Pillow cannot open: `read_image` reports those).

    Raises ImageReadError when the frames together (count x width x height) are over
    `max_pixels` (None: no limit), checked before any frame is decoded, when the frames
    cannot be counted (a cut GIF: never silently its first frame alone) or when a frame
    cannot be decoded.
    """
    try:
        with pillow_pixel_limit(open_limit(path, max_pixels)):
            img = Image.open(path, formats=registry.input_formats())
    except Exception:  # noqa: BLE001 - not ours to report: read_image says why
        return None
    with img:
        record = registry.get_format(img.format)
        if record is None or not record.animated:
            return None
        try:
            if not getattr(img, "is_animated", False):
                return None
            n = img.n_frames
        except Exception as exc:  # noqa: BLE001 - a broken frame list: not a still image
            raise ImageReadError(f"truncated or corrupt animation ({read_reason(exc)})") \
                from exc
        w, h = img.size
        if max_pixels and n * w * h > max_pixels:
            raise ImageReadError(
                f"an animation of {n} frames of {w}x{h} = {n * w * h:,} pixels in all is over "
                f"the limit of {max_pixels:,}; raise it with --max-pixels")
        if record.fix_open is not None:  # e.g. PNG's grey colour key
            record.fix_open(img, Path(path))
        described: list[str] = []  # before the frames: a GIF's comment is the first frame's
        facts = record.describe(img, Path(path), described) if record.describe else {}
        # a later GIF frame that reaches beyond the screen grows the canvas when it is
        # sought (a 145-megapixel canvas from a 370-byte file, found by fuzzing): each seek is
        # held to the frames' share of the limit
        anim = _read_frames(img, n, open_limit(path, max_pixels // n) if max_pixels else None)
        anim.notes += described
    anim.lossless = bool(facts.get("lossless", False))  # a lossless WebP
    anim.metadata = Metadata(**facts["metadata"]) if facts.get("metadata") else None
    return anim


def plays_from_loop(fmt: str, loop: int | None) -> int:
    """How many times an animation of Pillow format `fmt` plays (0 = forever), from the loop
    count Pillow read (`info["loop"]`, None when the file has none)."""
    if loop is None:
        return 1  # a GIF without a NETSCAPE loop extension plays once
    if fmt == "GIF":
        return 0 if loop == 0 else loop + 1  # NETSCAPE: repeats after the first play
    return max(0, loop)  # APNG num_plays, WebP loop count: plays


def loop_for(fmt: str, plays: int) -> int | None:
    """The loop count Pillow's writer of `fmt` takes for `plays` plays (0 = forever); None
    for a GIF that plays once (no NETSCAPE extension: every viewer then plays it once)."""
    if fmt == "GIF":
        return 0 if plays == 0 else (None if plays == 1 else min(plays - 1, 0xFFFF))
    return min(plays, 0xFFFF if fmt == "WEBP" else 0x7FFFFFFF)  # 16 bits; APNG's 31


def _read_frames(img: Image.Image, n: int, seek_limit: int | None = None) -> Animation:
    frames, durations, disposal = [], [], []
    plays = plays_from_loop(img.format, img.info.get("loop"))
    icc = img.info.get("icc_profile") or None
    background = img.info.get("background") if img.format == "WEBP" else None
    default_image = bool(img.info.get("default_image", False))
    alpha = cropped = False
    notes: list[str] = []
    for i in range(n):
        try:
            if seek_limit:
                with pillow_pixel_limit(seek_limit):
                    img.seek(i)
            else:
                img.seek(i)
            img.load()
            if img.mode in ("I", "I;16", "I;16B", "F"):
                raise ImageReadError("16-bit animated PNG frames are not supported")
            frame = np.asarray(img.convert("RGBA"))
        except ImageReadError:
            raise
        except MemoryError as exc:
            raise ImageReadError("not enough memory to decode its frames") from exc
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad frames
            raise ImageReadError(f"frame {i + 1} of {n}: {read_reason(exc)}") from exc
        if frames and frame.shape != frames[0].shape:
            frame = _on_canvas(frame, frames[0].shape)
            if not cropped:
                notes.append(f"frame {i + 1} reaches beyond the {frames[0].shape[1]}x"
                             f"{frames[0].shape[0]} canvas: cropped to it")
                cropped = True
        alpha = alpha or bool((frame[:, :, 3] < 255).any())
        frames.append(frame)
        durations.append(img.info.get("duration", 0) or 0)
        if img.format == "GIF":
            disposal.append(int(getattr(img, "disposal_method", 0) or 0))
        elif img.format == "PNG":
            disposal.append(int(img.info.get("disposal", 0) or 0))
    if not alpha:
        frames = [np.ascontiguousarray(f[:, :, :3]) for f in frames]
    return Animation(frames, durations, plays, disposal or None, img.format, icc,
                     tuple(background) if isinstance(background, tuple) else None,
                     default_image, notes)


def _on_canvas(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An RGBA frame cut (or padded, transparent) to the first frame's canvas: Pillow grows
    a GIF's canvas for a frame placed beyond its logical screen, which viewers crop."""
    out = np.zeros(shape, dtype=frame.dtype)
    h, w = min(shape[0], frame.shape[0]), min(shape[1], frame.shape[1])
    out[:h, :w] = frame[:h, :w]
    return out


def write_animation(path: str | Path, anim: Animation, fmt: str | None = None, *,
                    quality: int = 95, png_compress_level: int = 1,
                    icc_profile: bytes | None = None) -> list[str]:
    """Write `anim` as an animated `fmt` (Pillow's "GIF", "PNG" = APNG or "WEBP"; None: the
    format it was read from) to a temporary name beside `path`, then rename it into place.
    `icc_profile` None writes `anim.icc_profile`.

    Returns notes on what the format changed or left out (an APNG default image in GIF or
    WebP, durations rounded to GIF's 10 ms steps or WebP's whole milliseconds, a play count
    over the format's limit); empty when everything is kept.

    Raises ValueError for a format that cannot hold an animation or a frame too large for
    the format, OSError when the file cannot be written.
    """
    fmt = fmt or anim.format
    record = registry.get_format(fmt)
    if record is None or not record.animated:
        raise ValueError(not_animated_message(fmt, len(anim.frames)))
    w, h = anim.size
    if (problem := side_problem(fmt, (w, h), "{w}x{h} frames")) is not None:
        raise ValueError(f"{problem}; {unlimited(animated=True)}")
    notes: list[str] = []
    anim, merged = merge_identical(anim)
    notes += [merged] if merged else []
    images, kwargs = _for_writer(anim, fmt, notes)
    if len(images) == 1:  # one image: a still, with the writer's single-frame options
        kwargs = {k: v[0] if isinstance(v, list) else v for k, v in kwargs.items()}
    meta, moved = texts_for_output(anim.metadata, fmt)
    icc = icc_profile if icc_profile is not None else anim.icc_profile
    icc, colour_notes = colour_for_output(meta, fmt, icc, grey=False)
    notes += text_notes(meta, fmt) + moved + colour_notes
    kwargs.update(pil_save_kwargs(meta, fmt, anim.size, None) if meta else {})
    kwargs["icc_profile"] = icc
    if record.save_options is not None:
        record.save_options(kwargs, registry.Encoding(quality, png_compress_level,
                                                      anim.lossless))
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    kwargs.update(save_all=True, append_images=images[1:])
    path = Path(path)
    with atomic_file(path) as fh:
        if record.save is not None:  # APNG: sBIT, a ratio-only pHYs
            record.save(fh, images[0], kwargs, meta, notes)
        else:
            images[0].save(fh, format=fmt, **kwargs)
    return notes


def merge_identical(anim: Animation) -> tuple[Animation, str | None]:
    """`anim` with each run of identical consecutive frames made one frame, shown for the
    run's total duration and disposed as the run's last frame, and a note saying so; `anim`
    itself and None when no two consecutive frames are equal. An APNG's default image (not an
    animation frame) is never merged. Every animation writer merges such frames (Pillow's GIF
    and APNG writers, libwebp), so this changes nothing on screen; doing it here makes the
    frames written known."""
    first = 1 if anim.default_image else 0
    keep = list(range(first))
    durations = list(anim.durations[:first])
    disposal = list(anim.disposal[:first]) if anim.disposal else None
    for i in range(first, len(anim.frames)):
        if len(keep) > first and np.array_equal(anim.frames[i], anim.frames[keep[-1]]):
            durations[-1] += anim.durations[i]
            if disposal is not None:
                disposal[-1] = anim.disposal[i]
            continue
        keep.append(i)
        durations.append(anim.durations[i])
        if disposal is not None:
            disposal.append(anim.disposal[i])
    total, written = len(anim.frames) - first, len(keep) - first
    if written == total:
        return anim, None
    frames = [anim.frames[i] for i in keep]
    merged = replace(anim, frames=frames, durations=durations, disposal=disposal)
    if written == 1 and not anim.default_image:
        return merged, (f"all {total} frames are the same image: written as one still image "
                        f"(the animation showed it for {_ms(durations[0])} ms)")
    return merged, (f"{total - written} of {total} frames repeat the frame before them: "
                    f"merged into it with their durations added, as every animation writer "
                    f"does ({written} frames written)")


def not_animated_message(fmt: str, frames: int) -> str:
    """The reason an animation cannot be written as `fmt`."""
    return (f"an animation of {frames} frames: {fmt} holds one image; choose --format "
            + ", ".join(ANIMATED_OUTPUTS.values()))


def _for_writer(anim: Animation, fmt: str,
                notes: list[str]) -> tuple[list[Image.Image], dict]:
    """The frames as PIL images and the keyword arguments for Pillow's writer of `fmt`; what
    the format changes or leaves out is added to `notes`."""
    frames, durations, disposal = anim.frames, list(anim.durations), anim.disposal
    if anim.default_image:  # APNG: frame 0 is not part of the animation
        durations, disposal = durations[1:], disposal[1:] if disposal else disposal
        if fmt != "PNG":
            frames = frames[1:]
            notes.append(f"the APNG default image (shown only by viewers without APNG support) "
                         f"is not an animation frame: {fmt} has no place for it, left out "
                         f"({len(frames)} frames written)")
    durations = _stored_durations(fmt, durations, notes)
    loop = loop_for(fmt, anim.plays)
    if anim.plays > 1 and plays_from_loop(fmt, loop) != anim.plays:
        notes.append(f"{fmt} holds at most {plays_from_loop(fmt, loop)} plays: the animation "
                     f"played {anim.plays} times")
    kwargs: dict = {"duration": durations, "loop": loop}
    if fmt == "GIF":
        images = [to_gif_palette(Image.fromarray(f)) for f in frames]
        kwargs["disposal"] = _gif_disposal(anim.format, disposal, images)
        if "transparency" in images[0].info:
            kwargs["transparency"] = images[0].info["transparency"]
        return images, kwargs
    images = [Image.fromarray(f) for f in frames]
    if fmt == "PNG":
        if disposal is not None:
            kwargs["disposal"] = disposal if anim.format == "PNG" else \
                [_GIF_TO_APNG.get(d, 0) for d in disposal]
        kwargs["blend"] = 0  # source: each whole canvas replaces what was there
        kwargs["default_image"] = anim.default_image or None
    elif fmt == "WEBP":
        kwargs["background"] = anim.background
    return images, kwargs


_GIF_MAX_MS = 0xFFFF * 10  # a GIF frame's delay: 16 bits of 10 ms


def _stored_durations(fmt: str, durations: list[float], notes: list[str]) -> list[float]:
    """The frame durations (ms) as `fmt` stores them, with a note when any changes. GIF:
    rounded to the nearest 10 ms (Pillow would truncate: 15 -> 10), a frame that has a
    duration at least 10 ms (0 means "as fast as the viewer goes"), at most 655350 ms. WebP:
    whole milliseconds, as Pillow rounds the running timestamps. APNG keeps them (fractions)."""
    if fmt == "GIF":
        stored: list[float] = [
            0 if d <= 0 else min(max(int(round(d, 6) / 10 + 0.5), 1) * 10, _GIF_MAX_MS)
            for d in durations]  # round(d, 6): APNG's 201/200 s reads as 1004.9999999 ms
        step = "in 10 ms steps"
    elif fmt == "WEBP":
        ends = np.cumsum([0.0, *durations])
        stored = [round(b) - round(a) for a, b in zip(ends[:-1], ends[1:], strict=True)]
        step = "in whole milliseconds"
    else:
        return durations
    changed = [i for i, (a, b) in enumerate(zip(durations, stored, strict=True)) if a != b]
    if changed:
        shown = changed[:6]
        more = f" (and {len(changed) - 6} more)" if len(changed) > 6 else ""
        which = (f"{len(changed)} of {len(durations)} frames" if len(changed) > 6 else
                 f"frame{'s' if len(changed) > 1 else ''} "
                 f"{', '.join(str(i + 1) for i in shown)} of {len(durations)}")
        notes.append(f"{fmt} stores frame durations {step}: "
                     f"{', '.join(_ms(durations[i]) for i in shown)} ms became "
                     f"{', '.join(_ms(stored[i]) for i in shown)}{more} ({which})")
    return stored


def _ms(value: float) -> str:
    """A duration in ms for a note: 15, 33.333."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _gif_disposal(source: str, disposal: list[int] | None,
                  images: list[Image.Image]) -> list[int]:
    """The source's disposal in GIF codes; 2 (restore to background) for a frame after which
    a pixel turns transparent, since "keep" would leave it showing through."""
    n = len(images)
    if disposal is None:
        codes = [1] * n
    elif source == "GIF":
        codes = list(disposal)
    else:
        codes = [_APNG_TO_GIF.get(d, 1) for d in disposal]
    if "transparency" not in images[0].info:
        return codes
    clear = [np.asarray(im) == im.info["transparency"] for im in images]
    for k in range(n - 1):
        if codes[k] == 2 or (codes[k] == 3 and k == 0):
            continue  # the next frame starts from a clear canvas
        left = clear[k - 1] if codes[k] == 3 else clear[k]  # what stays on screen
        if bool((clear[k + 1] & ~left).any()):
            codes[k] = 2
    return codes


__all__ = ["Animation", "merge_identical", "read_animation", "write_animation",
           "not_animated_message", "plays_from_loop", "loop_for", "ANIMATED_INPUTS",
           "ANIMATED_OUTPUTS"]
