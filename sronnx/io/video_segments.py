"""A video upscaled in GOP-aligned segments, resumable after a crash, joined losslessly.

`transcode_video` is the whole job:

1. plan: the video stream's packets are read (nothing decoded) and the video is cut at
   keyframes about every `VideoEncoding.segment_seconds` (default `SEGMENT_SECONDS`);
   a segment holds the frames whose timestamps lie in [its keyframe, the next segment's);
2. each segment is decoded from its keyframe, every frame passed through the frame function
   (the model), encoded by a fresh encoder (so each segment starts with a keyframe of its
   own) and its packets (bytes, pts, dts, duration, key flag: exact, in the input's time
   base) written atomically into a segment file in a work folder beside the output,
   `<output>.parts/`; a manifest (JSON) there records each finished segment (frames,
   bytes, SHA-256) under a key: the source's identity (size, mtime, SHA-256 of its first
   MiB) and every setting that changes the bytes (the engine's: model file hash, tiling,
   size, version; the encoder, CRF, pixel format, muxer, segment length, the plan);
3. join: the segments' packets are remuxed (never re-encoded) into the output together
   with the source's other streams, metadata, chapters, rotation and colour description
   (`sronnx.io.video`), written atomically; the work folder is then removed.

A rerun after a crash (kill -9 included) finds the manifest: every segment it lists whose
file is still there with the same size and hash is reused, the rest is redone; a manifest
made with another source or other settings is discarded, with a note. An uninterrupted run
takes the same path, so both give the same bytes.

Within a segment, decoding (and the conversion to RGB) runs in a thread ahead of the frame
function, and encoding in a thread behind it, through bounded queues: at most
`QUEUE_FRAMES` frames wait on each side, whatever the video's length.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import io
import json
import queue
import shutil
import struct
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np

from sronnx.io.images import atomic_file
from sronnx.io.video import (
    MUXER_TAGS,
    MUXERS,
    NO_PYAV,
    SEGMENT_SECONDS,
    FrameFunction,
    Start,
    VideoEncoding,
    VideoError,
    VideoInfo,
    VideoResult,
    av_error,
    check_input,
    close_quietly,
    container_fits,
    copy_streams,
    frames_promised,
    has_pyav,
    reason_of,
    stream_bits,
    video_stream,
)

__all__ = ["QUEUE_FRAMES", "SEGMENT_SECONDS", "Coders", "Segment", "SegmentDone", "SegmentJob",
           "SegmentRunner", "VideoInterrupted", "encode_segment", "plan_segments",
           "transcode_video"]

#: frames waiting between decoding and the model, and between the model and encoding
QUEUE_FRAMES = 4
_MAGIC = b"SRONNX-SEGMENT 1\n"
_RECORD = struct.Struct("<qqqBI")  # pts, dts, duration, key flag, size
_NONE = -(1 << 63)  # a timestamp the encoder left unset
_HEAD_BYTES = 1 << 20
_MANIFEST = "manifest.json"
_FORMAT = "sronnx video parts 1"

T = TypeVar("T")


@dataclass(frozen=True)
class Segment:
    """Frames with pts in [start, stop) of the input's time base (None: open end); decoding
    starts at the keyframe at `start` (None: at the stream's start)."""

    index: int
    start: int | None
    stop: int | None

    def before(self, pts: int | None) -> bool:
        return self.start is not None and pts is not None and pts < self.start

    def after(self, pts: int | None) -> bool:
        return self.stop is not None and pts is not None and pts >= self.stop


@dataclass(frozen=True)
class SegmentJob:
    """Everything a worker needs to make one segment file (picklable: Ray sends it)."""

    source: str
    segment: Segment
    encoding: VideoEncoding
    size: tuple[int, int]
    muxer: str
    path: str
    frame_offset: int = 0  # frames before this segment, where known (for messages)


@dataclass
class SegmentDone:
    """A segment file made: its frames, bytes, SHA-256 and what its encoder noted."""

    index: int
    frames: int
    bytes: int
    sha256: str
    notes: list[str] = field(default_factory=list)
    #: what decoding saw: the packets that gave no frame, the first and last frame's time,
    #: the widest gap between frames
    seen: Seen = field(default_factory=lambda: Seen())

    def entry(self, name: str) -> dict:
        return {"file": name, "frames": self.frames, "bytes": self.bytes,
                "sha256": self.sha256, "seen": asdict(self.seen)}


#: gaps between frames a segment keeps for the notes (the widest)
_WIDEST_GAPS = 8


@dataclass
class Seen:
    """What decoding one segment saw, in seconds of the input's timestamps (for the notes on
    a damaged stream): the packets that gave no frame, the first and last frame, and the
    `_WIDEST_GAPS` widest gaps between two frames (widest first)."""

    missing: list[float] = field(default_factory=list)
    first: float | None = None
    last: float | None = None
    gaps: list[tuple[float, float]] = field(default_factory=list)

    def frame(self, t: float) -> None:
        """A frame at `t` seconds, the frames coming in time order."""
        if self.last is not None:
            self._gap(self.last, t)
        self.first = t if self.first is None else self.first
        self.last = t

    def _gap(self, a: float, b: float) -> None:
        if len(self.gaps) >= _WIDEST_GAPS and b - a <= self.gaps[-1][1] - self.gaps[-1][0]:
            return
        self.gaps.append((a, b))
        self.gaps.sort(key=lambda g: g[0] - g[1])
        del self.gaps[_WIDEST_GAPS:]

    @classmethod
    def join(cls, parts: list[dict]) -> Seen:
        """One video's view from its segments' (`asdict` of each, in order)."""
        whole = cls()
        for part in parts:
            whole.missing += part.get("missing", [])
            first, last = part.get("first"), part.get("last")
            if first is None or last is None:
                continue
            whole.frame(first)  # the gap from the segment before, if any
            for a, b in part.get("gaps", []):
                whole._gap(a, b)
            whole.last = last
        return whole


# runs every job given (in any order, anywhere) and yields each one's result as it ends
SegmentRunner = Callable[[list[SegmentJob]], Iterator[SegmentDone]]


# ---- planning -------------------------------------------------------------------------------

def plan_segments(src: str | Path, seconds: float) -> list[Segment]:
    """The video's segments: cut at each keyframe at least `seconds` after the last cut and
    later than every frame before it in decoding order (so no frame needs another segment's
    packets). One segment where `seconds` <= 0, a packet has no timestamp, or the packets
    cannot be read (the decode then says where it broke)."""
    import av

    whole = [Segment(0, None, None)]
    if seconds <= 0:
        return whole
    starts: list[int] = []
    try:
        with av.open(str(src), metadata_errors="ignore") as c:
            vs = c.streams.video[0]
            step = Fraction(seconds) / vs.time_base
            last = top = None
            for p in c.demux(vs):
                if p.size == 0:
                    continue
                if p.pts is None:
                    return whole
                if last is None:
                    last = p.pts
                elif p.is_keyframe and p.pts > top and p.pts - last >= step:
                    starts.append(p.pts)
                    last = p.pts
                top = p.pts if top is None else max(top, p.pts)
    except (av.FFmpegError, OSError, IndexError):
        pass  # a damaged tail: the segments found so far stand, the decode names the frame
    bounds = [None, *starts]
    return [Segment(i, b, starts[i] if i < len(starts) else None)
            for i, b in enumerate(bounds)]


# ---- one segment ----------------------------------------------------------------------------

class VideoInterrupted(VideoError):
    """A segment could not be made for a reason outside the video (a worker died): the
    finished segments are kept for a rerun."""


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Coders:
    """The two threads beside the model, kept for a whole video (every segment uses the
    same two, so the memory their allocations hold is reused, not taken anew for each
    segment): one decodes ahead, one encodes behind. Close with `close` (or `with`)."""

    def __init__(self) -> None:
        self.decode = ThreadPoolExecutor(1, thread_name_prefix="sronnx-video-decode")
        self.encode = ThreadPoolExecutor(1, thread_name_prefix="sronnx-video-encode")

    def close(self) -> None:
        self.decode.shutdown(wait=True)
        self.encode.shutdown(wait=True)

    def __enter__(self) -> Coders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ahead(items: Iterator[T], size: int, thread: ThreadPoolExecutor) -> Iterator[T]:
    """`items` made on `thread` (a one-worker pool), at most `size` ahead of the consumer;
    the maker's failure is raised here, in order. Closing the iterator stops the maker."""
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    end = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(end)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(_Failed(exc))
        finally:
            if hasattr(items, "close"):
                items.close()  # the container is closed on the thread that read it

    maker = thread.submit(produce)
    try:
        while True:
            item = q.get()
            if item is end:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        maker.result()


@dataclass
class _Decoded:
    rgb: np.ndarray
    pts: int | None
    time_base: Fraction
    colorspace: int | None
    color_range: int | None
    rotation: int = 0


def _frames(inp, vs, seg: Segment, rgb: str, seek: bool,
            seen: Seen | None = None) -> Iterator[_Decoded]:
    """The segment's frames, decoded from its keyframe (with `seek`; else from the stream's
    start, the frames before the segment left out) and converted to RGB (`rgb`: rgb24 or
    rgb48le) with their own colour matrix and range. Raises _SeekMissed where the seek
    landed past the segment's first frame. `seen` hears of each frame's time and, once the
    segment is complete, of each of its packets that gave no frame: a decoder that meets a
    corrupt packet may drop its frame without an error. A packet FFmpeg refuses raises
    _DecodeFailed with its time."""
    import av

    if seek and seg.start is not None:
        inp.seek(seg.start, stream=vs, backward=True, any_frame=False)
    first = True
    packets: set[int] = set()
    shown: set[int] = set()
    timed = True  # every packet and frame has a timestamp (else nothing can be compared)
    tb = vs.time_base
    for packet in inp.demux(vs):
        if packet.size:
            timed = timed and packet.pts is not None
            if timed and not seg.before(packet.pts) and not seg.after(packet.pts):
                packets.add(packet.pts)
        try:
            frames = packet.decode()
        except (av.FFmpegError, OSError) as exc:  # named by the packet's time
            pts = packet.pts
            raise _DecodeFailed(None if pts is None else float(pts * tb), exc) from exc
        for frame in frames:
            if seg.before(frame.pts):
                first = False
                continue
            if first and seek and seg.start is not None and (frame.pts is None
                                                             or frame.pts > seg.start):
                raise _SeekMissed
            first = False
            if seg.after(frame.pts):
                _unshown(packets, shown, timed, tb, seen)
                return
            timed = timed and frame.pts is not None
            if timed:
                shown.add(frame.pts)
                if seen is not None:
                    seen.frame(round(float(frame.pts * tb), 6))
            kw = {"src_colorspace": frame.colorspace or None,
                  "src_color_range": frame.color_range or None}
            yield _Decoded(frame.to_ndarray(format=rgb, **kw), frame.pts, frame.time_base,
                           kw["src_colorspace"], kw["src_color_range"], frame.rotation)
    _unshown(packets, shown, timed, tb, seen)


def _unshown(packets: set[int], shown: set[int], timed: bool, tb: Fraction,
             seen: Seen | None) -> None:
    """The times (seconds) of the packets in `packets` that gave no frame, into `seen`."""
    if seen is not None and timed:
        seen.missing.extend(round(float(pts * tb), 6) for pts in sorted(packets - shown))


class _DecodeFailed(Exception):
    """A packet that failed to decode: its time (seconds), where it has one, and FFmpeg's
    error."""

    def __init__(self, seconds: float | None, error: Exception) -> None:
        super().__init__(str(error))
        self.seconds, self.error = seconds, error


class _SeekMissed(Exception):
    """The container's seek went past the segment's keyframe (an index-less container)."""


def _decode_from(src: str, seg: Segment, rgb: str, seek: bool,
                 seen: Seen | None = None) -> Iterator[_Decoded]:
    """`_frames` with the container opened here (and closed when the iterator ends)."""
    import av

    with av.open(src, metadata_errors="ignore") as inp:
        vs = inp.streams.video[0]
        vs.thread_type = "AUTO"
        yield from _frames(inp, vs, seg, rgb, seek, seen)


def _to_input_depth(out: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The model's frame in the decoded frame's dtype (uint8 or uint16)."""
    if out.dtype == dtype:
        return out
    if dtype == np.uint16:
        return (out.astype(np.uint32) * 257).astype(np.uint16)
    return (out >> 8).astype(np.uint8)


class _SegmentWriter:
    """A segment file: the magic line, the encoder's extradata, then one record per packet
    (pts, dts, duration, key flag, size, bytes); its SHA-256 and size as it is written."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.hash, self.bytes = fh, hashlib.sha256(), 0
        self.started = False

    def _write(self, data: bytes) -> None:
        self.fh.write(data)
        self.hash.update(data)
        self.bytes += len(data)

    def start(self, extradata: bytes) -> None:
        self._write(_MAGIC + struct.pack("<I", len(extradata)) + extradata)
        self.started = True

    def packet(self, p, extradata: bytes | None) -> None:
        if not self.started:
            self.start(extradata or b"")
        data = bytes(p)

        def ts(v: int | None) -> int:
            return _NONE if v is None else int(v)
        self._write(_RECORD.pack(ts(p.pts), ts(p.dts), ts(p.duration), int(p.is_keyframe),
                                 len(data)) + data)


def _read_segment(path: Path) -> tuple[bytes, Iterator[tuple[int | None, int | None,
                                                             int | None, bool, bytes]]]:
    """A segment file's extradata and its packets (pts, dts, duration, key, bytes)."""
    fh = open(path, "rb")  # noqa: SIM115 - closed by the iterator below
    if fh.read(len(_MAGIC)) != _MAGIC:
        fh.close()
        raise VideoError(f"{path.name} is not a segment file")
    (n,) = struct.unpack("<I", fh.read(4))
    extradata = fh.read(n)

    def records() -> Iterator[tuple[int | None, int | None, int | None, bool, bytes]]:
        with fh:
            while head := fh.read(_RECORD.size):
                pts, dts, dur, key, size = _RECORD.unpack(head)
                data = fh.read(size)
                if len(data) != size:
                    raise VideoError(f"{path.name} is cut short")

                def v(x: int) -> int | None:
                    return None if x == _NONE else x
                yield v(pts), v(dts), v(dur), bool(key), data
    return extradata, records()


def encode_segment(job: SegmentJob, fn: FrameFunction,
                   on_frame: Callable[[int], None] | None = None,
                   coders: Coders | None = None) -> SegmentDone:
    """Decode `job.segment` of `job.source` (in a thread, `QUEUE_FRAMES` ahead), pass each
    frame (RGB uint8, or uint16 above 8 bits) through `fn`, encode it at `job.size` as
    `job.encoding` says (in a thread, `QUEUE_FRAMES` behind) and write the segment file
    `job.path` atomically. `fn` may return the frame, or a function that finishes it (the
    model's last step, then run in the encoding thread, so that the model's thread only
    calls the model). `on_frame(n)` hears of each frame through the model (n: frames
    of this segment so far). `coders`: the decoding and encoding threads to use (a video's
    runner passes the same for every segment; None: two for this segment). Raises
    VideoError naming the frame where decoding broke, OSError where the file cannot be
    written."""
    import av

    path = Path(job.path)
    try:
        probe = av.open(job.source, metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(f"cannot open as a video: {reason_of(exc)}") from exc
    with probe:
        vs = probe.streams.video[0]
        rgb = "rgb48le" if stream_bits(vs) > 8 else "rgb24"
        notes: list[str] = []
        holder = av.open(io.BytesIO(), "w", format=job.muxer)  # the output's header flags
        ov = video_stream(holder, vs, job.encoding, job.size, notes)
    own = coders is None
    coders = coders or Coders()
    try:
        with atomic_file(path) as fh:
            writer = _SegmentWriter(fh)
            frames, seen = _run_segment(job, fn, ov, writer, rgb, on_frame, coders)
            if not writer.started:
                writer.start(bytes(ov.codec_context.extradata or b""))
    finally:
        if own:
            coders.close()
        _release(holder, ov)
    return SegmentDone(job.segment.index, frames, writer.bytes, writer.hash.hexdigest(), notes,
                       seen)


def _release(holder, ov) -> None:
    """Free the segment's encoder now (its lookahead and reference frames: megabytes), not
    whenever the garbage collector would: the container that held it is closed, and the
    reference cycle between the container and its stream collected."""
    close_quietly(holder)
    del holder, ov
    gc.collect()


def _run_segment(job: SegmentJob, fn: FrameFunction, ov, writer: _SegmentWriter, rgb: str,
                 on_frame: Callable[[int], None] | None, coders: Coders
                 ) -> tuple[int, Seen]:
    """Decode -> `fn` -> encode for one segment, the two ends in threads; returns its
    frames and what decoding saw (`_frames`). A missed seek restarts the segment from the
    stream's start, once."""
    for seek in (True, False):
        try:
            return _through(job, fn, ov, writer, rgb, on_frame, seek, coders)
        except _SeekMissed:
            continue
    raise VideoError("the segment's first frame cannot be found")  # pragma: no cover


def _through(job: SegmentJob, fn: FrameFunction, ov, writer: _SegmentWriter, rgb: str,
             on_frame: Callable[[int], None] | None, seek: bool, coders: Coders
             ) -> tuple[int, Seen]:
    import av

    size, count = job.size, 0
    pending: list[Future] = []
    cc = ov.codec_context

    def encode(made: np.ndarray | Callable[[], np.ndarray], d: _Decoded, number: int) -> None:
        out = made if isinstance(made, np.ndarray) else made()  # the model's finish step
        h, w = out.shape[:2]
        if (w, h) != size:
            raise VideoError(f"frame {number}: the model gave {w}x{h}, not "
                             f"{size[0]}x{size[1]}")
        out = np.ascontiguousarray(_to_input_depth(out, d.rgb.dtype))
        d.rgb = out[:0]  # the input frame is no longer needed (its dtype is)
        of = av.VideoFrame.from_ndarray(out, format=rgb)
        of = of.reformat(format=cc.pix_fmt, dst_colorspace=d.colorspace,
                         dst_color_range=d.color_range)
        of.pts, of.time_base = d.pts, d.time_base
        for p in ov.encode(of):
            writer.packet(p, bytes(cc.extradata or b""))

    def flush() -> None:
        for p in ov.encode(None):
            writer.packet(p, bytes(cc.extradata or b""))

    last_pts: int | None = None
    seen = Seen()
    decoded = _ahead(_decode_from(job.source, job.segment, rgb, seek, seen), QUEUE_FRAMES,
                     coders.decode)
    try:
        for d in _numbered(decoded, job.frame_offset):
            if d.pts is None:  # no timestamp: one after the last
                d.pts = 0 if last_pts is None else last_pts + 1
            last_pts = d.pts
            made = fn(d.rgb)
            while len(pending) >= QUEUE_FRAMES:
                pending.pop(0).result()
            pending.append(coders.encode.submit(encode, made, d,
                                                job.frame_offset + count + 1))
            count += 1
            if on_frame is not None:
                on_frame(count)
        while pending:
            pending.pop(0).result()
        coders.encode.submit(flush).result()
    finally:
        decoded.close()
        for f in pending:  # after a failure: the encoder's queue is left empty
            f.exception()
    return count, seen


def _numbered(decoded: Iterator[_Decoded], offset: int) -> Iterator[_Decoded]:
    """`decoded`, a decoding failure raised as VideoError naming the frame (`offset`: the
    frames before this segment)."""
    import av

    count = 0
    while True:
        try:
            d = next(decoded)
        except StopIteration:
            return
        except _DecodeFailed as exc:
            # FFmpeg's decoding threads report a bad packet a few packets late: "near"; by
            # time, since frames lost before it make any count of frames uncertain
            where = f"frame {offset + count + 1}" if exc.seconds is None else \
                f"{exc.seconds:.3f} s (after {offset + count} frame(s) that decoded)"
            raise VideoError(f"cannot decode the stream near {where}: "
                             f"{reason_of(exc.error)}") from exc.error
        except (av.FFmpegError, OSError) as exc:
            raise VideoError(f"cannot decode frame {offset + count + 1}: "
                             f"{reason_of(exc)}") from exc
        count += 1
        yield d


# ---- the work folder ------------------------------------------------------------------------

def source_identity(src: Path) -> dict:
    """What says the source is the same file: size, mtime (ns), SHA-256 of its first MiB."""
    st = src.stat()
    with open(src, "rb") as fh:
        head = hashlib.sha256(fh.read(_HEAD_BYTES)).hexdigest()
    return {"name": src.name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
            "head_sha256": head}


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class _Parts:
    """The work folder beside an output (`<output>.parts/`): segment files and a manifest of
    the finished ones under `key`."""

    def __init__(self, dst: Path, key: dict, notes: list[str]) -> None:
        self.folder = dst.parent / f"{dst.name}.parts"
        self.key = json.loads(json.dumps(key))
        self.done: dict[int, dict] = {}
        self.notes = notes
        manifest = self.folder / _MANIFEST
        if not self.folder.exists():
            return
        try:
            data = json.loads(manifest.read_text())
            ok = data.get("format") == _FORMAT and data.get("key") == self.key
        except (OSError, ValueError, AttributeError):
            data, ok = None, False
        if ok:
            self.done = {int(k): v for k, v in data.get("segments", {}).items()}
            return
        why = _difference(data.get("key") if isinstance(data, dict) else None, self.key)
        notes.append(f"work folder {self.folder.name} discarded: {why}")
        shutil.rmtree(self.folder)

    def path(self, index: int) -> Path:
        return self.folder / f"segment-{index:05d}.bin"

    def reusable(self, index: int) -> dict | None:
        """The manifest's entry for segment `index` when its file is whole, else None (a
        mismatched file: noted and removed)."""
        entry = self.done.get(index)
        if entry is None:
            return None
        path = self.path(index)
        try:
            whole = (path.stat().st_size == entry["bytes"]
                     and _file_hash(path) == entry["sha256"])
        except (OSError, KeyError, TypeError):
            whole = False
        if not whole:
            self.notes.append(f"segment {index + 1}'s file does not match the manifest: "
                              "made again")
            self.done.pop(index)
            path.unlink(missing_ok=True)
            return None
        return entry

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.folder / _MANIFEST).exists():
            self._write()

    def commit(self, done: SegmentDone) -> None:
        """Record a finished segment (the manifest rewritten atomically)."""
        self.done[done.index] = done.entry(self.path(done.index).name)
        self._write()

    def _write(self) -> None:
        data = {"format": _FORMAT, "key": self.key,
                "segments": {str(k): v for k, v in sorted(self.done.items())}}
        with atomic_file(self.folder / _MANIFEST) as fh:
            fh.write((json.dumps(data, indent=1) + "\n").encode())

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _difference(old: dict | None, new: dict) -> str:
    """Which part of the manifest's key changed, in words."""
    if not isinstance(old, dict):
        return "no readable manifest"
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if not changed:
        return "another manifest format"
    return "made with another " + ", ".join(changed)


# ---- the whole video ------------------------------------------------------------------------

def _first_frame(src: str, rgb: str) -> _Decoded:
    """The video's first frame, decoded (for the frame function's choice and the rotation)."""
    import av

    try:
        return next(iter(_decode_from(src, Segment(0, None, None), rgb, True)))
    except StopIteration:
        raise VideoError("no frame could be decoded") from None
    except _DecodeFailed as exc:
        raise VideoError(f"cannot decode frame 1: {reason_of(exc.error)}") from exc.error
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"cannot decode frame 1: {reason_of(exc)}") from exc


def _local_runner(fn: FrameFunction, on_frame: Callable[[int], None] | None,
                  base: list[int]) -> SegmentRunner:
    """Segments one after another in this process (their threads included)."""
    def run(jobs: list[SegmentJob]) -> Iterator[SegmentDone]:
        with Coders() as coders:  # the same two threads for every segment
            for job in jobs:
                start = base[0]

                def tick(n: int, start: int = start) -> None:
                    if on_frame is not None:
                        on_frame(start + n)
                done = encode_segment(replace(job, frame_offset=start), fn, tick, coders)
                base[0] += done.frames
                yield done
    return run


@dataclass(frozen=True)
class _Output:
    """One video's job: source, output, encoding, output size, muxer, header, rotation."""

    src: Path
    dst: Path
    enc: VideoEncoding
    size: tuple[int, int]
    muxer: str
    info: VideoInfo
    rotation: int


def _make_and_join(v: _Output, segments: list[Segment], parts: _Parts, result: VideoResult,
                   fn: FrameFunction, on_frame: Callable[[int], None] | None,
                   runner: Callable[[FrameFunction], SegmentRunner] | None
                   ) -> tuple[int, int, Seen]:
    """The segments not reused made (by `runner`, else here), then joined into `v.dst`:
    (frames, segments reused, what decoding saw)."""
    src, dst, enc, size, muxer, info = v.src, v.dst, v.enc, v.size, v.muxer, v.info
    reused, todo, total = 0, [], 0
    for seg in segments:
        entry = parts.reusable(seg.index)
        if entry is None:
            todo.append(SegmentJob(str(src), seg, enc, size, muxer,
                                   str(parts.path(seg.index))))
            continue
        reused += 1
        total += int(entry["frames"])
    result.frames_reused = total
    if on_frame is not None and total:
        on_frame(total)  # the reused segments' frames, at once
    base = [total]
    run = runner(fn) if runner is not None else _local_runner(fn, on_frame, base)
    encoder_notes: list[str] = []
    made = total
    for done in run(todo):
        parts.commit(done)
        encoder_notes = encoder_notes or done.notes
        made += done.frames
        if on_frame is not None:
            on_frame(made)  # a runner elsewhere tells of whole segments
    frames = sum(int(parts.done[s.index]["frames"]) for s in segments)
    seen = Seen.join([parts.done[s.index].get("seen", {}) for s in segments])
    if seen.missing:
        result.notes.append(_missing_note(seen.missing))
    if info.frames and frames + len(seen.missing) < info.frames:
        raise VideoError(f"truncated: {frames} of the stream's {info.frames} frames decoded, "
                         f"the last at {seen.last or 0:.3f} s")
    if frames == 0:
        raise VideoError("no frame could be decoded")
    if reused:
        result.notes.append(f"resumed: {reused} of {len(segments)} segment(s) reused from "
                            f"{parts.folder.name}, {len(segments) - reused} made")
    join_notes = _join(src, dst, [parts.path(s.index) for s in segments], enc, size,
                       v.rotation)
    result.notes += encoder_notes or [n for n in join_notes if "encoded as" in n]
    result.notes += [n for n in join_notes if "encoded as" not in n]
    return frames, reused, seen


def _missing_note(times: list[float]) -> str:
    """The note for frames that did not decode (`times`: their seconds)."""
    shown = ", ".join(f"{t:.3f}" for t in times[:5]) + (" ..." if len(times) > 5 else "")
    return (f"{len(times)} frame(s) could not be decoded (a corrupt stream) and are missing "
            f"from the output, the frame before each gap shown longer in its place: at "
            f"{shown} s")


def _short_note(frames: int, estimated: int, slack: int, seen: Seen, rate: float) -> str:
    """The note for a stream with fewer frames than its header's duration promises: the gaps
    between frames of 1.5 frame intervals or more (frames missing there: damaged data, which
    Matroska's demuxer skips to the next cluster without an error), and whether the stream
    also ends early."""
    holes = sorted(g for g in seen.gaps if rate and (g[1] - g[0]) * rate >= 1.5)
    lost = sum(max(round((b - a) * rate) - 1, 1) for a, b in holes)
    told = []
    if holes:
        where = ", ".join(f"{a:.3f}-{b:.3f} s" for a, b in holes[:5])
        more = " ..." if len(holes) > 5 else ""
        told.append(f"about {lost} frame(s) are missing in {len(holes)} gap(s) between "
                    f"frames (damaged data): {where}{more}")
    tail = estimated - frames - lost
    if not holes or tail > slack:
        told.append(f"its last decodable frame is at {seen.last or 0:.3f} s, about "
                    f"{max(tail, 1)} frame(s) before its header's duration ends: the file may "
                    "be truncated, or damaged at its end")
    return (f"the video stream has {frames} frames where its header's duration suggests "
            f"about {estimated}: {'; '.join(told)}; every frame that could be decoded was "
            "upscaled, each at its own time")


def transcode_video(src: str | Path, dst: str | Path,
                    scale_size: Callable[[int, int], tuple[int, int]], start: Start,
                    enc: VideoEncoding | None = None,
                    on_frame: Callable[[int], None] | None = None, *,
                    settings: Callable[[], dict] | None = None,
                    runner: Callable[[FrameFunction], SegmentRunner] | None = None
                    ) -> VideoResult:
    """Upscale the first video stream of `src` into `dst` in resumable segments (see the
    module): every frame (RGB, uint8, or uint16 above 8 bits) goes through the function
    `start(info, first_frame)` returns and is encoded at `scale_size(width, height)` with
    `enc`; every other stream, the metadata, chapters, rotation and colour description are
    copied (`sronnx.io.video`). `settings()` (called after `start`) gives what else changes
    the output's bytes (the model's identity), for the work folder's manifest. `runner(fn)`
    makes the segments (default: one after another here); `on_frame(n)` hears of each frame
    done (n: frames so far, reused segments' included). Raises VideoError (the frame named
    where one broke), OSError where `dst` or its work folder cannot be written."""
    if not has_pyav():
        raise VideoError(NO_PYAV)
    import av

    src, dst, enc = Path(src), Path(dst), enc or VideoEncoding()
    try:
        with av.open(str(src), metadata_errors="ignore") as inp:
            if not inp.streams.video:
                raise VideoError("no video stream")
            vs = inp.streams.video[0]
            if vs.codec_context is None:
                raise VideoError("the video stream's codec cannot be identified (a damaged "
                                 "or unsupported stream)")
            check_input(vs)
            estimated, slack = frames_promised(inp, vs)
            rate = float(vs.average_rate or 0)
            info = VideoInfo(vs.codec_context.width, vs.codec_context.height,
                             int(vs.frames or 0), vs.codec_context.name, stream_bits(vs))
            interlaced = int(vs.codec_context.field_order or 0) > 1  # 0 unknown, 1 progr.
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(f"cannot open as a video: {reason_of(exc)}") from exc
    result = VideoResult()
    size = result.size = scale_size(info.width, info.height)
    rgb = "rgb48le" if info.bits > 8 else "rgb24"
    first = _first_frame(str(src), rgb)
    fn = start(info, first.rgb)
    muxer = MUXERS.get(dst.suffix.lower(), "matroska")
    if muxer == "webm" and not container_fits(muxer, enc.codec):
        # FFmpeg's WebM muxer refuses other streams: say so before any frame is made
        raise VideoError(f"a WebM file cannot hold {enc.codec} video: ask --video-codec "
                         "libvpx-vp9 (or libsvtav1), or write .mkv")
    if not container_fits(muxer, enc.codec):
        result.notes.append(f"{enc.codec} in {dst.suffix or muxer} is not a standard pairing: "
                            "most players will not open it (an .mkv output holds it)")
    segments = plan_segments(src, enc.segment_seconds)
    key = {"source": source_identity(src), "settings": settings() if settings else {},
           "encoding": asdict(enc), "size": list(size), "muxer": muxer,
           "segments": [s.start for s in segments]}
    parts = _Parts(dst, key, result.notes)
    parts.start()
    try:
        frames, reused, seen = _make_and_join(
            _Output(src, dst, enc, size, muxer, info, first.rotation), segments, parts, result,
            fn, on_frame, runner)
    except VideoInterrupted:
        raise  # the finished segments stay for a rerun
    except VideoError:
        parts.remove()  # the video itself is at fault: a rerun would fail alike
        raise
    if estimated and frames + len(seen.missing) < estimated - slack:
        result.notes.append(_short_note(frames, estimated, slack, seen, rate))
    if interlaced:
        result.notes.append("interlaced video: frames upscaled whole (fields not separated), "
                            "written as progressive")
    parts.remove()
    result.frames, result.segments, result.reused = frames, len(segments), reused
    return result


# ---- the join -------------------------------------------------------------------------------

def _seconds(ts: int | None, tb: Fraction) -> float | None:
    return None if ts is None else float(ts * tb)


def _video_packets(paths: list[Path], extradata: bytes, tb: Fraction, ov
                   ) -> Iterator[tuple[float, int, object]]:
    """Every segment's packets in order, as av.Packets of `ov` keyed by their time. Each
    segment's encoder started its decoding timestamps before its first frame (by its
    reordering delay, from that segment's own frame gaps); where those fall on or before
    the previous segment's last, they are spread evenly between the two (`_fit_dts`):
    only the decoding order's clock changes, never a frame's pts or bytes."""
    last: int | None = None
    for k, path in enumerate(paths):
        extra, records = _read_segment(path)
        if extra != extradata:
            raise VideoError(f"segment {k + 1} was encoded with other codec headers than the "
                             "output's; remove the work folder and run again")
        held: list[list] = []
        for rec in records:
            pts, dts = rec[0], rec[1]
            if last is not None and (dts is None or dts <= last):
                held.append(list(rec))
                continue
            if held:
                yield from _packets(_fit_dts(held, last, dts if dts is not None else pts, k),
                                    tb, ov)
                held = []
            if dts is not None:
                last = dts
            yield from _packets([list(rec)], tb, ov)
        if held:
            end = max(r[0] for r in held if r[0] is not None) + 1
            yield from _packets(_fit_dts(held, last, end, k), tb, ov)
            last = held[-1][1]


def _fit_dts(held: list[list], last: int | None, upto: int, k: int) -> list[list]:
    """The decoding timestamps of a segment's first packets (`held`) spread evenly in
    (`last`, `upto`), each at most its own pts. Raises VideoError where the time base has
    no room (frames closer than the packets to fit)."""
    lo, n = (last if last is not None else upto - len(held) - 1), len(held)
    for j, rec in enumerate(held):
        rec[1] = lo + (upto - lo) * (j + 1) // (n + 1)
    values = [lo] + [r[1] for r in held] + [upto]
    if any(b <= a for a, b in zip(values, values[1:], strict=False)) or \
            any(r[0] is not None and r[1] > r[0] for r in held):
        raise VideoError(f"segment {k + 1}: no room in the time base for its decoding "
                         "timestamps; use --segment-seconds 0")
    return held


def _packets(recs: list[list], tb: Fraction, ov) -> Iterator[tuple[float, int, object]]:
    import av

    for pts, dts, dur, key, data in recs:
        p = av.Packet(data)
        p.pts, p.dts, p.time_base = pts, dts, tb
        if dur is not None:
            p.duration = dur
        p.is_keyframe = key
        p.stream = ov
        t = dts if dts is not None else pts
        yield (float("-inf") if t is None else float(t * tb)), 0, p


def _other_packets(inp, streams: list, mapping: dict) -> Iterator[tuple[float, int, object]]:
    """The source's other streams' packets (retargeted to the output), keyed by time."""
    if not streams:
        return
    last = float("-inf")
    for p in inp.demux(streams):
        target = mapping.get(p.stream.index)
        if target is None or p.size == 0:
            continue
        ts = p.dts if p.dts is not None else p.pts
        if ts is not None:
            last = float(ts * p.time_base)
        p.stream = target
        yield last, 1, p


def _join(src: Path, dst: Path, paths: list[Path], enc: VideoEncoding,
          size: tuple[int, int], rotation: int) -> list[str]:
    """The output: the segments' packets remuxed in order with the source's other streams
    (interleaved by time), metadata, chapters, rotation and colour description; written
    atomically. Returns the notes (streams left out, pixel format chosen)."""
    import av

    notes: list[str] = []
    with av.open(str(src), metadata_errors="ignore") as inp:
        vs = inp.streams.video[0]
        with atomic_file(dst) as fh:
            muxer = MUXERS.get(dst.suffix.lower(), "matroska")
            # Matroska stores presentation times only: a decoding time before zero must
            # not shift every frame's time (FFmpeg's default for it does)
            opts = {"avoid_negative_ts": "disabled"} if muxer in ("matroska", "webm") else {}
            # no random ids or dates in the header: the same segments give the same bytes
            # (a resumed run, Ray's actors and a local run alike)
            opts["fflags"] = "+bitexact"
            out = av.open(fh, "w", format=muxer, container_options=opts)
            try:
                ov = video_stream(out, vs, enc, size, notes)
                if rotation:
                    try:
                        ov.set_display_rotation(rotation)
                    except Exception as exc:  # noqa: BLE001 - a PyAV without it: say so
                        notes.append(f"rotation {rotation} degrees not carried "
                                     f"({reason_of(exc)})")
                mapping = copy_streams(out, inp, vs, notes)
                for k, value in inp.metadata.items():
                    if k.lower() not in MUXER_TAGS:
                        out.metadata[k] = value
                chapters = inp.chapters()
                if chapters:
                    out.set_chapters(chapters)
                out.start_encoding()
                extradata = bytes(ov.codec_context.extradata or b"")
                others = [s for s in inp.streams if s.index in mapping]
                merged = heapq.merge(_video_packets(paths, extradata, vs.time_base, ov),
                                     _other_packets(inp, others, mapping),
                                     key=lambda t: (t[0], t[1]))
                for _, _, packet in merged:
                    out.mux(packet)
            except av_error() as exc:
                raise VideoError(f"cannot write the joined video: {reason_of(exc)}") from exc
            finally:
                close_quietly(out)
    return notes
