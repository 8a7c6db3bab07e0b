"""Video speed on CPU (issue 25, "Speed"): frames per second at 480p -> 960p and 720p -> 1440p
(x2), every figure measured side by side in one run, on the same clips and the same model.

    python bench/video.py [--frames 20] [--rounds 2] [--model rsp-x2-jpeg-int8] [--json FILE]

The clips are made here: panning crops (4 pixels a frame) of a mosaic of training images
(../shared/data/train/BSD200 at their own resolution, never benchmark images), encoded with
PyAV as H.264 (libx264, CRF 23, yuv420p, 25 frames/s). The model is a shipped x2 int8 model,
rsp-x2-jpeg-int8 (the first video rule gave it to every lossy video; the rule now chooses by
the first frame's blocking, and the clean rsp-x2-int8 has the same layers and cost); every
method below uses that one file.

i.   pipeline: `sronnx upscale clip.mp4 -o out.mp4 --model FILE --provider cpu` (a
     subprocess, as users run it: segments, decoding and encoding in threads beside the
     model, whole frames to the model); frames/s from the run's JSON report `seconds` (from
     the first job on: imports and opening the model left out) and, beside it, from the wall
     clock of the whole command.
ii.  the model alone: a default ONNX Runtime InferenceSession over the same decoded frames
     (already float32 in NCHW), only `session.run` timed.
iii. naive loop, in-process, one step after another: PyAV decode -> RGB -> the whole frame
     through the same model in the same kind of session -> uint8 -> encode (libx264, CRF 18,
     yuv420p: the pipeline's default) -> mux.
iv.  naive loop through ffmpeg pipes, as Real-ESRGAN's inference_realesrgan_video.py does: an
     ffmpeg process decodes to raw RGB on a pipe, Python runs the model on each whole frame
     and writes it to a second ffmpeg process that encodes (libx264, CRF 18, yuv420p). The
     ffmpeg binary is the one the `imageio-ffmpeg` wheel bundles: install it for the bench
     only (`pip install imageio-ffmpeg`; it is not a dependency of sronnx, not even an
     extra); without it this row says it was not run.
v.   OpenCV dnn_superres ESPCN x2 over the same decoded frames (BGR uint8 in and out; only
     `upsample` timed), where OpenCV's contrib build with its TensorFlow importer is here
     (OpenCV 5.0 still has it and runs the .pb peers on its new DNN engine; 5.1 removed the
     importer, and then this row says so). ESPCN is a far smaller network than sronnx's
     model: its frame rate is a reference point, not the same work.

And, for the arithmetic of what a pipeline can reach on this machine: decoding alone (PyAV
decode + RGB conversion) and encoding alone (RGB -> yuv420p + libx264 CRF 18 of the model's
output frames), each in wall seconds and in CPU seconds of this process (all threads), and
the model's CPU seconds. With c cores, a pipeline that overlaps everything still needs
(model + decode + encode CPU seconds) / c of wall time per frame: the bound printed as
"overlap bound".

Ratios: pipeline / model alone (issue target >= 0.85) and pipeline / naive in-process (target
>= 1.25). Those three run `--rounds` times (default 2), interleaved with the order turned
each round, and the fastest round of each is kept, so that a load drifting over the run
does not favour one of them; the others run once. The machine line says the CPU and the
load average: on a shared machine the figures carry its noise.
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
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT.parent / "shared" / "data" / "train" / "BSD200"
PEERS = ROOT.parent / "shared" / "peers" / "opencv_dnn_superres"
SIZES = {"480p": (854, 480), "720p": (1280, 720)}
PAN = 4  # pixels a frame


def mosaic(width: int, height: int) -> np.ndarray:
    """A grid of BSD200 training images (each centre-cropped to 480x320) at least
    `width` x `height`."""
    from PIL import Image

    files = sorted(TRAIN.glob("*.png"))
    cols, rows = -(-width // 480), -(-height // 320)
    tiles = []
    for i in range(cols * rows):
        im = Image.open(files[i % len(files)]).convert("RGB")
        if im.height > im.width:
            im = im.rotate(90, expand=True)
        w, h = im.size
        tiles.append(np.asarray(im)[(h - 320) // 2:(h - 320) // 2 + 320,
                                    (w - 480) // 2:(w - 480) // 2 + 480])
    grid = [np.concatenate(tiles[r * cols:(r + 1) * cols], axis=1) for r in range(rows)]
    return np.concatenate(grid, axis=0)


def make_clip(path: Path, size: tuple[int, int], frames: int) -> None:
    """`frames` panning crops of the mosaic at `size`, H.264 CRF 23 in MP4."""
    import av

    w, h = size
    src = mosaic(w + PAN * frames, h)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.codec_context.width, vs.codec_context.height = w, h
        vs.codec_context.pix_fmt = "yuv420p"
        vs.codec_context.options = {"crf": "23"}
        for i in range(frames):
            crop = np.ascontiguousarray(src[:, i * PAN:i * PAN + w])
            for p in vs.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)


def decoded(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def session(model: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])


def to_input(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]


def to_rgb(y: np.ndarray) -> np.ndarray:
    return np.clip(y[0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def pipeline(clip: Path, out: Path, model: Path, report: Path) -> dict:
    """i. `sronnx upscale` as a subprocess: report seconds and wall seconds."""
    cmd = [sys.executable, "-m", "sronnx", "upscale", str(clip), "-o", str(out), "--model",
           str(model), "--provider", "cpu", "--quiet", "--overwrite", "--json", str(report)]
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ,
                          "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"sronnx upscale failed ({done.returncode}): {done.stderr.strip()}")
    rep = json.loads(report.read_text())
    f = rep["files"][0]
    return {"seconds": rep["seconds"], "wall_s": wall, "cpu_s": cpu, "frames": f["frames"],
            "model": f.get("model"), "output_size": f["output_size"]}


def naive(clip: Path, out: Path, model: Path) -> tuple[float, int, float]:
    """iii. decode -> model on the whole frame -> encode, one after another."""
    import av

    sess = session(model)
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    with av.open(str(clip)) as inp, av.open(str(out), "w") as dst:
        vs = inp.streams.video[0]
        ov = None
        for frame in inp.decode(vs):
            y = to_rgb(sess.run(None, {"input": to_input(frame.to_ndarray(format="rgb24"))})[0])
            if ov is None:
                ov = dst.add_stream("libx264", rate=vs.average_rate or Fraction(25))
                ov.codec_context.width, ov.codec_context.height = y.shape[1], y.shape[0]
                ov.codec_context.pix_fmt = "yuv420p"
                ov.codec_context.options = {"crf": "18"}
            for p in ov.encode(av.VideoFrame.from_ndarray(y, format="rgb24")):
                dst.mux(p)
            n += 1
        for p in ov.encode(None):
            dst.mux(p)
    return time.perf_counter() - t0, n, time.process_time() - c0


def model_alone(frames: list[np.ndarray], model: Path) -> tuple[float, float, list]:
    """ii. only session.run over the decoded frames (float NCHW prepared outside): (wall
    seconds, CPU seconds of this process, the outputs as uint8 RGB for the encode-alone
    figure)."""
    sess = session(model)
    sess.run(None, {"input": to_input(frames[0])})  # first-call set-up
    total = cpu = 0.0
    outs = []
    for rgb in frames:
        x = to_input(rgb)
        t0, c0 = time.perf_counter(), time.process_time()
        y = sess.run(None, {"input": x})[0]
        total += time.perf_counter() - t0
        cpu += time.process_time() - c0
        outs.append(to_rgb(y))
    return total, cpu, outs


def decode_alone(clip: Path) -> tuple[float, float, int]:
    """PyAV decode + RGB conversion of every frame: (wall s, CPU s, frames)."""
    t0, c0 = time.perf_counter(), time.process_time()
    n = len(decoded(clip))
    return time.perf_counter() - t0, time.process_time() - c0, n


def encode_alone(frames: list[np.ndarray], out: Path) -> tuple[float, float]:
    """RGB -> yuv420p + libx264 CRF 18 of `frames` (the model's outputs): (wall s, CPU s)."""
    import av

    t0, c0 = time.perf_counter(), time.process_time()
    with av.open(str(out), "w") as dst:
        ov = dst.add_stream("libx264", rate=25)
        ov.codec_context.width, ov.codec_context.height = frames[0].shape[1], frames[0].shape[0]
        ov.codec_context.pix_fmt = "yuv420p"
        ov.codec_context.options = {"crf": "18"}
        for y in frames:
            for p in ov.encode(av.VideoFrame.from_ndarray(y, format="rgb24")):
                dst.mux(p)
        for p in ov.encode(None):
            dst.mux(p)
    return time.perf_counter() - t0, time.process_time() - c0


def ffmpeg_reason() -> str | None:
    """None where imageio-ffmpeg (and so an ffmpeg binary) is here, else why not."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return "imageio-ffmpeg not installed (pip install imageio-ffmpeg, for the bench only)"
    return None


def ffmpeg_pipes(clip: Path, out: Path, model: Path, size: tuple[int, int]) -> tuple[float, int]:
    """iv. Real-ESRGAN's video loop: ffmpeg decodes to raw RGB on a pipe, the model runs on
    each whole frame in this process, a second ffmpeg encodes from a pipe. (wall s,
    frames)."""
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    w, h = size
    sess = session(model)
    t0 = time.perf_counter()
    reader = subprocess.Popen([exe, "-v", "error", "-i", str(clip), "-f", "rawvideo",
                               "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE)
    writer = subprocess.Popen([exe, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                               "-s", f"{2 * w}x{2 * h}", "-r", "25", "-i", "-", "-c:v",
                               "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(out)],
                              stdin=subprocess.PIPE)
    n, frame_bytes = 0, w * h * 3
    while True:
        buf = reader.stdout.read(frame_bytes)
        if len(buf) < frame_bytes:
            break
        rgb = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
        y = to_rgb(sess.run(None, {"input": to_input(rgb)})[0])
        writer.stdin.write(y.tobytes())
        n += 1
    writer.stdin.close()
    writer.wait()
    reader.wait()
    return time.perf_counter() - t0, n


def opencv_reason() -> str | None:
    """None where cv2 has dnn_superres with the TensorFlow importer its .pb peers need
    (removed in OpenCV 5.1), else why not (as sronnx bench's peer guard says)."""
    try:
        import cv2
    except ImportError as exc:
        return f"OpenCV not installed ({exc})"
    if not hasattr(cv2, "dnn_superres"):
        return f"OpenCV {cv2.__version__} has no dnn_superres (contrib build needed)"
    if not hasattr(cv2.dnn, "readNetFromTensorflow"):
        return f"OpenCV {cv2.__version__} has no TensorFlow importer (removed in 5.1)"
    return None


def opencv_espcn(frames: list[np.ndarray], threads: int) -> float:
    """v. ESPCN x2 over the decoded frames (BGR), only upsample timed."""
    import cv2

    cv2.setNumThreads(threads)
    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    sr.readModel(str(PEERS / "ESPCN_x2.pb"))
    sr.setModel("espcn", 2)
    bgr = [np.ascontiguousarray(f[:, :, ::-1]) for f in frames]
    sr.upsample(bgr[0])  # first-call set-up
    t0 = time.perf_counter()
    for f in bgr:
        sr.upsample(f)
    return time.perf_counter() - t0


def one_size(name: str, size: tuple[int, int], args: argparse.Namespace, model: Path,
             tmp: Path) -> dict:
    """Every method on one clip: frames/s, the ratios and the overlap bound."""
    clip = tmp / f"{name}.mp4"
    make_clip(clip, size, args.frames)
    frames = decoded(clip)
    n = len(frames)
    row: dict = {"input": list(size), "frames": n}
    outs: list = []
    naive_n = 0
    for r in range(args.rounds):  # interleaved, the order turned each round: a load that
        steps = ["pipeline", "model", "naive"]  # drifts over the run hits all three alike
        for step in steps if r % 2 == 0 else steps[::-1]:
            os.sync()
            if step == "pipeline":
                got = pipeline(clip, tmp / f"{name}_sronnx.mp4", model, tmp / "r.json")
                if "pipeline" not in row or got["seconds"] < row["pipeline"]["seconds"]:
                    row["pipeline"] = got
            elif step == "model":
                m_s, m_cpu, outs = model_alone(frames, model)
                if m_s < row.get("model_alone_s", float("inf")):
                    row["model_alone_s"], row["model_cpu_s"] = m_s, m_cpu
            else:
                naive_s, naive_n, naive_cpu = naive(clip, tmp / f"{name}_naive.mp4", model)
                if naive_s < row.get("naive_s", float("inf")):
                    row["naive_s"], row["naive_cpu_s"] = naive_s, naive_cpu
    naive_s = row["naive_s"]
    why_ff = ffmpeg_reason()
    pipes = None if why_ff else ffmpeg_pipes(clip, tmp / f"{name}_pipes.mp4", model, size)
    row["ffmpeg_pipes_s"], row["ffmpeg_note"] = (pipes[0] if pipes else None), why_ff
    reason = opencv_reason()
    row["opencv_espcn_s"] = None if reason else opencv_espcn(frames, args.threads)
    row["opencv_note"] = reason
    row["decode_s"], row["decode_cpu_s"], _ = decode_alone(clip)
    row["encode_s"], row["encode_cpu_s"] = encode_alone(outs, tmp / f"{name}_enc.mp4")
    del outs
    assert row["pipeline"]["frames"] == naive_n == n, (row, naive_n)
    assert pipes is None or pipes[1] == n, pipes
    fps = {"pipeline": n / row["pipeline"]["seconds"],
           "pipeline_wall": n / row["pipeline"]["wall_s"], "naive": n / naive_s,
           "model_alone": n / row["model_alone_s"], "decode_alone": n / row["decode_s"],
           "encode_alone": n / row["encode_s"]}
    if pipes:
        fps["ffmpeg_pipes"] = n / pipes[0]
    if row["opencv_espcn_s"]:
        fps["opencv_espcn"] = n / row["opencv_espcn_s"]
    cores = os.cpu_count() or 1
    bound_s = max(row["model_alone_s"], (row["model_cpu_s"] + row["decode_cpu_s"]
                                         + row["encode_cpu_s"]) / cores)
    fps["overlap_bound"] = n / bound_s
    row["fps"] = fps
    row["pipeline_vs_model_alone"] = fps["pipeline"] / fps["model_alone"]
    row["pipeline_vs_naive"] = fps["pipeline"] / fps["naive"]
    row["bound_vs_model_alone"] = fps["overlap_bound"] / fps["model_alone"]
    row["bound_vs_naive"] = fps["overlap_bound"] / fps["naive"]
    w, h = size
    per = {k: row[k] / n for k in ("model_cpu_s", "decode_cpu_s", "encode_cpu_s",
                                   "naive_cpu_s")}
    per["pipeline_cpu_s"] = row["pipeline"]["cpu_s"] / n  # the whole command, start-up in
    print(f"{name} {w}x{h} -> {2 * w}x{2 * h}, {n} frames (frames/s):\n"
          f"  pipeline (sronnx upscale)    {fps['pipeline']:6.2f}  "
          f"({fps['pipeline_wall']:.2f} with start-up)\n"
          f"  model alone                  {fps['model_alone']:6.2f}\n"
          f"  naive loop, in-process       {fps['naive']:6.2f}\n"
          + (f"  naive loop, ffmpeg pipes     {fps['ffmpeg_pipes']:6.2f}\n" if pipes else
             f"  naive loop, ffmpeg pipes     not run ({why_ff})\n")
          + (f"  OpenCV ESPCN x2 (model only) {fps['opencv_espcn']:6.2f}\n"
             if "opencv_espcn" in fps else f"  OpenCV ESPCN x2              not run ({reason})\n")
          + f"  decode alone {fps['decode_alone']:.2f}, encode alone {fps['encode_alone']:.2f}; "
          f"CPU s per frame: model {per['model_cpu_s']:.3f}, decode {per['decode_cpu_s']:.3f}, "
          f"encode {per['encode_cpu_s']:.3f}, naive loop {per['naive_cpu_s']:.3f}, pipeline "
          f"{per['pipeline_cpu_s']:.3f} (whole command); overlap bound on {cores} cores "
          f"{fps['overlap_bound']:.2f}\n"
          f"  pipeline/model alone {row['pipeline_vs_model_alone']:.2f} (target >= 0.85; "
          f"bound {row['bound_vs_model_alone']:.2f}), pipeline/naive "
          f"{row['pipeline_vs_naive']:.2f} (target >= 1.25; bound {row['bound_vs_naive']:.2f})",
          flush=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2,
                    help="rounds of the pipeline, the model alone and the naive loop, "
                         "interleaved; the fastest round of each is kept")
    ap.add_argument("--model", default="rsp-x2-jpeg-int8",
                    help="a shipped model's name or an .onnx file")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="OpenCV's threads (ONNX Runtime: its default, every core)")
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--note", default="", help="a line added to the output (e.g. the load)")
    args = ap.parse_args()
    from sronnx.benchmark import describe, machine_info

    model = Path(args.model)
    if not model.is_file():
        model = ROOT / "sronnx" / "models" / f"{args.model}.onnx"
    res: dict = {"date": _dt.datetime.now().isoformat(timespec="seconds"),
                 "command": " ".join([Path(sys.executable).name, *sys.argv]),
                 "machine": describe(machine_info(args.threads)), "model": model.name,
                 "load_average_at_start": os.getloadavg(), "note": args.note, "sizes": {}}
    print(f"{res['date']}  {res['command']}\n{res['machine']}\nmodel {model.name} (x2); "
          f"load average at start {res['load_average_at_start'][0]:.2f}"
          + (f"\nnote: {args.note}" if args.note else ""), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sizes:
            res["sizes"][name] = one_size(name, SIZES[name], args, model, Path(tmp))
    res["load_average_at_end"] = os.getloadavg()
    print(f"load average at end {res['load_average_at_end'][0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
