"""The one schema of benchmark result rows, shared by every writer and reader.

`--json` writes a list of these rows: one of kind "machine" first, then "quality" and "speed"
rows. Quality and speed rows carry every key below (None where it does not apply), so a
consumer can load them into one table without guessing.

A robustness run (`--degradations`) adds `ROBUST_KEYS` after them to its quality rows, clean
ones included; without `--degradations` rows have exactly `ROW_KEYS`.
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

# quality rows of a robustness run only (`sronnx bench --degradations`)
ROBUST_KEYS: tuple[str, ...] = (
    "degradation",  # a name of `sronnx.train.degradations.NAMED`; "clean" is the standard protocol
    "gain_db",  # mean over images of PSNR-Y minus bicubic's on the same degraded input
    "worse",  # images whose PSNR-Y is below bicubic's on the same input
    "worse_share",  # worse / images
    "photo_share",  # the "default" subject only: share of images given the photo/JPEG model
)


def make_row(kind: str, **fields: Any) -> dict[str, Any]:
    """A row with every schema key, in schema order (and `ROBUST_KEYS` when any of them is
    given); unknown keys are a programming error."""
    unknown = set(fields) - set(ROW_KEYS) - set(ROBUST_KEYS)
    if unknown:
        raise KeyError(f"not row keys: {', '.join(sorted(unknown))}")
    keys = ROW_KEYS + (ROBUST_KEYS if set(fields) & set(ROBUST_KEYS) else ())
    return {key: fields.get(key) for key in keys} | {"kind": kind}
