"""Do two versions of sronnx write the same pixels? `sronnx upscale` of this checkout against
another revision (default: the main branch before the layer rebuild, d0b84b5), on a fixed set
of inputs made here, with the same models and options; every output decoded and compared.

    python tools/compare_outputs.py [--base REV] [--keep DIR]

Inputs (crops of Set5's bird and butterfly): RGB PNG, RGBA PNG with a soft alpha ramp, 16-bit
RGB PNG, 16-bit grey PNG, a JPEG of quality 50, an animated GIF of 3 frames. Runs: the
shipped defaults at x2, x3 and x4 (int8 on CPUs, the per-file photo/JPEG choice), the
float32 files rsp-x2 and rsp-x4 named with --model, and -s 1.5 (resampled). Prints one line
per run (files compared, files identical) and exits 1 when any output differs in size,
mode or a single value, or exists in one version only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SET5 = ROOT.parent / "shared" / "data" / "test" / "Set5"
BASE = "d0b84b5"  # main before issue 23's rebuild
RUNS = {
    "x2 default": ["--scale", "2"],
    "x3 default": ["--scale", "3"],
    "x4 default": ["--scale", "4"],
    "rsp-x2 float32": ["--model", "rsp-x2"],
    "rsp-x4 float32": ["--model", "rsp-x4"],
    "x2 default, -s 1.5": ["-s", "1.5"],
}


def make_inputs(folder: Path) -> None:
    """The fixed input set (deterministic)."""
    folder.mkdir(parents=True, exist_ok=True)
    bird = Image.open(SET5 / "bird.png").convert("RGB").crop((40, 60, 140, 140))
    fly = Image.open(SET5 / "butterfly.png").convert("RGB").crop((60, 60, 156, 140))
    bird.save(folder / "rgb.png")
    rgba = np.asarray(bird.convert("RGBA")).copy()
    rows, cols = np.mgrid[: rgba.shape[0], : rgba.shape[1]]
    rgba[..., 3] = np.clip((cols * 3.1 + rows * 1.3) % 300 - 20, 0, 255).astype(np.uint8)
    Image.fromarray(rgba).save(folder / "rgba.png")
    wide = np.asarray(fly).astype(np.uint16) * 257 + np.arange(96, dtype=np.uint16)[None, :,
                                                                                    None]
    _png16(folder / "rgb16.png", wide)
    _png16(folder / "grey16.png", wide[..., 1])
    fly.save(folder / "photo.jpg", quality=50)
    frames = [bird.rotate(a).quantize(64) for a in (0, 5, 10)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:],
                   duration=[80, 120, 80], loop=0)


def _png16(path: Path, arr: np.ndarray) -> None:
    import png

    planes = 1 if arr.ndim == 2 else arr.shape[2]
    writer = png.Writer(arr.shape[1], arr.shape[0], bitdepth=16, greyscale=planes == 1)
    with open(path, "wb") as fh:
        writer.write(fh, arr.reshape(arr.shape[0], -1).tolist())


def upscale(checkout: Path, inputs: Path, out: Path, args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    r = subprocess.run([sys.executable, "-m", "sronnx", "upscale", str(inputs), "-o", str(out),
                        "--provider", "cpu", "--quiet", *args], cwd=checkout, env=env,
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"{checkout}: sronnx upscale {' '.join(args)} failed: {r.stderr}")


def pixels(path: Path) -> list[tuple[str, tuple[int, ...], bytes]]:
    """Every frame's (mode, shape, values); 16-bit PNGs at full depth."""
    if path.suffix == ".png":
        import png

        info = png.Reader(filename=str(path)).read_flat()
        if info[3].get("bitdepth") == 16:
            return [("16", (info[0], info[1]), np.asarray(info[2], np.uint16).tobytes())]
    frames = []
    with Image.open(path) as img:
        for k in range(getattr(img, "n_frames", 1)):
            img.seek(k)
            frame = np.asarray(img.convert(img.mode))
            frames.append((img.mode, frame.shape, frame.tobytes()))
    return frames


def _commit(repo: Path, rev: str) -> str | None:
    """The commit `rev` names in the git checkout `repo`, None where it names none."""
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q",
                           f"{rev}^{{commit}}"], capture_output=True, text=True)
    return done.stdout.strip() or None


def _is_revision(checkout: Path, rev: str) -> bool:
    """Whether the git checkout `checkout` is at the commit `rev` names in this repository."""
    head = _commit(checkout, "HEAD")
    return head is not None and head == _commit(ROOT, rev)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default=BASE, help=f"the revision to compare with ({BASE})")
    ap.add_argument("--keep", type=Path, default=None, help="keep inputs and outputs here")
    args = ap.parse_args()
    if not (SET5 / "bird.png").is_file():
        print(f"the inputs are made from Set5, which is not at {SET5}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sronnx-compare-") as tmp:
        work = args.keep or Path(tmp)
        base = work / "base-checkout"
        if base.exists() and not _is_revision(base, args.base):
            print(f"{base} exists but is not a checkout of --base {args.base}: remove it, or "
                  "give another --keep", file=sys.stderr)
            return 2
        if not base.exists():
            added = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach",
                                    str(base), args.base], capture_output=True, text=True)
            if added.returncode != 0:
                why = (added.stderr.strip().splitlines() or ["git worktree add failed"])[-1]
                print(f"--base {args.base}: {why}", file=sys.stderr)
                return 2
        different = 0
        try:
            inputs = work / "in"
            make_inputs(inputs)
            for name, options in RUNS.items():
                outs = {}
                for label, checkout in (("base", base), ("this", ROOT)):
                    outs[label] = work / "out" / name.replace(" ", "_") / label
                    upscale(checkout, inputs, outs[label], options)
                files = sorted({p.name for d in outs.values() for p in d.iterdir()})
                same = [f for f in files if (outs["base"] / f).exists() and
                        (outs["this"] / f).exists() and
                        pixels(outs["base"] / f) == pixels(outs["this"] / f)]
                different += len(files) - len(same)
                print(f"{name:<22} {len(files)} outputs, {len(same)} identical"
                      + ("" if len(same) == len(files) else
                         f": DIFFERENT {sorted(set(files) - set(same))}"))
        finally:
            if args.keep is None:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(base)], capture_output=True)
    print(f"base {args.base} against this checkout: "
          + ("every output pixel-identical" if not different else f"{different} differ"))
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
