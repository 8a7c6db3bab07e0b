"""The progress display of `sronnx upscale`, always on standard error: a bar of the planned
output pixels on a terminal, one plain line per file elsewhere, nothing with --quiet but
the failures. It reads no image and imports nothing heavy: the command gives it the
planned pixels and each file's result.
"""

from __future__ import annotations

import sys
import threading
import time

import click

from sronnx.cli.upscale_common import Key


class Progress:
    """What a run shows as it goes, always on standard error: on a terminal a bar whose
    length is the planned output pixels (`weights`, per job key), moved as the model's tiles
    finish, with the percentage, the time left, the files done and the output MP/s; without
    `weights` (no image size known) the bar counts files. Not on a terminal, one plain line
    per file; nothing with --quiet. Failures always get their line. Thread-safe: tiles are
    reported from worker threads."""

    def __init__(self, files: int, quiet: bool,
                 weights: dict[Key, int] | None = None) -> None:
        self.quiet = quiet
        self.interactive = not quiet and sys.stderr.isatty()
        self.files, self.files_done = files, 0
        self.done_px = 0  # output pixels of the files written, for the summary's rate
        self.weights = weights if weights and sum(weights.values()) > 0 else None
        self.reported: dict[Key, int] = {}  # pixels the bar moved by, per job
        self.bar_px = 0
        self.lock = threading.RLock()
        self.t_start = time.perf_counter()
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
        rate = px / 1e6 / max(time.perf_counter() - self.t_start, 1e-9)
        return f"{self.files_done}/{self.files} files, {rate:.1f} MP/s"

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
            self._move((str(job.source), str(job.output)), pixels)

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
            if self.bar is not None:
                self._move(key, None)
            elif not self.quiet and r.status != "failed":
                frames = f"{r.frames} frames, " if r.frames and r.status == "done" else ""
                click.echo(f"{r.status}: {r.input} -> {r.output} ({frames}{r.seconds:.2f} s)",
                           err=True)
            if not self.quiet:
                for note in getattr(r, "notes", ()):
                    click.echo(f"note: {r.input}: {note}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
