"""Fuzz target: any bytes as an .onnx file through `load_model` and one small upscale (what
`sronnx upscale -m FILE` does). Acceptable: ModelFileError (load) and TileError (a run);
anything else (a traceback, a crash, memory beyond the limit) is a finding. Models may take
at most SRONNX_MODEL_MEMORY (1G here) at once.

    python -m tests.fuzz.run models --seconds 60
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["sronnx"]):
    from sronnx.core.card import ModelFileError
    from sronnx.engine import TileError, Upscaler
    from sronnx.runtime import probe
    from sronnx.runtime.session import load_model

import numpy as np  # noqa: E402

from tests.fuzz.common import main, quiet_onnxruntime, scratch_file  # noqa: E402

# a load-time run that never ends is refused after this long (sronnx's 60 s, shortened to stay
# under libFuzzer's -timeout=30 per input, which would report it as a hang)
probe.LOAD_RUN_SECONDS = 3.0

_IMAGE = (np.arange(20 * 16 * 3, dtype=np.uint32) * 2654435761 % 251).astype(np.uint8) \
    .reshape(16, 20, 3)


def check(data: bytes) -> None:
    quiet_onnxruntime()
    path = scratch_file(data, "model.onnx")
    try:
        loaded = load_model(path, "cpu", threads=1)
    except ModelFileError:
        return
    try:
        out = Upscaler(loaded, tile=64).upscale(_IMAGE)
    except TileError:
        return
    s = loaded.info.descriptor.scale
    assert out.shape == (16 * s, 20 * s, 3), f"output {out.shape} at scale {s}"


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    check(data)


if __name__ == "__main__":
    main(TestOneInput)
