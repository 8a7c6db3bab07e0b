"""`sronnx train` on real images: loss goes down, runs save, resume and stay loadable."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from sronnx.archs.registry import create_model, parse_spec  # noqa: E402
from sronnx.cli import main  # noqa: E402
from sronnx.train.checkpoint import (  # noqa: E402
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
)
from sronnx.train.data import PatchSampler, load_pairs  # noqa: E402
from sronnx.train.trainer import TrainConfig, train  # noqa: E402

FAMILIES = [
    "cae2:base=8",
    "cae3:base=8,kernel=6,down=pool",
    "cae2:base=8,bottleneck=fc,fixed=16,latent=16",
    "espcn",
    "fsrcnn",
    "rsp:channels=16,blocks=2",
]


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("arch", FAMILIES)
def test_every_family_learns_on_real_images(arch: str, train_images: Path,
                                            tmp_path: Path) -> None:
    torch.set_num_threads(2)
    cfg = TrainConfig(arch=arch, scale=2, data=str(train_images), out=str(tmp_path / "run"),
                      steps=60, batch=8, patch=32, lr=2e-3, schedule="constant", loss="mse",
                      val_every=60, seed=1)
    # A fixed batch of patches, scored with the initial and the trained weights.
    name, kw = parse_spec(arch)
    torch.manual_seed(cfg.seed)
    initial = create_model(name, 2, **kw)
    lr_np, hr_np = PatchSampler(load_pairs(train_images, 2), 2, 32, seed=99).batch(32)
    summary = train(cfg)
    trained = model_from_checkpoint(load_checkpoint(tmp_path / "run" / "last.pt"))
    with torch.no_grad():
        x, y = torch.from_numpy(lr_np), torch.from_numpy(hr_np)
        before = float(F.mse_loss(initial.eval()(x), y))
        after = float(F.mse_loss(trained(x), y))
    assert after < before, f"{arch}: MSE on a fixed batch went from {before:.5f} to {after:.5f}"
    assert len(_losses(tmp_path / "run")) == 60
    assert np.isfinite(summary["best_val_psnr_y"])
    for name in ("best.pt", "last.pt", "log.jsonl", "config.json", "loss_curve.png"):
        assert (tmp_path / "run" / name).is_file(), name


def test_resume_continues_exactly(train_images: Path, tmp_path: Path) -> None:
    """A run killed after step 10 and resumed == the same run straight through."""
    base = dict(arch="rsp:channels=8,blocks=1", scale=3, data=str(train_images), batch=4,
                patch=24, lr=1e-3, val_every=5, ckpt_every=5, seed=3, threads=1, steps=20)
    train(TrainConfig(**base, out=str(tmp_path / "a")))

    class Killed(Exception):
        pass

    def kill_at_10(progress) -> None:
        if progress.step == 10:
            raise Killed

    with pytest.raises(Killed):
        train(TrainConfig(**base, out=str(tmp_path / "b")), on_progress=kill_at_10)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step"] == 10
    train(TrainConfig(**base, out=str(tmp_path / "b")), resume=True)
    a = load_checkpoint(tmp_path / "a" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "last.pt")
    assert a["step"] == b["step"] == 20
    for key, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][key], tensor, atol=1e-6, rtol=0)
    assert _losses(tmp_path / "a") == pytest.approx(_losses(tmp_path / "b"), abs=1e-6)


def test_cli_train_and_resume(train_images: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--arch", "espcn", "--scale", "3", "--data", str(train_images),
            "--out", str(out), "--batch", "4", "--patch", "30", "--val-every", "5",
            "--threads", "1"]
    r = runner.invoke(main, [*args, "--steps", "6"])
    assert r.exit_code == 0, r.output
    assert "best validation PSNR-Y" in r.output
    r = runner.invoke(main, [*args, "--steps", "9", "--resume"])
    assert r.exit_code == 0, r.output
    assert load_checkpoint(out / "last.pt")["step"] == 9


def test_cli_train_bad_data_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"definitely not a png")
    r = CliRunner().invoke(main, ["train", "--arch", "espcn", "--scale", "2", "--data",
                                  str(tmp_path), "--steps", "1", "--out", str(tmp_path / "o")])
    assert r.exit_code != 0
    assert "bad.png" in r.output
    r = CliRunner().invoke(main, ["train", "--arch", "nope", "--scale", "2", "--data",
                                  str(tmp_path), "--steps", "1", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "unknown architecture" in r.output


class _Evil:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/sronnx_pwned_marker"),))


def test_checkpoint_loading_never_runs_code(tmp_path: Path) -> None:
    marker = Path("/tmp/sronnx_pwned_marker")
    marker.unlink(missing_ok=True)
    evil = tmp_path / "evil.pt"
    torch.save({"format": "sronnx-checkpoint", "payload": _Evil()}, evil, pickle_protocol=2)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(evil)
    assert not marker.exists()
    junk = tmp_path / "junk.pt"
    junk.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(junk)


def test_a_copied_run_resumes_in_its_new_folder(train_images: Path, tmp_path: Path) -> None:
    """Runs are snapshotted and moved between machines: resume writes where it now lives."""
    import shutil

    base = dict(arch="espcn:f1=8,f2=8", scale=2, data=str(train_images), batch=2, patch=16,
                val_every=2, ckpt_every=2, threads=1)
    train(TrainConfig(**base, out=str(tmp_path / "old"), steps=2))
    shutil.copytree(tmp_path / "old", tmp_path / "new")
    shutil.rmtree(tmp_path / "old")
    train(TrainConfig(**base, out=str(tmp_path / "new"), steps=4), resume=True)
    assert load_checkpoint(tmp_path / "new" / "last.pt")["step"] == 4
    assert not (tmp_path / "old").exists()


def test_init_starts_from_a_checkpoint_and_refuses_another_architecture(
        train_images: Path, tmp_path: Path) -> None:
    """--init (fine-tuning): the run starts from the given weights (with a zero learning rate
    they come out unchanged, while a fresh run starts elsewhere), and a checkpoint of another
    spec is refused by name."""
    torch.set_num_threads(2)
    arch = "rsp:channels=8,blocks=1"
    base = dict(arch=arch, scale=2, data=str(train_images), batch=4, patch=16, val_every=50,
                schedule="constant")
    train(TrainConfig(**base, out=str(tmp_path / "a"), steps=5, lr=2e-3))
    a = load_checkpoint(tmp_path / "a" / "last.pt")["model"]
    train(TrainConfig(**base, out=str(tmp_path / "b"), steps=2, lr=0.0,
                      init=str(tmp_path / "a" / "last.pt"), degradation="realistic"))
    b = load_checkpoint(tmp_path / "b" / "last.pt")
    assert all(torch.equal(a[k], b["model"][k]) for k in a)
    assert b["config"]["init"] == str(tmp_path / "a" / "last.pt")
    train(TrainConfig(**base, out=str(tmp_path / "c"), steps=2, lr=0.0, seed=5))
    c = load_checkpoint(tmp_path / "c" / "last.pt")["model"]
    assert not all(torch.equal(a[k], c[k]) for k in a)
    r = CliRunner().invoke(main, ["train", "--arch", "rsp:channels=16,blocks=1", "--scale",
                                  "2", "--data", str(train_images), "--steps", "1", "--out",
                                  str(tmp_path / "d"), "--init",
                                  str(tmp_path / "a" / "last.pt"), "--quiet"])
    assert r.exit_code != 0 and "cannot start" in r.output and "Traceback" not in r.output
