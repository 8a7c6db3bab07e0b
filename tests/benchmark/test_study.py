"""The architecture study: the recipe covers the issue's questions, and `--quick` trains,
resumes after a stop, skips finished runs and writes every report."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from helpers import ROOT, data_dir  # noqa: E402

from sronnx.archs.registry import create_model, parse_spec  # noqa: E402
from sronnx.benchmark.recipe import load_recipe  # noqa: E402
from sronnx.benchmark.study import StudyError, run_study  # noqa: E402
from sronnx.cli import main  # noqa: E402

RECIPE = ROOT / "bench" / "study.json"
ACTIVATIONS = {"relu", "leaky_relu", "prelu", "elu", "gelu", "softplus", "hardtanh", "tanh",
               "sigmoid"}
PNG = b"\x89PNG\r\n\x1a\n"


def _kwargs(recipe, variant: str) -> tuple[str, dict]:
    return parse_spec(recipe.variants[variant])


def test_recipe_covers_every_question_of_the_issue() -> None:
    recipe = load_recipe(RECIPE)
    q = recipe.questions
    assert recipe.scale == 2 and recipe.threads == 2
    assert [p.name for p in recipe.val] == ["Set5", "Set14"]
    assert recipe.rel(recipe.train) == "../shared/data/train"
    assert sorted(_kwargs(recipe, v)[0] for v in q["depth"]) == ["cae2", "cae3", "cae4"]
    assert {_kwargs(recipe, v)[1].get("kernel", 4) for v in q["kernel"]} == {4, 6}
    assert {_kwargs(recipe, v)[1].get("down", "conv") for v in q["downsampling"]} == \
        {"conv", "pool"}
    assert {_kwargs(recipe, v)[1].get("act", "relu") for v in q["activation"]} == ACTIVATIONS
    assert {_kwargs(recipe, v)[1].get("norm", "none") for v in q["normalization"]} == \
        {"none", "batch"}
    assert {_kwargs(recipe, v)[1].get("bottleneck", "conv") for v in q["bottleneck"]} == \
        {"conv", "fc"}
    assert {_kwargs(recipe, v)[0] for v in q["references"]} >= {"espcn", "fsrcnn"}
    # one budget for all; every variant of the full study is run and builds
    assert set(recipe.selected) == set(recipe.variants)
    assert recipe.runs().count((recipe.reference, 1)) == 1  # the reference has several seeds
    for variant, spec in recipe.variants.items():
        model = create_model(spec, recipe.scale)
        fixed = model.fixed_input_size()
        if fixed:  # the fc bottleneck sees exactly the training patch
            assert fixed[0] * recipe.scale == recipe.budget["patch"], variant


def _log_steps(run_dir: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run_dir / "log.jsonl").read_text().splitlines()]


class _Stop(Exception):
    pass


def test_quick_study_stops_resumes_skips_and_reports(tmp_path: Path) -> None:
    data_dir("train")
    data_dir("test", "Set5")
    recipe = load_recipe(RECIPE, quick=True)
    out = tmp_path / "study"

    def stop_in_espcn(message: str) -> None:
        if message.startswith("espcn seed 0: step 1/"):
            raise _Stop

    with pytest.raises(_Stop):  # as if the study were killed in the middle of a run
        run_study(recipe, out, stop_in_espcn)
    espcn = out / "runs" / "espcn" / "seed0"
    assert (espcn / "last.pt").is_file() and not (espcn / "result.json").exists()
    assert _log_steps(espcn) == [1]

    events: list[str] = []
    data = run_study(recipe, out, events.append, command="sronnx bench study --quick")
    assert "cae3 seed 0: done, skipped" in events and "cae3 seed 1: done, skipped" in events
    assert any(e.startswith("espcn seed 0: resuming from step 1") for e in events)
    assert _log_steps(espcn) == [1, 2, 3]

    runs = {(r["variant"], r["seed"]) for r in data["runs"]}
    assert runs == {("cae3", 0), ("cae3", 1), ("cae3-fc", 0), ("espcn", 0)}
    for r in data["runs"]:
        assert r["steps"] == 3 and r["params"] > 0 and r["macs_per_pixel"] > 0
        assert 0 < r["ssim_y"] < 1 and 0 < r["mse"] < 1 and r["psnr_y"] > 0
        assert r["val"]["Set5"]["images"] == 5
        assert r["speed"]["mp_per_s"] > 0 and r["speed"]["threads"] == recipe.threads
        assert (out / r["curve"]).read_bytes()[:8] == PNG
    fc = next(r for r in data["runs"] if r["variant"] == "cae3-fc")
    assert fc["speed"]["input_size"] == "32x32"  # a fixed-size model is timed at its size
    ref = data["variants"]["cae3"]
    assert ref["seeds"] == 2 and ref["psnr_spread"] is not None and ref["psnr_spread"] >= 0
    assert data["baseline"]["Set5"]["psnr_y"] > 0
    assert data["machine"]["kind"] == "machine"
    for question in recipe.questions:
        assert (out / "overlays" / f"{question}.png").read_bytes()[:8] == PNG
    md = (out / "results.md").read_text()
    assert "sronnx bench study --quick" in md and "Machine:" in md
    assert "## activation" in md and "Seed spread" in md
    json.loads((out / "results.json").read_text())

    # the exported model carries its study run in its card
    from sronnx.runtime.session import load_model

    card = load_model(espcn / "model.onnx").info.card
    assert card.training.study == "espcn" and card.training.steps == 3

    # the command: everything done, nothing retrained
    mtime = (espcn / "last.pt").stat().st_mtime_ns
    result = CliRunner().invoke(main, ["bench", "study", "--quick", "--recipe", str(RECIPE),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "study: 4 runs" in result.stdout and "espcn seed 0: done, skipped" in result.stderr
    assert (espcn / "last.pt").stat().st_mtime_ns == mtime

    # other settings never mix with these runs
    changed = replace(recipe, budget={**recipe.budget, "lr": 0.01})
    with pytest.raises(StudyError, match="other settings"):
        run_study(changed, out)


def test_plan_estimates_the_duration() -> None:
    data_dir("train")
    result = CliRunner().invoke(main, ["bench", "study", "--quick", "--plan", "--recipe",
                                       str(RECIPE)])
    assert result.exit_code == 0, result.output
    assert "4 runs of 3 steps on 2 threads" in result.stdout
    assert "ms/step" in result.stderr


def test_study_finds_its_recipe_from_any_folder(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["bench", "study", "--quick", "--plan", "--variants",
                                  "espcn", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "runs of" in r.output
    assert not (tmp_path / "sronnx-study").exists()  # --plan writes nothing
    help_text = CliRunner().invoke(main, ["bench", "study", "--help"]).output
    assert "./sronnx-study" in help_text
