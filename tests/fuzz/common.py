"""Shared pieces of the fuzz targets: a scratch file per input, and the errors that count
as a clean refusal (anything else escaping a target is a finding)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SCRATCH = Path(tempfile.mkdtemp(prefix="sronnx-fuzz-"))


def scratch_file(data: bytes, name: str) -> Path:
    """`data` written to a file `name` in this process's scratch folder (reused)."""
    path = SCRATCH / name
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def quiet_onnxruntime() -> None:
    """ONNX Runtime's C++ warnings off (a fuzzer feeds it broken models by design)."""
    import onnxruntime as ort

    ort.set_default_logger_severity(4)


def main(test_one_input, instrumented: tuple[str, ...] = ()) -> None:
    """Run `test_one_input` under atheris with libFuzzer's argv (see tests/fuzz/run.py)."""
    import sys

    import atheris

    os.environ.setdefault("SRONNX_MODEL_MEMORY", "1G")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
