"""Each fuzz target (tests/fuzz) for ~8 s on the committed seed corpus, in a child process
with a memory limit (tests/fuzz/run.py): any finding fails. About half a minute in all; longer
campaigns: `python -m tests.fuzz.run TARGET --seconds N` (bench/results/fuzz.md)."""

from __future__ import annotations

import pytest

pytest.importorskip("atheris")
pytest.importorskip("onnx")  # the roundtrip target writes models with it

from helpers import ROOT  # noqa: E402

from tests.fuzz import run  # noqa: E402

SECONDS = 8


@pytest.mark.parametrize("target", sorted(run.TARGETS))
def test_fuzz_target_finds_nothing(target, tmp_path):
    result = run.run(target, SECONDS, memory_mb=4096, work=tmp_path, quiet=True)
    log = (tmp_path / "log.txt").read_text(errors="replace")
    assert not result["findings"] and result["rc"] == 0, \
        f"{target}: {result['findings']}\n{log[-4000:]}"
    assert result["runs"] > 0, log[-2000:]


_LEAK_CHILD = """
import os, sys
import numpy as np
import atheris
sys.path.insert(0, os.environ["CMP_DIR"])
with atheris.instrument_imports(include=["cmpmod"]):
    import cmpmod
from tests.fuzz.common import main
ARRAY = np.zeros((1024, 1024), np.uint8)  # 1 MiB: each leaked comparison result is 1 MiB
CALLS = [0]

def one_input(data):
    assert cmpmod.any_below(ARRAY, 255) is True
    CALLS[0] += 1
    if CALLS[0] % 50 == 0:  # this process's resident memory now (not a peak: a peak would
        with open("/proc/self/status") as fh:  # count the parent's, inherited across exec)
            rss = next(line for line in fh if line.startswith("VmRSS"))
        print("RSS_MB", int(rss.split()[1]) >> 10, flush=True)

if os.environ.get("RAW"):
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
else:
    main(one_input)
"""


def _rss_growth_mb(tmp_path, raw: bool) -> int:
    """MB the child's resident memory grew from its 50th to its 300th input."""
    import os
    import re
    import subprocess
    import sys

    (tmp_path / "cmpmod.py").write_text(
        "def any_below(a, v):\n    return bool((a < v).any())\n")
    (tmp_path / "child.py").write_text(_LEAK_CHILD)
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    root = ROOT
    env = dict(os.environ, CMP_DIR=str(tmp_path), RAW="1" if raw else "",
               PYTHONPATH=os.pathsep.join(filter(None, [str(root),
                                                        os.environ.get("PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "child.py"), "-runs=301", str(corpus)], cwd=root,
        env=env, capture_output=True, text=True, timeout=120)
    rss = [int(v) for v in re.findall(r"^RSS_MB (\d+)$", proc.stdout, re.M)]
    assert proc.returncode == 0 and len(rss) >= 6, proc.stdout[-1000:] + proc.stderr[-3000:]
    return rss[-1] - rss[0]


def test_harness_frees_instrumented_comparison_results(tmp_path):
    """atheris 3.0.0 keeps one reference too many to each instrumented comparison's result
    (a NumPy comparison leaks its whole array): 250 comparisons of a 1 MiB array leaked
    ~250 MB and an images campaign grew to libFuzzer's RSS limit. The targets' `main`
    drops that reference; the same child under plain atheris shows what it corrects."""
    fixed = _rss_growth_mb(tmp_path, raw=False)
    raw = _rss_growth_mb(tmp_path, raw=True)
    assert fixed < 50, (f"resident memory grew {fixed} MB over 250 inputs through "
                        f"tests.fuzz.common.main (plain atheris: {raw} MB)")


def test_campaign_from_a_large_process_is_not_a_false_out_of_memory(tmp_path):
    """libFuzzer's RSS limit reads the peak RSS, which Linux carries across exec from the
    forking process: a campaign started from a 2.5 GB process (pytest late in CI) reported
    an out-of-memory at once. run.py starts the target through a small process."""
    import os
    import subprocess
    import sys

    root = ROOT
    code = ("import numpy as np\n"
            "held = np.ones(2_500_000_000 // 8)  # 2.5 GB resident\n"
            "from tests.fuzz import run\n"
            f"r = run.run('images', 2, work={str(tmp_path)!r}, quiet=True)\n"
            "print('RESULT', r['rc'], len(r['findings']), r['runs'])\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(root)))
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT")), "")
    log = (tmp_path / "log.txt").read_text(errors="replace") if (tmp_path / "log.txt").exists() \
        else proc.stderr
    rc, findings, runs = (int(v) for v in line.split()[1:]) if line else (-1, -1, 0)
    assert rc == 0 and findings == 0 and runs > 0, log[-3000:]
