"""`sronnx verify`: prove an exported model computes what its PyTorch model computes."""

from __future__ import annotations

import sys

import click

from sronnx.runtime import PROVIDERS


@click.command()
@click.argument("model_path", metavar="MODEL")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The training checkpoint (default: rebuild from the card and the file's "
                   "weights, trusted when their hash matches the card).")
@click.option("--provider", type=click.Choice(PROVIDERS), default="cpu",
              show_default=True,
              help="The ONNX Runtime provider of the comparisons (refused, exit 2, unless the "
                   "session really runs on it).")
@click.option("--tolerance", type=float, default=None,
              help="Largest absolute difference accepted [default: 1e-4 for float32 (1e-3 on "
                   "CUDA, which computes in TF32), 2e-2 for float16; int8 models must reach "
                   "30 dB PSNR against float32].")
@click.option("--images", type=click.Path(exists=True, file_okay=False), default=None,
              help="Also compare on (crops of) the images in this folder.")
@click.option("--no-reference", is_flag=True, help="Skip the onnx.reference evaluator run.")
@click.option("--runtimes", "runtimes_text", default=None, metavar="LIST",
              help="Runtimes of the matrix, comma-separated: ort, ort-cuda, ort-tensorrt, "
                   "ort-openvino, ort-dml, ort-coreml, onnx-reference, opencv, ort-web, "
                   "ort-node, ncnn, or all [default: "
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
    a --provider this onnxruntime build does not offer or cannot start, an unknown
    runtime)."""
    from sronnx.cli import require_torch

    require_torch("sronnx verify")
    from sronnx.export import VerifyError, VerifyRequest, failure_lines, format_report, verify_model

    request = VerifyRequest(model_path, checkpoint=checkpoint, provider=provider,
                            tolerance=tolerance, images=images, reference=not no_reference,
                            runtimes=runtimes_text, timing=not no_timing)
    try:
        report = verify_model(request, community=_community_reference)
    except VerifyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.code)
    for line in format_report(report):
        click.echo(line)
    for line in failure_lines(report):
        click.echo(line, err=True)
    if not report.ok:
        sys.exit(1)


def _community_reference(path, info, checkpoint):
    """spandrel's PyTorch model of a community export (`sronnx.community`), or VerifyError
    (exit 2) where spandrel is not installed."""
    from sronnx.export import VerifyError

    try:
        from sronnx.community import community_reference
    except ImportError as exc:
        raise VerifyError(f"{path}: exported from a community checkpoint; comparing it needs "
                          f"spandrel: pip install 'sronnx[community]' ({exc})") from exc
    return community_reference(path, info, checkpoint)
