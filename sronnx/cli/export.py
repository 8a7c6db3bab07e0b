"""`sronnx export`: one self-contained ONNX file, dynamic sizes, with its model card."""

from __future__ import annotations

import click


@click.command()
@click.argument("checkpoint", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--arch", default=None, help="Export an architecture with its initial weights.")
@click.option("--scale", type=click.IntRange(1, 4), default=None)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The .onnx file to write.")
@click.option("--opset", type=click.IntRange(17, 23), default=18, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the initial weights with --arch.")
def export(checkpoint: str | None, arch: str | None, scale: int | None, output: str,
           opset: int, seed: int) -> None:
    """Export CHECKPOINT (or --arch ARCH --scale S, untrained) to OUTPUT."""
    from sronnx.cli import require_torch

    require_torch("sronnx export")
    import torch

    from sronnx.archs.analysis import receptive_field
    from sronnx.onnx_export import build_card, export_onnx
    from sronnx.train.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint

    if (checkpoint is None) == (arch is None):
        raise click.UsageError("give either CHECKPOINT or --arch with --scale")
    if checkpoint:
        try:
            data = load_checkpoint(checkpoint)
        except CheckpointError as exc:
            raise click.ClickException(str(exc)) from exc
        model = model_from_checkpoint(data)
        cfg = data.get("config", {})
        training = {
            "checkpoint": str(checkpoint), "data": data.get("data"), "val": data.get("val"),
            "steps": int(data["step"]), "train_seconds": round(float(data.get("wall_s", 0)), 1),
            "val_psnr_y": data.get("best_psnr") if "best" in str(checkpoint) else
            data.get("val_psnr_y"),
            "batch": cfg.get("batch"), "patch": cfg.get("patch"), "loss": cfg.get("loss"),
            "lr": cfg.get("lr"), "seed": cfg.get("seed"),
        }
        card = build_card(model, trained=True, training=training)
    else:
        if scale is None:
            raise click.UsageError("--arch needs --scale")
        from sronnx.registry import create_model

        torch.manual_seed(seed)
        try:
            model = create_model(arch, scale).eval()
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(str(exc), param_hint="--arch") from exc
        card = build_card(model, trained=False, extra={"init_seed": seed})
    descriptor = model.descriptor(receptive_field=receptive_field(model))
    path = export_onnx(model, output, card=card, descriptor=descriptor, opset=opset)
    size = path.stat().st_size
    click.echo(f"wrote {path} ({size / 1e6:.2f} MB, {card['params']:,} params, "
               f"{size / max(card['params'], 1):.2f} bytes/param) {card['spec']} x{model.scale}")
