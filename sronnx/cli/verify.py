"""`sronnx verify`: prove an exported model computes what its PyTorch model computes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from sronnx.core import ModelCard, first_line


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The training checkpoint (default: rebuild from the card and the file's "
                   "weights, trusted when their hash matches the card).")
@click.option("--provider", type=click.Choice(["cpu", "cuda"]), default="cpu",
              show_default=True)
@click.option("--tolerance", type=float, default=None,
              help="Largest absolute difference accepted [default: 1e-4 for float32 (1e-3 on "
                   "CUDA, which computes in TF32), 2e-2 for float16; int8 models must reach "
                   "30 dB PSNR against float32].")
@click.option("--images", type=click.Path(exists=True, file_okay=False), default=None,
              help="Also compare on (crops of) the images in this folder.")
@click.option("--no-reference", is_flag=True, help="Skip the onnx.reference evaluator run.")
@click.option("--runtimes", "runtimes_text", default=None, metavar="LIST",
              help="Runtimes of the matrix, comma-separated: ort, ort-cuda, onnx-reference, "
                   "opencv, ort-web, ort-node, ncnn, or all [default: "
                   "ort,ort-cuda,onnx-reference,opencv: the cheap ones; ort-cuda only where "
                   "the CUDA provider is available; none for community and foreign models]. "
                   "Runtimes not installed are listed as such.")
@click.option("--no-timing", is_flag=True,
              help="Do not time the 640x360 input on each runtime of the matrix.")
def verify(model_path: str, checkpoint: str | None, provider: str, tolerance: float | None,
           images: str | None, no_reference: bool, runtimes_text: str | None,
           no_timing: bool) -> None:
    """Compare MODEL (an .onnx file or a shipped model name) on ONNX Runtime with its PyTorch
    model on random inputs of several sizes and on real images. Without --checkpoint the
    PyTorch model is rebuilt from the file's weights; an int8 model, whose file cannot give
    back float32 weights, from its float32 twin (the shipped NAME for NAME-int8, or
    NAME.onnx beside NAME-int8.onnx) when the card's weights hash matches.

    A model exported from a community checkpoint (spandrel) is compared with spandrel's
    PyTorch model of --checkpoint (its SHA-256 or weights hash must match the card), or,
    without it, of the file's own weights when they hash to the card's. A model with no
    sronnx card (made elsewhere) is compared with onnx.reference only, on small inputs
    shaped as its own.

    Then the runtime matrix (--runtimes): the same inputs (1x3x37x53, 1x3x17x31, 2x3x37x53,
    1x3x360x640) on each runtime, against the PyTorch model (or, with none, the float32 file
    on ONNX Runtime), with version, precision, max abs error, PSNR, the bound, ok/FAIL and
    the median latency of the 640x360 input. A runtime not installed, or that cannot load
    the file (e.g. ncnn and int8 QDQ), is listed and does not fail.

    Exit 0 when every difference is within the tolerance, 1 when not (in the comparisons or
    on any runtime of the matrix), 2 when verification cannot run (e.g. an unknown model,
    --provider cuda without CUDA, an unknown runtime)."""
    from sronnx.cli import require_torch

    require_torch("sronnx verify")
    from sronnx.export import (
        CompareOptions,
        check_onnx_file,
        compare,
        criterion,
        image_cases,
        test_cases,
    )

    runtimes = _runtimes(runtimes_text, no_reference)
    path, loaded = _load(model_path, provider)
    info = loaded.info
    precision = info.card.precision or "float32"
    runtime = f"onnxruntime-{loaded.provider}"
    words = criterion(precision, runtime, tolerance)[2]
    try:
        out_shape = check_onnx_file(path)
    except Exception as exc:  # noqa: BLE001 - the checker raises several types
        _stop(f"{path}: fails onnx.checker / shape inference: {exc}", 1)
    card = info.card
    if runtimes_text is None and (_from_spandrel(card) or card.weights_sha256 is None):
        # community and foreign models: the matrix only when --runtimes asks for it (their
        # architectures may need size rules or ops a runtime lacks; verify stays as it was)
        runtimes = []
    if card.sronnx_version is None and card.weights_sha256 is None:
        _verify_foreign(path, loaded, runtime, tolerance, out_shape, runtimes, not no_timing)
        return
    torch_model, source, cases, reference_input = _torch_source(path, info, checkpoint,
                                                                precision)
    if reference_input is None:
        cases = test_cases(info, precision=precision)
    if images and info.descriptor.in_channels == 3 and info.descriptor.size.none:
        cases += image_cases(Path(images), info)
    results = compare(path, torch_model, loaded.session, cases, CompareOptions(
        precision, runtime, fixed=info.descriptor.fixed_size is not None,
        reference=not no_reference, tolerance=tolerance, reference_input=reference_input))
    click.echo(f"{path}: {info.card.spec} x{info.descriptor.scale} ({precision}), "
               f"output shape {out_shape}; PyTorch model: {source}; {words}")
    _print_comparisons(results)
    failed = [r for r in results if not r.ok]
    results = [r for r in results if not r.note]
    bad_rows = _matrix(path, runtimes, precision, _torch_reference(torch_model),
                       info.descriptor, not no_timing, tolerance, "the PyTorch model")
    if failed:
        click.echo(f"FAIL: {len(failed)} of {len(results)} comparisons fail {words}",
                   err=True)
    if bad_rows:
        click.echo(f"FAIL: {', '.join(bad_rows)} outside {'its' if len(bad_rows) == 1 else 'their'}"
                   " bound in the runtime matrix", err=True)
    if failed or bad_rows:
        sys.exit(1)
    click.echo(f"OK: {len(results)} comparisons pass {words}")


def _stop(message: str, code: int = 2) -> NoReturn:
    """Exit `code` (2: verification cannot run; 1: it fails) with `message`."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _runtimes(runtimes_text: str | None, no_reference: bool) -> list[str]:
    """The runtimes of the matrix (--runtimes, or its default less onnx-reference with
    --no-reference); exit 2 for an unknown one."""
    from sronnx.export import parse_runtimes

    try:
        runtimes = parse_runtimes(runtimes_text)
    except ValueError as exc:
        _stop(str(exc))
    if no_reference and runtimes_text is None:
        runtimes = [r for r in runtimes if r != "onnx-reference"]
    return runtimes


def _load(model_path: str, provider: str):
    """(the model file, its ONNX Runtime session on `provider`: a
    `sronnx.runtime.LoadedModel`); exit 2 for an unknown model, an unusable provider or a
    file that is no usable model."""
    from sronnx.core import ModelFileError, resolve_model
    from sronnx.runtime import ProviderError, load_model

    try:
        path = Path(resolve_model(model_path))
        loaded = load_model(path, provider)
    except LookupError as exc:
        _stop(str(exc))
    except ProviderError as exc:
        _stop(str(exc))
    except ModelFileError as exc:
        _stop(str(exc))
    return path, loaded


def _torch_source(path: Path, info, checkpoint: str | None, precision: str):
    """(PyTorch model, what it is in words, the random cases or None, the small input for
    onnx.reference or None) to compare the file with: spandrel's for a community export,
    --checkpoint's (exit 1 when its weights are not the card's), the float32 twin's for
    int8, else the model rebuilt from the card and the file's weights; exit 2 where none can
    be had."""
    from sronnx.export import (
        VerifyError,
        deployable,
        model_from_float32_twin,
        model_from_onnx,
        weights_sha256,
    )
    from sronnx.train import CheckpointError, load_checkpoint, model_from_checkpoint

    try:
        if _from_spandrel(info.card):
            return _community_source(path, info, checkpoint)
        if checkpoint:
            torch_model = deployable(model_from_checkpoint(load_checkpoint(checkpoint)))
            if info.card.weights_sha256 not in (None, weights_sha256(torch_model)):
                _stop(f"{checkpoint}: its weights do not match the card of {path} "
                      "(different weights_sha256)", 1)
            return torch_model, f"checkpoint {checkpoint}", None, None
        if precision == "int8":
            torch_model, twin = model_from_float32_twin(path, info)
            return (torch_model, f"rebuilt from its float32 twin {twin} (weights hash "
                    "matches both cards)", None, None)
        return (model_from_onnx(path, info), "rebuilt from the card (weights hash matches)",
                None, None)
    except (VerifyError, CheckpointError) as exc:
        _stop(str(exc))


def _print_comparisons(results: list) -> None:
    """The table of the comparisons: case, runtime, max abs error, PSNR, ok/FAIL (or the
    note of a case not compared)."""
    click.echo(f"  {'case':<34} {'runtime':<18} {'max abs err':>12} {'PSNR dB':>9}")
    for r in results:
        if r.note:
            click.echo(f"  {r.case:<34} {r.runtime:<18} {r.note}")
            continue
        psnr = "inf" if r.psnr_db == float("inf") else f"{r.psnr_db:.1f}"
        click.echo(f"  {r.case:<34} {r.runtime:<18} {r.max_abs:>12.2e} {psnr:>9}"
                   f"  {'ok' if r.ok else 'FAIL'}")


def _torch_reference(torch_model):
    """The runtime matrix's reference: `torch_model` on a float32 NCHW array, as an array."""
    import torch

    def reference(x):
        with torch.no_grad():
            return torch_model(torch.from_numpy(x)).numpy()

    return reference


def _matrix(path, runtimes: list[str], precision: str, reference, descriptor, timing: bool,
            tolerance: float | None, against: str) -> list[str]:
    """Print the runtime matrix of `path` (`sronnx.export.matrix.run_matrix`); return the names of
    the runtimes that FAIL their bound."""
    from sronnx.export import format_rows, plain_input, run_matrix

    if not runtimes:
        return []
    other = plain_input(descriptor)
    if other:
        click.echo(f"runtime matrix: skipped (the model takes {other}; the matrix feeds "
                   "float32 NCHW RGB in [0, 1])")
        return []
    rows = run_matrix(path, runtimes, precision, reference, descriptor, timing=timing,
                      tolerance=tolerance)
    click.echo(f"runtime matrix against {against}:")
    for line in format_rows(rows):
        click.echo(line)
    return [r.runtime for r in rows if r.failed]


def _from_spandrel(card: ModelCard) -> bool:
    """True for the card of a model exported from a community checkpoint (read without
    importing spandrel)."""
    return card.source is not None and (card.source.loader or "").startswith("spandrel")


def _community_source(path, info, checkpoint: str | None):
    """(PyTorch model, words, random cases, small input for onnx.reference) of a spandrel
    export: spandrel's model of `checkpoint` (its SHA-256 or weights hash must match the
    card; exit 1 when neither does), else of the file's own weights when they hash to the
    card's (exit 2 asking for --checkpoint when not)."""
    from sronnx.export import weights_sha256

    try:
        from sronnx import community
    except ImportError as exc:
        _stop(f"{path}: exported from a community checkpoint; comparing it needs spandrel: "
             f"pip install 'sronnx[community]' ({exc})")
    card = info.card
    try:
        if checkpoint:
            cm = community.load_community(checkpoint)
            if cm.sha256 == card.source.sha256:
                how = "SHA-256 matches the card"
            elif weights_sha256(cm.model) == card.weights_sha256:
                how = "weights hash matches the card (another file of the same weights)"
            else:
                _stop(f"{Path(checkpoint).name}: neither its SHA-256 nor its weights match "
                     f"the card of {path} (source {card.source.file})", 1)
            model = cm.reference
            source = f"{community.LOADER}'s {cm.arch} from {cm.name} ({how})"
        else:
            model = community.InputSafe(community.model_from_onnx_weights(path, card))
            source = (f"{community.LOADER} rebuilt from the file's weights (weights hash "
                      "matches the card)")
    except community.CommunityError as exc:
        _stop(str(exc))
    d = info.descriptor
    return model, source, community.verify_cases(d), community.reference_input(d)


def _verify_foreign(path, loaded, runtime: str, tolerance: float | None,
                    out_shape: list[str], runtimes: list[str], timing: bool) -> None:
    """A model with no sronnx card: ONNX Runtime against onnx.reference on small random
    inputs shaped as its own; no PyTorch model to compare; then the runtime matrix against
    the file on ONNX Runtime (the other runtimes of `runtimes`). Exit 0 or 1."""
    from sronnx.export import compare_with_reference, foreign_inputs

    d = loaded.info.descriptor
    try:
        cases = foreign_inputs(d)
        results = compare_with_reference(path, loaded.session, cases, runtime, tolerance)
    except Exception as exc:  # noqa: BLE001 - a model made elsewhere may fail anywhere
        click.echo(f"error: {path}: cannot run it on its own input shape: "
                   f"{type(exc).__name__}: {first_line(exc)}",
                   err=True)
        sys.exit(1)
    click.echo(f"{path}: no sronnx card (a model made elsewhere), {d.layout} "
               f"{d.element_type} input, x{d.scale}, output shape {out_shape}; no PyTorch "
               "model was compared: ONNX Runtime against onnx.reference only")
    for r in results:
        if r.note and r.ok:
            click.echo(f"  {r.case:<34} {r.runtime:<30} {r.note}")
            continue
        click.echo(f"  {r.case:<34} {r.runtime:<30} {r.max_abs:>12.2e}"
                   f"  {'ok' if r.ok else 'FAIL ' + r.note}")
    ran = [r for r in results if not r.note or not r.ok]
    failed = [r for r in results if not r.ok]
    session, name = loaded.session, loaded.input_name
    others = [r for r in runtimes if r not in ("ort", "onnx-reference")]
    bad_rows = _matrix(path, others, loaded.info.card.precision or "float32",
                       lambda x: session.run(None, {name: x})[0], d, timing, tolerance,
                       "the file on ONNX Runtime (CPU)") if others else []
    if failed:
        click.echo(f"FAIL: {len(failed)} of {len(ran)} comparisons with onnx.reference fail",
                   err=True)
    if bad_rows:
        click.echo(f"FAIL: {', '.join(bad_rows)} outside the bound in the runtime matrix",
                   err=True)
    if failed or bad_rows:
        sys.exit(1)
    click.echo(f"OK: {len(ran)} comparisons with onnx.reference pass (no PyTorch model "
               "compared)")
