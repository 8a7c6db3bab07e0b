"""`sronnx export`: one self-contained ONNX file, dynamic sizes, with its model card."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sronnx.cli import cannot_start, check_scale

if TYPE_CHECKING:  # pragma: no cover
    from sronnx.export import Exported, ExportOptions


@dataclass(frozen=True)
class ExportArgs:
    """`sronnx export`'s options as parsed (see each option's --help)."""

    checkpoint: str | None
    from_onnx: str | None
    target: str
    size_text: str
    arch: str | None
    scale: int | None
    output: str
    opset: int
    seed: int
    fp16: bool
    int8: bool
    calib: str | None
    max_psnr_loss: float | None
    force: bool

    @property
    def precision(self) -> str:
        """float16 (--fp16), int8 (--int8) or float32."""
        return "float16" if self.fp16 else "int8" if self.int8 else "float32"


@click.command()
@click.argument("checkpoint", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--from-onnx", "from_onnx", default=None, metavar="MODEL",
              help="Convert an existing .onnx file (or a shipped model name) for --target "
                   "instead of exporting a checkpoint.")
@click.option("--target", type=click.Choice(["onnx", "ncnn", "opencv-legacy"]), default="onnx",
              show_default=True,
              help="onnx: the ONNX file. ncnn: NAME-xS.param/.bin through pnnx (float32 "
                   "weights unless --fp16; blobs 'data' and 'output', as Upscayl and "
                   "realesrgan-ncnn-vulkan want); OUTPUT is a folder or NAME.param. "
                   "opencv-legacy: an ONNX copy for OpenCV 4.6-4.10 (fixed input size "
                   "--size, constant Clip as Relu).")
@click.option("--size", "size_text", default="128x128", show_default=True, metavar="WxH",
              help="The fixed input size of --target opencv-legacy.")
@click.option("--arch", default=None, help="Export an architecture with its initial weights.")
@click.option("--scale", type=int, default=None, callback=check_scale,
              help="2, 3 or 4, with --arch.")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="The .onnx file to write (--target ncnn: a folder or NAME.param).")
@click.option("--opset", type=click.IntRange(17, 23), default=18, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the initial weights with --arch.")
@click.option("--fp16", is_flag=True, help="Float16 weights and arithmetic (for GPUs); "
              "input and output stay float32. With --target ncnn: float16 ncnn weights.")
@click.option("--int8", is_flag=True, help="Static int8 QDQ model calibrated on --calib.")
@click.option("--calib", type=click.Path(exists=True, file_okay=False), default=None,
              help="Images for int8 calibration and for the PSNR check of --fp16/--int8.")
@click.option("--max-psnr-loss", type=float, default=None,
              help="Largest PSNR loss (dB) against float32 accepted "
                   "[default: 0.05 for fp16, 0.3 for int8].")
@click.option("--force", is_flag=True, help="Write the file even if the loss is larger.")
def export(**params: object) -> None:
    """Export CHECKPOINT (or --arch ARCH --scale S, untrained) to OUTPUT.

    CHECKPOINT is an sronnx training checkpoint, or a community PyTorch checkpoint that
    spandrel recognises (.pth, .pt, .ckpt, .safetensors: ESRGAN, Real-ESRGAN Compact, SwinIR,
    SPAN, ...), loaded without running code from the file (needs the community extra).

    With --fp16 or --int8 the reduced-precision model is compared with the float32 model on
    the --calib images, and not written when it loses more PSNR than allowed.

    --target ncnn or opencv-legacy writes the model for that runtime (from CHECKPOINT,
    --arch or --from-onnx MODEL) and checks the written files against ONNX Runtime
    (ncnn: with ncnn's Python binding, max abs 1e-4, 2e-2 with --fp16; opencv-legacy: max
    abs 1e-4 at its fixed size); exit 1 when the check fails.
    """
    args = ExportArgs(**params)  # type: ignore[arg-type]
    if args.target != "onnx":
        _export_target(args)
        return
    if args.from_onnx:
        raise click.UsageError("--from-onnx converts a file for --target ncnn or opencv-legacy")
    from sronnx.cli import require_torch

    require_torch("sronnx export")
    from sronnx.export import ExportOptions, OpsetError, PrecisionError
    from sronnx.train import CheckpointError, NotSronnxCheckpoint

    _check_onnx_args(args)
    options = ExportOptions(precision=args.precision, calib=args.calib,
                            max_loss=args.max_psnr_loss, force=args.force, opset=args.opset,
                            on_check=lambda check: click.echo(check.line()))
    try:
        result = _export_onnx(args, options)
    except NotSronnxCheckpoint:
        _export_community(args, options)
        return
    except CheckpointError as exc:
        raise cannot_start(str(exc)) from exc
    except (PrecisionError, OpsetError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(result.summary())


def _check_onnx_args(args: ExportArgs) -> None:
    """Usage errors of --target onnx: one source, one reduced precision with its --calib
    images, --scale with --arch."""
    if (args.checkpoint is None) == (args.arch is None):
        raise click.UsageError("give either CHECKPOINT or --arch with --scale")
    if args.fp16 and args.int8:
        raise click.UsageError("--fp16 and --int8 exclude each other")
    if (args.fp16 or args.int8) and args.calib is None:
        raise click.UsageError("--fp16 and --int8 need --calib DIR (images to check the "
                               "PSNR against float32, and to calibrate int8)")
    if args.checkpoint is None and args.scale is None:
        raise click.UsageError("--arch needs --scale")


def _export_onnx(args: ExportArgs, options: ExportOptions) -> Exported:
    """The ONNX file of CHECKPOINT or of --arch; an --arch the registry refuses is a bad
    --arch. Raises what `export_checkpoint` raises."""
    from sronnx.export import PrecisionError, export_architecture, export_checkpoint

    if args.checkpoint is not None:
        return export_checkpoint(args.checkpoint, args.output, options)
    try:
        return export_architecture(args.arch, args.scale, args.output, seed=args.seed,
                                   options=options)
    except PrecisionError:
        raise
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--arch") from exc


def _export_target(args: ExportArgs) -> None:
    """--target ncnn / opencv-legacy: the float32 ONNX file (given with --from-onnx, or
    exported into a temporary folder) converted by `sronnx.export.targets.write_target`;
    exit 1 where the written files fail their check."""
    import tempfile

    _check_target_args(args)
    if args.checkpoint is not None and args.checkpoint.lower().endswith(".onnx"):
        # an ONNX model: converted as --from-onnx does
        args = replace(args, checkpoint=None, from_onnx=args.checkpoint)
    from sronnx.export import TargetError, write_target

    size = _target_size(args.size_text)
    target = args.target
    with tempfile.TemporaryDirectory(prefix="sronnx-export-") as tmp:
        source, stem = _target_source(args, Path(tmp))
        try:
            result = write_target(source, target, Path(args.output), fp16=args.fp16,
                                  size=size, stem=stem)
        except TargetError as exc:
            raise click.ClickException(str(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - a converter may fail anywhere
            raise click.ClickException(f"cannot write the {target} target: "
                                       f"{type(exc).__name__}: {exc}") from exc
    files = ", ".join(str(f) for f in result.files)
    verdict = "ok" if result.ok else "FAIL"
    check = ("ncnn" if target == "ncnn" else "ONNX Runtime on the copy")
    click.echo(f"wrote {files} ({target}); checked with {check} against ONNX Runtime on "
               f"{'x'.join(map(str, result.checked_shape))}: max abs "
               f"{result.max_abs:.2e} (bound {result.bound:g}) {verdict}")
    if not result.ok:
        raise SystemExit(1)


def _check_target_args(args: ExportArgs) -> None:
    """Usage errors of --target ncnn / opencv-legacy: no --int8, --fp16 for ncnn only, one
    source."""
    if args.int8:
        raise click.UsageError(f"--int8 does not apply to --target {args.target} (ncnn does "
                               "not load QDQ models; OpenCV 4.x is given the float32 file)")
    if args.fp16 and args.target != "ncnn":
        raise click.UsageError("--fp16 with a target applies to --target ncnn only")
    if sum(x is not None for x in (args.checkpoint, args.arch, args.from_onnx)) != 1:
        raise click.UsageError("give one of CHECKPOINT, --arch with --scale, or --from-onnx")


def _target_size(text: str) -> tuple[int, int]:
    """--size WxH (`sronnx.export.parse_size`), or a bad --size."""
    from sronnx.export import TargetError, parse_size

    try:
        return parse_size(text)
    except TargetError as exc:
        raise click.BadParameter(str(exc), param_hint="--size") from exc


def _target_source(args: ExportArgs, tmp: Path) -> tuple[Path, str]:
    """(the float32 ONNX file a target is made from, the stem of the target's files): the
    --from-onnx file (exit 2 where it is not found), or CHECKPOINT / --arch exported into
    `tmp` as `sronnx export` does."""
    if args.from_onnx:
        from sronnx.core import resolve_model

        try:
            source = Path(resolve_model(args.from_onnx))
        except LookupError as exc:
            raise cannot_start(str(exc)) from exc
        if not source.is_file():
            raise cannot_start(f"{source}: no such file")
        return source, source.stem
    source = tmp / "model.onnx"
    ctx = click.get_current_context()
    ctx.invoke(export, **asdict(replace(
        args, from_onnx=None, target="onnx", output=str(source), fp16=False, int8=False,
        calib=None, max_psnr_loss=None, force=False)))
    return source, Path(args.output).stem if args.target == "opencv-legacy" else "sronnx"


def _export_community(args: ExportArgs, options: ExportOptions) -> None:
    """Export a checkpoint that is not sronnx's through spandrel (`sronnx.community`): the
    first shape strategy whose ONNX Runtime output matches spandrel's PyTorch model, at the
    precision of `options`. Exit 2 when spandrel is missing
    or refuses the file, 1 when no export matches."""
    from sronnx.export import PrecisionError

    community = _community(args.checkpoint)
    try:
        cm = community.load_community(args.checkpoint)
    except community.CommunityError as exc:
        raise cannot_start(str(exc)) from exc
    if (args.fp16 or args.int8) and cm.spandrel.input_channels != 3:
        raise cannot_start(f"{cm.name}: --fp16 and --int8 are checked on RGB images; this "
                           f"model takes {cm.spandrel.input_channels} channels")
    if args.fp16 and not cm.spandrel.supports_half:
        raise cannot_start(f"{cm.name}: spandrel marks {cm.arch} as not working in float16")
    try:
        result, path = _write_community(community, cm, args.output, options)
    except (community.CommunityError, PrecisionError) as exc:
        raise click.ClickException(str(exc)) from exc
    card, d = result.card, result.descriptor
    size = path.stat().st_size
    batch = f", batch {d.batch}" if d.batch else ""
    click.echo(f"wrote {path} ({size / 1e6:.2f} MB, {card.params:,} params, "
               f"{size / max(card.params, 1):.2f} bytes/param) {card.spec} x{d.scale} "
               f"({d.in_channels}->{d.out_channels} channels) from {cm.name} via "
               f"{community.LOADER}, export shape: {card.export_shape}{batch} "
               f"({card.exporter}); parity with spandrel's PyTorch model: max abs "
               f"{card.parity_max_abs:.1e} at {', '.join(card.parity_sizes)}")


def _community(checkpoint: str):
    """The `sronnx.community` package, or exit 2 where spandrel is not installed."""
    try:
        from sronnx import community
    except ImportError as exc:
        raise cannot_start(f"{Path(checkpoint).name}: not an sronnx checkpoint; community "
                           "checkpoints need spandrel: pip install 'sronnx[community]' "
                           f"({exc})") from exc
    return community


def _write_community(community, cm, output: str,
                     options: ExportOptions) -> tuple[object, Path]:
    """(the community export's result, the file written): float32 as exported, or the
    float16 / int8 file `export_reduced` checks against it. Raises CommunityError and
    PrecisionError."""
    import tempfile

    from sronnx.export import export_reduced

    def note(line: str) -> None:
        click.echo(f"  rejected {line}", err=True)

    opset = options.opset
    if options.precision == "float32":
        result = community.export_community(cm, output, opset=opset, log=note)
        return result, result.path
    with tempfile.TemporaryDirectory() as tmp:
        result = community.export_community(cm, Path(tmp) / "f32.onnx", opset=opset,
                                            log=note)
        strategy = result.strategy

        def exporter(path: Path, half: bool) -> Path:
            if not half:
                return result.path
            return community.export_community(cm, path, opset=opset,
                                              strategy=strategy, fp16=True).path

        path = export_reduced(exporter, output, result.card.to_dict(), result.descriptor,
                              options.reduced())
    return result, path
