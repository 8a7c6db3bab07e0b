"""The `sronnx` command line. Each command lives in its own module, imported only when that
command runs, so `sronnx --help` stays instant and never touches torch."""

from __future__ import annotations

import importlib
import importlib.util

import click

from sronnx import __version__

# command name -> (module, function, one-line help shown by `sronnx --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "models": ("sronnx.cli.models", "models", "List architectures and shipped models."),
    "train": ("sronnx.cli.train", "train", "Train a model on image folders (needs torch)."),
    "export": ("sronnx.cli.export", "export", "Export a model to one self-contained ONNX file."),
    "verify": ("sronnx.cli.verify", "verify", "Check an ONNX model against PyTorch."),
    "info": ("sronnx.cli.info", "info", "Print what an ONNX model needs and its card."),
    "describe": ("sronnx.cli.describe", "describe",
                 "Write what a model made elsewhere needs into a copy's metadata."),
    "upscale": ("sronnx.cli.upscale", "upscale",
                "Upscale images, videos and folders (ONNX Runtime)."),
    "bench": ("sronnx.cli.bench", "bench", "Measure quality and speed per model and runtime."),
    "web": ("sronnx.cli.web", "web", "Serve the web demo and the shipped models (browser)."),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when the command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if importlib.util.find_spec(COMMANDS[n][0]))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or importlib.util.find_spec(COMMANDS[name][0]) is None:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][2]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sronnx")
def main() -> None:
    """sronnx: train small super-resolution models, export them to ONNX, upscale images and
    videos."""
    from sronnx.runtime import model_memory_limit

    try:
        model_memory_limit()  # checked once here, so no model file is blamed for it
    except ValueError as exc:
        raise cannot_start(str(exc)) from None


def model_options(func):
    """--input-range and --bgr: what a model made elsewhere needs that no probe can find
    (sronnx's own files and files written by `sronnx describe` carry it)."""
    func = click.option(
        "--bgr", is_flag=True, default=False,
        help="The model takes and gives BGR (OpenCV's order), not RGB; for a model made "
             "elsewhere whose file does not say (sronnx describe writes it into a copy).")(func)
    return click.option(
        "--input-range", type=click.Choice(["1", "255"]), default=None,
        help="The model's pixel values run 0..1 or 0..255 [default: its descriptor, else 1 "
             "(0..255 for uint8 models)]; for a model made elsewhere whose file does not "
             "say.")(func)


def model_overrides(input_range: str | None, bgr: bool):
    """The `sronnx.runtime.probe.Overrides` that --input-range and --bgr ask for, or None."""
    from sronnx.runtime import Overrides

    if input_range is None and not bgr:
        return None
    return Overrides(value_range=None if input_range is None else (0.0, float(input_range)),
                     channel_order="BGR" if bgr else None)


def cannot_start(message: str) -> click.ClickException:
    """An error for a command that cannot start (bad input, a refused request): printed as
    one line `Error: MESSAGE`, exit status 2, as click's usage errors."""
    err = click.ClickException(message)
    err.exit_code = 2
    return err


def check_scale(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """click callback for --scale: 2, 3 or 4 (None passes, for optional options)."""
    from sronnx.archs import scale_problem

    if value is not None and scale_problem(value):
        raise click.BadParameter(scale_problem(value), ctx=ctx, param=param)
    return value


def require_torch(feature: str) -> None:
    """Stop with a clear message (exit 2) when the `train` extra is not installed."""
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        err = click.ClickException(
            f"{feature} needs the training extra (torch, onnx): pip install 'sronnx[train]' "
            f"({exc})"
        )
        err.exit_code = 2
        raise err from exc
