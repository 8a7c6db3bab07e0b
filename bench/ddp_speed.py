"""Training speed on one process and on two (torchrun, DistributedDataParallel, gloo on CPUs).

    python bench/ddp_speed.py [--data DIR] [--steps 200] [--repeats 2]

Trains the same small model with the same global batch three ways: one process with one
torch thread, one process with two threads, and `torchrun --standalone --nproc-per-node 2
-m sronnx train` with one thread per process; the rate is read from the run's own
log.jsonl (optimizer steps per second between step 10 and the last step, so start-up,
data loading and the final validation are left out), best of `--repeats`. Writes
bench/results/ddp_speed.txt with the machine and the date.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "train" / "T91"
ARCH = "rsp:channels=16,blocks=2"
SKIP = 10  # steps left out at the start (threads, allocator and caches warming up)


def _cpu_model() -> str:
    """The CPU's model name, as `sronnx bench` reports it (`sronnx.benchmark.machine`)."""
    from sronnx.benchmark import machine_info

    return str(machine_info()["cpu_model"])


def _train(processes: int, threads: int, data: Path, steps: int, batch: int, patch: int,
           out: Path) -> float:
    """One run; its optimizer steps per second after the first SKIP steps."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = str(threads)
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                 "--nproc-per-node", str(processes)] if processes > 1 else [sys.executable])
    args = ["-m", "sronnx", "train", "--arch", ARCH, "--scale", "2", "--data", str(data),
            "--out", str(out), "--steps", str(steps), "--batch", str(batch), "--patch",
            str(patch), "--val-every", str(steps), "--ckpt-every", str(steps), "--threads",
            str(threads), "--quiet"]
    subprocess.run([*launcher, *args], env=env, check=True, capture_output=True, cwd=ROOT)
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    t = {r["step"]: r["t"] for r in records}
    return (steps - SKIP) / (t[steps] - t[SKIP])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16, help="the global batch")
    parser.add_argument("--patch", type=int, default=96, help="HR patch side")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ddp_speed.txt")
    args = parser.parse_args()
    ways = [(1, 1, "1 process, 1 thread"), (1, 2, "1 process, 2 threads"),
            (2, 1, "2 processes (torchrun, gloo), 1 thread each")]
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for processes, threads, label in ways:
                out = Path(tmp) / f"{processes}x{threads}_{repeat}"
                rate = _train(processes, threads, args.data, args.steps, args.batch,
                              args.patch, out)
                rates[label] = max(rates.get(label, 0.0), rate)
                print(f"{label}: {rate:.2f} steps/s", flush=True)
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    base = rates[ways[0][2]]
    lines = [
        "sronnx train: one process vs two (torchrun, DistributedDataParallel, gloo)",
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine: {_cpu_model()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}, torch {torch.__version__}",
        f"load average when done: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        "(other work on the machine lowers every figure)",
        f"model: {ARCH}, scale 2, global batch {args.batch}, HR patch {args.patch}, "
        f"{args.steps} steps, rate between step {SKIP} and the last, best of {args.repeats}",
        f"command: python bench/ddp_speed.py --steps {args.steps} --batch {args.batch} "
        f"--patch {args.patch} --repeats {args.repeats}",
        "",
        f"{'setting':<46} {'steps/s':>8} {'patches/s':>10} {'vs 1x1':>7}",
    ]
    for _, _, label in ways:
        rate = rates[label]
        lines.append(f"{label:<46} {rate:>8.2f} {rate * args.batch:>10.0f} "
                     f"{rate / base:>6.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
