"""Run an ONNX model on OpenCV's DNN module in a process of its own (`python -m
sronnx.export.opencv_worker JOB.json`), for the runtime matrix (`sronnx.export.matrix`).

Why a process of its own: OpenCV 5.0.0 keeps layer registrations per process, and
`cv2.dnn_superres` registers its own DepthToSpace for its TensorFlow models; every ONNX net
read after that in the same process runs its DepthToSpace with the wrong channel order
(rsp-x2: max error 1.0; measured here after `sronnx bench --peer-opencv` had run in the same
process). A fresh process measures what an application that loads only the ONNX file gets.

JOB.json: {"model": path, "inputs": [.npy paths], "outputs": [.npy paths], "timed": index or
null, "repeats": n}. Prints one JSON line: {"version", "ms"} or {"error", "stage"}.
"""

from __future__ import annotations

import json
import statistics
import sys
import time


def main(job_path: str) -> int:
    import cv2
    import numpy as np

    job = json.loads(open(job_path).read())

    def message(exc: Exception) -> str:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        return next((ln for ln in lines if "error:" in ln),
                    lines[0] if lines else type(exc).__name__)[:200]

    try:
        net = cv2.dnn.readNetFromONNX(job["model"])
    except cv2.error as exc:
        print(json.dumps({"error": message(exc), "stage": "load"}))
        return 0
    ms: list[float] = []
    try:
        for i, (src, dst) in enumerate(zip(job["inputs"], job["outputs"], strict=True)):
            x = np.load(src)
            net.setInput(x)
            np.save(dst, net.forward())
            if i == job.get("timed"):
                for _ in range(int(job.get("repeats", 0))):
                    t0 = time.perf_counter()
                    net.setInput(x)
                    net.forward()
                    ms.append((time.perf_counter() - t0) * 1000)
    except cv2.error as exc:
        print(json.dumps({"error": message(exc), "stage": "run"}))
        return 0
    print(json.dumps({"version": cv2.__version__,
                      "ms": statistics.median(ms) if ms else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
