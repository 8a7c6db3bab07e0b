"""Animation conversions say what the output format changed: an APNG's default image left out
of a GIF or WebP (kept in APNG), GIF's 10 ms and WebP's whole-millisecond duration steps,
GIF's longest duration; one short note each, in the report and from `write_animation`.

Small synthetic animations built here; the command (click's runner) picks the shipped default
model of scale 2 on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, durations_of, frames_rgb, no_traceback, save_animation
from PIL import Image

from sronnx.io.animation import Animation, write_animation


def run_json(tmp_path: Path, *args: object) -> dict:
    """`sronnx upscale ARGS --json` on the CPU -> the report; the run must succeed."""
    report = tmp_path / "report.json"
    r = cli(*args, "--provider", "cpu", "--json", report)
    no_traceback(r)
    assert r.exit_code == 0, r.output
    return json.loads(report.read_text())


def default_image_apng(path: Path) -> Path:
    """An APNG whose default image (frame 0, shown by viewers without APNG) is not part of
    the animation: 3 images, 2 animation frames."""
    return save_animation(path, frames_rgb(3), default_image=True, duration=[100, 200], loop=0)


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_apng_default_image_left_out_with_a_note(tmp_path: Path, fmt: str) -> None:
    src = default_image_apng(tmp_path / "in" / "d.png")
    report = run_json(tmp_path, src, "-o", tmp_path / fmt, "--format", fmt)
    (rec,) = report["files"]
    assert rec["status"] == "done" and rec["frames"] == 3
    assert any("default image" in n and "left out" in n and fmt.upper() in n
               for n in rec["notes"]), rec["notes"]
    with Image.open(tmp_path / fmt / f"d.{fmt}") as im:
        assert im.n_frames == 2


def test_apng_default_image_kept_in_apng_without_a_note(tmp_path: Path) -> None:
    src = default_image_apng(tmp_path / "in" / "d.png")
    report = run_json(tmp_path, src, "-o", tmp_path / "out")
    assert report["files"][0]["notes"] == []
    with Image.open(tmp_path / "out" / "d.png") as im:
        assert im.n_frames == 3 and im.info["default_image"]


def test_gif_durations_rounded_to_nearest_10_ms_with_a_note(tmp_path: Path) -> None:
    src = save_animation(tmp_path / "in" / "t.png", frames_rgb(3), duration=[15, 1005, 33])
    assert durations_of(src) == pytest.approx([15, 1005, 33])  # 1005: 201/200 s in APNG
    report = run_json(tmp_path, src, "-o", tmp_path / "gif", "--format", "gif")
    notes = report["files"][0]["notes"]
    assert "GIF stores frame durations in 10 ms steps: 15, 1005, 33 ms became 20, 1010, 30 " \
           "(frames 1, 2, 3 of 3)" in notes, notes
    assert durations_of(tmp_path / "gif" / "t.gif") == [20, 1010, 30]  # Pillow: 10, 1000, 30


def test_gif_durations_on_the_10_ms_grid_give_no_note(tmp_path: Path) -> None:
    src = save_animation(tmp_path / "in" / "t.png", frames_rgb(3), duration=[20, 0, 1230])
    report = run_json(tmp_path, src, "-o", tmp_path / "gif", "--format", "gif")
    assert report["files"][0]["notes"] == []
    assert durations_of(tmp_path / "gif" / "t.gif") == [20, 0, 1230]


def test_fractional_apng_durations_to_webp_and_gif(tmp_path: Path) -> None:
    """1/30 s frames (APNG delay 1/30): WebP holds whole milliseconds, rounded on the running
    timestamps (the total stays 100 ms); GIF 10 ms steps, with a minimum of 10."""
    frames = [Image.fromarray(f) for f in frames_rgb(3)]
    src = tmp_path / "in" / "f.png"
    src.parent.mkdir(parents=True)
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=[100 / 3] * 2 + [3])
    report = run_json(tmp_path, src, "-o", tmp_path / "webp", "--format", "webp")
    notes = report["files"][0]["notes"]
    assert notes == ["WEBP stores frame durations in whole milliseconds: 33.333, 33.333 ms "
                     "became 33, 34 (frames 1, 2 of 3)"]  # 3 ms: kept
    assert durations_of(tmp_path / "webp" / "f.webp") == [33, 34, 3]
    report = run_json(tmp_path, src, "-o", tmp_path / "gif", "--format", "gif")
    assert durations_of(tmp_path / "gif" / "f.gif") == [30, 30, 10]
    assert any("33.333, 33.333, 3 ms became 30, 30, 10" in n
               for n in report["files"][0]["notes"])


def test_many_changed_durations_and_the_gif_limit_in_one_short_note(tmp_path: Path) -> None:
    """write_animation directly: 8 frames off the 10 ms grid name the first 6; a duration over
    GIF's 655.35 s is cut to it, with the same note."""
    frames = [np.zeros((4, 4, 3), np.uint8) + 30 * k for k in range(8)]
    anim = Animation(frames, [15.0] * 7 + [700_000.0], 0, None, "WEBP")
    assert write_animation(tmp_path / "m.webp", anim) == []  # fmt None: WEBP, as read
    with Image.open(tmp_path / "m.webp") as im:
        assert (im.format, im.n_frames) == ("WEBP", 8)
    notes = write_animation(tmp_path / "m.gif", anim, "GIF")
    assert notes == ["GIF stores frame durations in 10 ms steps: 15, 15, 15, 15, 15, 15 ms became "
                     "20, 20, 20, 20, 20, 20 (and 2 more) (8 of 8 frames)"], notes
    assert durations_of(tmp_path / "m.gif") == [20] * 7 + [655_350]
