"""Video files through PyAV (FFmpeg's libraries in its wheels; no ffmpeg binary): which files
are videos, what a video's header says, and one video's frames decoded, passed through a
frame function (the model) and encoded again, with everything else copied as it is.

What is kept (`transcode_video`):

* every frame, in order, with its own timestamp (pts in the input's time base: variable frame
  rate stays as it is), and so the frame count;
* audio, subtitle and data streams: their packets remuxed, never re-encoded; a stream the
  output container cannot hold is left out with a note;
* container and stream metadata (the muxer's own tags excepted), chapters, the rotation
  (display matrix) of the first frame, the colour description (primaries, transfer, matrix,
  range), which also chooses the matrix the frames are converted to RGB and back with;
* the bit depth: input above 8 bits is decoded as 16-bit RGB, and encoded at 10 bits where
  the codec has a 10-bit pixel format.

Refused with a reason: PQ and HLG (HDR) transfer, which the models (trained on SDR frames)
do not keep. `transcode_video` (`sronnx.io.video_segments`) runs the video in resumable
GOP-aligned segments, joined losslessly; the output is written under a temporary name and
renamed into place; a few frames at a time are held (plus what the encoder looks ahead),
whatever the length.

`av` is imported inside the functions: `sronnx upscale` on images never loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sronnx.io.sniff import read_head

__all__ = ["DEFAULT_CRF", "DEFAULT_VIDEO_CODEC", "SEGMENT_SECONDS", "VIDEO_EXTENSIONS",
           "VideoEncoding",
           "VideoError", "VideoInfo", "VideoResult", "is_video_path", "video_info",
           "video_output_extension"]

#: extensions taken as videos (besides files whose first bytes say so)
VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts",
    ".mts", ".flv", ".wmv", ".ogv", ".3gp", ".nut", ".mxf",
})
#: the muxer for each extension the output may have (others: Matroska, which holds any codec)
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
           ".avi": "avi", ".ts": "mpegts", ".m2ts": "mpegts", ".mts": "mpegts", ".nut": "nut",
           ".flv": "flv", ".3gp": "3gp", ".mpg": "mpeg", ".mpeg": "mpeg", ".ogv": "ogg",
           ".wmv": "asf", ".mxf": "mxf"}
DEFAULT_VIDEO_CODEC = "libx264"
#: x264/x265 CRF by default: visually near-lossless, so the encoder keeps the model's detail
DEFAULT_CRF = 18
#: seconds of video per resumable segment by default (`sronnx.io.video_segments`): short
#: enough that a crash costs little, long enough that the extra keyframes cost little
SEGMENT_SECONDS = 10.0
_CRF_CODECS = {"libx264": 51, "libx265": 51, "libvpx-vp9": 63, "libsvtav1": 63}
_LOSSLESS_CODECS = frozenset({"ffv1", "rawvideo", "png", "utvideo", "huffyuv", "ffvhuff",
                              "magicyuv", "qtrle", "v210", "r210", "zlib", "lagarith"})
_HDR_TRC = {16: "PQ (SMPTE ST 2084)", 18: "HLG (ARIB STD-B67)"}
# tags each muxer writes of its own: copying them would only repeat or contradict it
MUXER_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder",
                         "duration", "vendor_id"})


class VideoError(ValueError):
    """A video that cannot be read, decoded or written; the message names the frame where
    it broke, where there was one."""


@dataclass(frozen=True)
class VideoEncoding:
    """How a video's frames are encoded: the FFmpeg encoder (`codec`), its quality (`crf`,
    for x264, x265, VP9 and SVT-AV1; None: `DEFAULT_CRF`; FFV1 is lossless and takes none),
    the pixel format (None: the input's where the encoder has it, else 4:2:0 at the
    input's depth) and the length of the resumable segments (`sronnx.io.video_segments`)."""

    codec: str = DEFAULT_VIDEO_CODEC
    crf: int | None = None
    pix_fmt: str | None = None
    #: seconds of video per resumable segment (cut at the next keyframe; 0: one segment);
    #: each segment starts with a keyframe of its own, so this changes the bytes
    segment_seconds: float = SEGMENT_SECONDS


@dataclass(frozen=True)
class VideoInfo:
    """What a video's header says of its first video stream: the coded size, the frame count
    (`video_info`: estimated from the duration where the container does not say; 0 where
    nothing says), the codec, whether it is lossless, and the bits per sample."""

    width: int
    height: int
    frames: int
    codec: str
    bits: int = 8

    @property
    def lossless(self) -> bool:
        return self.codec in _LOSSLESS_CODECS

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


@dataclass
class VideoResult:
    """What `transcode_video` did: frames written, the output size, notes, and the
    segments (how many, and how many were reused from an interrupted run)."""

    frames: int = 0
    size: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)
    segments: int = 0
    reused: int = 0
    frames_reused: int = 0  # the frames of the reused segments (made by an earlier run)


def _sniffed_video(path: Path) -> bool:
    """Whether the first bytes of `path` are a video container's (MP4/QuickTime, Matroska/
    WebM, AVI), for video files without a video extension."""
    head = read_head(path, 12)
    if head[4:8] == b"ftyp":
        return head[8:12] not in (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1",
                                  b"crx ", b"M4A ", b"jxl ")
    return head[:4] == b"\x1aE\xdf\xa3" or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")


def is_video_path(path: str | Path, sniff: bool = True) -> bool:
    """Whether `path` is taken as a video: a video extension, or (with `sniff`, for a file
    with no image extension) a video container's first bytes."""
    path = Path(path)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return True
    from sronnx.io.registry import IMAGE_EXTENSIONS

    return sniff and path.suffix.lower() not in IMAGE_EXTENSIONS and path.is_file() \
        and _sniffed_video(path)


#: encoders whose streams the MP4 family (ISO BMFF: .mp4 .m4v .mov .3gp) has no standard
#: sample entry for: FFmpeg writes them, but most players cannot open the file
_NOT_ISO_BMFF = frozenset({"ffv1", "utvideo", "huffyuv", "ffvhuff", "magicyuv", "rawvideo",
                           "v210", "r210", "zlib", "lagarith"})
_ISO_BMFF = frozenset({"mp4", "mov", "3gp"})
#: what WebM holds: VP8, VP9 and AV1
_WEBM_ENCODERS = frozenset({"libvpx", "libvpx-vp9", "libaom-av1", "libsvtav1", "librav1e"})


def container_fits(muxer: str, codec: str) -> bool:
    """Whether players expect the encoder `codec`'s stream in the container `muxer`
    (FFmpeg's names, e.g. "mp4", "ffv1"); Matroska holds all of them."""
    if muxer in _ISO_BMFF:
        return codec not in _NOT_ISO_BMFF
    if muxer == "webm":
        return codec in _WEBM_ENCODERS
    return True


def video_output_extension(source: str | Path, codec: str = DEFAULT_VIDEO_CODEC) -> str:
    """The output's extension for a video input: its own where sronnx writes that container
    and it holds `codec`'s stream (`container_fits`), else .mkv."""
    ext = Path(source).suffix.lower()
    return ext if ext in MUXERS and container_fits(MUXERS[ext], codec) else ".mkv"


def stream_bits(stream) -> int:
    fmt = stream.codec_context.format
    return max((c.bits for c in fmt.components), default=8) if fmt is not None else 8


def _duration_tag(text: str | None) -> float | None:
    """Seconds of a Matroska DURATION tag ("HH:MM:SS.nnnnnnnnn"), None where unreadable."""
    try:
        h, m, sec = (text or "").split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except ValueError:
        return None


def frames_promised(inp, vs) -> tuple[int, int]:
    """For a container that keeps no frame count (Matroska): the frames its header's duration
    promises and the shortfall tolerated, (0, 0) where it says nothing or keeps a count
    (then the count is checked). The video stream's own DURATION tag is near exact; the
    container's duration spans every stream (audio often runs longer), so a second of frames
    or a tenth is tolerated there."""
    rate = float(vs.average_rate or 0)
    if vs.frames or not rate:
        return 0, 0
    own = _duration_tag(vs.metadata.get("DURATION"))
    if own:
        return round(own * rate), 1
    if not inp.duration:
        return 0, 0
    promised = round(inp.duration / 1_000_000 * rate)
    return promised, max(round(rate), promised // 10)


#: what a video run without PyAV says (it is the `video` extra, not the default install)
NO_PYAV = "video needs PyAV, which is not installed: pip install 'sronnx[video]'"


def has_pyav() -> bool:
    """Whether PyAV can be imported (sronnx's video path needs it)."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def video_info(path: str | Path) -> VideoInfo | None:
    """The header of the video at `path` (no frame decoded), or None where it cannot be
    opened, has no video stream, or PyAV is not installed (`transcode` then says so)."""
    if not has_pyav():
        return None
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            if not c.streams.video:
                return None
            s = c.streams.video[0]
            if s.codec_context is None:  # a stream whose codec FFmpeg cannot tell
                return None
            width, height = s.codec_context.width, s.codec_context.height
            if width < 1 or height < 1:  # no size known from the header (found by fuzzing)
                return None
            frames = int(s.frames or 0) or frames_promised(c, s)[0]  # Matroska: no count
            return VideoInfo(width, height, frames, s.codec_context.name, stream_bits(s))
    except (av.FFmpegError, OSError, ValueError):
        return None


# ---- one video through a frame function ---------------------------------------------------

# a frame in, the frame out (or a function that finishes it, called in the encoding thread)
FrameFunction = Callable[[np.ndarray], np.ndarray | Callable[[], np.ndarray]]
# called with the header and the first frame (RGB, uint8 or uint16): the function every frame
# goes through (the model)
Start = Callable[[VideoInfo, np.ndarray], FrameFunction]


def reason_of(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _subsampling(pix_fmt: str) -> tuple[int, int]:
    """How many pixels across and down share one chroma sample in `pix_fmt` (4:2:0: 2, 2)."""
    import av

    fmt = av.VideoFormat(pix_fmt)
    return 64 // fmt.chroma_width(64), 64 // fmt.chroma_height(64)


def _fits(pix_fmt: str, size: tuple[int, int]) -> bool:
    sx, sy = _subsampling(pix_fmt)
    return size[0] % sx == 0 and size[1] % sy == 0


def _full_chroma(pick: str, have: list[str]) -> str | None:
    """The 4:4:4 twin of `pick` (same depth) where the encoder has it."""
    import av

    bits = max(c.bits for c in av.VideoFormat(pick).components)
    want = "yuv444p10le" if bits > 8 else "yuv444p"
    return want if not have or want in have else None


def _pix_fmt(enc: VideoEncoding, codec, in_fmt: str, bits: int, size: tuple[int, int],
             notes: list[str]) -> str:
    """The output pixel format: asked, else the input's where the encoder has it, else
    4:2:0 at the input's depth where it can, else the encoder's first. A subsampled format
    the output size cannot hold (4:2:0 needs an even width and height): refused where asked,
    else 4:4:4 at the same depth, with a note."""
    have = [f.name for f in (codec.video_formats or [])]
    w, h = size
    if enc.pix_fmt is not None:
        if have and enc.pix_fmt not in have:
            raise VideoError(f"--pix-fmt {enc.pix_fmt}: {codec.name} encodes "
                             f"{' '.join(have)}")
        if not _fits(enc.pix_fmt, size):
            sx, sy = _subsampling(enc.pix_fmt)
            raise VideoError(f"output {w}x{h} does not fit --pix-fmt {enc.pix_fmt} (its "
                             f"width must be a multiple of {sx}, its height of {sy}); "
                             "ask another size or a 4:4:4 pixel format")
        return enc.pix_fmt
    wanted = [in_fmt, "yuv420p10le" if bits > 8 else "yuv420p", "yuv420p"]
    pick = next((f for f in wanted if not have or f in have), have[0])
    if not _fits(pick, size):
        full = _full_chroma(pick, have)
        if full is None:
            raise VideoError(f"output {w}x{h} does not fit {pick}, and {codec.name} has no "
                             "4:4:4 pixel format; ask an even size")
        notes.append(f"output {w}x{h} is odd-sized: encoded as {full} ({pick} needs an "
                     "even width and height)")
        pick = full
    out_bits = max(c.bits for c in __import__("av").VideoFormat(pick).components)
    if out_bits < bits:
        notes.append(f"{bits}-bit video encoded as {out_bits}-bit {pick} ({codec.name} "
                     "has no deeper pixel format here)")
    return pick


def video_stream(out, vs, enc: VideoEncoding, size: tuple[int, int], notes: list[str]):
    """The output's video stream: the encoder, size, pixel format, time base (the input's:
    timestamps are copied as they are), frame rate hint, colour description, quality."""
    import av

    try:
        codec = av.Codec(enc.codec, "w")
    except (av.FFmpegError, ValueError) as exc:
        raise VideoError(f"no video encoder {enc.codec!r} in this PyAV ({reason_of(exc)})") \
            from exc
    icc = vs.codec_context
    ov = out.add_stream(enc.codec)
    cc = ov.codec_context
    cc.width, cc.height = size
    cc.pix_fmt = _pix_fmt(enc, codec, icc.format.name if icc.format else "yuv420p",
                          stream_bits(vs), size, notes)
    cc.time_base = vs.time_base
    if vs.average_rate:
        cc.framerate = vs.average_rate
    for name in ("color_primaries", "color_trc", "colorspace", "color_range"):
        setattr(cc, name, getattr(icc, name))
    if vs.sample_aspect_ratio:
        cc.sample_aspect_ratio = vs.sample_aspect_ratio
    limit = _CRF_CODECS.get(enc.codec)
    if enc.crf is not None and limit is None:
        raise VideoError(f"--crf is for {', '.join(_CRF_CODECS)}; {enc.codec} takes none")
    if limit is not None:
        crf = DEFAULT_CRF if enc.crf is None else enc.crf
        if not 0 <= crf <= limit:
            raise VideoError(f"--crf {crf} is outside 0..{limit} for {enc.codec}")
        cc.options = {"crf": str(crf)} | ({"b": "0"} if enc.codec == "libvpx-vp9" else {})
    _stream_metadata(ov, vs)
    return ov


def _stream_metadata(dst, src) -> None:
    for key, value in src.metadata.items():
        if key.lower() not in MUXER_TAGS and key.lower() != "handler_name":
            dst.metadata[key] = value


def copy_streams(out, inp, vs, notes: list[str]) -> dict[int, object]:
    """Output streams for every input stream but the upscaled one, copied as they are: input
    index -> output stream. One the output container cannot take is left out, with a note."""
    mapping: dict[int, object] = {}
    for s in inp.streams:
        if s.index == vs.index:
            continue
        what = f"{s.type} stream #{s.index} ({s.codec_context.name if s.codec_context else '?'})"
        try:
            o = out.add_stream_from_template(s)
        except (ValueError, TypeError, av_error()) as exc:
            notes.append(f"{what} left out: {out.format.name} cannot hold it ({reason_of(exc)})")
            continue
        _stream_metadata(o, s)
        o.disposition = s.disposition
        mapping[s.index] = o
        if s.type == "video":
            notes.append(f"{what} copied as it is, not upscaled (only stream "
                         f"#{vs.index} is)")
    return mapping


def av_error() -> type[Exception]:
    import av

    return av.FFmpegError


def check_input(vs) -> None:
    """Refuse a stream with no picture size (an MP4/MOV whose index, at its end, was cut
    off) and what the models would change without saying: PQ and HLG transfer."""
    if not vs.codec_context.width or not vs.codec_context.height:
        raise VideoError("the video stream has no picture size: the file is truncated or "
                         "damaged (an MP4/MOV keeps its index at the end)")
    trc = int(vs.codec_context.color_trc or 2)
    if trc in _HDR_TRC:
        raise VideoError(f"HDR video ({_HDR_TRC[trc]} transfer): the models are trained on "
                         "SDR frames and would not keep its brightness; refused")


def close_quietly(out) -> None:
    try:
        out.close()
    except Exception:  # noqa: BLE001 - closing after a failure: the failure is the story
        pass
