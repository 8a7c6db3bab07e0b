"""`sronnx upscale --engine ray` against `--engine local` on one folder, and the job spread
over two Ray nodes.

    python bench/ray_engine.py [--count 200] [--size 200] [--repeats 2] [--keep DIR]

Makes `--count` crops (`--size` px square, seeded positions) of the shared test images
(Set5, Set14, BSD100) in a temporary folder, then upscales it (x2, the default models, PNG)
with `--engine local` and with `--engine ray` on a local Ray cluster the run starts, each a
fresh `sronnx upscale` process, best of `--repeats`: images per second from the run's own
--json "seconds" (from the first file handed out to the last result: Ray's start-up and the
actors' model loading are left out and reported apart, as the wall time of the whole
command), and Ray's overhead per file (the difference of the two per-file times). The
outputs of the two engines are compared byte for byte. A second run starts
`ray.cluster_utils.Cluster` with two nodes of 1 CPU each on this machine, joins it with
--ray-address and counts the files each node did (the report's node_id per file).
Writes bench/results/ray_engine.txt with the machine and the date.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = ROOT.parent / "shared" / "data" / "test"


def _cpu_model() -> str:
    """The CPU's model name, as `sronnx bench` reports it (`sronnx.benchmark.machine`)."""
    from sronnx.benchmark import machine_info

    return str(machine_info()["cpu_model"])


def make_crops(folder: Path, count: int, size: int, seed: int = 0) -> float:
    """`count` PNG crops of `size` x `size` from the shared test images; their total input
    megapixels."""
    from PIL import Image

    sources = sorted(p for d in ("Set5", "Set14", "BSD100") for p in (TEST / d).glob("*.png"))
    if not sources:
        sys.exit(f"no test images under {TEST}")
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    mp = 0.0
    for k in range(count):
        img = Image.open(sources[k % len(sources)]).convert("RGB")
        w, h = min(size, img.width), min(size, img.height)
        x, y = rng.randrange(img.width - w + 1), rng.randrange(img.height - h + 1)
        img.crop((x, y, x + w, y + h)).save(folder / f"crop{k:04d}.png")
        mp += w * h / 1e6
    return mp


def upscale(inputs: Path, out: Path, *extra: str) -> tuple[float, dict]:
    """One `sronnx upscale` process: (its wall seconds, its --json report)."""
    report = out.with_suffix(".json")
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "sronnx", "upscale", str(inputs), "-o", str(out),
                        "--quiet", "--overwrite", "--json", str(report), *extra],
                       env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"sronnx upscale {' '.join(extra)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return wall, json.loads(report.read_text())


def hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*"))
            if p.is_file()}


def best(runs: list[tuple[float, dict]]) -> tuple[float, dict]:
    return min(runs, key=lambda r: r[1]["seconds"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--keep", type=Path, default=None, help="work here instead of a temp dir")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ray_engine.txt")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="sronnx-ray-bench-") as tmp:
        work = args.keep or Path(tmp)
        inputs = work / "in"
        in_mp = make_crops(inputs, args.count, args.size)
        n = args.count
        local = best([upscale(inputs, work / "local", "--engine", "local")
                      for _ in range(args.repeats)])
        ray_local = best([upscale(inputs, work / "ray", "--engine", "ray")
                          for _ in range(args.repeats)])
        same = hashes(work / "local") == hashes(work / "ray")

        import ray
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "include_dashboard": False, "object_store_memory": 100 * 2**20})
        cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20)
        cluster.wait_for_nodes()
        try:
            two = upscale(inputs, work / "two", "--engine", "ray", "--ray-address",
                          cluster.address)
        finally:
            ray.shutdown()
            cluster.shutdown()
        same_two = hashes(work / "local") == hashes(work / "two")

    def rate(r: tuple[float, dict]) -> str:
        s = r[1]["seconds"]
        return (f"{n / s:6.1f} images/s  {in_mp / s:5.2f} input MP/s  {1000 * s / n:6.1f} ms "
                f"per image  (run {s:5.1f} s, whole command {r[0]:5.1f} s)")

    per_node = Counter(f["node_id"] for f in two[1]["files"])
    pids = Counter(f["pid"] for f in ray_local[1]["files"])
    overhead = 1000 * (ray_local[1]["seconds"] - local[1]["seconds"]) / n
    startup = (ray_local[0] - ray_local[1]["seconds"]) - (local[0] - local[1]["seconds"])
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    lines = [
        "sronnx upscale --engine local vs --engine ray (bench/ray_engine.py)",
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine: {_cpu_model()}, {os.cpu_count()} cores, load average at the end {load}",
        f"python {platform.python_version()}, ray {ray.__version__}",
        f"job: {n} PNG crops, {args.size}x{args.size} px of Set5/Set14/BSD100 ({in_mp:.2f} "
        f"input MP), x2 default models (model choice per file), PNG out; best of "
        f"{args.repeats}",
        "",
        f"local  (--engine local, {local[1]['files'][0].get('model')} ...; one worker per "
        f"core): {rate(local)}",
        f"ray    (--engine ray, local cluster, {ray_local[1]['actors']} actors x 1 thread, "
        f"{len(pids)} worker processes): {rate(ray_local)}",
        f"ray overhead per file: {overhead:+.1f} ms of wall time per image "
        f"({100 * (ray_local[1]['seconds'] / local[1]['seconds'] - 1):+.0f} %); start-up "
        f"(cluster, actors, models) {startup:.1f} s more per command",
        f"outputs byte-identical to the local engine's: {same}",
        "",
        "two nodes (ray.cluster_utils.Cluster on this machine, 1 CPU each, joined with "
        f"--ray-address): {rate(two)}",
        "files per node: " + ", ".join(f"node {k[:8]}: {v}" for k, v in
                                       sorted(per_node.items())),
        f"outputs byte-identical to the local engine's: {same_two}",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
