"""Video frames go to the model whole where they fit the memory limit for models, and the
pixels are those the tiles give (real shipped models, a real training image)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import data_dir
from PIL import Image

from sronnx.engine.upscaler import Upscaler
from sronnx.engine.video import frame_upscaler, whole_frame_bytes


@pytest.mark.parametrize("model", ["rsp-x2-jpeg-int8", "rsp-x3"])
def test_whole_frame_gives_the_tiles_pixels(model: str) -> None:
    img = np.asarray(Image.open(sorted(data_dir("train", "BSD200").glob("*.png"))[0])
                     .convert("RGB"))[:200, :300]
    up = Upscaler(model)
    whole = frame_upscaler(up, (img.shape[1], img.shape[0]))
    assert whole is not up and whole.tile >= max(img.shape)  # one call per frame
    tiled = Upscaler(up.model, tile=64)  # 5 x 4 tiles
    assert np.array_equal(whole.upscale_array(img), tiled.upscale_array(img))


def test_frames_over_the_memory_limit_or_asked_tiles_stay_tiled(monkeypatch) -> None:
    up = Upscaler("rsp-x2-int8")
    uhd = (3840, 2160)
    monkeypatch.setenv("SRONNX_MODEL_MEMORY", str(whole_frame_bytes(up, uhd)))
    assert frame_upscaler(up, uhd) is up  # over half the limit: tiles
    assert frame_upscaler(up, (1280, 720)) is not up
    asked = Upscaler(up.model, tile=256)  # --tile 256: kept
    assert frame_upscaler(asked, (1280, 720)) is asked
