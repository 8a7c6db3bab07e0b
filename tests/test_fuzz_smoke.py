"""Each fuzz target (tests/fuzz) for ~18 s on the committed seed corpus, in a child process
with a memory limit (tests/fuzz/run.py): any finding fails. About a minute in all; longer
campaigns: `python -m tests.fuzz.run TARGET --seconds N` (bench/results/fuzz.md)."""

from __future__ import annotations

import pytest

pytest.importorskip("atheris")
pytest.importorskip("onnx")  # the roundtrip target writes models with it

from tests.fuzz import run  # noqa: E402

SECONDS = 18


@pytest.mark.parametrize("target", sorted(run.TARGETS))
def test_fuzz_target_finds_nothing(target, tmp_path):
    result = run.run(target, SECONDS, memory_mb=4096, work=tmp_path, quiet=True)
    log = (tmp_path / "log.txt").read_text(errors="replace")
    assert not result["findings"] and result["rc"] == 0, \
        f"{target}: {result['findings']}\n{log[-4000:]}"
    assert result["runs"] > 0, log[-2000:]
