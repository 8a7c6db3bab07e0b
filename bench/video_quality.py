"""Video quality (issue 25, "Model choice for video", "Quality", "Temporal stability"): which
shipped model a compressed video should get, how much the default encoding keeps of the
model's gain, and whether frame-by-frame upscaling flickers more than bicubic.

    python bench/video_quality.py --sections calibrate                # training clips only
    python bench/video_quality.py --sections evaluate,grain,target    # test clips
    python bench/video_quality.py                                     # all of them
    python bench/video_quality.py --sections rescore   # the rule's picks again, no model run
    python bench/video_quality.py --sections none --merge A.json B.json   # one report

Clips are made here, never read from anywhere else: a 240x240 window (`--size`) of one image,
`--frames` (16) frames, `--clips` (12) per set, two panning to one still: still (the same
window every frame: a static shot) or panning (the window moves 4 pixels right and 1 down a
frame, less where the image has no room). The ground truth is those frames; the input is
each frame bicubic-downscaled (Pillow, the training protocol) by 2, 3 and 4 (120, 80 and 60
pixels: every scale's input is even-sized, so 4:2:0 holds it) and then encoded as video
would be: FFV1 (lossless), H.264 (libx264, preset medium) at CRF 18, 23, 28 and 33, H.265
(libx265) at CRF 28 and VP9 (libvpx-vp9, constant quality) at CRF 40, all 4:2:0 at 25
frames/s, in Matroska, through PyAV.

Calibration clips come from the training images only (../shared/data/train, BSD200 and T91,
sides of at least 256 pixels); evaluation clips from Set14 and BSD100 (test data, used only
to report the chosen rule, never to choose it).

calibrate / evaluate: each decoded clip through bicubic and the shipped CPU defaults (the
clean, photo and JPEG int8 models of each scale; the JPEG model where one ships), PSNR-Y
against the ground-truth frames (border = scale, the protocol), per frame, averaged per clip;
the gain over bicubic per model, codec and quality; the clip's stream properties (codec,
bits per pixel: the stream's packet bytes x 8 / (width x height x frames)) and what
`sronnx.engine.classify` says of its first decoded frame. Candidate rules are scored on the
calibration clips; `evaluate` scores the rule `sronnx.engine.video.video_model` really applies
(called here on each clip's header facts and first frame) beside the fixed models and the
per-clip best (oracle). rescore: `video_model`'s picks in stored `evaluate` records again,
after a change of the rule (each clip re-encoded, no model run).

grain: still test clips at x2 whose input frames each get their own Gaussian grain (sigma
`GRAIN`, 0..255) before encoding (FFV1, H.264 CRF 18/23/28): the flicker a still shot's
sensor noise makes, against the decoded input's own frame-to-frame change.

target: clean clips at x2 (FFV1 source, test images) through `sronnx upscale` (the CLI, its
default encoding: H.264 CRF 18), against bicubic frames encoded by the same encoder at CRF 18
(libx264, yuv420p): mean PSNR-Y of the decoded outputs against the ground truth; the issue
asks for at least +1 dB.

Temporal stability (from every run above, and from the CLI outputs of `target`): for
consecutive frames t, t+1 of an output O and of the ground truth G (luma, 0..255, border
cropped), the temporal error mean |(O[t+1] - O[t]) - (G[t+1] - G[t])| (0 for a perfect
video: on a still clip it is the output's own frame-to-frame change, i.e. flicker) and the
excess change mean |O[t+1] - O[t]| - mean |G[t+1] - G[t]|. The margin, fixed before
measuring: sronnx's temporal error at most 1.10x bicubic's (10% more), per motion, scale and
source quality, averaged over the clips.

The report (`--out`, default bench/results/video_quality.{json,md}) names every command that
made it (`--merge` takes in the sections of earlier runs' JSON, e.g. of sections run in
parallel), the machine and the dates. Timings are not measured here; CPUs shared with other
jobs change no figure (one encoder thread: the same frames every run), only how long a run
takes: about 20 minutes per set of 12 clips on two busy cores.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402

from sronnx.core import default_models  # noqa: E402
from sronnx.engine import ModelChoice, Upscaler, classify, video_model  # noqa: E402
from sronnx.imaging import blockiness, metrics, noise_sigma  # noqa: E402
from sronnx.io import VideoInfo  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
TRAIN = (DATA / "train" / "BSD200", DATA / "train" / "T91")
TEST = (DATA / "test" / "Set14", DATA / "test" / "BSD100")
SCALES = (2, 3, 4)
#: (label, encoder, CRF): None is FFV1, lossless
QUALITIES = (("ffv1", "ffv1", None), ("h264-crf18", "libx264", 18),
             ("h264-crf23", "libx264", 23), ("h264-crf28", "libx264", 28),
             ("h264-crf33", "libx264", 33), ("h265-crf28", "libx265", 28),
             ("vp9-crf40", "libvpx-vp9", 40))
PAN = (4, 1)  # HR pixels a frame, (right, down)
MARGIN = 1.10  # sronnx's temporal error at most this times bicubic's
TARGET_DB = 1.0
BPP_GRID = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)  # bits per pixel thresholds tried
BLOCK_GRID = (1.04, 1.06, 1.08, 1.10, 1.12, 1.14, 1.16, 1.20, 1.24)  # first-frame blocking
#: the candidate rule (`candidate_rules`) that states what `video_model` does
SHIPPED_CANDIDATE = "lossy: blocking>=1.10->photo else classify"
GRAIN = 2.0  # sigma (0..255) of the grain on the still clips of the `grain` section
GRAIN_QUALITIES = tuple(q for q in QUALITIES if q[0] in ("ffv1", "h264-crf18", "h264-crf23",
                                                          "h264-crf28"))
#: the rule `sronnx.engine.video.video_model` applies, as the report states it
CHOSEN = ("lossy codec: the photo model when its first frame's 8x8 blocking "
          "(sronnx.imaging.blockiness) is at least 1.10, else the still-image rule on the first "
          "frame; lossless codec: the still-image rule on the first frame "
          "(sronnx.engine.choice.classify_video)")


# ---------------------------------------------------------------- clips


def pick_images(folders: Iterable[Path], n: int, side: int) -> list[Path]:
    """`n` images, an equal share from each folder (all of a folder's where it has fewer),
    spread evenly over its sorted PNG/JPEG/BMP files whose sides are all at least `side`."""
    folders = list(folders)
    picked = []
    for k, folder in enumerate(folders):
        want = n // len(folders) + (k < n % len(folders))
        big = []
        for p in sorted(folder.rglob("*")):
            if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"):
                with Image.open(p) as im:
                    if min(im.size) >= side:
                        big.append(p)
        step = max(len(big) / max(want, 1), 1.0)
        picked += [big[int(i * step)] for i in range(min(want, len(big)))]
    return picked


def clip_frames(path: Path, size: int, frames: int, motion: str) -> list[np.ndarray]:
    """The ground-truth frames (HxWx3 uint8, `size` square) of one clip: a still window at the
    image's centre, or a window panning by up to `PAN` pixels a frame from near its corner."""
    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = img.shape[:2]
    if motion == "still":
        y, x = (h - size) // 2, (w - size) // 2
        return [img[y:y + size, x:x + size].copy() for _ in range(frames)]
    dx = min(PAN[0], (w - size) // max(frames - 1, 1))
    dy = min(PAN[1], (h - size) // max(frames - 1, 1))
    return [img[t * dy:t * dy + size, t * dx:t * dx + size].copy() for t in range(frames)]


def downscale(frames: list[np.ndarray], scale: int) -> list[np.ndarray]:
    """Each frame bicubic-downscaled by `scale` (Pillow, antialiased: the training protocol)."""
    out = []
    for f in frames:
        h, w = f.shape[:2]
        out.append(np.asarray(Image.fromarray(f).resize((w // scale, h // scale),
                                                        Image.BICUBIC)))
    return out


def encode(frames: list[np.ndarray], codec: str, crf: int | None) -> bytes:
    """`frames` (RGB uint8) as a Matroska file: `codec` at `crf`, 4:2:0, 25 frames/s, one
    encoder thread (x264's threads can change the bytes from run to run)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        s = out.add_stream(codec, rate=25)
        s.width, s.height = frames[0].shape[1], frames[0].shape[0]
        s.pix_fmt = "yuv420p"
        s.codec_context.thread_count = 1  # one thread: the same bytes on every run
        if crf is not None:
            s.codec_context.options = {"crf": str(crf)} | (
                {"b": "0"} if codec == "libvpx-vp9" else {}) | (
                {"x265-params": "log-level=error"} if codec == "libx265" else {})
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return buf.getvalue()


def decode(data: bytes | Path) -> tuple[list[np.ndarray], dict]:
    """The frames (RGB uint8) of a video file or its bytes, and its stream facts: codec,
    size, frames and bits per pixel (packet bytes x 8 / (width x height x frames))."""
    src = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    with av.open(src) as c:
        vs = c.streams.video[0]
        size = 0
        frames = []
        for packet in c.demux(vs):
            size += packet.size
            frames.extend(f.to_ndarray(format="rgb24") for f in packet.decode())
        cc = vs.codec_context
        facts = {"codec": cc.name, "width": cc.width, "height": cc.height,
                 "frames": len(frames)}
    facts["bpp"] = 8 * size / (facts["width"] * facts["height"] * max(len(frames), 1))
    return frames, facts


# ---------------------------------------------------------------- measures


def luma(frame: np.ndarray, border: int) -> np.ndarray:
    """Y (BT.601, 16..235 studio range as the protocol's PSNR-Y takes it) of a uint8 RGB
    frame, `border` pixels cropped from every side, float64."""
    y = metrics.rgb_to_y(frame)
    return y[border:-border, border:-border] if border else y


def psnr_frames(out: list[np.ndarray], gt: list[np.ndarray], scale: int) -> float:
    """Mean PSNR-Y (dB) of the frames of `out` against `gt` (border = scale)."""
    return float(np.mean([metrics.psnr_y(o, g, border=scale) for o, g in zip(out, gt,
                                                                              strict=True)]))


def temporal(out: list[np.ndarray], gt: list[np.ndarray], border: int) -> dict[str, float]:
    """Temporal error and excess change (see the module) of `out` against `gt`, 0..255."""
    oy = [luma(f, border) for f in out]
    gy = [luma(f, border) for f in gt]
    err, change, gchange = [], [], []
    for t in range(len(oy) - 1):
        do, dg = oy[t + 1] - oy[t], gy[t + 1] - gy[t]
        err.append(np.abs(do - dg).mean())
        change.append(np.abs(do).mean())
        gchange.append(np.abs(dg).mean())
    return {"terr": float(np.mean(err)), "excess": float(np.mean(change) - np.mean(gchange))}


def bicubic(scale: int) -> Callable[[np.ndarray], np.ndarray]:
    def up(f: np.ndarray) -> np.ndarray:
        h, w = f.shape[:2]
        return np.asarray(Image.fromarray(f).resize((w * scale, h * scale), Image.BICUBIC))
    return up


class Models:
    """The shipped CPU defaults of one scale, opened once: {name: Upscaler} and the
    `ModelChoice` a run without --model gets."""

    def __init__(self, scale: int, threads: int) -> None:
        self.kinds = default_models(scale, "cpu")  # kind -> name ("jpeg": photo where none)
        self.ups = {n: Upscaler(n, threads=threads) for n in set(self.kinds.values())}
        self.choice = ModelChoice({k: self.ups[n] for k, n in self.kinds.items()
                                   if k != "jpeg" or n != self.kinds["photo"]},
                                  {k: n for k, n in self.kinds.items()})

    def run(self, name: str, frames: list[np.ndarray]) -> list[np.ndarray]:
        up = self.ups[name]
        return [up.upscale_array(f) for f in frames]


# ---------------------------------------------------------------- one clip set


def add_grain(frames: list[np.ndarray], sigma: float, seed: int) -> list[np.ndarray]:
    """Each frame with its own Gaussian noise of `sigma` (0..255 units, seeded), rounded and
    clipped to uint8: a still shot's sensor grain, different in every frame."""
    rng = np.random.default_rng(seed)
    return [np.clip(np.rint(f + rng.normal(0.0, sigma, f.shape)), 0, 255).astype(np.uint8)
            for f in frames]


@dataclass(frozen=True)
class Sweep:
    """What each clip of a set is measured at: scales, (label, encoder, CRF) sources, and
    the grain sigma (0: none)."""

    scales: tuple[int, ...] = SCALES
    qualities: tuple[tuple, ...] = QUALITIES
    grain: float = 0.0


def measure_set(folders: Iterable[Path], n_clips: int, size: int, n_frames: int,
                threads: int, log: Callable[[str], None], sweep: Sweep = Sweep()
                ) -> list[dict]:
    """One record per (clip, scale, quality): stream facts, the first frame's `classify`,
    PSNR-Y and temporal figures of bicubic and every default model, and the model
    `video_model` picks. With `grain` (sigma, 0..255), every clip is still and each input
    frame gets its own noise before encoding (`add_grain`; the ground truth stays clean)."""
    paths = pick_images(folders, n_clips, size + 16)
    scales, qualities, grain = sweep.scales, sweep.qualities, sweep.grain
    models = {s: Models(s, threads) for s in scales}
    records = []
    for i, path in enumerate(paths):
        motion = "still" if i % 3 == 2 or grain else "pan"  # two panning clips to one still
        gt = clip_frames(path, size, n_frames, motion)
        if grain:
            motion = f"still+grain{grain:g}"
        for s in scales:
            lr = downscale(gt, s)
            if grain:
                lr = add_grain(lr, grain, seed=i)
            m = models[s]
            for label, codec, crf in qualities:
                frames, facts = decode(encode(lr, codec, crf))
                first = frames[0]
                choice = classify(first)
                info = VideoInfo(facts["width"], facts["height"], facts["frames"],
                                 facts["codec"])
                rec = {"clip": f"{path.parent.name}/{path.name}", "motion": motion,
                       "scale": s, "quality": label, **facts,
                       "classify": choice.kind, "classify_reason": choice.reason,
                       "blockiness": blockiness(first), "noise_sigma": noise_sigma(first),
                       "psnr": {}, "temporal": {}}
                ys = [luma(f, 0) for f in frames]
                rec["input_change"] = float(np.mean([np.abs(b - a).mean()
                                                     for a, b in zip(ys, ys[1:], strict=False)]))
                outs = {"bicubic": [bicubic(s)(f) for f in frames]}
                for name in m.ups:
                    outs[name] = m.run(name, frames)
                for name, out in outs.items():
                    rec["psnr"][name] = psnr_frames(out, gt, s)
                    rec["temporal"][name] = temporal(out, gt, s)
                rec["kinds"] = m.kinds
                _, rec["rule_model"], rec["rule_reason"] = video_model(m.choice, info, first)
                records.append(rec)
            log(f"clip {i + 1}/{len(paths)} {rec['clip']} {motion} x{s} done")
    return records


def rescore(records: list[dict], size: int, n_frames: int) -> dict[str, int]:
    """Set each record's `rule_model` and `rule_reason` again from `video_model` as the code
    now stands: each clip re-made and re-encoded as `measure_set` made it, its header facts
    and first decoded frame given to the rule. No model runs: the PSNR and temporal figures
    of every model are already in the records. An encode with several x264 threads (before
    `encode` took one) may come out slightly different: counted in `remade_differs`, with
    how many picks differ from what the stored features of the measured frame give
    (`picks_differ`: the candidate rule that states the shipped one)."""
    choices = {s: Models(s, 1).choice for s in SCALES}
    by_clip = defaultdict(list)
    for r in records:
        by_clip[(r["clip"], r["motion"])].append(r)
    count = {"records": len(records), "remade_differs": 0, "picks_differ": 0}
    stated = candidate_rules(())[SHIPPED_CANDIDATE]
    for (clip, motion), recs in by_clip.items():
        gt = clip_frames(DATA / _folder_of(clip), size, n_frames, motion)
        for r in recs:
            codec, crf = next((c, q) for lab, c, q in QUALITIES if lab == r["quality"])
            frames, facts = decode(encode(downscale(gt, r["scale"]), codec, crf))
            count["remade_differs"] += blockiness(frames[0]) != r["blockiness"]
            info = VideoInfo(facts["width"], facts["height"], facts["frames"], facts["codec"])
            _, r["rule_model"], r["rule_reason"] = video_model(choices[r["scale"]], info,
                                                               frames[0])
            count["picks_differ"] += r["rule_model"] != r["kinds"][stated(r)]
    return count


def _folder_of(clip: str) -> Path:
    """The image path under DATA of a record's clip name ("BSD200/x.png")."""
    for base in TRAIN + TEST:
        if base.name == clip.split("/")[0]:
            return base.relative_to(DATA) / clip.split("/", 1)[1]
    raise ValueError(f"no data folder for clip {clip}")


# ---------------------------------------------------------------- rules


def _gain(rec: dict, name: str) -> float:
    return rec["psnr"][name] - rec["psnr"]["bicubic"]


def rule_scores(records: list[dict], rules: dict[str, Callable[[dict], str]]
                ) -> dict[str, dict]:
    """Mean gain over bicubic (dB) of each rule (record -> kind), per scale and quality and
    overall, and how many records it loses to the per-record best by over 0.1 dB."""
    out = {}
    for rname, rule in rules.items():
        by = defaultdict(list)
        behind = 0
        for r in records:
            name = r["kinds"][rule(r)]
            g = _gain(r, name)
            best = max(_gain(r, n) for n in r["psnr"] if n != "bicubic")
            behind += best - g > 0.1
            by[(r["scale"], r["quality"])].append(g)
            by[(r["scale"], "all")].append(g)
            by[("all", "all")].append(g)
        out[rname] = {f"x{k[0]} {k[1]}" if k[0] != "all" else "all": float(np.mean(v))
                      for k, v in by.items()} | {"behind_best_0.1dB": behind}
    return out


def candidate_rules(bpp_grid: Iterable[float]) -> dict[str, Callable[[dict], str]]:
    """The rules compared on the calibration clips (record -> input kind)."""
    lossless = {"ffv1"}

    def current(r: dict) -> str:
        return r["classify"] if r["codec"] in lossless else "jpeg"

    rules: dict[str, Callable[[dict], str]] = {
        "clean always": lambda r: "clean",
        "photo always": lambda r: "photo",
        "jpeg always": lambda r: "jpeg",
        "lossy->jpeg, lossless->classify (first slice)": current,
        "classify first frame (all codecs)": lambda r: r["classify"],
        "oracle (best per clip)": lambda r: min(
            ("clean", "photo", "jpeg"), key=lambda k: -_gain(r, r["kinds"][k])),
    }
    for t in BLOCK_GRID:
        for kind in ("photo", "jpeg"):
            rules[f"lossy: blocking>={t:.2f}->{kind} else classify"] = (
                lambda r, t=t, kind=kind: kind if r["codec"] not in lossless
                and (r["blockiness"] or 0.0) >= t else r["classify"])
    for t in bpp_grid:
        rules[f"lossy: bpp>={t:g}->classify else jpeg"] = (
            lambda r, t=t: r["classify"] if r["codec"] in lossless or r["bpp"] >= t
            else "jpeg")
    return rules


def gain_table(records: list[dict]) -> dict[str, dict[str, float]]:
    """{"xS quality": {kind: mean gain over bicubic of the kind's model (dB), "bpp": mean
    bits per pixel, ...}}; "jpeg" is the photo model's figure where no JPEG model ships."""
    by = defaultdict(lambda: defaultdict(list))
    for r in records:
        key = f"x{r['scale']} {r['quality']}"
        for kind in ("clean", "photo", "jpeg"):
            by[key][kind].append(_gain(r, r["kinds"][kind]))
        by[key]["jpeg is photo"].append(float(r["kinds"]["jpeg"] == r["kinds"]["photo"]))
        by[key]["bicubic PSNR-Y"].append(r["psnr"]["bicubic"])
        by[key]["bpp"].append(r["bpp"])
        by[key]["blockiness"].append(r["blockiness"] or 0.0)
        by[key]["classify: share not clean"].append(float(r["classify"] != "clean"))
    return {k: {m: float(np.mean(v)) for m, v in d.items()} for k, d in by.items()}


def stability_table(records: list[dict]) -> dict[str, dict]:
    """Per motion, scale and quality: mean temporal error and excess change of bicubic and
    of the model `video_model` picks, their ratio and whether it is within `MARGIN`; the
    temporal error of the clean and photo models whichever was picked, and the decoded
    input's own change where measured."""
    by = defaultdict(lambda: defaultdict(list))
    for r in records:
        key = f"{r['motion']} x{r['scale']} {r['quality']}"
        if "input_change" in r:
            by[key]["input change"].append(r["input_change"])
        for kind in ("clean", "photo"):
            by[key][f"{kind} model terr"].append(r["temporal"][r["kinds"][kind]]["terr"])
        for who, name in (("bicubic", "bicubic"), ("sronnx", r["rule_model"])):
            by[key][f"{who} terr"].append(r["temporal"][name]["terr"])
            by[key][f"{who} excess"].append(r["temporal"][name]["excess"])
    out = {}
    for k, d in by.items():
        row = {m: float(np.mean(v)) for m, v in d.items()}
        b, s = row["bicubic terr"], row["sronnx terr"]
        row["ratio"] = s / b if b > 0 else (1.0 if s == 0 else float("inf"))
        row["within_margin"] = bool(row["ratio"] <= MARGIN)
        out[k] = row
    return out


# ---------------------------------------------------------------- quality target


def run_target(folders: Iterable[Path], n_clips: int, size: int, n_frames: int,
               log: Callable[[str], None]) -> dict:
    """Clean x2 clips (FFV1) through the `sronnx upscale` CLI at its defaults vs bicubic
    frames encoded as H.264 CRF 18 (libx264, yuv420p): PSNR-Y and temporal figures."""
    paths = pick_images(folders, n_clips, size + 16)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in", Path(tmp) / "out"
        src.mkdir()
        gts = {}
        for i, path in enumerate(paths):
            motion = "still" if i % 3 == 2 else "pan"
            gt = clip_frames(path, size, n_frames, motion)
            name = f"clip{i:02d}.mkv"
            (src / name).write_bytes(encode(downscale(gt, 2), "ffv1", None))
            gts[name] = (gt, motion, f"{path.parent.name}/{path.name}")
        cmd = [sys.executable, "-m", "sronnx", "upscale", str(src), "-o", str(dst),
               "--json", str(Path(tmp) / "report.json")]
        log("running " + " ".join(cmd[1:]))
        done = subprocess.run(cmd, capture_output=True, text=True,
                              env=os.environ | {"PYTHONPATH": str(ROOT)})
        if done.returncode != 0:
            raise SystemExit(f"sronnx upscale failed: {done.stdout}{done.stderr}")
        report = {Path(f["input"]).name: f for f in
                  json.loads((Path(tmp) / "report.json").read_text())["files"]}
        for name, (gt, motion, clip) in gts.items():
            lr, _ = decode(src / name)
            out, facts = decode(dst / name)
            bic, bfacts = decode(encode([bicubic(2)(f) for f in lr], "libx264", 18))
            rows.append({"clip": clip, "motion": motion,
                         "model": report[name].get("model"),
                         "model_reason": report[name].get("model_reason"),
                         "sronnx_codec": facts["codec"], "sronnx_bpp": facts["bpp"],
                         "bicubic_bpp": bfacts["bpp"],
                         "sronnx_psnr": psnr_frames(out, gt, 2),
                         "bicubic_psnr": psnr_frames(bic, gt, 2),
                         "sronnx_temporal": temporal(out, gt, 2),
                         "bicubic_temporal": temporal(bic, gt, 2)})
    gain = float(np.mean([r["sronnx_psnr"] - r["bicubic_psnr"] for r in rows]))
    summary = {"clips": len(rows), "sronnx_psnr": float(np.mean([r["sronnx_psnr"] for r in rows])),
               "bicubic_psnr": float(np.mean([r["bicubic_psnr"] for r in rows])),
               "gain_db": gain, "target_db": TARGET_DB, "met": gain >= TARGET_DB,
               "worst_clip_gain_db": float(min(r["sronnx_psnr"] - r["bicubic_psnr"]
                                               for r in rows))}
    for motion in ("pan", "still"):
        sel = [r for r in rows if r["motion"] == motion]
        if sel:
            b = float(np.mean([r["bicubic_temporal"]["terr"] for r in sel]))
            s = float(np.mean([r["sronnx_temporal"]["terr"] for r in sel]))
            summary[f"{motion}_terr"] = {"bicubic": b, "sronnx": s,
                                         "ratio": s / b if b > 0 else 1.0 if s == 0 else None}
    return {"command": " ".join(cmd[1:4]) + " IN -o OUT", "summary": summary, "clips": rows}


# ---------------------------------------------------------------- report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    codec = ".".join(map(str, av.library_versions["libavcodec"]))
    return (f"{cpu}, {os.cpu_count()} logical cores; Python {platform.python_version()}, "
            f"PyAV {av.__version__} (libavcodec {codec})")


def _fmt(x: float) -> str:
    return f"{x:+.2f}" if isinstance(x, float) else str(x)


def write_md(res: dict, path: Path) -> None:
    """The markdown report of `res` (see `main`)."""
    L = ["# Video quality: model choice, quality target, temporal stability", "",
         "Runs (each later one takes in the sections of the earlier ones' JSON):", "",
         *[f"- `{r['command']}` ({r['date']})" for r in res.get("runs", [])], "",
         f"Machine: {res['machine']}  ",
         "No timings here: the runs shared the two cores with other jobs, which changes no "
         "figure, only how long they took. Encoding: one encoder thread from the `grain` and "
         "`target` runs on; the `calibrate` and `evaluate` runs let x264 use several (see "
         "`rescore` below).  ",
         f"Clips: {res['params']['size']}x{res['params']['size']} ground-truth frames, "
         f"{res['params']['frames']} frames each, two panning to one still; "
         "see bench/video_quality.py for how they are made and measured.", ""]
    if "calibrate" in res:
        cal = res["calibrate"]
        L += ["## Calibration (training clips only)", "",
              f"{cal['clips']} clips from {', '.join(cal['folders'])}. Mean PSNR-Y gain over "
              "bicubic (dB) of the shipped CPU default of each kind (rsp-xN-int8, "
              "rsp-xN-photo-int8, rsp-xN-jpeg-int8; x4 ships no JPEG model), by scale and "
              "source; bpp: the input stream's bits per pixel; blocking: the mean of the first "
              "frames' `blockiness`; last column: share of clips whose first frame the "
              "still-image rule (`classify`) calls photo or JPEG.", ""]
        L += _gain_md(cal["gains"])
        L += ["", "Rules, mean gain over bicubic (dB) on the calibration clips:", ""]
        L += _rules_md(cal["rules"])
        L += ["", f"Rule in sronnx (`video_model`): {res.get('chosen', '?')}", ""]
    if "evaluate" in res:
        ev = res["evaluate"]
        L += ["## Evaluation (Set14 and BSD100 clips: test data, not used to choose)", "",
              f"{ev['clips']} clips. Gain over bicubic by model:", ""]
        L += _gain_md(ev["gains"])
        L += ["", "Rules (\"video_model (shipped rule)\" is what `sronnx upscale` picks):", ""]
        L += _rules_md(ev["rules"])
        if "rescored" in ev:
            c = ev["rescored"]
            L += ["", f"`video_model`'s picks were made again after the rule changed "
                  f"(`--sections rescore`: each clip re-encoded with one encoder thread, no "
                  f"model run): of {c['records']} clip sources, {c['remade_differs']} re-made "
                  f"first frames differ from the measured ones (x264 had run with several "
                  f"threads), and {c['picks_differ']} picks differ from \"{SHIPPED_CANDIDATE}\" "
                  "on the measured frames' stored features."]
        L += ["", "## Temporal stability (test clips, model outputs before encoding)", "",
              "Temporal error: mean |(O[t+1]-O[t]) - (G[t+1]-G[t])| of luma (0..255), O the "
              "output, G the ground truth (on still clips: the output's own flicker). "
              f"Margin: sronnx at most {MARGIN:.2f}x bicubic's.", "",
              ]
        L += _stability_md(ev["stability"])
    if "grain" in res:
        g = res["grain"]
        L += ["## Flicker on still shots with grain (test clips, x2)", "",
              f"{g['clips']} still clips whose input frames each get their own Gaussian "
              f"grain (sigma {GRAIN:g} of 255) before encoding; the ground truth is the clean "
              "still frame, so the temporal error is the output's own flicker; the last "
              "column is the decoded input's own mean frame-to-frame change (luma, at its "
              "own size).", ""]
        L += _stability_md(g["stability"])
        L += ["Gain over bicubic on these clips (dB):", "", *_gain_md(g["gains"]), ""]
    if "target" in res:
        t = res["target"]["summary"]
        L += ["## Quality target: clean x2 clips, default encoding", "",
              f"`{res['target']['command']}` on {t['clips']} FFV1 clips (test images, x2) at "
              "its defaults (H.264 CRF 18), against bicubic frames encoded with libx264 CRF 18 "
              "yuv420p; PSNR-Y of the decoded frames against the ground truth.", "",
              f"- sronnx {t['sronnx_psnr']:.2f} dB, bicubic + CRF 18 {t['bicubic_psnr']:.2f} dB: "
              f"gain {t['gain_db']:+.2f} dB (target >= +{t['target_db']:.1f}: "
              f"{'met' if t['met'] else 'NOT met'}); worst clip {t['worst_clip_gain_db']:+.2f} dB"]
        for motion in ("pan", "still"):
            if f"{motion}_terr" in t:
                d = t[f"{motion}_terr"]
                ratio = "n/a" if d["ratio"] is None else f"{d['ratio']:.3f}"
                L.append(f"- temporal error, {motion} clips, encoded outputs: bicubic "
                         f"{d['bicubic']:.3f}, sronnx {d['sronnx']:.3f} (ratio {ratio})")
        models = sorted({r["model"] for r in res["target"]["clips"]})
        L += [f"- model(s) the CLI picked: {', '.join(models)}", ""]
    path.write_text("\n".join(L) + "\n")


def _stability_md(table: dict) -> list[str]:
    """The rows of a `stability_table` and how many are within the margin."""
    out = ["| clips | bicubic | sronnx | ratio | within margin "
           "| excess change bicubic / sronnx | clean / photo model | input's own change |",
           "|---|---|---|---|---|---|---|---|"]
    for k, row in sorted(table.items()):
        own = f"{row['input change']:.3f}" if "input change" in row else ""
        out.append(f"| {k} | {row['bicubic terr']:.3f} | {row['sronnx terr']:.3f} | "
                   f"{row['ratio']:.3f} | {'yes' if row['within_margin'] else 'NO'} | "
                   f"{row['bicubic excess']:+.3f} / {row['sronnx excess']:+.3f} | "
                   f"{row['clean model terr']:.3f} / {row['photo model terr']:.3f} | {own} |")
    n_ok = sum(r["within_margin"] for r in table.values())
    return [*out, "", f"Within the margin: {n_ok} of {len(table)} groups.", ""]


def _gain_md(gains: dict) -> list[str]:
    out = ["| scale, source | bicubic PSNR-Y | bpp | blocking (mean) | clean | photo "
           "| jpeg | classify not clean |", "|---|---|---|---|---|---|---|---|"]
    for k in sorted(gains, key=lambda k: (k.split()[0], [q[0] for q in QUALITIES].index(
            k.split()[1]))):
        row = gains[k]
        jpeg = "(photo)" if row["jpeg is photo"] == 1.0 else f"{row['jpeg']:+.2f}"
        out.append(f"| {k} | {row['bicubic PSNR-Y']:.2f} | {row['bpp']:.3f} | "
                   f"{row['blockiness']:.3f} | {row['clean']:+.2f} | {row['photo']:+.2f} | "
                   f"{jpeg} | {row['classify: share not clean']:.0%} |")
    return out


def _rules_md(rules: dict) -> list[str]:
    out = ["| rule | all | x2 | x3 | x4 | behind the best by > 0.1 dB |",
           "|---|---|---|---|---|---|"]
    for name, row in rules.items():
        out.append(f"| {name} | {row['all']:+.3f} | {row.get('x2 all', 0):+.3f} | "
                   f"{row.get('x3 all', 0):+.3f} | {row.get('x4 all', 0):+.3f} | "
                   f"{row['behind_best_0.1dB']} |")
    return out


def summarize_set(recs: list[dict], folders: Iterable[Path], shipped: bool = True) -> dict:
    """The tables of one clip set: gains, rules (the candidates, and with `shipped`
    `video_model`'s own picks and the stability of its outputs) with the records they come
    from. Calibration takes `shipped=False`: it chooses the rule, so it never scores one."""
    rules = candidate_rules(BPP_GRID)
    if shipped:
        rules["video_model (shipped rule)"] = lambda r: next(
            k for k in ("clean", "photo", "jpeg") if r["kinds"][k] == r["rule_model"])
    out = {"folders": [str(p.relative_to(DATA)) for p in folders],
           "clips": len({r["clip"] for r in recs}), "gains": gain_table(recs),
           "rules": rule_scores(recs, rules)}
    if shipped:
        out["stability"] = stability_table(recs)
    else:
        for r in recs:  # what the rule of the day picked when these were measured: not kept
            r.pop("rule_model", None), r.pop("rule_reason", None)
    return out | {"records": recs}


def _rounded(x: object) -> object:
    """`x` with every float rounded to 4 decimals (the JSON stays small)."""
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_rounded(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", default="calibrate,evaluate,grain,target",
                    help="calibrate, evaluate, grain, target; rescore: the rule's picks in the "
                         "stored records again (after a change of the rule), no model runs; "
                         "none: only the report, from --merge and --out's JSON")
    ap.add_argument("--clips", type=int, default=12, help="clips per set")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=240,
                    help="ground-truth frame side (multiple of 24)")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads")
    ap.add_argument("--merge", type=Path, nargs="*", default=[],
                    help="JSON results of earlier runs (e.g. run in parallel) whose sections "
                         "are taken in")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "video_quality")
    args = ap.parse_args(argv)
    sections = set(args.sections.split(","))
    jpath, mpath = args.out.with_suffix(".json"), args.out.with_suffix(".md")
    res = json.loads(jpath.read_text()) if jpath.exists() else {}
    runs = res.get("runs", [])
    for path in args.merge:
        earlier = json.loads(path.read_text())
        runs += earlier.get("runs", [{"command": earlier["command"], "date": earlier["date"]}])
        res |= {k: v for k, v in earlier.items()
                if k in ("calibrate", "evaluate", "grain", "target")}
    command = "python bench/video_quality.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    date = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    res |= {"command": command, "date": date,
            "runs": [*runs, {"command": command, "date": date}],
            "machine": machine(),
            "params": {"size": args.size, "frames": args.frames, "clips": args.clips}}

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    for name, folders in (("calibrate", TRAIN), ("evaluate", TEST)):
        if name in sections:
            recs = measure_set(folders, args.clips, args.size, args.frames, args.threads, log)
            res[name] = summarize_set(recs, folders, name == "evaluate")
        elif "rescore" in sections and name == "evaluate" and name in res:
            count = rescore(res[name]["records"], args.size, args.frames)
            res[name] = summarize_set(res[name]["records"], folders) | {"rescored": count}
            log(f"{name}: rule picks re-made")
        elif name in res:  # merged from an earlier run: the tables again from its records
            res[name] = summarize_set(res[name]["records"], folders, name == "evaluate") | {
                k: v for k, v in res[name].items() if k == "rescored"}
    if "grain" in sections:
        recs = measure_set(TEST, args.clips, args.size, args.frames, args.threads, log,
                           Sweep((2,), GRAIN_QUALITIES, GRAIN))
        res["grain"] = {"folders": [str(p.relative_to(DATA)) for p in TEST],
                        "clips": len({r["clip"] for r in recs}),
                        "stability": stability_table(recs), "gains": gain_table(recs),
                        "records": recs}
    elif "grain" in res:  # merged from an earlier run: the tables again from its records
        res["grain"] |= {"stability": stability_table(res["grain"]["records"]),
                         "gains": gain_table(res["grain"]["records"])}
    if "target" in sections:
        res["target"] = run_target(TEST, args.clips, args.size, args.frames, log)
    res["chosen"] = CHOSEN
    jpath.parent.mkdir(parents=True, exist_ok=True)
    jpath.write_text(json.dumps(_rounded(res), separators=(",", ":")) + "\n")
    write_md(res, mpath)
    print(mpath.read_text())


if __name__ == "__main__":
    main()
