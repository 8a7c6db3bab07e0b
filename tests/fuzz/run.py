"""Run one fuzz target for a while, in a child process with a memory limit, and say what it
did: inputs tried, seconds, findings (the inputs that broke it, under --artifacts).

    python -m tests.fuzz.run images|models|roundtrip --seconds N [--memory-mb M]

The committed seeds (tests/fuzz/corpus/TARGET, built by tests/fuzz/make_corpus.py) are read,
never written: new inputs go to a scratch corpus (--work, a temporary folder by default).
libFuzzer stops at the first finding; the exit status is 1 when there is one.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = {"images": "fuzz_images", "models": "fuzz_models", "roundtrip": "fuzz_roundtrip"}
MAX_LEN = {"images": 65536, "models": 400_000, "roundtrip": 4096}


def run(target: str, seconds: int, memory_mb: int = 4096, work: Path | None = None,
        artifacts: Path | None = None, quiet: bool = False) -> dict:
    """{"target", "runs", "seconds", "findings": [paths], "rc", "log"} of one campaign."""
    work = Path(work or tempfile.mkdtemp(prefix=f"sronnx-fuzz-{target}-"))
    artifacts = Path(artifacts or work / "findings")
    work.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus"
    corpus.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", f"tests.fuzz.{TARGETS[target]}", str(corpus),
           str(HERE / "corpus" / target), f"-max_total_time={seconds}",
           f"-rss_limit_mb={memory_mb // 2}", f"-malloc_limit_mb={memory_mb // 2}",
           "-timeout=30", f"-max_len={MAX_LEN[target]}", f"-artifact_prefix={artifacts}/",
           "-print_final_stats=1"]

    def limit() -> None:  # the child, whatever it decodes or loads, stays under memory_mb
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))

    start = time.monotonic()
    # libFuzzer's -rss_limit_mb compares the peak RSS (getrusage), and Linux carries a peak
    # across exec from the process that forked: started straight from a large process
    # (pytest late in a CI run, 2.5 GB), the target begins "over" the limit and reports a
    # false out-of-memory. A small process in between starts the target with its own peak.
    hop = [sys.executable, "-c",
           "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"]
    with subprocess.Popen(hop + cmd, cwd=HERE.parent.parent, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, errors="replace",
                          preexec_fn=limit, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=seconds + 300)
        except subprocess.TimeoutExpired:  # a hang libFuzzer did not end: stop the group
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    elapsed = time.monotonic() - start
    log = out + err
    (work / "log.txt").write_text(log)
    runs = [int(m) for m in re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)] or \
        [int(m) for m in re.findall(r"^#(\d+)\s", log, re.M)] or [0]
    findings = sorted(str(p) for p in artifacts.iterdir())
    result = {"target": target, "runs": max(runs), "seconds": round(elapsed, 1),
              "findings": findings, "rc": proc.returncode, "log": str(work / "log.txt")}
    if not quiet:
        print(f"{target}: {result['runs']} inputs in {result['seconds']} s, "
              f"{len(findings)} finding(s), exit {proc.returncode}; log {result['log']}")
        for path in findings:
            print(f"  finding: {path}")
        if proc.returncode and not findings:
            print(log[-3000:])
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("target", choices=sorted(TARGETS))
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--memory-mb", type=int, default=4096)
    ap.add_argument("--work", type=Path)
    ap.add_argument("--artifacts", type=Path)
    args = ap.parse_args(argv)
    result = run(args.target, args.seconds, args.memory_mb, args.work, args.artifacts)
    return 1 if result["findings"] or result["rc"] else 0


if __name__ == "__main__":
    sys.exit(main())
