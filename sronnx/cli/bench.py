"""`sronnx bench`: quality and speed per model, dataset and runtime; `sronnx bench study`: the
architecture study (trains, so it needs torch).

`sronnx bench` is a group whose default command is `run`, so `sronnx bench --data A B` and
`sronnx bench study --quick` both work: a first word that is not a sub-command is the start
of the benchmark's own options.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click


class _DefaultGroup(click.Group):
    """A group that runs `default` when the first word is not one of its commands."""

    default = "run"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = [self.default, *args]
        return super().parse_args(ctx, args)


class _DefaultCommand(click.Command):
    """The default command shows its usage as the group's (`sronnx bench [OPTIONS]`)."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        path = ctx.parent.command_path if ctx.parent else ctx.command_path
        formatter.write_usage(path, " ".join(self.collect_usage_pieces(ctx)))


@click.group(cls=_DefaultGroup)
def bench() -> None:
    """Measure quality and speed per model and runtime (`sronnx bench --help`), or run the
    architecture study (`sronnx bench study --help`)."""


def _fail(message: str, code: int = 2) -> click.ClickException:
    err = click.ClickException(message)
    err.exit_code = code
    return err


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError as exc:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}",
                                 param_hint=what) from exc
    if not values:
        raise click.BadParameter("empty list", param_hint=what)
    return values


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
        raise click.BadParameter(f"expected WxH such as 960x540, got {text!r}",
                                 param_hint="--size")
    return int(w), int(h)


def _command_line(prefix: str) -> str:
    """The command as given, rebuilt from the options set on the command line (not from
    sys.argv, which is not the command when sronnx is called from Python)."""
    ctx = click.get_current_context()
    words, trailing = prefix.split(), []
    for param in ctx.command.params:
        if ctx.get_parameter_source(param.name) != click.core.ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        if isinstance(param, click.Argument):
            trailing += list(value) if isinstance(value, tuple) else [str(value)]
            continue
        flag = max(param.opts, key=len)
        if getattr(param, "is_flag", False):
            words += [flag] if value else []
        elif isinstance(value, tuple):
            for v in value:
                words += [flag, str(v)]
        else:
            words += [flag, str(value)]
    return shlex.join(words + trailing)


@bench.command("run", cls=_DefaultCommand)
@click.argument("more", nargs=-1, metavar="[DIR|MODEL]...")
@click.option("--models", "models", multiple=True, metavar="NAME|PATH",
              help="Shipped model name or .onnx file (repeatable) [default: every shipped "
                   "model at --scales]; 'default': what sronnx upscale gives without --model, "
                   "the clean or photo model per input by the rule (quality only).")
@click.option("--data", "data", multiple=True, metavar="DIR",
              help="Folder of HR images, one dataset each (repeatable; further folders may "
                   "follow: --data A B).")
@click.option("--scales", default="2,3,4", show_default=True,
              help="Scales to measure (bicubic rows and model filter).")
@click.option("--runtimes", default=None,
              help="Comma-separated of torch, cpu, cuda, tensorrt, openvino, dml, coreml "
                   "(ONNX Runtime's providers by name; one this onnxruntime build lacks is "
                   "skipped with the reason) [default: torch (if installed), cpu, cuda (if "
                   "usable)].")
@click.option("--size", default=None, metavar="WxH",
              help="Input size for speed [default: output 1920x1080 per scale].")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="CPU threads per runtime [default: every CPU available].")
@click.option("--warmup", type=click.IntRange(0), default=2, show_default=True)
@click.option("--repeats", type=click.IntRange(1), default=10, show_default=True,
              help="Timed runs at least.")
@click.option("--min-time", type=click.FloatRange(0), default=1.0, show_default=True,
              help="Keep timing (up to 1000 runs) until this many seconds were measured.")
@click.option("--peer-opencv", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of OpenCV dnn_superres .pb models to compare with (needs "
                   "opencv-contrib-python-headless).")
@click.option("--degradations", default=None, metavar="LIST",
              help="Robustness: score quality on each of these degraded inputs (comma-"
                   "separated: clean, jpeg90, jpeg75, jpeg50, jpeg30, noise5, noise10, area, "
                   "lanczos), with the gain over bicubic and the share of images worse "
                   "[default: clean only, no robustness columns].")
@click.option("--no-quality", is_flag=True, help="Speed rows only.")
@click.option("--no-speed", is_flag=True, help="Quality rows only.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Write the rows as a JSON list (machine row first).")
@click.option("--md", "md_path", type=click.Path(dir_okay=False), default=None,
              help="Write a Markdown report.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write a PNG of PSNR against throughput with the Pareto front; with "
                   "--degradations the gain over bicubic per degradation (and the trade-off "
                   "to FILE-tradeoff.png when speed is measured).")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def run(**params: Any) -> None:
    """Quality (PSNR/SSIM on Y, MSE) per model and dataset, and speed per model and runtime,
    always beside the bicubic baseline.

    Trailing DIR|MODEL arguments are added to --data when they are folders and to --models
    otherwise, so `sronnx bench --data Set5 Set14` measures both sets. The architecture
    study is `sronnx bench study` (see its --help).

    \b
    Examples:
      sronnx bench --data ../shared/data/test/Set5 ../shared/data/test/Set14 --json r.json
      sronnx bench --models rsp-x2 model.onnx --runtimes cpu --size 480x270 --md r.md
      sronnx bench --data ../shared/data/test/Set5 --no-speed \\
          --degradations clean,jpeg50,noise10 --md r.md --plot r.png
    """
    from sronnx.benchmark import BenchInputError, RuntimeUnavailable, format_text, run_benchmark

    args = RunArgs(**params)
    if args.no_quality and args.no_speed:
        raise click.UsageError("--no-quality and --no-speed leave nothing to measure")
    cfg = _bench_config(args)

    def progress(message: str) -> None:
        if not args.quiet or message.startswith("skipping"):
            click.echo(message, err=True)

    try:
        rows = run_benchmark(cfg, progress)
    except BenchInputError as exc:
        raise _fail(str(exc)) from exc
    except RuntimeUnavailable as exc:
        raise _fail(f"no requested runtime can run here: {exc}") from exc
    click.echo(format_text(rows), nl=False)
    _write_reports(args, rows, robustness=cfg.degradations is not None)


@dataclass(frozen=True)
class RunArgs:
    """`sronnx bench`'s options as parsed (see each option's --help)."""

    more: tuple[str, ...]
    models: tuple[str, ...]
    data: tuple[str, ...]
    scales: str
    runtimes: str | None
    size: str | None
    threads: int | None
    warmup: int
    repeats: int
    min_time: float
    peer_opencv: str | None
    degradations: str | None
    no_quality: bool
    no_speed: bool
    json_path: str | None
    md_path: str | None
    plot_path: str | None
    quiet: bool


def _bench_config(args: RunArgs):
    """The `sronnx.benchmark.BenchConfig` the options ask for: trailing folders are datasets
    and the other trailing words models; lists parsed (a bad one is a bad parameter)."""
    from sronnx.benchmark import BenchConfig

    datasets = list(args.data) + [m for m in args.more if Path(m).is_dir()]
    model_names = list(args.models) + [m for m in args.more if not Path(m).is_dir()]
    runtimes, degradations = args.runtimes, args.degradations
    return BenchConfig(
        models=model_names or None, datasets=datasets,
        scales=_int_list(args.scales, "--scales"),
        runtimes=[r.strip() for r in runtimes.split(",") if r.strip()] if runtimes else None,
        size=_size(args.size), threads=args.threads, warmup=args.warmup,
        repeats=args.repeats, min_time=args.min_time, peer_opencv=args.peer_opencv,
        quality=not args.no_quality, speed=not args.no_speed,
        degradations=degradations.split(",") if degradations is not None else None,
    )


def _write_reports(args: RunArgs, rows: list, robustness: bool) -> None:
    """--json, --md and --plot (with --degradations, `robustness`: the robustness plot, and
    the trade-off beside it when speed was measured), each said on standard error."""
    from sronnx.benchmark import format_markdown, write_json

    if args.json_path:
        click.echo(f"wrote {write_json(rows, args.json_path)}", err=True)
    if args.md_path:
        md_path = Path(args.md_path)
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(format_markdown(rows, _command_line("sronnx bench")))
        click.echo(f"wrote {args.md_path}", err=True)
    if args.plot_path:
        _write_plots(rows, args.plot_path, robustness, args.no_speed)


def _write_plots(rows: list, plot_path: str, robustness: bool, no_speed: bool) -> None:
    """The --plot files: PSNR against throughput; with --degradations (`robustness`) the
    gain over bicubic per degradation to FILE and, when speed was measured, the trade-off to
    FILE-tradeoff."""
    from sronnx.benchmark import sibling_path, write_plot, write_robustness_plot

    plots = [(write_plot, plot_path)]
    if robustness:
        # the robustness plot takes FILE; the trade-off, when speed was measured, FILE-tradeoff
        plots = [(write_robustness_plot, plot_path)]
        if not no_speed:
            plots.append((write_plot, sibling_path(plot_path, "tradeoff")))
    for writer, path in plots:
        try:
            written = writer(rows, path)
        except ValueError as exc:
            click.echo(f"no plot: {exc}", err=True)
        else:
            click.echo(f"wrote {written}" if written else "no plot: matplotlib is not "
                       "installed (pip install matplotlib)", err=True)


@bench.command("study")
@click.option("--recipe", "recipe_path", type=click.Path(dir_okay=False), default=None,
              help="The study's recipe (paths in it are relative to its `root`) [default: "
                   "bench/study.json here, else in the sronnx checkout it runs from].")
@click.option("--quick", is_flag=True,
              help="The recipe's quick section: the whole pipeline in about a minute (tests).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Results folder [default: ./sronnx-study, or with --quick a folder in the "
                   "temporary directory; the committed study is --out bench/results/study].")
@click.option("--seeds", type=click.IntRange(1), default=None,
              help="Seeds per variant (the reference keeps at least its own count).")
@click.option("--variants", default=None, help="Comma-separated subset of the variants.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Override the budget.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="Override the recipe's CPU threads.")
@click.option("--plan", is_flag=True,
              help="Only time a few steps of each variant and estimate the duration.")
@click.option("--quiet", is_flag=True, help="Only the summary.")
def study(out: str | None, plan: bool, quiet: bool, **recipe_options: Any) -> None:
    """Train every variant of the architecture study under one budget, score and time each,
    and write results.json, results.md, loss curves and one overlay per question.

    Resumable: run the same command again after a stop; finished runs are skipped and
    unfinished ones continue from their last checkpoint.
    """
    import tempfile

    from sronnx.cli import require_torch

    require_torch("sronnx bench study")
    from sronnx.benchmark import BenchInputError, RecipeError, StudyError, estimate, run_study
    from sronnx.train import DataError

    quick = recipe_options["quick"]
    try:  # --recipe and its overrides: --quick, --seeds, --variants, --steps, --threads
        recipe = _load_recipe(**recipe_options)
    except RecipeError as exc:
        raise _fail(str(exc)) from exc

    def progress(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)

    if plan:
        est = estimate(recipe, on_event=progress)
        click.echo(f"{len(recipe.runs())} runs of {recipe.budget['steps']} steps on "
                   f"{recipe.threads} threads: about {est['total_s'] / 3600:.2f} h "
                   f"(data loading {est['data_load_s']:.0f} s per run, "
                   f"{est['run_overhead_s']:.0f} s per run assumed for export and scoring)")
        return
    if out is None:  # never the committed results unless asked for by name
        out = str(Path(tempfile.gettempdir()) / "sronnx-study-quick") if quick \
            else "sronnx-study"
    try:
        data = run_study(recipe, out, progress, _command_line("sronnx bench study"))
    except (StudyError, BenchInputError, DataError) as exc:
        raise _fail(str(exc)) from exc
    target = Path(out) if out else recipe.out
    click.echo(f"study: {len(data['runs'])} runs, results in {target}/results.md")
    for line in data["reading"]:
        click.echo("  " + line.replace("**", ""))


def _load_recipe(recipe_path: str | None, quick: bool, seeds: int | None,
                 variants: str | None, steps: int | None, threads: int | None):
    """The study's recipe (`sronnx.benchmark.load_recipe`) with the options' overrides:
    --recipe, else bench/study.json here, else in the sronnx checkout it runs from; the
    --variants list parsed. Raises RecipeError."""
    from sronnx.benchmark import load_recipe

    if recipe_path is None:
        here = Path("bench/study.json")
        checkout = Path(__file__).resolve().parents[2] / "bench" / "study.json"
        recipe_path = str(here if here.is_file() or not checkout.is_file() else checkout)
    return load_recipe(recipe_path, quick=quick, seeds=seeds, steps=steps, threads=threads,
                       variants=[v.strip() for v in variants.split(",") if v.strip()]
                       if variants else None)
