"""What `sronnx upscale` says about its plan before any file is decoded, worked out from
the plan and the image headers alone: the refusals (outputs that exist, outputs too large,
no input found), the line naming what the folder listings left out, the asked size as the
header line names it, and the planned output pixels per file that the progress bar counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sronnx.cli.upscale_common import LEFT_OUT_SHOWN, Key, exists


def existing_message(outputs: list[Path], shown: int = LEFT_OUT_SHOWN) -> str:
    """The one refusal for a run whose outputs already exist (without --skip-existing or
    --overwrite): how many, up to `shown` of them named, what to do."""
    n = len(outputs)
    names = ", ".join(str(p) for p in outputs[:shown])
    if n > shown:
        names += f" and {n - shown} more"
    them = "them" if n != 1 else "it"
    return (f"{n} output{'s' if n != 1 else ''} already exist{'s' if n == 1 else ''}: {names}; "
            f"use --skip-existing to keep {them} or --overwrite to replace {them} (runs at "
            "different scales into one folder write the same names: give each its own "
            "--suffix, e.g. --suffix _x2)")


def size_text(outscale: float | None, width: int | None, height: int | None) -> str:
    """The asked output size as the header line names it."""
    if outscale is not None:
        return f"x{outscale:g}"
    if width is not None and height is not None:
        return f"{width}x{height}"
    return f"width {width}" if width is not None else f"height {height}"


def nothing_found(inputs: tuple[Path, ...], jobs: list, left_out: list,
                  recursive: bool) -> str:
    """The message for a run that found no input image: what each named input that could
    not be taken is (missing, a fifo...), and the --recursive hint only where a listed
    folder has sub-folders that were not entered."""
    from sronnx.engine import SUB_FOLDER

    message = "no input images found in " + ", ".join(str(p) for p in inputs)
    by_reason: dict[str, list[str]] = {}
    for j in jobs:
        if j.error is not None:
            by_reason.setdefault(j.error, []).append(str(j.source))
    if by_reason:
        message += "".join(f"; {why}: {', '.join(paths)}" for why, paths in by_reason.items())
    elif not recursive and any(e.reason == SUB_FOLDER for e in left_out):
        message += " (use --recursive for sub-folders)"
    return message


def left_out_line(left_out: list, shown: int = LEFT_OUT_SHOWN) -> str | None:
    """One summary line for what the folder listings left out (`LeftOut` entries), or None:
    up to `shown` files named with their reason, the rest counted by reason; sub-folders not
    entered without --recursive come last, in one clause."""
    from collections import Counter

    from sronnx.engine import SUB_FOLDER, reason_kind

    def names(entries: list, with_reason: bool) -> str:
        text = ", ".join(f"{e.path} ({e.reason})" if with_reason else str(e.path)
                         for e in entries[:shown])
        rest = entries[shown:]
        if rest:
            if with_reason:
                by_reason = Counter(reason_kind(e.reason) for e in rest)
                why = "; ".join(f"{n} {r}" for r, n in by_reason.most_common())
                text += f" and {len(rest)} more ({why})"
            else:
                text += f" and {len(rest)} more"
        return text

    files = [e for e in left_out if e.reason != SUB_FOLDER]
    folders = [e for e in left_out if e.reason == SUB_FOLDER]
    parts = []
    if files:
        parts.append(f"left out {len(files)} file(s): {names(files, True)}")
    if folders:
        parts.append(f"{len(folders)} sub-folder(s) not entered (use --recursive): "
                     f"{names(folders, False)}")
    return "; ".join(parts) if parts else None


def size_advice(outdir: Path, fmt: str, to_file: bool) -> str:
    """What to do about an output too large for its format, in the terms the output was
    named in: -o NAME.EXT, --format, or the input's own format kept by default."""
    if to_file:
        also = " --format png" if fmt != "same" else ""
        return f"name the output .png or .tif instead (-o {outdir.with_suffix('.png')}{also})"
    if fmt != "same":
        return f"choose another --format than {fmt}: png or tiff"
    return "choose --format png or tiff (the output keeps the input's format by default)"


@dataclass(frozen=True)
class SizeLimits:
    """What `too_large_message` checks each planned output against.

    Attributes:
        opts: the run's `sronnx.engine.OutputOptions` (the output size and format asked).
        scale: the model's scale.
        existing: "skip" leaves out the jobs whose output exists (--skip-existing).
        max_output_pixels: the largest output, in pixels (frames included).
        max_input_pixels: inputs over this many pixels (--max-pixels) are left to their own
            run, which fails them with that reason.
    """

    opts: Any
    scale: int
    existing: str
    max_output_pixels: int
    max_input_pixels: int


def too_large_message(jobs: list, header, limits: SizeLimits, name, advice: str,
                      shown: int = LEFT_OUT_SHOWN) -> str | None:
    """The one refusal for a run whose outputs would be too large, from each input's header
    (`header(job)`): a side over the output format's limit (JPEG and GIF 65535, WebP 16383;
    `advice` says what to do), or more than `limits.max_output_pixels` in all (frames
    included). An input whose header cannot be read, or over `limits.max_input_pixels`
    (--max-pixels, a decompression-bomb guard), is left to its own run, which fails it with
    that reason. `name(job)` names an input as messages do; up to `shown` files are named.
    None when every output fits."""
    from sronnx.io import output_format, side_problem

    opts, most = limits.opts, limits.max_output_pixels
    problems = []
    for j in jobs:
        if j.error is not None or (limits.existing == "skip" and exists(j.output)):
            continue
        h = header(j)
        if h is None or h.width * h.height * h.frames > limits.max_input_pixels or \
                getattr(h, "video", False):  # a video's frames are streamed, one at a time
            continue
        w, hh = opts.output_size(h.size, limits.scale)
        fmt = output_format("PNG", opts.format, j.output)  # the output name has a known ext
        if (why := side_problem(fmt, (w, hh), "a {w}x{h} output")) is not None:
            problems.append(f"{name(j)}: {why}; {advice}")
        elif w * hh * h.frames > most:
            frames = f" x {h.frames} frames" if h.frames > 1 else ""
            problems.append(f"{name(j)}: the output would be {w}x{hh}{frames} = "
                            f"{w * hh * h.frames:,} pixels, over --max-output-pixels "
                            f"{most:,}; ask for a smaller size (or raise "
                            "--max-output-pixels where the memory is there)")
    if not problems:
        return None
    if len(problems) == 1:
        return problems[0]
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    return (f"{len(problems)} outputs would be too large: " + "; ".join(problems[:shown]) +
            more)


def pixel_weights(jobs: list, header, opts, scale: int, existing: str) -> dict[Key, int] | None:
    """Planned output pixels per job key, for the progress bar: from each input's header
    (size upright, frames) and the asked output size; 0 for a job known to fail (its input
    is missing) or to be skipped (its output exists, with --skip-existing); a file whose
    header cannot be read counts as the mean of the others. None when no size is known (the
    bar then counts files)."""
    weights: dict[Key, int | None] = {}
    for j in jobs:
        key = (str(j.source), str(j.output))
        if j.error is not None or (existing == "skip" and exists(j.output)):
            weights[key] = 0
            continue
        h = header(j)
        if h is None:
            weights[key] = None
            continue
        w, h_ = opts.output_size(h.size, scale)
        weights[key] = w * h_ * h.frames
    known = [v for v in weights.values() if v]
    if not known:
        return None
    mean = sum(known) // len(known)
    return {k: mean if v is None else v for k, v in weights.items()}


def video_frames(jobs: list, header, opts, scale: int) -> dict[Key, tuple[int, int]]:
    """Each video job's (frames, output pixels per frame) from its header, for the progress
    in frames (frames: the header's count or estimate; 0 where it says none)."""
    videos: dict[Key, tuple[int, int]] = {}
    for j in jobs:
        h = header(j) if j.error is None else None
        if h is None or not getattr(h, "video", False):
            continue
        w, h_ = opts.output_size(h.size, scale)
        videos[(str(j.source), str(j.output))] = (h.frames, w * h_)
    return videos
