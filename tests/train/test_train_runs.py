"""`sronnx train` runs hold no silent surprises: a fresh run never overwrites one, a resume
never silently trains something else (another architecture or scale) and warns once per option
it does not use, a longer resume never jumps the learning rate back up (the schedule's
extension rule), and x1 is refused by train and export.

Real training on a few T91 images with the tiny RSP; click's runner, in-process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from helpers import RSP, invoke, train_args  # noqa: E402

from sronnx.archs.registry import create_model  # noqa: E402
from sronnx.train.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from sronnx.train.trainer import (  # noqa: E402
    FINAL_LR_FACTOR,
    LrSchedule,
    RunExistsError,
    TrainConfig,
    _lr_factor,
    extend_schedule,
    train,
)

ARCH = RSP  # the architecture helpers.train_args trains


def _log(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


# ------------------------------------------------------------------ 1. a run is never overwritten


def test_train_refuses_a_folder_that_holds_a_run(train_images: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, text = invoke(*train_args(train_images, run, "--steps", "2"))
    assert code == 0, text
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, text = invoke(*train_args(train_images, run, "--steps", "3"))
    assert code == 2, text
    assert str(run) in text and "--resume" in text and "another --out" in text
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing overwritten
    # the library raises the specific error, before writing anything
    with pytest.raises(RunExistsError) as info:
        train(TrainConfig(arch=ARCH, scale=2, data=str(train_images), out=str(run), steps=3))
    assert info.value.folder == run and "last.pt" in info.value.found
    # a log without a checkpoint (a run killed early) is a run too, with no last.pt to resume
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "log.jsonl").write_text('{"step": 1, "loss": 0.1}\n')
    code, text = invoke(*train_args(train_images, partial, "--steps", "2"))
    assert code == 2 and str(partial) in text and "no last.pt" in text, text
    assert (partial / "log.jsonl").read_text() == '{"step": 1, "loss": 0.1}\n'
    assert sorted(p.name for p in partial.iterdir()) == ["log.jsonl"]


# ------------------------------------------------------- 2. resume trains what the run trains


def test_resume_refuses_another_arch_or_scale(train_images: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, text = invoke(*train_args(train_images, run, "--steps", "2"))
    assert code == 0, text
    args = train_args(train_images, run, "--steps", "4", "--resume")
    other_arch = [*args]
    other_arch[other_arch.index(ARCH)] = "espcn"
    code, text = invoke(*other_arch)
    assert code == 2 and ARCH in text and "espcn" in text, text
    other_scale = [*args]
    other_scale[other_scale.index("--scale") + 1] = "3"
    code, text = invoke(*other_scale)
    assert code == 2 and "--scale 2" in text and "--scale 3" in text, text
    assert "Traceback" not in text
    assert load_checkpoint(run / "last.pt")["step"] == 2  # neither trained
    # the same architecture written another way (order, a default spelled out) resumes
    same = [*args]
    same[same.index(ARCH)] = "rsp:blocks=1,channels=8,act=prelu"
    code, text = invoke(*same)
    assert code == 0, text
    assert load_checkpoint(run / "last.pt")["step"] == 4


def test_resume_warns_once_per_option_it_does_not_use(train_images: Path,
                                                      tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, text = invoke(*train_args(train_images, run, "--steps", "2", "--lr", "0.002"))
    assert code == 0, text
    # --batch 4 and --patch 16 are given again unchanged; --seed, --loss ... are left at
    # their defaults: none of those may warn. --lr, --degradation and --warmup differ.
    code, text = invoke(*train_args(train_images, run, "--steps", "3", "--resume", "--lr", "0.01",
                                    "--degradation", "photo", "--warmup", "1"))
    assert code == 0, text
    warnings = [line for line in text.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 3, text
    assert any("--lr 0.01" in w and "0.002 is kept" in w for w in warnings), warnings
    assert any("--degradation photo" in w and "bicubic is kept" in w for w in warnings)
    assert any("--warmup 1" in w and "0 is kept" in w for w in warnings)
    cfg = load_checkpoint(run / "last.pt")["config"]
    assert (cfg["lr"], cfg["degradation"], cfg["warmup"]) == (0.002, "bicubic", 0)
    assert cfg["steps"] == 3


# ------------------------------------------------------------ 3. a longer resume does not jump


class _Killed(Exception):
    pass


def _kill_at(step: int):
    def check(progress) -> None:
        if progress.step == step:
            raise _Killed

    return check


def test_longer_resume_continues_the_learning_rate(train_images: Path, tmp_path: Path) -> None:
    """Stopped at step 16 of 20 and resumed to 40: the rate goes on from where it was down to
    the final value, never back up towards the peak; and the extended schedule is saved, so
    a second resume of the extension is exact."""
    base = dict(arch=ARCH, scale=2, data=str(train_images), batch=4, patch=16, lr=1e-3,
                val_every=8, ckpt_every=8, seed=2, threads=1)
    a, b = tmp_path / "a", tmp_path / "b"
    for run in (a, b):
        with pytest.raises(_Killed):
            train(TrainConfig(**base, steps=20, out=str(run)), on_progress=_kill_at(16))
    train(TrainConfig(**base, steps=40, out=str(a)), resume=True)
    lrs = {r["step"]: r["lr"] for r in _log(a)}
    assert sorted(lrs) == list(range(1, 41))
    at_stop, after = lrs[16], lrs[17]
    # the old rule took the factor from the new total: 0.62 of the peak at step 17, 6x more
    assert 0.9 * at_stop <= after <= at_stop, (at_stop, after)
    tail = [lrs[s] for s in range(16, 41)]
    assert all(x >= y for x, y in zip(tail, tail[1:], strict=False)), tail
    assert tail[-1] == pytest.approx(FINAL_LR_FACTOR * 1e-3, rel=1e-9)
    assert tail[0] > 5 * tail[-1]  # it really decreases, not a flat line
    # b: the same, but the extended run is itself killed and resumed
    with pytest.raises(_Killed):
        train(TrainConfig(**base, steps=40, out=str(b)), resume=True,
              on_progress=_kill_at(32))
    train(TrainConfig(**base, steps=40, out=str(b)), resume=True)
    assert [r["lr"] for r in _log(b)] == pytest.approx(list(lrs.values()), rel=1e-12)
    wa, wb = load_checkpoint(a / "last.pt")["model"], load_checkpoint(b / "last.pt")["model"]
    for key, tensor in wa.items():
        torch.testing.assert_close(wb[key], tensor, atol=1e-6, rtol=0)


def test_schedule_extension_rule() -> None:
    """The rule on its own: same total unchanged; a finished cosine stays at its final value;
    a resume during warmup stretches the cosine; step and constant schedules unchanged."""
    cosine = TrainConfig(arch=ARCH, scale=2, data=".", out=".", steps=100)
    plain = LrSchedule(100)
    assert extend_schedule(cosine, plain, 40, 100) == plain
    done = extend_schedule(cosine, plain, 100, 200)
    factor = _lr_factor(cosine, done)
    assert [factor(s) for s in (100, 150, 200, 300)] == pytest.approx([FINAL_LR_FACTOR] * 4)
    mid = _lr_factor(cosine, extend_schedule(cosine, plain, 50, 200))
    old = _lr_factor(cosine, plain)
    assert mid(50) == pytest.approx(old(50)) and mid(51) <= old(50)
    assert mid(200) == pytest.approx(FINAL_LR_FACTOR)
    warm = TrainConfig(**{**cosine.__dict__, "warmup": 10})
    assert extend_schedule(warm, plain, 5, 200) == LrSchedule(200)
    step = TrainConfig(**{**cosine.__dict__, "schedule": "step"})
    assert extend_schedule(step, plain, 50, 200) == plain
    # JSON round trip, as stored in the checkpoint
    twice = extend_schedule(cosine, extend_schedule(cosine, plain, 50, 200), 120, 300)
    assert LrSchedule.from_json(json.loads(json.dumps(twice.to_json()))) == twice


# ------------------------------------------------------------------------------ 4. no x1


def test_scale_1_is_refused_by_train_and_export(train_images: Path, tmp_path: Path) -> None:
    code, text = invoke("train", "--arch", ARCH, "--scale", "1", "--data", str(train_images),
                        "--steps", "1", "--out", str(tmp_path / "run"))
    assert code == 2 and "2, 3 or 4" in text and "x1" in text, text
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="2, 3 or 4"):
        train(TrainConfig(arch=ARCH, scale=1, data=str(train_images), out=str(tmp_path / "r"),
                          steps=1))
    assert not (tmp_path / "r").exists()
    out = tmp_path / "m.onnx"
    code, text = invoke("export", "--arch", ARCH, "--scale", "1", "-o", str(out))
    assert code == 2 and "2, 3 or 4" in text and "x1" in text, text
    code, text = invoke("export", "--arch", ARCH, "--scale", "5", "-o", str(out))
    assert code == 2 and "not 5" in text, text
    # a x1 checkpoint written before this rule
    model = create_model(ARCH, 1)
    ckpt = tmp_path / "x1.pt"
    save_checkpoint(ckpt, {"arch": "rsp", "spec": model.spec(), "scale": 1,
                           "model": model.state_dict(), "step": 1})
    code, text = invoke("export", str(ckpt), "-o", str(out))
    assert code == 2 and "x1.pt" in text and "2, 3 or 4" in text, text
    assert "Traceback" not in text and not out.exists()
