"""The memory limit for models (SRONNX_MODEL_MEMORY), read without importing ONNX Runtime, so
that the command line can check the setting before any command starts."""

from __future__ import annotations

import math
import os
import re

# What one process's ONNX Runtime sessions may hold on the CPU at once (their shared arena):
# a model file is untrusted input, and one whose Pad, Expand or Resize asks for gigabytes on a
# small image is refused with a one-line error instead of taking the machine down.
# SRONNX_MODEL_MEMORY (bytes, or with a K, M, G suffix) changes it; 0 lifts the limit.
DEFAULT_MODEL_MEMORY = 4 << 30
MEMORY_ENV = "SRONNX_MODEL_MEMORY"


def model_memory_limit() -> int:
    """Bytes the CPU sessions of this process may hold together (0: no limit), from
    SRONNX_MODEL_MEMORY or DEFAULT_MODEL_MEMORY. Raises ValueError, naming the variable,
    for a value that is not a size (text, negative, infinite, NaN)."""
    text = os.environ.get(MEMORY_ENV, "").strip().upper()
    if not text:
        return DEFAULT_MODEL_MEMORY
    factor = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    try:
        value = float(text[:-1] if factor > 1 else text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{MEMORY_ENV}={os.environ[MEMORY_ENV]!r}: not a size; give bytes, or "
                         "a number with K, M or G (e.g. 8G), or 0 for no limit")
    return int(value * factor)


_REFUSED = "is smaller than requested bytes of"


def memory_refusal(exc: BaseException) -> str | None:
    """A one-line reason when `exc` is ONNX Runtime refusing an allocation over the limit
    (`model_memory_limit`), else None."""
    text = str(exc)
    if _REFUSED not in text:
        return None
    m = re.search(r"requested bytes of (\d+)", text)
    asked = f"{int(m.group(1)) / (1 << 30):.1f} GiB" if m else "more memory"
    limit = model_memory_limit()
    return (f"the model asks for {asked} at once, over the limit of "
            f"{limit / (1 << 30):.1f} GiB for models ({MEMORY_ENV} raises it)")
