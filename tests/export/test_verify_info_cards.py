"""`sronnx verify` and `sronnx info` on shipped names and files, and the cards they read:
verify takes shipped names (an int8 model against its float32 twin, found beside an int8
file when its weights hash matches), info prints each field once, and cards carry no
machine paths.

The shipped models, and a tiny RSP trained and exported here; click's runner, in-process.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from helpers import invoke, train_args  # noqa: E402

from sronnx.core.shipped import resolve_model, shipped_models  # noqa: E402
from sronnx.runtime.session import load_model  # noqa: E402

# ------------------------------------------------------------- 5. verify takes shipped names


def _shipped(name: str) -> Path:
    if name not in {m.name for m in shipped_models()}:
        pytest.skip(f"no shipped model {name}")
    return resolve_model(name)


def test_verify_takes_shipped_names_and_int8_uses_the_float32_twin() -> None:
    twin = _shipped("rsp-x2")
    _shipped("rsp-x2-int8")
    code, text = invoke("verify", "rsp-x2-int8", "--no-reference")
    assert code == 0, text
    assert f"float32 twin {twin}" in text and "(int8)" in text and "OK:" in text
    _shipped("rsp-x3")
    code, text = invoke("verify", "rsp-x3")
    assert code == 0, text
    assert "rsp-x3.onnx" in text and "rebuilt from the card" in text
    code, text = invoke("verify", "rsp-x9")
    assert code == 2 and "rsp-x9" in text and "rsp-x2-int8" in text and "rsp-x3" in text, text
    assert "Traceback" not in text


def test_verify_int8_file_finds_its_twin_beside_it(tmp_path: Path) -> None:
    """Outside the package: NAME.onnx beside NAME-int8.onnx is the twin, when its card's
    weights hash is the int8 card's; without one, --checkpoint is asked for (exit 2)."""
    int8 = tmp_path / "m-int8.onnx"
    shutil.copy(_shipped("rsp-x2-int8"), int8)
    code, text = invoke("verify", str(int8), "--no-reference")
    assert code == 2 and "m-int8.onnx" in text and "--checkpoint" in text, text
    shutil.copy(_shipped("rsp-x4"), tmp_path / "m.onnx")  # another model: not its twin
    code, text = invoke("verify", str(int8), "--no-reference")
    assert code == 2 and "not its float32 twin" in text, text
    shutil.copy(_shipped("rsp-x2"), tmp_path / "m.onnx")
    code, text = invoke("verify", str(int8), "--no-reference")
    assert code == 0 and f"float32 twin {tmp_path / 'm.onnx'}" in text, text


# ------------------------------------------------------------ 6. info once, cards path-free


def test_info_prints_each_field_once() -> None:
    _shipped("rsp-x3")
    code, text = invoke("info", "rsp-x3")
    assert code == 0, text
    keys = [line.split()[0] for line in text.splitlines()[1:]]
    assert keys.count("arch") == keys.count("scale") == keys.count("spec") == 1, text
    assert len(keys) == len(set(keys)), text
    assert "rsp:act=relu,blocks=6,channels=32" in text


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_cards_hold_no_machine_paths(train_images: Path, tmp_path: Path,
                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    first, run = tmp_path / "first", tmp_path / "run"
    code, text = invoke(*train_args(train_images, first, "--steps", "2"))
    assert code == 0, text
    code, text = invoke(*train_args(train_images, run, "--steps", "2", "--val",
                                    str(train_images), "--init", str(first / "last.pt")))
    assert code == 0, text
    cards = {}
    for precision in ("float32", "int8"):
        out = tmp_path / f"{precision}.onnx"
        extra = ["--int8", "--calib", str(train_images), "--force"] if precision == "int8" \
            else []
        code, text = invoke("export", str(run / "best.pt"), "-o", str(out), *extra)
        assert code == 0, text
        cards[precision] = load_model(out).info.card
    training = cards["float32"].training
    assert training.checkpoint == "best.pt" and training.run == "run"
    assert training.data == training.val == train_images.name
    assert training.init == "last.pt"
    assert cards["int8"].calibration.folder == train_images.name
    roots = [str(tmp_path), str(train_images), str(tmp_path_factory.getbasetemp())]
    for card in cards.values():
        for text in _strings(card.to_dict()):
            assert not text.startswith("/") and not any(r in text for r in roots), text
    assert math.isfinite(training.val_psnr_y)
