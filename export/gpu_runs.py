"""Train several candidate default models at once on one lent GPU, sized to a time budget.

Issue 6: a lent GPU shortens training; the command must stay reproducible on CPU. This
script only *chooses the step counts* (a short probe of every run side by side measures its
step rate, then each run gets as many steps as fit the budget) and then runs plain
`sronnx train ... --device cuda` commands, written to commands.txt: the same commands with
`--device cpu` reproduce the runs on any machine, only slower.

    python export/gpu_runs.py --data DATA --out DIR --budget 360 [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

# name: (arch spec, scale, HR patch). Batch 64, L1, Adam 1e-3, cosine, 500 warm-up steps.
RUNS: dict[str, tuple[str, int, int]] = {
    "x2_32x8": ("rsp:channels=32,blocks=8,act=relu,res=true", 2, 128),
    "x2_48x8": ("rsp:channels=48,blocks=8,act=relu,res=true", 2, 128),
    "x3_32x6": ("rsp:channels=32,blocks=6,act=relu,res=true", 3, 144),
    "x3_32x8": ("rsp:channels=32,blocks=8,act=relu,res=true", 3, 144),
    "x4_32x8": ("rsp:channels=32,blocks=8,act=relu,res=true", 4, 192),
    "x4_48x8": ("rsp:channels=48,blocks=8,act=relu,res=true", 4, 192),
}
COMMON = ["--batch", "64", "--lr", "1e-3", "--warmup", "500", "--loss", "l1",
          "--schedule", "cosine", "--threads", "2", "--quiet"]


def command(name: str, data: str, out: Path, steps: int, device: str, probe: bool) -> list[str]:
    spec, scale, patch = RUNS[name]
    every = ["--val-every", "100000", "--ckpt-every", "100000"] if probe else [
        "--val-every", "2000", "--ckpt-every", "1000"]
    return [sys.executable, "-m", "sronnx", "train", "--arch", spec, "--scale", str(scale),
            "--data", data, "--patch", str(patch), "--steps", str(steps), "--device", device,
            "--out", str(out / name), *COMMON, *every]


def run_all(cmds: dict[str, list[str]], log_dir: Path) -> dict[str, int]:
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = {n: subprocess.Popen(c, stdout=(log_dir / f"{n}.log").open("w"),
                                 stderr=subprocess.STDOUT) for n, c in cmds.items()}
    return {n: p.wait() for n, p in procs.items()}


def seconds_per_step(log: Path, first: int) -> float:
    records = [json.loads(line) for line in log.read_text().splitlines() if line]
    by_step = {r["step"]: r["t"] for r in records}
    last = max(by_step)
    return (by_step[last] - by_step[first]) / (last - first)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--budget", type=float, default=360, help="seconds for the real runs")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--probe-steps", type=int, default=300)
    ap.add_argument("--round", type=int, default=1000, help="step counts are multiples of it")
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    names = args.only or list(RUNS)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    probe_dir = out / "probe"
    codes = run_all({n: command(n, args.data, probe_dir, args.probe_steps, args.device, True)
                     for n in names}, probe_dir / "logs")
    rates = {}
    for n in names:
        if codes[n] != 0:
            print(f"probe {n} failed (exit {codes[n]}); see {probe_dir / 'logs' / n}.log",
                  flush=True)
            continue
        rates[n] = seconds_per_step(probe_dir / n / "log.jsonl", first=100)
    print(f"probe done in {time.time() - t0:.0f} s: " + ", ".join(
        f"{n} {1 / s:.0f} steps/s" for n, s in rates.items()), flush=True)
    # side by side, the slowest sets the pace until the faster ones finish: a 10% margin
    unit = args.round
    steps = {n: max(unit, int(args.budget * 0.9 / s) // unit * unit) for n, s in rates.items()}
    cmds = {n: command(n, args.data, out, steps[n], args.device, False) for n in steps}
    with (out / "commands.txt").open("w") as fh:
        for n, c in cmds.items():
            fh.write(f"# {n}: {steps[n]} steps, probe {1 / rates[n]:.1f} steps/s on "
                     f"{args.device}\n{shlex.join(['sronnx', *c[3:]])}\n")
    t1 = time.time()
    codes = run_all(cmds, out / "logs")
    summary = {"probe_steps_per_s": {n: 1 / s for n, s in rates.items()}, "steps": steps,
               "exit": codes, "wall_s": time.time() - t1, "device": args.device}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary), flush=True)
    return 0 if all(c == 0 for c in codes.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
