"""`sronnx bench --degradations`: the robustness benchmark on a tiny data set and a tiny
exported model, its gains and shares checked against a computation made here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from helpers import ROOT, bench, data_dir
from PIL import Image

from sronnx.benchmark.rows import ROBUST_KEYS, ROW_KEYS
from sronnx.train.degradations import NAMED, degrade_named

DEGRADATIONS = ["clean", "jpeg50", "noise10"]
CROPS = {"baby.png": (200, 100), "bird.png": (60, 80), "head.png": (120, 90)}  # (x, y)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 49x41 crops of Set5 (odd sizes: the crop to a multiple of the scale matters)."""
    src = data_dir("test", "Set5")
    folder = tmp_path_factory.mktemp("tiny") / "tiny"
    folder.mkdir()
    for name, (x, y) in CROPS.items():
        Image.open(src / name).convert("RGB").crop((x, y, x + 49, y + 41)).save(folder / name)
    return folder


@pytest.fixture(scope="module")
def robust_run(tiny_set: Path, exported_models, tmp_path_factory: pytest.TempPathFactory
               ) -> dict:
    model = exported_models("rsp:channels=8,blocks=1", 2)
    out = tmp_path_factory.mktemp("robust")
    code, stdout, stderr = bench("--models", str(model), "--data", str(tiny_set),
                                 "--scales", "2", "--no-speed",
                                 "--degradations", ",".join(DEGRADATIONS),
                                 "--json", str(out / "r.json"), "--md", str(out / "r.md"),
                                 "--plot", str(out / "r.png"))
    assert code == 0, stderr
    return {"rows": json.loads((out / "r.json").read_text()), "stdout": stdout,
            "stderr": stderr, "out": out, "model": model, "name": model.stem}


def _row(rows: list[dict], model: str, degradation: str) -> dict:
    found = [r for r in rows if r["kind"] == "quality" and r["model"] == model
             and r.get("degradation") == degradation]
    assert len(found) == 1, (model, degradation, found)
    return found[0]


def _psnr_y(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    def luma(a: np.ndarray) -> np.ndarray:
        a = a.astype(np.float64)
        return 16 + (65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255

    err = (luma(sr) - luma(hr))[border:-border, border:-border]
    return 10 * math.log10(255**2 / np.mean(err**2))


def test_rows_for_every_degradation(robust_run: dict) -> None:
    rows = [r for r in robust_run["rows"] if r["kind"] == "quality"]
    assert sorted((r["model"], r["degradation"]) for r in rows) == sorted(
        (m, d) for m in ("bicubic", robust_run["name"]) for d in DEGRADATIONS)
    for r in rows:
        assert list(r) == list(ROW_KEYS + ROBUST_KEYS), r
        assert r["images"] == len(CROPS) and r["scale"] == 2 and r["dataset"] == "tiny"
        assert 15 < r["psnr_y"] < 60 and 0 < r["ssim_y"] <= 1
        assert r["worse_share"] == pytest.approx(r["worse"] / r["images"])
    for d in DEGRADATIONS:
        bicubic = _row(rows, "bicubic", d)
        assert bicubic["gain_db"] == 0 and bicubic["worse"] == 0 and bicubic["worse_share"] == 0
        assert bicubic["runtime"] == "pillow"
    # the degradations hurt bicubic
    assert _row(rows, "bicubic", "clean")["psnr_y"] > _row(rows, "bicubic", "jpeg50")["psnr_y"]
    assert _row(rows, "bicubic", "clean")["psnr_y"] > _row(rows, "bicubic", "noise10")["psnr_y"]


def test_clean_rows_match_a_plain_run(robust_run: dict, tiny_set: Path,
                                      tmp_path: Path) -> None:
    code, _, stderr = bench("--models", str(robust_run["model"]), "--data", str(tiny_set),
                            "--scales", "2", "--no-speed", "--json", str(tmp_path / "r.json"))
    assert code == 0, stderr
    plain = [r for r in json.loads((tmp_path / "r.json").read_text()) if r["kind"] == "quality"]
    assert plain and all(list(r) == list(ROW_KEYS) for r in plain)  # no robustness keys
    for r in plain:
        clean = _row(robust_run["rows"], r["model"], "clean")
        assert {k: clean[k] for k in ROW_KEYS} == r


@pytest.mark.parametrize("degradation", ["noise10", "jpeg50"])
def test_gain_and_share_by_hand(robust_run: dict, tiny_set: Path, degradation: str) -> None:
    """Every image degraded here (seed = its index in the sorted folder), upscaled by the
    model through its own session and by Pillow bicubic, PSNR-Y computed here."""
    session = ort.InferenceSession(str(robust_run["model"]),
                                   providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    gains, psnrs = [], []
    for i, file in enumerate(sorted(CROPS)):
        lr, hr = degrade_named(degradation, Image.open(tiny_set / file), 2, seed=i)
        hr = np.asarray(hr)
        assert hr.shape == (40, 48, 3)
        x = (np.asarray(lr, dtype=np.float32) / 255).transpose(2, 0, 1)[None]
        y = session.run(None, {name: x})[0][0].transpose(1, 2, 0)
        sr = np.clip(np.round(y * 255), 0, 255).astype(np.uint8)
        bic = np.asarray(lr.resize((48, 40), Image.BICUBIC))
        psnr = _psnr_y(sr, hr, 2)
        psnrs.append(psnr)
        gains.append(psnr - _psnr_y(bic, hr, 2))
    row = _row(robust_run["rows"], robust_run["name"], degradation)
    assert row["psnr_y"] == pytest.approx(np.mean(psnrs), abs=1e-6)
    assert row["gain_db"] == pytest.approx(np.mean(gains), abs=1e-6)
    assert row["worse"] == sum(g < 0 for g in gains)
    assert row["worse_share"] == pytest.approx(sum(g < 0 for g in gains) / len(gains))
    bicubic = _row(robust_run["rows"], "bicubic", degradation)
    assert row["gain_db"] == pytest.approx(row["psnr_y"] - bicubic["psnr_y"], abs=1e-9)


def test_markdown_terminal_and_plot(robust_run: dict) -> None:
    md = (robust_run["out"] / "r.md").read_text()
    assert "| model | scale | dataset | degradation | PSNR-Y dB | SSIM-Y | gain dB | worse |" \
        in md
    assert "## Robustness" in md and "### x2" in md
    assert "| model | dataset | clean | jpeg50 | noise10 |" in md
    assert "| bicubic | tiny | +0.00 (0%) | +0.00 (0%) | +0.00 (0%) |" in md
    row = _row(robust_run["rows"], robust_run["name"], "noise10")
    cell = f"{row['gain_db']:+.2f} ({row['worse_share']:.0%})"
    assert any(line.startswith(f"| {robust_run['name']} | tiny |") and cell in line
               for line in md.splitlines())
    assert "--degradations clean,jpeg50,noise10" in md  # the command, to rerun it
    assert any(line.split()[:4] == [robust_run["name"], "x2", "tiny", "jpeg50"]
               for line in robust_run["stdout"].splitlines())
    pytest.importorskip("matplotlib")
    assert (robust_run["out"] / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (robust_run["out"] / "r-tradeoff.png").exists()  # --no-speed: no trade-off


def test_unknown_degradation_is_refused_with_the_known_names() -> None:
    code, _, stderr = bench("--degradations", "clean,blur3", "--no-speed")
    assert code == 2, stderr
    assert "blur3" in stderr and all(n in stderr for n in NAMED)
    assert "Traceback" not in stderr
    code, _, stderr = bench("--degradations", ",", "--no-speed")
    assert code == 2 and "empty" in stderr
    code, _, stderr = bench("--degradations", "jpeg50", "--no-quality")
    assert code == 2 and "--no-quality" in stderr


def test_named_degradations_are_seeded_and_clean_is_the_protocol() -> None:
    from sronnx.imaging.degrade import make_pair

    hr = Image.open(data_dir("test", "Set5") / "bird.png").convert("RGB").crop((0, 0, 31, 29))
    lr, hr_c = degrade_named("clean", hr, 2)
    ref_lr, ref_hr = make_pair(hr, 2)
    assert np.array_equal(np.asarray(lr), np.asarray(ref_lr))
    assert np.array_equal(np.asarray(hr_c), np.asarray(ref_hr))
    for name in NAMED:
        a, _ = degrade_named(name, hr, 2, seed=3)
        b, _ = degrade_named(name, hr, 2, seed=3)
        assert a.size == (15, 14) and np.array_equal(np.asarray(a), np.asarray(b)), name
    with pytest.raises(ValueError):
        degrade_named("nope", hr, 2)


def test_readme_documents_every_degradation() -> None:
    """bench/README.md lists each name of NAMED with its description (regenerate the table
    from NAMED when the descriptions change)."""
    readme = (ROOT / "bench" / "README.md").read_text()
    assert "## Robustness: `sronnx bench --degradations`" in readme
    for name, description in NAMED.items():
        assert f"| `{name}` | {description} |" in readme, name


def test_plot_points_pool_datasets_and_tradeoff_keeps_clean_rows() -> None:
    from sronnx.benchmark.plot import robustness_points, tradeoff_points
    from sronnx.benchmark.rows import make_row

    def q(model: str, dataset: str, degradation: str, psnr: float, gain: float,
          images: int) -> dict:
        return make_row("quality", model=model, source="file", scale=2, dataset=dataset,
                        psnr_y=psnr, images=images, degradation=degradation, gain_db=gain,
                        worse=0, worse_share=0.0)

    rows = [q("m", "A", "clean", 30.0, 1.0, 1), q("m", "B", "clean", 32.0, 2.0, 3),
            q("m", "A", "jpeg50", 20.0, -1.0, 1), q("m", "B", "jpeg50", 22.0, 1.0, 3),
            make_row("speed", model="m", source="file", scale=2, runtime="cpu", mp_per_s=5.0)]
    names, gains = robustness_points(rows)[2]
    assert names == ["clean", "jpeg50"]
    assert gains["m"] == pytest.approx([(1.0 + 3 * 2.0) / 4, (-1.0 + 3 * 1.0) / 4])
    assert tradeoff_points(rows) == {2: [("m (cpu)", 5.0, 31.0)]}  # degraded rows left out


def test_default_rule_as_a_subject(tiny_set: Path, tmp_path: Path) -> None:
    """`--models default`: per image the clean or photo shipped default, by the rule; its
    rows say which share of the images got the photo model, and its scores are those of the
    model each image got."""
    from sronnx.benchmark.quality import (
        RuleUpscaler,
        degraded_pairs,
        load_dataset,
        onnx_upscaler,
        score_pairs,
    )
    from sronnx.core.shipped import default_model_name, resolve_model

    try:
        photo = default_model_name(3, "cpu", "photo")
    except LookupError:
        pytest.skip("no shipped x3 photo model")
    try:  # JPEG inputs get the JPEG model where the scale ships one
        photo = default_model_name(3, "cpu", "jpeg")
    except LookupError:
        pass
    code, _, stderr = bench("--models", "default", "--models", "rsp-x3-int8", "--data",
                            str(tiny_set), "--scales", "3", "--no-speed", "--degradations",
                            "clean,jpeg50", "--json", str(tmp_path / "r.json"))
    assert code == 0, stderr
    rows = json.loads((tmp_path / "r.json").read_text())
    jpeg, clean = _row(rows, "default", "jpeg50"), _row(rows, "default", "clean")
    assert jpeg["photo_share"] == 1.0 and jpeg["source"] == "rule"
    assert 0.0 <= clean["photo_share"] <= 1.0
    assert _row(rows, "rsp-x3-int8", "jpeg50")["photo_share"] is None
    data = load_dataset(tiny_set)
    pairs = degraded_pairs(data, 3, "jpeg50")
    want = score_pairs(onnx_upscaler(resolve_model(photo)), pairs, 3)
    assert jpeg["psnr_y"] == pytest.approx(np.mean([s["psnr_y"] for s in want]), abs=1e-9)
    rule = RuleUpscaler(3)
    score_pairs(rule, degraded_pairs(data, 3, "clean"), 3)
    assert rule.calls == 3 and rule.photo == round(clean["photo_share"] * 3)
