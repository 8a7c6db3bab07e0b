"""OpenCV's dnn_superres models, measured exactly like sronnx's, so the tables compare sronnx
with what users would otherwise pick.

Needs `opencv-contrib-python-headless` (dnn_superres lives in the contrib build) below 5.1
(OpenCV 5.1 removed the TensorFlow importer that reads the `.pb` peers: refused up front, in
one line naming the version), imported only here and only when peers are asked for. The
models are TensorFlow `.pb` files named `<ALGO>_x<scale>.pb` (ESPCN, FSRCNN, FSRCNN-small,
LapSRN, EDSR), as OpenCV publishes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sronnx.benchmark.models import BenchInputError, BenchModel

_FILE = re.compile(r"^(ESPCN|FSRCNN|FSRCNN-small|LapSRN|EDSR)_x([2-8])\.pb$", re.IGNORECASE)
# Networks whose every convolution runs on the low-resolution grid (then depth-to-space), so
# their MACs per output pixel are the convolution weights divided by scale squared.
_LR_GRID = {"espcn", "fsrcnn"}


class PeerError(RuntimeError):
    """OpenCV or a peer model cannot be used; the message says what is missing."""


def opencv_unavailable_reason() -> str | None:
    """None when cv2 with dnn_superres imports, else why not and what to install."""
    try:
        import cv2
    except ImportError as exc:
        return (f"OpenCV is not installed ({exc}); pip install opencv-contrib-python-headless")
    if not hasattr(cv2, "dnn_superres"):
        return ("this OpenCV build has no dnn_superres (it is in the contrib build): "
                "pip uninstall -y opencv-python && pip install opencv-contrib-python-headless")
    if not hasattr(cv2.dnn, "readNetFromTensorflow"):
        return (f"OpenCV {cv2.__version__} has no TensorFlow importer (removed in 5.1), which "
                "dnn_superres needs for the .pb peers: "
                "pip install 'opencv-contrib-python-headless>=4.5,<5.1'")
    return None


def find_peers(folder: str | Path, scales: Sequence[int]) -> list[BenchModel]:
    """The `<ALGO>_x<scale>.pb` files in `folder` at the requested scales, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchInputError(f"--peer-opencv {folder}: not a folder")
    found = []
    for path in sorted(folder.iterdir()):
        match = _FILE.match(path.name)
        if not match or int(match.group(2)) not in scales:
            continue
        family = match.group(1)
        params, macs = _cost(path, family.split("-")[0].lower(), int(match.group(2)))
        found.append(BenchModel(
            name=f"opencv-{family.lower()}", scale=int(match.group(2)), source="peer",
            path=path, params=params, macs_per_pixel=macs,
            algorithm=family.split("-")[0].lower(),
        ))
    if not found:
        raise BenchInputError(f"--peer-opencv {folder}: no <ALGO>_x<scale>.pb file for scales "
                              f"{', '.join(map(str, scales))}")
    return found


def _cost(path: Path, algorithm: str, scale: int) -> tuple[int | None, float | None]:
    """Parameters (every weight blob) and MACs per output pixel, read from the network.

    MACs only for the networks that compute entirely on the LR grid (ESPCN, FSRCNN as
    OpenCV ships them); None for the others rather than a wrong figure.
    """
    import cv2

    try:
        try:
            net = cv2.dnn.readNetFromTensorflow(str(path), engine=cv2.dnn.ENGINE_CLASSIC)
        except (AttributeError, TypeError):  # OpenCV 4: one engine, no keyword
            net = cv2.dnn.readNetFromTensorflow(str(path))
    except cv2.error as exc:  # refused up front, before any work, naming the file
        reason = str(exc).strip().splitlines()[-1][:200]
        raise BenchInputError(f"--peer-opencv: {path}: OpenCV cannot read it ({reason})"
                              ) from exc
    params = macs = 0
    for name in net.getLayerNames():
        try:
            layer = net.getLayer(net.getLayerId(name))
        except cv2.error:
            continue  # layers without a Python view (e.g. DepthToSpace) have no weights
        blobs = list(layer.blobs)
        params += sum(int(np.prod(b.shape)) for b in blobs)
        if layer.type in ("Convolution", "Deconvolution") and blobs:
            macs += int(np.prod(blobs[0].shape))
    return params or None, (macs / scale**2 if algorithm in _LR_GRID and macs else None)


def opencv_model(model: BenchModel, threads: int | None) -> Any:
    """A loaded `DnnSuperResImpl` for a peer, on OpenCV's CPU backend."""
    reason = opencv_unavailable_reason()
    if reason:
        raise PeerError(reason)
    import cv2

    if threads:
        cv2.setNumThreads(threads)
    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    try:
        sr.readModel(str(model.path))
        sr.setModel(model.algorithm, model.scale)
    except cv2.error as exc:
        raise PeerError(f"{model.path}: OpenCV cannot load it: {exc}") from exc
    return sr


def opencv_upscaler(model: BenchModel, threads: int | None) -> Callable[[Image.Image], np.ndarray]:
    """LR RGB image -> SR uint8 RGB array through `sr.upsample` (which takes BGR uint8)."""
    sr = opencv_model(model, threads)

    def run(lr: Image.Image) -> np.ndarray:
        bgr = np.ascontiguousarray(np.asarray(lr.convert("RGB"))[:, :, ::-1])
        return np.ascontiguousarray(sr.upsample(bgr)[:, :, ::-1])

    return run


def opencv_runner(model: BenchModel, size: tuple[int, int],
                  threads: int | None) -> Callable[[], Any]:
    """One `sr.upsample` of a fixed 8-bit BGR image of `size` (W, H)."""
    sr = opencv_model(model, threads)
    w, h = size
    bgr = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return lambda: sr.upsample(bgr)
