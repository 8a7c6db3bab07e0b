"""`sronnx.export.verify_model`, the library call behind `sronnx verify`: a report of facts
(no printing, no exit), the command's text from `format_report`, and `VerifyError` with the
exit code it means."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from helpers import invoke  # noqa: E402

from sronnx.archs import create_model  # noqa: E402
from sronnx.export import (  # noqa: E402
    VerifyError,
    VerifyRequest,
    failure_lines,
    format_report,
    verify_model,
)
from sronnx.train.checkpoint import save_checkpoint  # noqa: E402


def test_verify_model_reports_what_sronnx_verify_prints(exported_models) -> None:
    path = exported_models("espcn", 2)
    report = verify_model(VerifyRequest(path, runtimes="ort", timing=False))
    assert report.ok and report.failed == 0 and not report.foreign
    assert report.compared == sum(1 for c in report.comparisons if not c.note) > 0
    assert report.path == path and report.scale == 2 and report.precision == "float32"
    assert report.reference == "rebuilt from the card (weights hash matches)"
    assert report.criterion == "max abs error <= 0.0001"
    assert report.matrix is not None and report.matrix.against == "the PyTorch model"
    assert [r.runtime for r in report.matrix.rows] == ["ort"] and not report.failed_runtimes
    lines = format_report(report)
    assert lines[0].startswith(f"{path}: {report.spec} x2 (float32), output shape [")
    assert lines[-1] == f"OK: {report.compared} comparisons pass max abs error <= 0.0001"
    assert failure_lines(report) == []
    # the command prints exactly these lines
    code, text = invoke("verify", str(path), "--runtimes", "ort", "--no-timing")
    assert code == 0 and text == "\n".join(lines) + "\n"


def test_verify_model_raises_with_the_exit_code(exported_models, tmp_path: Path) -> None:
    path = exported_models("espcn", 2)
    torch.manual_seed(1)  # other weights than the exported model's (seed 0)
    other = create_model("espcn", 2)
    ckpt = tmp_path / "other.pt"
    save_checkpoint(ckpt, {"arch": "espcn", "spec": {}, "scale": 2, "step": 1,
                           "model": other.state_dict()})
    with pytest.raises(VerifyError) as fails:
        verify_model(VerifyRequest(path, checkpoint=ckpt, runtimes=()))
    assert fails.value.code == 1
    assert str(fails.value) == (f"{ckpt}: its weights do not match the card of {path} "
                                "(different weights_sha256)")
    with pytest.raises(VerifyError) as cannot:
        verify_model(VerifyRequest(path, runtimes=("ort", "tflite")))
    assert cannot.value.code == 2 and "unknown runtime 'tflite'" in str(cannot.value)
    with pytest.raises(VerifyError) as unknown:
        verify_model(VerifyRequest("rsp-x9"))
    assert unknown.value.code == 2
