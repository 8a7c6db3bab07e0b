"""The inference path runs with torch blocked from import (sys.modules["torch"] = None)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import data_dir

BLOCK = 'import sys; sys.modules["torch"] = None; sys.modules["onnx"] = None\n'


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)


def test_import_and_cli_help_do_not_import_torch() -> None:
    r = _run("""
        import sronnx, sronnx.engine.upscaler, sronnx.train.data, sronnx.imaging.metrics
        import sronnx.core.shipped
        from sronnx.cli import main
        try:
            main(["--help"])
        except SystemExit as e:
            assert e.code == 0
        print("ok")
    """)
    assert r.returncode == 0, r.stderr
    assert "upscale" in r.stdout and "ok" in r.stdout


def test_upscaler_api_and_cli_without_torch(exported_models, tmp_path: Path) -> None:
    model = exported_models("rsp:channels=8,blocks=1", 2)
    set5 = data_dir("test", "Set5")
    out = tmp_path / "out"
    r = _run(f"""
        import numpy as np
        from PIL import Image
        from sronnx.engine.upscaler import Upscaler
        up = Upscaler({str(model)!r}, "cpu")
        img = Image.open({str(set5 / "bird.png")!r})
        res = up.upscale(img)
        assert res.size == (img.width * 2, img.height * 2), res.size
        arr = up.upscale(np.asarray(img))
        assert isinstance(arr, np.ndarray) and arr.shape == (img.height * 2, img.width * 2, 3)
        from sronnx.cli import main
        try:
            main(["upscale", {str(set5)!r}, "-o", {str(out)!r}, "--model", {str(model)!r},
                  "--provider", "cpu", "--quiet"])
        except SystemExit as e:
            assert e.code == 0, e.code
        assert "torch" not in sys.modules or sys.modules["torch"] is None
        print("ok")
    """)
    assert r.returncode == 0, r.stderr
    assert len(list(out.glob("*.png"))) == 5
