"""`sronnx train`: train an architecture of the registry on image folders."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from sronnx.cli import cannot_start, check_scale

if TYPE_CHECKING:  # pragma: no cover
    from sronnx.train import RunExistsError

# command-line parameter -> TrainConfig field, where the names differ
_FIELD = {"learning_rate": "lr"}


@click.command()
@click.option("--arch", required=True, help="Architecture name or spec, e.g. cae3:act=gelu.")
@click.option("--scale", type=int, required=True, callback=check_scale,
              help="2, 3 or 4 (on --resume: the run's own).")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False),
              help="HR-only folder, DIR with lr/ and hr/, or the study's *_low/*_high layout.")
@click.option("--val", type=click.Path(exists=True, file_okay=False), default=None,
              help="Validation folder (default: 5% of --data held out).")
@click.option("--steps", type=click.IntRange(1), default=None,
              help="Optimizer steps in all. On --resume another number changes the length: "
                   "a cosine schedule then goes on from the current learning rate down to "
                   "its final value (1% of --lr) at the new end, with no jump.")
@click.option("--epochs", type=click.IntRange(1), default=None,
              help="An epoch is as many patches as cover the training images once.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Run folder: checkpoints, log.jsonl, loss_curve.png.")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out where it stopped, with its own settings: another "
                   "--arch or --scale is refused, other differing options are not used (a "
                   "warning each); --steps/--epochs, --data, --val, --device and --threads "
                   "are taken. Without --resume a folder holding a run is refused.")
@click.option("--init", "init", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Start from this checkpoint's weights (fine-tuning; same --arch and "
                   "--scale); the optimizer, schedule and data stream start fresh.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=16, show_default=True,
              help="Patches per optimizer step; under torchrun the global batch, shared "
                   "equally by the processes (a multiple of their number).")
@click.option("--patch", type=click.IntRange(4), default=96, show_default=True,
              help="HR patch side (rounded down to a multiple of the scale).")
@click.option("--lr", "learning_rate", type=float, default=1e-3, show_default=True)
@click.option("--schedule", type=click.Choice(["cosine", "step", "constant"]), default="cosine",
              show_default=True)
@click.option("--warmup", type=click.IntRange(0), default=0, show_default=True)
@click.option("--loss", type=click.Choice(["l1", "mse"]), default="l1", show_default=True)
@click.option("--degradation",
              type=click.Choice(["bicubic", "realistic", "photo", "photo-jpeg", "photo-noise"]),
              default="bicubic", show_default=True,
              help="How training LR patches are made: bicubic, the standard protocol of the "
                   "published tables; realistic, blur, a random resize filter, Gaussian or "
                   "Poisson noise and JPEG, sometimes twice; photo, a milder mix of clean, "
                   "JPEG-compressed and noisy patches, photo-jpeg and photo-noise its JPEG or "
                   "noise half alone (see sronnx.train.degradations). With "
                   "any but bicubic, best.pt is chosen on validation crops degraded the "
                   "same way (seeded); the clean figure is logged beside it.")
@click.option("--val-every", type=click.IntRange(1), default=500, show_default=True)
@click.option("--ckpt-every", type=click.IntRange(1), default=100, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None, help="torch CPU threads.")
@click.option("--quiet", is_flag=True)
def train(resume: bool, quiet: bool, **settings: Any) -> None:
    """Train ARCH at SCALE on --data; checkpoints go to --out (best.pt, last.pt).

    Under torchrun (`torchrun --standalone --nproc-per-node N -m sronnx train ...`) the N
    processes train one model with DistributedDataParallel (gloo on CPUs, nccl with
    --device cuda, one GPU per process); rank 0 alone validates, prints and writes.
    """
    # every option but --resume and --quiet is a TrainConfig field (`_FIELD`: its name)
    from sronnx.cli import require_torch

    require_torch("sronnx train")
    from sronnx.archs import parse_spec
    from sronnx.train import (
        CheckpointError,
        DataError,
        Distributed,
        Progress,
        ResumeMismatchError,
        RunExistsError,
        TrainConfig,
    )
    from sronnx.train import train as run_training

    if not resume and not settings["steps"] and not settings["epochs"]:
        raise click.UsageError("give --steps or --epochs")
    try:
        job = Distributed.from_environment()
    except ValueError as exc:
        raise cannot_start(str(exc)) from exc
    quiet = quiet or not job.is_main  # one voice: rank 0's
    # the same error on every rank would print N times: ranks other than 0 say who they are
    where = "" if job.is_main else f"rank {job.rank} of {job.world_size}: "
    try:
        parse_spec(settings["arch"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--arch") from exc
    cfg = TrainConfig(**{_FIELD.get(name, name): value for name, value in settings.items()})
    bar = None
    interactive = sys.stdout.isatty()

    def show(p: Progress) -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None:
            bar = click.progressbar(length=p.total, label="training", show_pos=True,
                                    item_show_func=lambda s: s)
            bar.__enter__()
            bar.update(p.step - 1)
        text = f"loss {p.loss:.4f}  {p.patches_per_s:.0f} patches/s"
        if p.val:
            text += f"  val PSNR-Y {p.val['val_psnr_y']:.2f} dB  MSE {p.val['val_mse']:.5f}"
        bar.update(p.step - bar.pos, text)
        if p.val and not interactive:  # not a terminal: plain lines at each validation
            click.echo(f"step {p.step}/{p.total}: {text}")

    def warn(message: str) -> None:
        click.echo(f"warning: {message}", err=True)

    try:
        summary = run_training(cfg, resume=resume, on_progress=show,
                               given=_given_fields(click.get_current_context()),
                               on_warning=warn, distributed=job)
    except RunExistsError as exc:
        raise cannot_start(where + _run_exists_message(exc)) from exc
    except ResumeMismatchError as exc:
        raise cannot_start(where + str(exc)) from exc
    except (DataError, CheckpointError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(where + str(exc)) from exc
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if not quiet:
        click.echo(
            f"done: {summary['steps']} steps, best validation PSNR-Y "
            f"{summary['best_val_psnr_y']:.2f} dB, {summary['train_seconds']:.0f} s of training; "
            f"checkpoints in {summary['run_dir']}"
        )


def _given_fields(ctx: click.Context) -> list[str]:
    """The TrainConfig fields whose options were given on the command line (or through the
    environment), as opposed to left at their defaults."""
    from click.core import ParameterSource

    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return [_FIELD.get(name, name) for name in ctx.params
            if name not in ("resume", "quiet") and ctx.get_parameter_source(name) in given]


def _run_exists_message(exc: RunExistsError) -> str:
    """The refusal of a fresh run into a folder holding one (a RunExistsError)."""
    found = ", ".join(exc.found)
    if "last.pt" in exc.found:
        return (f"--out {exc.folder} already holds a run ({found}): pass --resume to continue "
                "it, or choose another --out (nothing was overwritten)")
    return (f"--out {exc.folder} already holds a run ({found}) with no last.pt to resume "
            "from: choose another --out, or delete those files (nothing was overwritten)")
