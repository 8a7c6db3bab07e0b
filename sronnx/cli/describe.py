"""`sronnx describe`: write what a model made elsewhere needs into a copy's metadata."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sronnx.cli import cannot_start, model_options, model_overrides

if TYPE_CHECKING:  # pragma: no cover
    from sronnx.core import ModelDescriptor


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
def describe(model: str, output: str, input_range: str | None, bgr: bool, overwrite: bool,
             **stated: Any) -> None:
    """Write MODEL (an ONNX super-resolution model made elsewhere) to OUTPUT with an sronnx
    descriptor in its metadata: what the probe finds (scale, element type, layout,
    channels, size rule, receptive field) and what you state (--input-range 255, --bgr,
    ...). From then on `sronnx upscale/info/verify/bench --model OUTPUT` need no options.
    The graph and weights are copied unchanged. Exit 2 when the model cannot be run or
    OUTPUT exists (without --overwrite). Needs the onnx package (pip install onnx)."""
    # `stated`: --scale, --multiple-of, --min-size, --receptive-field, --tile-hint,
    # --clamp/--no-clamp and --name, None where not given
    from sronnx.core import ModelFileError
    from sronnx.runtime import load_model

    src, dst = Path(model), Path(output)
    if dst.exists() and not overwrite:
        raise cannot_start(f"{dst} exists (--overwrite to replace it)")
    if dst.exists() and dst.resolve() == src.resolve():
        raise cannot_start(f"{dst} is MODEL itself: write the described copy elsewhere")
    try:
        import onnx  # noqa: F401 - only whether it is there: the copy is written with it
    except ImportError as exc:
        raise cannot_start("sronnx describe needs the onnx package: pip install onnx") from exc
    try:
        loaded = load_model(src, options=model_overrides(input_range, bgr))
    except ModelFileError as exc:
        raise cannot_start(str(exc)) from exc
    d = loaded.info.descriptor
    scale = stated["scale"]
    if scale is not None and scale != d.scale:
        raise cannot_start(f"{src}: --scale {scale}, but the model gives {d.scale} times its "
                           "input")
    from sronnx.export import write_described

    try:
        again = write_described(src, dst, _amended(d, stated))
    except ModelFileError as exc:
        raise click.ClickException(f"the described copy does not load: {exc}") from exc
    click.echo(f"wrote {dst}: x{again.scale}, {again.in_channels} -> {again.out_channels} "
               f"channels, {again.element_type} {again.layout} {again.channel_order}, values "
               f"{again.value_range[0]:g}..{again.value_range[1]:g}, "
               + (f"fixed {again.fixed_size[1]}x{again.fixed_size[0]}" if again.fixed_size
                  else f"sides multiples of {again.size.multiple_of}"
                  f" (at least {again.size.minimum})")
               + f", receptive field {again.receptive_field}, "
               + ("clamped" if again.clamp else "unclamped"))


def _amended(d: ModelDescriptor, stated: dict[str, Any]) -> ModelDescriptor:
    """The probed descriptor `d` with what the options state (None: not stated): the size
    rule's minimum and multiple, the receptive field, the tile hint, the architecture name
    and the clamp."""
    from sronnx.core import SizeRequirements

    size = d.size
    multiple_of, min_size = stated["multiple_of"], stated["min_size"]
    if multiple_of is not None or min_size is not None:
        size = SizeRequirements(minimum=min_size or size.minimum,
                                multiple_of=multiple_of or size.multiple_of,
                                square=size.square)
    changes: dict[str, object] = {"size": size}
    for key, option in (("receptive_field", "receptive_field"), ("tile_hint", "tile_hint"),
                        ("arch", "name"), ("clamp", "clamp")):
        if stated[option] is not None:
            changes[key] = stated[option]
    return replace(d, **changes)
