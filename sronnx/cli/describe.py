"""`sronnx describe`: write what a model made elsewhere needs into a copy's metadata."""

from __future__ import annotations

import click

from sronnx.cli import cannot_start, model_options, model_overrides


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The described copy to write (.onnx).")
@model_options
@click.option("--scale", type=click.IntRange(1, 16), default=None,
              help="The model's scale; checked against the probe, which finds it.")
@click.option("--multiple-of", type=click.IntRange(1, 1024), default=None,
              help="Input sides must be multiples of this (the runtime pads and crops) "
                   "[default: the smallest the probe found the model to take].")
@click.option("--min-size", type=click.IntRange(1, 4096), default=None,
              help="Smallest input side the model takes well (smaller tiles are padded).")
@click.option("--receptive-field", type=click.IntRange(1, 4096), default=None,
              help="Input pixels that decide one output pixel, across [default: probed, the "
                   "impulse response; state it for float16 or uint8 models, whose response "
                   "the probe sees only down to their own precision].")
@click.option("--tile-hint", type=click.IntRange(8, 8192), default=None,
              help="Tile side (input pixels) the runtime starts from.")
@click.option("--clamp/--no-clamp", "clamp", default=None,
              help="Record whether sronnx clamps the output to each input neighbourhood's "
                   "range [default: no: a model made elsewhere runs as made].")
@click.option("--name", default=None, help="An architecture name to record (default: onnx).")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
def describe(model: str, output: str, input_range: str | None, bgr: bool, scale: int | None,
             multiple_of: int | None, min_size: int | None, receptive_field: int | None,
             tile_hint: int | None, clamp: bool | None, name: str | None,
             overwrite: bool) -> None:
    """Write MODEL (an ONNX super-resolution model made elsewhere) to OUTPUT with an sronnx
    descriptor in its metadata: what the probe finds (scale, element type, layout,
    channels, size rule, receptive field) and what you state (--input-range 255, --bgr,
    ...). From then on `sronnx upscale/info/verify/bench --model OUTPUT` need no options.
    The graph and weights are copied unchanged. Exit 2 when the model cannot be run or
    OUTPUT exists (without --overwrite). Needs the onnx package (pip install onnx)."""
    from dataclasses import replace
    from pathlib import Path

    from sronnx.core import METADATA_KEY, ModelFileError, SizeRequirements
    from sronnx.runtime import load_model

    src, dst = Path(model), Path(output)
    if dst.exists() and not overwrite:
        raise cannot_start(f"{dst} exists (--overwrite to replace it)")
    if dst.exists() and dst.resolve() == src.resolve():
        raise cannot_start(f"{dst} is MODEL itself: write the described copy elsewhere")
    try:
        import onnx
    except ImportError as exc:
        raise cannot_start("sronnx describe needs the onnx package: pip install onnx") from exc
    try:
        loaded = load_model(src, options=model_overrides(input_range, bgr))
    except ModelFileError as exc:
        raise cannot_start(str(exc)) from exc
    d = loaded.info.descriptor
    if scale is not None and scale != d.scale:
        raise cannot_start(f"{src}: --scale {scale}, but the model gives {d.scale} times its "
                           "input")
    size = d.size
    if multiple_of is not None or min_size is not None:
        size = SizeRequirements(minimum=min_size or size.minimum,
                                multiple_of=multiple_of or size.multiple_of,
                                square=size.square)
    changes: dict[str, object] = {"size": size}
    for key, value in (("receptive_field", receptive_field), ("tile_hint", tile_hint),
                       ("arch", name), ("clamp", clamp)):
        if value is not None:
            changes[key] = value
    d = replace(d, **changes)
    proto = onnx.load(str(src))
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    for key, value in [*kept, (METADATA_KEY, d.to_json())]:
        proto.metadata_props.add(key=key, value=value)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    onnx.save_model(proto, str(tmp), save_as_external_data=False)
    try:
        again = load_model(tmp).info.descriptor
    except ModelFileError as exc:
        tmp.unlink()
        raise click.ClickException(f"the described copy does not load: {exc}") from exc
    tmp.replace(dst)
    click.echo(f"wrote {dst}: x{again.scale}, {again.in_channels} -> {again.out_channels} "
               f"channels, {again.element_type} {again.layout} {again.channel_order}, values "
               f"{again.value_range[0]:g}..{again.value_range[1]:g}, "
               + (f"fixed {again.fixed_size[1]}x{again.fixed_size[0]}" if again.fixed_size
                  else f"sides multiples of {again.size.multiple_of}"
                  f" (at least {again.size.minimum})")
               + f", receptive field {again.receptive_field}, "
               + ("clamped" if again.clamp else "unclamped"))
