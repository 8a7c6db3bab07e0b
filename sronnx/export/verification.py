"""`verify_model`: the whole verification of an exported model, as one library call.

The request (`VerifyRequest`: a file or shipped name, an optional checkpoint, the provider,
the tolerance, images, the onnx.reference run, the runtimes of the matrix, timing) decides
everything `sronnx verify` and `export/ship.py` did each for themselves: the model's
session, the PyTorch model it is compared with (the checkpoint, the float32 twin of an int8
file, the model rebuilt from the card, spandrel's model of a community export, or none for
a model made elsewhere, compared with onnx.reference only), the cases, the comparisons and
the runtime matrix. It returns a `VerifyReport` (facts, no text), or raises `VerifyError`
whose `code` says 2 (verification cannot run) or 1 (the file fails before any comparison).
`format_report` and `failure_lines` give the report's text as `sronnx verify` prints it.

A community export's PyTorch model comes from `sronnx.community` (spandrel), a layer above
this one: the caller passes its builder (`community=`; `sronnx verify` passes
`sronnx.community.community_reference`); without one such a file cannot be verified.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sronnx.core import ModelCard, ModelInfo, first_line
from sronnx.export.matrix import RuntimeRow, format_rows, parse_runtimes, plain_input, run_matrix
from sronnx.export.onnx import check_onnx_file, deployable, weights_sha256
from sronnx.export.verify import (
    CompareOptions,
    Comparison,
    VerifyError,
    compare,
    compare_with_reference,
    criterion,
    foreign_inputs,
    image_cases,
    model_from_float32_twin,
    model_from_onnx,
    test_cases,
)

AGAINST_TORCH = "the PyTorch model"
AGAINST_FILE = "the file on ONNX Runtime (CPU)"


@dataclass(frozen=True)
class VerifyRequest:
    """What to verify and how (the options of `sronnx verify`). `runtimes`: the matrix's
    runtimes as `--runtimes` takes them ("ort,opencv", "all", or a tuple of names); None
    for the default (less onnx-reference when `reference` is off; none for community and
    foreign models)."""

    model: str | Path
    checkpoint: str | Path | None = None
    provider: str = "cpu"
    tolerance: float | None = None
    images: str | Path | None = None
    reference: bool = True
    runtimes: str | tuple[str, ...] | None = None
    timing: bool = True


@dataclass(frozen=True)
class TorchReference:
    """The PyTorch model a file is compared with: the model, what it is in words, and for a
    community export its own random cases and small onnx.reference input (else None: the
    standard cases)."""

    model: Any  # torch.nn.Module
    source: str
    cases: list[tuple[str, np.ndarray]] | None = None
    reference_input: np.ndarray | None = None


#: builds a community export's `TorchReference` from (file, its ModelInfo, checkpoint or None)
CommunityReference = Callable[[Path, ModelInfo, str | None], TorchReference]


@dataclass(frozen=True)
class MatrixReport:
    """The runtime matrix: its rows against `against`, or why it was skipped (`skipped`)."""

    against: str
    rows: tuple[RuntimeRow, ...] = ()
    skipped: str | None = None

    @property
    def failed(self) -> tuple[str, ...]:
        """The runtimes outside their bound."""
        return tuple(r.runtime for r in self.rows if r.failed)


@dataclass(frozen=True)
class VerifyReport:
    """What a verification found. `reference`: the PyTorch model in words, None for a model
    made elsewhere (no sronnx card: ONNX Runtime against onnx.reference only). `compared`
    and `failed` count the comparisons that ran and those outside `criterion` (the bound in
    words); `matrix` is None when no runtime was asked for."""

    path: Path
    spec: str
    scale: int
    precision: str
    layout: str
    element_type: str
    output_shape: tuple[str, ...]
    reference: str | None
    criterion: str
    comparisons: tuple[Comparison, ...]
    compared: int
    failed: int
    matrix: MatrixReport | None = None

    @property
    def foreign(self) -> bool:
        """True for a model made elsewhere (no PyTorch model compared)."""
        return self.reference is None

    @property
    def failed_runtimes(self) -> tuple[str, ...]:
        return self.matrix.failed if self.matrix else ()

    @property
    def ok(self) -> bool:
        return not self.failed and not self.failed_runtimes


def verify_model(request: VerifyRequest, community: CommunityReference | None = None
                 ) -> VerifyReport:
    """Verify `request.model` (see the module); raises `VerifyError` (code 2: it cannot run,
    e.g. an unknown model or runtime, an unusable provider, no matching PyTorch weights;
    code 1: the file fails onnx.checker, or a foreign model cannot run on its own input)."""
    runtimes = _runtimes(request)
    path, loaded = _load(request)
    info = loaded.info
    card = info.card
    precision = card.precision or "float32"
    runtime = f"onnxruntime-{loaded.provider}"
    try:
        out_shape = tuple(check_onnx_file(path))
    except Exception as exc:  # noqa: BLE001 - the checker raises several types
        raise VerifyError(f"{path}: fails onnx.checker / shape inference: {exc}", 1) from exc
    if request.runtimes is None and (is_spandrel(card) or card.weights_sha256 is None):
        # community and foreign models: the matrix only when asked for (their architectures
        # may need size rules or ops a runtime lacks)
        runtimes = []
    d = info.descriptor
    facts = {"path": path, "spec": card.spec, "scale": d.scale, "precision": precision,
             "layout": d.layout, "element_type": d.element_type, "output_shape": out_shape,
             "criterion": criterion(precision, runtime, request.tolerance)[2]}
    if card.sronnx_version is None and card.weights_sha256 is None:
        return _verify_foreign(request, loaded, runtimes, facts)
    torch_ref = torch_reference(path, info, request.checkpoint, community)
    cases = torch_ref.cases
    if torch_ref.reference_input is None:
        cases = test_cases(info, precision=precision)
    if request.images and d.in_channels == 3 and d.size.none:
        cases += image_cases(Path(request.images), info)
    results = compare(path, torch_ref.model, loaded.session, cases, CompareOptions(
        precision, runtime, fixed=d.fixed_size is not None, reference=request.reference,
        tolerance=request.tolerance, reference_input=torch_ref.reference_input))
    matrix = _matrix(path, runtimes, _torch_function(torch_ref.model), info, request,
                     AGAINST_TORCH)
    return VerifyReport(**facts, reference=torch_ref.source, comparisons=tuple(results),
                        compared=sum(1 for r in results if not r.note),
                        failed=sum(1 for r in results if not r.ok), matrix=matrix)


def is_spandrel(card: ModelCard) -> bool:
    """True for the card of a model exported from a community checkpoint (read without
    importing spandrel)."""
    return card.source is not None and (card.source.loader or "").startswith("spandrel")


def _runtimes(request: VerifyRequest) -> list[str]:
    """The runtimes of the matrix (asked for, or the default less onnx-reference without
    the reference run); VerifyError for an unknown one."""
    text = request.runtimes
    if text is not None and not isinstance(text, str):
        text = ",".join(text)
    try:
        runtimes = parse_runtimes(text)
    except ValueError as exc:
        raise VerifyError(str(exc)) from exc
    if not request.reference and text is None:
        runtimes = [r for r in runtimes if r != "onnx-reference"]
    return runtimes


def _load(request: VerifyRequest):
    """(the model file, its ONNX Runtime session: a `sronnx.runtime.LoadedModel`);
    VerifyError for an unknown model, an unusable provider or a file that is no usable
    model."""
    from sronnx.core import ModelFileError, resolve_model
    from sronnx.runtime import ProviderError, load_model

    try:
        path = Path(resolve_model(str(request.model)))
        return path, load_model(path, request.provider)
    except (LookupError, ProviderError, ModelFileError) as exc:
        raise VerifyError(str(exc)) from exc


def torch_reference(path: Path, info: ModelInfo, checkpoint: str | Path | None = None,
                    community: CommunityReference | None = None) -> TorchReference:
    """The PyTorch model to compare the file with: a community export's from `community`,
    the checkpoint's (VerifyError code 1 when its weights are not the card's), the float32
    twin's for int8, else the model rebuilt from the card and the file's weights;
    VerifyError (code 2) where none can be had."""
    from sronnx.train import CheckpointError, load_checkpoint, model_from_checkpoint

    if is_spandrel(info.card):
        if community is None:
            raise VerifyError(f"{path}: exported from a community checkpoint; comparing it "
                              "needs sronnx.community (spandrel)")
        return community(path, info, None if checkpoint is None else str(checkpoint))
    try:
        if checkpoint:
            model = deployable(model_from_checkpoint(load_checkpoint(checkpoint)))
            if info.card.weights_sha256 not in (None, weights_sha256(model)):
                raise VerifyError(f"{checkpoint}: its weights do not match the card of {path} "
                                  "(different weights_sha256)", 1)
            return TorchReference(model, f"checkpoint {checkpoint}")
        if (info.card.precision or "float32") == "int8":
            model, twin = model_from_float32_twin(path, info)
            return TorchReference(model, f"rebuilt from its float32 twin {twin} (weights hash "
                                  "matches both cards)")
        return TorchReference(model_from_onnx(path, info),
                              "rebuilt from the card (weights hash matches)")
    except CheckpointError as exc:
        raise VerifyError(str(exc)) from exc


def _torch_function(torch_model) -> Callable[[np.ndarray], np.ndarray]:
    """The runtime matrix's reference: `torch_model` on a float32 NCHW array, as an array."""
    import torch

    def reference(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch_model(torch.from_numpy(x)).numpy()

    return reference


def _matrix(path: Path, runtimes: list[str], reference, info: ModelInfo,
            request: VerifyRequest, against: str) -> MatrixReport | None:
    """The runtime matrix of `path` against `reference` (`run_matrix`), None without
    runtimes, skipped for a model that takes other tensors than the matrix feeds."""
    if not runtimes:
        return None
    other = plain_input(info.descriptor)
    if other:
        return MatrixReport(against, skipped=f"the model takes {other}; the matrix feeds "
                                             "float32 NCHW RGB in [0, 1]")
    rows = run_matrix(path, runtimes, info.card.precision or "float32", reference,
                      info.descriptor, timing=request.timing, tolerance=request.tolerance)
    return MatrixReport(against, tuple(rows))


def _verify_foreign(request: VerifyRequest, loaded, runtimes: list[str], facts: dict
                    ) -> VerifyReport:
    """A model with no sronnx card: ONNX Runtime against onnx.reference on small random
    inputs shaped as its own; no PyTorch model to compare; then the runtime matrix against
    the file on ONNX Runtime (the other runtimes asked for)."""
    path = facts["path"]
    try:
        cases = foreign_inputs(loaded.info.descriptor)
        results = compare_with_reference(path, loaded.session, cases,
                                         f"onnxruntime-{loaded.provider}", request.tolerance)
    except Exception as exc:  # noqa: BLE001 - a model made elsewhere may fail anywhere
        raise VerifyError(f"{path}: cannot run it on its own input shape: "
                          f"{type(exc).__name__}: {first_line(exc)}", 1) from exc
    session, name = loaded.session, loaded.input_name
    others = [r for r in runtimes if r not in ("ort", "onnx-reference")]
    matrix = _matrix(path, others, lambda x: session.run(None, {name: x})[0], loaded.info,
                     request, AGAINST_FILE)
    return VerifyReport(**facts, reference=None, comparisons=tuple(results),
                        compared=sum(1 for r in results if not r.note or not r.ok),
                        failed=sum(1 for r in results if not r.ok), matrix=matrix)


# ---- the report as text ------------------------------------------------------------------

def format_report(report: VerifyReport) -> list[str]:
    """The lines `sronnx verify` prints on stdout: the header, the comparisons, the runtime
    matrix and, when the report is ok, the OK line (`failure_lines` gives the others)."""
    if report.foreign:
        lines = [f"{report.path}: no sronnx card (a model made elsewhere), {report.layout} "
                 f"{report.element_type} input, x{report.scale}, output shape "
                 f"{list(report.output_shape)}; no PyTorch model was compared: ONNX Runtime "
                 "against onnx.reference only",
                 *_foreign_rows(report.comparisons)]
        ok = (f"OK: {report.compared} comparisons with onnx.reference pass (no PyTorch model "
              "compared)")
    else:
        lines = [f"{report.path}: {report.spec} x{report.scale} ({report.precision}), output "
                 f"shape {list(report.output_shape)}; PyTorch model: {report.reference}; "
                 f"{report.criterion}",
                 *_comparison_rows(report.comparisons)]
        ok = f"OK: {report.compared} comparisons pass {report.criterion}"
    lines += _matrix_lines(report.matrix)
    return [*lines, ok] if report.ok else lines


def failure_lines(report: VerifyReport) -> list[str]:
    """The FAIL lines (`sronnx verify` prints them on stderr); empty when the report is
    ok."""
    out = []
    if report.failed and report.foreign:
        out.append(f"FAIL: {report.failed} of {report.compared} comparisons with "
                   "onnx.reference fail")
    elif report.failed:
        out.append(f"FAIL: {report.failed} of {report.compared} comparisons fail "
                   f"{report.criterion}")
    bad = report.failed_runtimes
    if bad:
        whose = "the" if report.foreign else "its" if len(bad) == 1 else "their"
        out.append(f"FAIL: {', '.join(bad)} outside {whose} bound in the runtime matrix")
    return out


def _comparison_rows(results) -> list[str]:
    """The table of the comparisons: case, runtime, max abs error, PSNR, ok/FAIL (or the
    note of a case not compared)."""
    out = [f"  {'case':<34} {'runtime':<18} {'max abs err':>12} {'PSNR dB':>9}"]
    for r in results:
        if r.note:
            out.append(f"  {r.case:<34} {r.runtime:<18} {r.note}")
            continue
        psnr = "inf" if r.psnr_db == float("inf") else f"{r.psnr_db:.1f}"
        out.append(f"  {r.case:<34} {r.runtime:<18} {r.max_abs:>12.2e} {psnr:>9}"
                   f"  {'ok' if r.ok else 'FAIL'}")
    return out


def _foreign_rows(results) -> list[str]:
    """The comparisons of a foreign model with onnx.reference."""
    out = []
    for r in results:
        if r.note and r.ok:
            out.append(f"  {r.case:<34} {r.runtime:<30} {r.note}")
            continue
        out.append(f"  {r.case:<34} {r.runtime:<30} {r.max_abs:>12.2e}"
                   f"  {'ok' if r.ok else 'FAIL ' + r.note}")
    return out


def _matrix_lines(matrix: MatrixReport | None) -> list[str]:
    if matrix is None:
        return []
    if matrix.skipped:
        return [f"runtime matrix: skipped ({matrix.skipped})"]
    return [f"runtime matrix against {matrix.against}:", *format_rows(matrix.rows)]
