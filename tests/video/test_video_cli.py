"""`sronnx upscale` on real video files made with PyAV in the test (no mocks of FFmpeg): frame
count, timestamps (variable frame rate), streams copied packet for packet, metadata, rotation,
colour, 10-bit, and bad files reported in one line while the rest of the folder goes on."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, checked_cli, make_clip, photo, save

from sronnx.engine import VIDEO_BLOCKINESS

av = pytest.importorskip("av")

VFR = [0, 40, 120, 130, 300]  # ms: gaps of 40, 80, 10 and 170 ms


def _frames(path: Path) -> list:
    with av.open(str(path)) as c:
        return [(f.pts * f.time_base, f.width, f.height, f.format.name, f.rotation)
                for f in c.decode(video=0)]


def _packets(path: Path, kind: str) -> list[tuple[Fraction, bytes]]:
    """(time, bytes) of every non-empty packet of the first stream of `kind`."""
    with av.open(str(path)) as c:
        s = next(s for s in c.streams if s.type == kind)
        return [(p.pts * p.time_base, bytes(p)) for p in c.demux(s) if p.size > 2]


def _report(tmp: Path) -> dict:
    return json.loads((tmp / "r.json").read_text())


def test_mp4_frames_timestamps_audio_subtitles_metadata_rotation(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=5, pts=VFR, audio=True, subtitles=True,
                     rotation=90, metadata={"title": "a title", "comment": "kept"})
    r = checked_cli(clip, "-o", tmp_path / "out", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    out = tmp_path / "out" / "clip.mp4"
    got, want = _frames(out), _frames(clip)
    assert len(got) == len(want) == 5
    assert [g[0] for g in got] == [w[0] for w in want] == [Fraction(t, 1000) for t in VFR]
    assert {(g[1], g[2]) for g in got} == {(128, 96)}  # x2 of 64x48
    assert {g[4] for g in got} == {90}  # rotation carried
    assert _packets(out, "audio") == _packets(clip, "audio")  # copied, not re-encoded
    assert _packets(out, "subtitle") == _packets(clip, "subtitle")
    with av.open(str(out)) as c:
        assert c.metadata["title"] == "a title" and c.metadata["comment"] == "kept"
        assert c.streams.subtitles[0].metadata.get("language") == "eng"
        assert c.streams.video[0].codec_context.name == "h264"
    file = _report(tmp_path)["files"][0]
    assert file["frames"] == 5 and file["output_size"] == [128, 96]
    reason = file["model_reason"]  # the video rule: photo model where the first frame blocks
    assert reason.startswith("lossy video (h264), blocking ")
    blocks = float(reason.split("blocking ")[1].split(",")[0])
    assert file["model"] == ("rsp-x2-photo-int8" if blocks >= VIDEO_BLOCKINESS else "rsp-x2-int8")


def test_mkv_to_named_output_with_subrip_and_colour(tmp_path: Path) -> None:
    colour = {"color_primaries": 1, "color_trc": 1, "colorspace": 1, "color_range": 1}
    clip = make_clip(tmp_path / "clip.mkv", frames=3, subtitles=True, colour=colour)
    r = checked_cli(clip, "-o", tmp_path / "up.mkv")
    assert r.exit_code == 0, r.output
    out = tmp_path / "up.mkv"
    assert len(_frames(out)) == 3
    assert _packets(out, "subtitle") == _packets(clip, "subtitle")
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range) == (1, 1, 1, 1)
    assert not list(tmp_path.glob(".*sronnx-part"))  # written atomically, nothing left over


def test_ten_bit_stays_ten_bit_and_ffv1_is_lossless_output(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "deep.mkv", frames=3, codec="ffv1", pix_fmt="yuv420p10le")
    r = checked_cli(clip, "-o", tmp_path / "x264.mkv")
    assert r.exit_code == 0, r.output
    got = _frames(tmp_path / "x264.mkv")
    assert len(got) == 3 and {g[3] for g in got} == {"yuv420p10le"}
    r = checked_cli(clip, "-o", tmp_path / "ffv1.mkv", "--video-codec", "ffv1")
    assert r.exit_code == 0, r.output
    with av.open(str(tmp_path / "ffv1.mkv")) as c:
        assert c.streams.video[0].codec_context.name == "ffv1"
        frames = [f.to_ndarray(format="rgb48le") for f in c.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (96, 128, 3)
    assert frames[0].dtype == np.uint16 and np.any(frames[0] % 257)  # more than 8 bits used


def test_folder_mixes_videos_and_images_and_goes_on_after_bad_ones(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "a.mp4", frames=3, audio=True)
    save(src / "b.png", photo(24, 32))
    good = make_clip(tmp_path / "whole.mkv", frames=6)
    data = good.read_bytes()
    (src / "c_cut.mkv").write_bytes(data[: len(data) * 2 // 3])  # truncated
    (src / "d_junk.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 4)
    make_clip(src / "e_hdr.mkv", frames=2, pix_fmt="yuv420p10le", codec="ffv1",
              colour={"color_trc": 16, "color_primaries": 9, "colorspace": 9})
    # an MP4 whose sample entry names no codec FFmpeg knows: PyAV gives its video stream no
    # codec context (found by a new user: the planner raised an AttributeError, no report)
    clip = make_clip(tmp_path / "f.mp4", frames=2, audio=True).read_bytes()
    assert clip.count(b"avc1") >= 1
    (src / "f_codec.mp4").write_bytes(clip.replace(b"avc1", b"qqqq"))
    r = checked_cli(src, "-o", tmp_path / "out", "--json", tmp_path / "r.json")
    assert r.exit_code == 1, r.output
    failed = [line for line in r.output.splitlines() if line.startswith("failed:")]
    assert len(failed) == 4, r.output
    assert any("f_codec.mp4" in f and "codec cannot be identified" in f for f in failed), failed
    assert any("c_cut.mkv" in f and "frame" in f for f in failed), failed
    assert any("d_junk.mp4" in f for f in failed), failed
    assert any("e_hdr.mkv" in f and "PQ" in f for f in failed), failed
    assert len(_frames(tmp_path / "out" / "a.mp4")) == 3
    assert (tmp_path / "out" / "b.png").is_file()
    assert not (tmp_path / "out" / "c_cut.mkv").exists()
    assert not list((tmp_path / "out").glob("*.parts"))  # a bad video leaves no work folder
    status = {Path(f["input"]).name: f["status"] for f in _report(tmp_path)["files"]}
    assert status == {"a.mp4": "done", "b.png": "done", "c_cut.mkv": "failed",
                      "d_junk.mp4": "failed", "e_hdr.mkv": "failed", "f_codec.mp4": "failed"}


def test_matroska_cut_short_says_it_may_be_truncated(tmp_path: Path) -> None:
    """A Matroska file keeps no frame count: one cut in half decodes cleanly to its last
    whole frame. Every decodable frame is upscaled, and a note says the container's duration
    promised more (found by a new user: it was reported done without a word)."""
    src = tmp_path / "in"
    src.mkdir()
    whole = make_clip(tmp_path / "whole.mkv", frames=40, size=(48, 32), audio=True)
    # the whole file (its audio runs a little past the last frame) gets no such note
    r = checked_cli(whole, "-o", tmp_path / "whole_out.mkv", "--json", tmp_path / "r.json")
    (f,) = _report(tmp_path)["files"]
    assert f["frames"] == 40 and not any("truncated" in n for n in f["notes"]), (r.output, f)
    data = whole.read_bytes()
    (src / "half.mkv").write_bytes(data[: len(data) // 2])
    r = checked_cli(src, "-o", tmp_path / "out", "--json", tmp_path / "r.json")
    (f,) = _report(tmp_path)["files"]
    notes = " ".join(f["notes"])
    assert r.exit_code == 0 and f["status"] == "done", (r.output, f)
    assert 0 < f["frames"] < 38 and "may be truncated" in notes, (r.output, f)
    assert f"has {f['frames']} frames where" in notes and "last decodable frame is at" in notes


def _corrupt(clip: Path, dst: Path, index: int, keep: int) -> Fraction:
    """`clip` with packet `index`'s bytes after its first `keep` replaced by random ones,
    written to `dst`; returns that packet's time."""
    data = bytearray(clip.read_bytes())
    with av.open(str(clip)) as c:
        packets = [(p.pos, p.size, p.pts * p.time_base) for p in c.demux(video=0) if p.size]
    pos, size, when = packets[index]
    noise = np.random.default_rng(0).integers(0, 256, size - keep, dtype=np.uint8)
    data[pos + keep:pos + size] = noise.tobytes()
    dst.write_bytes(bytes(data))
    return when


def _decodable(path: Path) -> list[Fraction]:
    with av.open(str(path)) as c:
        return [f.pts * f.time_base for f in c.decode(video=0)]


def test_a_frame_the_decoder_drops_is_named(tmp_path: Path) -> None:
    """A corrupt MPEG-4 packet in a MOV: FFmpeg's decoder gives no frame for it and raises
    nothing, and the other 29 frames decode: the output was one frame short without a word.
    Each packet's time is checked against the frames decoded: a note names the missing one,
    and the others are upscaled at their own times."""
    clip = make_clip(tmp_path / "whole.mov", frames=30, size=(64, 48), codec="mpeg4", gop=10)
    src = tmp_path / "in"
    src.mkdir()
    when = _corrupt(clip, src / "bad.mov", 14, 4)
    decodable = _decodable(src / "bad.mov")
    assert len(decodable) == 29 and when not in decodable  # dropped without an error
    r = checked_cli(src, "-o", tmp_path / "out", "--json", tmp_path / "r.json")
    (f,) = _report(tmp_path)["files"]
    notes = " ".join(f["notes"])
    assert r.exit_code == 0 and f["status"] == "done" and f["frames"] == 29, (r.output, f)
    assert "1 frame(s) could not be decoded (a corrupt stream)" in notes, notes
    assert f"at {float(when):.3f} s" in notes, notes
    assert [t for t, *_ in _frames(tmp_path / "out" / "bad.mov")] == decodable
    # the whole clip gets no such note
    checked_cli(clip, "-o", tmp_path / "whole_out.mov", "--json", tmp_path / "r.json")
    (f,) = _report(tmp_path)["files"]
    assert f["frames"] == 30 and not any("decoded" in n for n in f["notes"]), f


def test_a_packet_that_fails_to_decode_is_named_by_time(tmp_path: Path) -> None:
    """A packet FFmpeg refuses (InvalidData) after one it dropped silently: the file fails in
    one line naming where, by time as well as by frame (the frame count alone was off by
    the dropped frame, found by a new user), and the rest of the folder goes on."""
    clip = make_clip(tmp_path / "whole.mov", frames=30, size=(64, 48), codec="mpeg4", gop=10)
    src = tmp_path / "in"
    src.mkdir()
    bad = src / "bad.mov"
    hits = [_corrupt(clip, bad, 5, 4), _corrupt(bad, bad, 20, 4)]
    make_clip(src / "good.mov", frames=3, size=(64, 48), codec="mpeg4")
    r = checked_cli(src, "-o", tmp_path / "out", "--json", tmp_path / "r.json")
    failed = [line for line in r.output.splitlines() if line.startswith("failed:")]
    assert r.exit_code == 1 and len(failed) == 1 and "bad.mov" in failed[0], r.output
    near = re.search(r"near ([\d.]+) s \(after (\d+) frame\(s\) that decoded\): Invalid data",
                     failed[0])
    assert near, failed
    # FFmpeg's decoding threads report the bad packet a few packets late
    assert 0 <= float(near[1]) - float(hits[1]) < 0.25 and int(near[2]) >= 19, failed
    status = {Path(f["input"]).name: f["status"] for f in _report(tmp_path)["files"]}
    assert status == {"bad.mov": "failed", "good.mov": "done"}


def test_a_mov_cut_before_its_index_is_refused_in_one_line(tmp_path: Path) -> None:
    """A MOV keeps its index (moov) at the end: cut short, its video stream has no picture
    size and no frames, which ended in "failed: ...: empty image 0x0" (a new user's check)."""
    clip = make_clip(tmp_path / "whole.mov", frames=10, size=(64, 48), codec="mpeg4")
    src = tmp_path / "in"
    src.mkdir()
    data = clip.read_bytes()

    def sizeless(cut: int) -> bool:  # PyAV opens it, with a video stream of no size
        try:
            with av.open(io.BytesIO(data[:cut]), format="mov") as c:
                cc = c.streams.video[0].codec_context if c.streams.video else None
                return cc is not None and cc.width == 0
        except (av.FFmpegError, EOFError):
            return False

    # cut inside the index, where FFmpeg still opens the file (other cuts fail to open,
    # or find no video stream: each one line too)
    cut = next(c for c in range(data.index(b"moov"), len(data)) if sizeless(c))
    (src / "cut.mov").write_bytes(data[:cut])
    r = checked_cli(src, "-o", tmp_path / "out")
    (failed,) = [line for line in r.output.splitlines() if line.startswith("failed:")]
    assert r.exit_code == 1 and "cut.mov" in failed and "no picture size" in failed, r.output
    assert "truncated" in failed


def test_a_damaged_matroska_cluster_is_located(tmp_path: Path) -> None:
    """A damaged block in a Matroska file: the demuxer skips to the next cluster without an
    error (two damaged blocks: frames 6-10 and 15-20 of 30 never reach the decoder), and
    Matroska keeps no frame count. The note said the file "may be truncated"; it now names
    the gaps where frames are missing, and every decodable frame is upscaled at its own
    time."""
    clip = make_clip(tmp_path / "whole.mkv", frames=30, size=(64, 48), codec="ffv1", gop=10,
                     pix_fmt="yuv420p")
    src = tmp_path / "in"
    src.mkdir()
    bad = src / "bad.mkv"
    hits = [_corrupt(clip, bad, 14, 2), _corrupt(bad, bad, 5, 2)]  # block headers' first bytes
    decodable = _decodable(bad)
    assert 0 < len(decodable) < 30 and not set(hits) & set(decodable)
    gaps = [f"{float(max(t for t in decodable if t < hit)):.3f}-"
            f"{float(min(t for t in decodable if t > hit)):.3f} s" for hit in sorted(hits)]
    r = checked_cli(src, "-o", tmp_path / "out", "--json", tmp_path / "r.json")
    (f,) = _report(tmp_path)["files"]
    notes = " ".join(f["notes"])
    assert r.exit_code == 0 and f["status"] == "done", (r.output, f)
    assert f["frames"] == len(decodable), f
    lost = 30 - len(decodable)
    assert f"about {lost} frame(s) are missing in 2 gap(s) between frames (damaged data): " \
        f"{', '.join(gaps)}" in notes and "truncated" not in notes, notes
    assert [t for t, *_ in _frames(tmp_path / "out" / "bad.mkv")] == decodable


def test_webm_output_with_an_encoder_webm_cannot_hold_is_refused_in_one_line(
        tmp_path: Path) -> None:
    """`-o out.webm` with the default H.264 encoder: FFmpeg's WebM muxer refuses the stream,
    which surfaced after the frames were made as "ValueError: 'webm' format does not support
    'libx264' codec" (found by a new user). Refused up front, naming what would work; VP9
    is written."""
    clip = make_clip(tmp_path / "w.webm", frames=3, size=(48, 32), codec="libvpx-vp9")
    r = checked_cli(clip, "-o", tmp_path / "out.webm")
    assert r.exit_code == 1, r.output
    (failed,) = [line for line in r.output.splitlines() if line.startswith("failed:")]
    assert "WebM file cannot hold libx264" in failed and "--video-codec" in failed, failed
    assert "ValueError" not in r.output and not (tmp_path / "out.webm").exists()
    r = checked_cli(clip, "-o", tmp_path / "out.webm", "--video-codec", "libvpx-vp9")
    assert r.exit_code == 0 and len(_frames(tmp_path / "out.webm")) == 3, r.output


def test_sniffed_video_without_extension_and_bad_encoder_options(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mkv", frames=2)
    bare = tmp_path / "in" / "recording"
    bare.parent.mkdir()
    bare.write_bytes(clip.read_bytes())
    r = checked_cli(bare.parent, "-o", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert len(_frames(tmp_path / "out" / "recording.mkv")) == 2
    r = checked_cli(clip, "-o", tmp_path / "o2", "--video-codec", "ffv1", "--crf", "20")
    assert r.exit_code == 1 and "--crf" in r.output, r.output
    r = checked_cli(clip, "-o", tmp_path / "o3", "--video-codec", "nosuchcodec")
    assert r.exit_code == 1 and "nosuchcodec" in r.output, r.output


def test_progress_counts_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sronnx.cli.upscale_progress import Progress

    clip = make_clip(tmp_path / "clip.mp4", frames=6)
    monkeypatch.setattr(Progress, "interval", 0.0)  # a line at every frame, not every 10 s
    r = checked_cli(clip, "-o", tmp_path / "out")
    assert r.exit_code == 0 and ", 6 frames, " in r.output and " frames/s, " in r.output, \
        r.output
    lines = [line for line in r.output.splitlines() if line.startswith("progress: clip.mp4: ")]
    done = [int(line.split("frame ")[1].split("/")[0]) for line in lines]
    assert done == list(range(1, 7)), r.output
    assert lines[-1].startswith("progress: clip.mp4: frame 6/6 (100%)"), lines
    assert " frames/s, " in lines[-2] and lines[-2].endswith(" s left"), lines


def test_odd_output_size_gets_full_chroma_or_is_refused_in_one_line(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=2)  # 64x48, 4:2:0
    r = checked_cli(clip, "-o", tmp_path / "out", "--width", "97", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    got = _frames(tmp_path / "out" / "clip.mp4")
    assert {(g[1], g[2], g[3]) for g in got} == {(97, 73, "yuv444p")}
    assert any("97x73" in n and "yuv444p" in n for n in _report(tmp_path)["files"][0]["notes"])
    r = checked_cli(clip, "-o", tmp_path / "o2", "--width", "97", "--pix-fmt", "yuv420p")
    assert r.exit_code == 1, r.output
    failed = [line for line in r.output.splitlines() if "clip.mp4" in line and "97x73" in line]
    assert len(failed) == 1 and "yuv420p" in failed[0], r.output
    assert "Traceback" not in r.output and not (tmp_path / "o2" / "clip.mp4").exists()


def test_announce_line_counts_videos_apart_from_images(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "a.mp4", frames=2)
    save(src / "b.png", photo(24, 32))
    save(src / "c.png", photo(24, 32))
    r = checked_cli(src, "-o", tmp_path / "out")
    assert r.exit_code == 0 and "; 2 image(s) and 1 video(s) -> " in r.output, r.output
    r = checked_cli(src / "a.mp4", "-o", tmp_path / "o2")
    assert r.exit_code == 0 and "; 1 video(s) -> " in r.output, r.output
    r = checked_cli(src / "b.png", "-o", tmp_path / "o3")
    assert r.exit_code == 0 and "; 1 image(s) -> " in r.output, r.output


def test_ffv1_goes_into_matroska_not_mp4(tmp_path: Path) -> None:
    """FFmpeg writes FFV1 into MP4, but most players cannot open that: a folder output takes
    .mkv for it, and an MP4 output named by the user gets a note (found by a new user)."""
    clip = make_clip(tmp_path / "clip.mp4", frames=2)
    r = checked_cli(clip, "-o", tmp_path / "out", "--video-codec", "ffv1")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip.mkv"]
    with av.open(str(tmp_path / "out" / "clip.mkv")) as c:
        assert c.streams.video[0].codec_context.name == "ffv1"
    r = checked_cli(clip, "-o", tmp_path / "named.mp4", "--video-codec", "ffv1")
    assert r.exit_code == 0 and "not a standard pairing" in r.output, r.output
    r = checked_cli(clip, "-o", tmp_path / "out264")  # H.264 stays in its MP4
    assert sorted(p.name for p in (tmp_path / "out264").iterdir()) == ["clip.mp4"]


def test_video_to_standard_output_is_refused_naming_the_file(tmp_path: Path) -> None:
    """`-o -` takes one image: a video there is refused in one line that names the input
    (not the scratch file standard output goes through)."""
    clip = make_clip(tmp_path / "clip.mkv", frames=2)
    r = checked_cli(clip, "-o", "-")
    assert r.exit_code == 2, r.output
    assert "clip.mkv is a video" in r.output and "sronnx-" not in r.output, r.output


def test_without_pyav_a_video_fails_in_one_line_and_the_folder_goes_on(tmp_path: Path) -> None:
    """PyAV is the `video` extra: in an install without it, a video beside images fails in
    one line naming the extra, and the images are done (found by a new user: a traceback
    that stopped the whole run). The run imports sronnx with `av` made unimportable."""
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "a.mp4", frames=2)
    save(src / "b.png", photo(24, 32))
    code = ("import sys; sys.modules['av'] = None; from sronnx.cli import main; "
            f"main(['upscale', {str(src)!r}, '-o', {str(tmp_path / 'out')!r}])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    failed = [ln for ln in r.stderr.splitlines() if ln.startswith("failed:")]
    assert len(failed) == 1 and "a.mp4" in failed[0] and "sronnx[video]" in failed[0], r.stderr
    assert (tmp_path / "out" / "b.png").is_file()
