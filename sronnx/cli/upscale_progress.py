"""The progress display of `sronnx upscale`, always on standard error: a bar of the planned
output pixels on a terminal, one plain line per file elsewhere, nothing with --quiet but
the failures. It reads no image and imports nothing heavy: the command gives it the
planned pixels and each file's result.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click

from sronnx.cli.upscale_common import Key


@dataclass
class _Video:
    """One video's progress in frames."""

    name: str
    frames: int  # in the video, from its header (0: unknown)
    frame_px: int  # output pixels per frame
    px: int = 0
    first: tuple[float, int] | None = None  # (time, frames) at the first report
    shown: float = 0.0  # when its last line was printed

    @property
    def done(self) -> int:
        return self.px // max(self.frame_px, 1)

    def rate(self, now: float) -> float | None:
        """Frames per second since the first report (frames reused from an interrupted
        run arrive in the first report: they are not counted in the rate)."""
        if self.first is None or now - self.first[0] < 1e-3 or self.done <= self.first[1]:
            return None
        return (self.done - self.first[1]) / (now - self.first[0])

    def line(self, now: float) -> str:
        """"name: frame 120/1500 (8%), 3.2 frames/s, 7 min 10 s left"."""
        done, total, rate = self.done, self.frames, self.rate(now)
        text = f"{self.name}: frame {done}" + (f"/{total} ({100 * done // total}%)"
                                               if total >= done and total else "")
        if rate is not None:
            text += f", {rate:.2f} frames/s"
            if total > done:
                text += f", {_duration((total - done) / rate)} left"
        return text


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


class Progress:
    """What a run shows as it goes, always on standard error: on a terminal a bar whose
    length is the planned output pixels (`weights`, per job key), moved as the model's tiles
    finish, with the percentage, the time left, the files done and the output MP/s; without
    `weights` (no image size known) the bar counts files. Not on a terminal, one plain line
    per file; nothing with --quiet. Failures always get their line. Thread-safe: tiles are
    reported from worker threads.

    A video (`videos`: job key -> (frames, output pixels per frame)) also counts its
    frames: on a terminal the bar's text says the frame, the frames/s and the time left of
    the video in progress; elsewhere a line says so every `interval` seconds."""

    #: seconds between two progress lines of a video when not on a terminal
    interval = 10.0

    def __init__(self, files: int, quiet: bool,
                 weights: dict[Key, int] | None = None,
                 videos: dict[Key, tuple[int, int]] | None = None) -> None:
        self.quiet = quiet
        self.interactive = not quiet and sys.stderr.isatty()
        self.files, self.files_done = files, 0
        self.done_px = 0  # output pixels of the files written, for the summary's rate
        self.weights = weights if weights and sum(weights.values()) > 0 else None
        self.reported: dict[Key, int] = {}  # pixels the bar moved by, per job
        self.bar_px = 0
        self.lock = threading.RLock()
        self.t_start = time.perf_counter()
        self.videos = {k: _Video(Path(k[0]).name, f, px) for k, (f, px) in
                       (videos or {}).items()}
        self.video_now: _Video | None = None  # the video the bar's text is about
        self.bar = None
        if self.interactive:
            length = sum(self.weights.values()) if self.weights else files
            self.bar = click.progressbar(length=length, label="upscaling", file=sys.stderr,
                                         show_eta=True, show_percent=True, show_pos=False,
                                         item_show_func=lambda s: s)
            self.bar.__enter__()

    def rate(self) -> float:
        """Output megapixels per second of the files written so far."""
        return self.done_px / 1e6 / max(time.perf_counter() - self.t_start, 1e-9)

    def _info(self) -> str:
        """The bar's trailing text: files done and the output MP/s so far."""
        px = self.bar_px if self.weights else self.done_px
        now = time.perf_counter()
        rate = px / 1e6 / max(now - self.t_start, 1e-9)
        text = f"{self.files_done}/{self.files} files, {rate:.1f} MP/s"
        if self.video_now is not None:
            text += f"; {self.video_now.line(now)}"
        return text

    def _move(self, key: Key, pixels: int | None) -> None:
        """Move the bar by `pixels` of job `key` (None: the rest of its planned pixels),
        never past its planned share. Called with the lock held."""
        if self.bar is None:
            return
        if self.weights is None:
            if pixels is None:
                self.bar.update(1, self._info())
            return
        room = self.weights.get(key, 0) - self.reported.get(key, 0)
        step = room if pixels is None else min(pixels, room)
        if step > 0:
            self.reported[key] = self.reported.get(key, 0) + step
            self.bar_px += step
            self.bar.update(step, self._info())
        elif pixels is None:  # nothing left to move: show the file count all the same
            self.bar.current_item = self._info()
            self.bar.render_progress()

    def on_pixels(self, job, pixels: int) -> None:
        """Output pixels of `job` finished (`sronnx.engine.batch.PixelCallback`)."""
        with self.lock:
            key = (str(job.source), str(job.output))
            video = self.videos.get(key)
            if video is not None:
                self._frames(video, pixels)
            self._move(key, pixels)

    def _frames(self, video: _Video, pixels: int) -> None:
        """A video's frames moved on: the bar's text, or a line every `interval` seconds
        (not on a terminal). Called with the lock held."""
        now = time.perf_counter()
        video.px += pixels
        if video.first is None:
            video.first, video.shown = (now, video.done), now
        self.video_now = video
        if self.bar is None and not self.quiet and now - video.shown >= self.interval:
            video.shown = now
            click.echo(f"progress: {video.line(now)}", err=True)

    def __call__(self, r, key: Key) -> None:
        """A file's result; `key` is its job's (input, output) as planned."""
        with self.lock:
            self.files_done += 1
            if r.output_size and r.status == "done":
                self.done_px += r.output_size[0] * r.output_size[1] * (r.frames or 1)
            if r.status == "failed":
                if self.bar is not None:
                    click.echo("", err=True)
                click.echo(f"failed: {r.input}: {r.error}", err=True)
            video = self.videos.get(key)
            if video is not None and self.video_now is video:
                self.video_now = None
            if self.bar is not None:
                self._move(key, None)
            elif not self.quiet and r.status != "failed":
                frames = f"{r.frames} frames, " if r.frames and r.status == "done" else ""
                made = (r.frames or 0) - (r.frames_reused or 0)
                if frames and key in self.videos and r.seconds > 0 and made > 0:
                    frames += f"{made / r.seconds:.2f} frames/s, "  # reused frames left out
                model = f"{r.model}: {r.model_reason}, " if r.model and r.status == "done" else ""
                click.echo(f"{r.status}: {r.input} -> {r.output} ({model}{frames}"
                           f"{r.seconds:.2f} s)", err=True)
            if not self.quiet:
                for note in getattr(r, "notes", ()):
                    click.echo(f"note: {r.input}: {note}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
