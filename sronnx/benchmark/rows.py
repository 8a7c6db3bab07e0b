"""The one schema of benchmark result rows, shared by every writer and reader.

`--json` writes a list of these rows: one of kind "machine" first, then "quality" and "speed"
rows. Quality and speed rows carry every key below (None where it does not apply), so a
consumer can load them into one table without guessing.
"""

from __future__ import annotations

from typing import Any

ROW_KEYS: tuple[str, ...] = (
    "kind",  # "quality" | "speed"
    "model",  # shipped name, file stem, "bicubic", or "opencv-<algorithm>"
    "source",  # "shipped" | "file" | "baseline" | "peer"
    "scale",
    "dataset",  # quality rows: the folder's name
    "runtime",  # what ran it: "cpu" / "cuda" (onnxruntime), "torch", "pillow", "opencv"
    "psnr_y",  # dB, BT.601 Y, `scale` border pixels cropped, 8-bit output
    "ssim_y",  # same pixels, Wang et al.'s SSIM
    "mse",  # RGB in [0, 1], same pixels, 8-bit output (the study's measure)
    "images",  # quality rows: images scored
    "input_size",  # speed rows: "WxH" of the input
    "output_size",  # speed rows: "WxH" of the output
    "threads",  # CPU threads the runtime was given (None on CUDA)
    "warmup",  # runs before timing, not counted
    "repeats",  # timed runs
    "latency_ms_p50",
    "latency_ms_p95",
    "mp_per_s",  # output megapixels per second at the median latency
    "images_per_s",
    "params",
    "macs_per_pixel",  # multiply-accumulates per output pixel
    "gflops",  # achieved: 2 * MACs * output pixels / median latency
    "note",
)


def make_row(kind: str, **fields: Any) -> dict[str, Any]:
    """A row with every schema key, in schema order; unknown keys are a programming error."""
    unknown = set(fields) - set(ROW_KEYS)
    if unknown:
        raise KeyError(f"not row keys: {', '.join(sorted(unknown))}")
    return {key: fields.get(key) for key in ROW_KEYS} | {"kind": kind}
