"""Memory of a long video job (issue 25, "Memory is bounded whatever the length"): the
resident memory (RSS) of `sronnx upscale clip.mp4` sampled while it runs over a long clip,
against the segments it has committed, to show that it stays flat.

    python bench/video_memory.py [--frames 3000] [--size 128x72] [--json FILE]

The clip is made here: `--frames` panning crops of a mosaic of training images
(../shared/data/train/BSD200), H.264 (libx264, ultrafast, CRF 23, 25 frames/s) with an AAC
audio track of the same length, so that the join interleaves a second stream. The run uses
the default segments (10 s: 250 frames each) and the shipped rsp-x2-jpeg-int8 model. RSS
is read from /proc/PID/status (VmRSS, with VmHWM, the peak) every 0.2 s.

"Flat" is judged on the samples after the first segment is committed (sessions, encoder and
queues are set up by then): the growth from the first of them to the peak of the rest.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from video import mosaic  # noqa: E402  (bench/video.py: the same training-image mosaic)


def make_clip(path: Path, size: tuple[int, int], frames: int) -> None:
    """`frames` crops panning over the mosaic (back and forth), with a tone as audio."""
    import av

    w, h = size
    src = mosaic(w + 400, h)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.codec_context.width, vs.codec_context.height = w, h
        vs.codec_context.pix_fmt = "yuv420p"
        vs.codec_context.options = {"crf": "23", "preset": "ultrafast"}
        aus = out.add_stream("aac", rate=8000)
        for i in range(frames):
            x = abs(i * 2 % 800 - 400)
            crop = np.ascontiguousarray(src[:, x:x + w])
            for p in vs.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        n = 8000 * frames // 25
        tone = (0.2 * np.sin(np.arange(n) * 0.05)).astype(np.float32)[None, :]
        for k in range(0, n, 8000):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, k:k + 8000]),
                                           format="fltp", layout="mono")
            f.sample_rate, f.pts = 8000, k
            for p in aus.encode(f):
                out.mux(p)
        for p in aus.encode(None):
            out.mux(p)


def rss(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of `pid` in KiB, or None once it has gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    got = {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines()
           if line.startswith(("VmRSS", "VmHWM"))}
    return got.get("VmRSS", 0), got.get("VmHWM", 0)


def committed(manifest: Path) -> int:
    try:
        return len(json.loads(manifest.read_text())["segments"])
    except (OSError, ValueError, KeyError):
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--size", default="128x72")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    w, h = map(int, args.size.split("x"))
    res: dict = {"date": _dt.datetime.now().isoformat(timespec="seconds"),
                 "command": " ".join([Path(sys.executable).name, *sys.argv]),
                 "frames": args.frames, "size": [w, h], "note": args.note,
                 "load_average_at_start": os.getloadavg(), "samples": []}
    print(f"{res['date']}  {res['command']}\n{args.frames} frames {w}x{h} -> {2 * w}x{2 * h}, "
          f"rsp-x2-jpeg-int8, segments of 10 s (250 frames); load average at start "
          f"{res['load_average_at_start'][0]:.2f}" + (f"\nnote: {args.note}" if args.note
                                                      else ""), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        clip, out = Path(tmp) / "long.mp4", Path(tmp) / "out.mkv"
        make_clip(clip, (w, h), args.frames)
        cmd = [sys.executable, "-m", "sronnx", "upscale", str(clip), "-o", str(out), "--model",
               "rsp-x2-jpeg-int8", "--provider", "cpu", "--quiet", "--json",
               str(Path(tmp) / "r.json")]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)})
        manifest = Path(tmp) / "out.mkv.parts" / "manifest.json"
        while proc.poll() is None:
            got = rss(proc.pid)
            if got is not None:
                res["samples"].append((round(time.perf_counter() - t0, 2), committed(manifest),
                                       got[0], got[1]))
            time.sleep(0.2)
        if proc.returncode != 0:
            raise SystemExit(f"sronnx upscale failed ({proc.returncode})")
        report = json.loads((Path(tmp) / "r.json").read_text())
        res["frames_written"] = report["files"][0]["frames"]
        res["seconds"] = report["seconds"]
    samples = res["samples"]
    by_segment: dict[int, int] = {}
    for _, seg, kib, _ in samples:
        by_segment[seg] = max(by_segment.get(seg, 0), kib)
    print("segments committed -> highest RSS while at that count (MiB):")
    print("  " + ", ".join(f"{s}: {k / 1024:.0f}" for s, k in sorted(by_segment.items())))
    after = [s for s in samples if s[1] >= 1]
    if after:
        first, peak = after[0][2], max(s[2] for s in after)
        res["rss_after_first_segment_mib"] = first / 1024
        res["rss_peak_after_first_segment_mib"] = peak / 1024
        res["growth_mib"] = (peak - first) / 1024
        print(f"RSS after the first segment {first / 1024:.0f} MiB, highest after it "
              f"{peak / 1024:.0f} MiB (growth {(peak - first) / 1024:.0f} MiB over "
              f"{by_segment and max(by_segment)} more segments); peak of the run (VmHWM) "
              f"{max(s[3] for s in samples) / 1024:.0f} MiB")
    print(f"{res['frames_written']} frames in {res['seconds']:.1f} s; load average at end "
          f"{os.getloadavg()[0]:.2f}")
    res["load_average_at_end"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
