"""`sronnx info`: print the card an ONNX model carries in its metadata."""

from __future__ import annotations

import json

import click

from sronnx.cli import cannot_start, model_options, model_overrides


@click.command()
@click.argument("model")
@model_options
@click.option("--json", "as_json", is_flag=True)
def info(model: str, input_range: str | None, bgr: bool, as_json: bool) -> None:
    """Print what MODEL (a shipped name or an .onnx path) needs and carries: scale, channels,
    value range, layout, size rule, receptive field, each with where it was found (the
    file's metadata, the session, an option, a probe run, or a default), then its card
    (architecture, training, validation PSNR, weights hash), inputs and outputs. A model
    made elsewhere has no card; exit 2 for a file that is not a model sronnx can run."""
    from dataclasses import asdict

    from sronnx.core import ModelFileError, resolve_model
    from sronnx.runtime import load_model

    try:
        loaded = load_model(resolve_model(model), options=model_overrides(input_range, bgr))
    except (ModelFileError, LookupError) as exc:
        raise cannot_start(str(exc)) from exc
    s = loaded.session
    io = {
        "inputs": [{"name": i.name, "shape": i.shape, "type": i.type} for i in s.get_inputs()],
        "outputs": [{"name": o.name, "shape": o.shape, "type": o.type} for o in s.get_outputs()],
    }
    data = {"path": str(loaded.info.path), "descriptor": asdict(loaded.info.descriptor),
            "found": loaded.sources, "card": loaded.info.card.to_dict(), **io}
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    click.echo(f"model     {data['path']}")
    for key, value in _rows(data["descriptor"], data["card"]):
        text = json.dumps(value) if isinstance(value, dict | list) else value
        if key == "batch" and value == 0:
            text = "any"  # the descriptor's 0 (the --json output keeps the number)
        where = loaded.sources.get(key)
        click.echo(f"  {key:<18} {text}" + (f"  [{where}]" if where else ""))
    for kind in ("inputs", "outputs"):
        for t in data[kind]:
            click.echo(f"  {kind[:-1]:<18} {t['name']} {t['type']} {t['shape']}")


def _rows(descriptor: dict, card: dict) -> list[tuple[str, object]]:
    """The descriptor's and the card's fields as (name, value) rows, each name once: arch,
    scale and spec are in both; the spec is shown as the card's string (the form --arch
    takes), and a card value that contradicts the descriptor gets its own `card KEY` row."""
    rows = []
    for key, value in descriptor.items():
        if key == "spec" and isinstance(card.get("spec"), str):
            value = card["spec"]
        rows.append((key, value))
    for key, value in card.items():
        if key == "spec" and key in descriptor:
            continue
        if key in descriptor:
            if value != descriptor[key]:
                rows.append((f"card {key}", value))
            continue
        rows.append((key, value))
    return rows
