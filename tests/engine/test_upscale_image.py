"""The library's front door: `from sronnx import Upscaler, upscale_image` (the default model,
a scale, an output size factor), and `import sronnx` staying light, the API running with torch
blocked from import.

Real onnxruntime and the shipped models on Set5 crops; the tiny model is an untrained export.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import BLOCK_TORCH, photo
from PIL import Image

from sronnx.engine.upscaler import Upscaler
from sronnx.imaging.resize import resize_array


def test_upscale_image_and_upscaler_from_sronnx(model: Path) -> None:
    import sronnx
    from sronnx.core.shipped import default_model_name

    assert "Upscaler" in dir(sronnx) and "upscale_image" in sronnx.__all__
    from sronnx import Upscaler as TopUpscaler
    from sronnx import upscale_image

    assert TopUpscaler is Upscaler
    img = Image.fromarray(photo(20, 24))
    img.info["dpi"] = (72, 72)
    big = upscale_image(img)
    assert isinstance(big, Image.Image) and big.size == (48, 40) and big.mode == "RGB"
    ref = Upscaler(default_model_name(2, "cpu"), "cpu").upscale(img)
    assert np.array_equal(np.asarray(big), np.asarray(ref))
    arr16 = photo(20, 24).astype(np.uint16) * 257
    out = upscale_image(arr16, scale=3)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint16 and out.shape == (60, 72, 3)
    # outscale: the model for it (x4 for 3.5), then resampled
    out = upscale_image(photo(20, 24), outscale=3.5)
    x4 = Upscaler(default_model_name(4, "cpu"), "cpu").upscale_array(photo(20, 24))
    assert np.array_equal(out, resize_array(x4, (84, 70)))
    small = upscale_image(img, model=model, outscale=1.5)
    assert small.size == (36, 30) and small.info["dpi"] == pytest.approx((108, 108))
    with pytest.raises(ValueError, match="not x3"):
        upscale_image(img, model=model, scale=3)
    with pytest.raises(ValueError, match="positive"):
        upscale_image(img, outscale=0)


def test_import_sronnx_stays_light_and_the_api_runs_without_torch(tmp_path: Path) -> None:
    code = BLOCK_TORCH + (
        "import sronnx\n"
        "assert 'onnxruntime' not in sys.modules and 'numpy' not in sys.modules\n"
        "import numpy as np\n"
        "from PIL import Image\n"
        "from sronnx import Upscaler, upscale_image\n"
        "img = Image.new('RGB', (10, 8), (200, 40, 90))\n"
        "out = upscale_image(img, outscale=2.5)\n"
        "assert isinstance(out, Image.Image) and out.size == (25, 20), out.size\n"
        "arr = upscale_image(np.asarray(img))\n"
        "assert isinstance(arr, np.ndarray) and arr.shape == (16, 20, 3)\n"
        "assert (arr == (200, 40, 90)).all()\n"
        "assert Upscaler('rsp-x2-int8').upscale(img).size == (20, 16)\n"
        "assert not [m for m in sys.modules if m.startswith(('torch', 'onnx.'))\n"
        "            and sys.modules[m] is not None]\n"
        "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_upscale_image_input_kind_auto_follows_the_per_file_rule() -> None:
    """input_kind="auto" gives each image the model the CLI's rule gives it: the clean model
    to a clean photo, the photo model to a noisy one, the JPEG model to a JPEG of quality 50;
    the default stays the clean model for all."""
    import io

    from helpers import data_dir

    from sronnx import upscale_image
    from sronnx.core.shipped import default_model_name

    bird = Image.open(data_dir("test", "Set5") / "bird.png").convert("RGB").crop((0, 0, 96, 80))
    noisy = np.clip(np.asarray(bird, np.float32) + np.random.default_rng(3).normal(
        0, 12, (80, 96, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    bird.save(buf, "JPEG", quality=50)
    jpeg = Image.open(io.BytesIO(buf.getvalue()))
    cases = [(bird, "clean"), (Image.fromarray(noisy), "photo"), (jpeg, "jpeg")]
    for image, kind in cases:
        want = Upscaler(default_model_name(2, "cpu", kind), "cpu").upscale(image)
        got = upscale_image(image, input_kind="auto")
        assert np.array_equal(np.asarray(got), np.asarray(want)), kind
        plain = upscale_image(image)  # the default: clean for every image
        clean = Upscaler(default_model_name(2, "cpu", "clean"), "cpu").upscale(image)
        assert np.array_equal(np.asarray(plain), np.asarray(clean)), kind
    assert not np.array_equal(np.asarray(upscale_image(cases[1][0], input_kind="auto")),
                              np.asarray(upscale_image(cases[1][0])))  # the rule did choose
