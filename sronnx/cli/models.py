"""`sronnx models`: the architectures of the registry and the shipped pretrained models."""

from __future__ import annotations

import json

import click


def _arch_rows(scale: int) -> list[dict]:
    from sronnx.archs import ARCHITECTURES

    try:
        from sronnx.archs import create_model, macs_per_output_pixel, receptive_field
    except ImportError:  # torch absent: names only
        return [{"name": n, "summary": e.summary} for n, e in ARCHITECTURES.items()]
    rows = []
    for name, entry in ARCHITECTURES.items():
        model = create_model(name, scale)
        fixed = model.fixed_input_size()
        rows.append({
            "name": name,
            "summary": entry.summary,
            "params": sum(p.numel() for p in model.parameters()),
            "macs_per_pixel": round(macs_per_output_pixel(model), 1),
            "receptive_field": receptive_field(model),
            "size_requirement": f"fixed {fixed[1]}x{fixed[0]}" if fixed else "any",
            "scales": [2, 3, 4],
        })
    return rows


def _shipped_rows() -> list[dict]:
    from sronnx.core import ModelFileError, default_model_name, shipped_models
    from sronnx.runtime import load_model

    rows = []
    for m in shipped_models():
        default_on = []
        for provider in ("cpu", "cuda"):
            try:
                if default_model_name(m.scale, provider, m.kind) == m.name:
                    default_on.append(provider)
            except LookupError:
                pass
        row = {"name": m.name, "scale": m.scale, "precision": m.precision, "kind": m.kind,
               "default_on": default_on, "path": str(m.path), "file": m.path.name,
               "set5_psnr_y": m.set5_psnr_y, "summary": m.summary}
        try:
            card = load_model(m.path).info.card
            row.update(spec=card.spec, params=card.params, macs_per_pixel=card.macs_per_pixel)
        except (ModelFileError, OSError) as exc:
            row["error"] = str(exc)
        rows.append(row)
    return rows


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--scale", type=click.IntRange(2, 4), default=2, show_default=True,
              help="Scale at which parameters and MACs are counted.")
@click.option("--paths", is_flag=True,
              help="Show each shipped file's full path (the table names the file only).")
def models(as_json: bool, scale: int, paths: bool) -> None:
    """List architectures (parameters, MACs per output pixel, receptive field, size
    requirement), the shipped pretrained models, and the rule that picks one per file."""
    archs, shipped = _arch_rows(scale), _shipped_rows()
    if as_json:
        click.echo(json.dumps([{"kind": "architecture", **a} for a in archs]
                              + [{"kind": "shipped", **{("input_kind" if k == "kind" else k): v
                                                        for k, v in s.items()}}
                                 for s in shipped]
                              + [{"kind": "rule", "text": _rule_text()},
                                 {"kind": "video_rule", "text": _video_rule_text()}],
                              indent=2))
        return
    click.echo(f"Architectures (counted at x{scale}; every one takes scales 2, 3, 4):")
    if archs and "params" not in archs[0]:
        click.echo("  (install the train extra for parameters and MACs)")
    for a in archs:
        if "params" in a:
            click.echo(f"  {a['name']:<8} {a['params']:>10,} params {a['macs_per_pixel']:>10,.0f}"
                       f" MACs/px  RF {a['receptive_field']:>3}px  size {a['size_requirement']:<14}"
                       f" {a['summary']}")
        else:
            click.echo(f"  {a['name']:<8} {a['summary']}")
    click.echo("Shipped models:")
    if not shipped:
        click.echo("  (none)")
    for s in shipped:
        psnr = f"  Set5 PSNR-Y {s['set5_psnr_y']:.2f} dB" if s.get("set5_psnr_y") else ""
        on = " and ".join(p.upper() for p in s["default_on"])
        what = {"clean": "", "photo": " for noisy inputs", "jpeg": " for JPEG inputs"}.get(
            s["kind"], f" for {s['kind']} inputs")
        default = f"  default{what} on {on}" if on else ""
        click.echo(f"  {s['name']:<18} x{s['scale']}  {s['precision']:<7} {s.get('spec', '?')}"
                   f"{psnr}{default}  {s['path'] if paths else s['file']}")
    if any(s["kind"] == "photo" for s in shipped):
        click.echo("Without --model, sronnx upscale picks per file (--input-kind auto):")
        click.echo("  " + _rule_text())
        click.echo("Videos get one model for the whole video:")
        click.echo("  " + _video_rule_text())


def _rule_text() -> str:
    from sronnx.engine import JPEG_MAX_QUALITY, NOISE_SIGMA

    return (f"a JPEG of quality up to {JPEG_MAX_QUALITY} (estimated from its quantization "
            f"tables), a lossy WebP, or an image showing JPEG blocking gets the scale's JPEG "
            f"model (the photo model where the scale has none); an image whose estimated "
            f"noise sigma is at least {NOISE_SIGMA:g} (of 255) the photo model; any other "
            "image, and every animation, the clean model. --input-kind clean|photo|jpeg "
            "gives every file one of them.")


def _video_rule_text() -> str:
    from sronnx.engine import VIDEO_BLOCKINESS

    return (f"a lossy video (H.264, HEVC, VP9, AV1, ...) whose first frame shows 8x8 "
            f"blocking of at least {VIDEO_BLOCKINESS:.2f} gets the photo model (measured on "
            "training clips: at H.264 CRF 28 and above the photo and JPEG models beat the "
            "clean one, at CRF 23 and below, and at H.265 CRF 28 and VP9 CRF 40, the clean "
            "model wins or ties); any other video, lossless ones too, the rule above on its first "
            "frame. --model and --input-kind apply as for images. Figures: "
            "bench/results/video_quality.md.")
