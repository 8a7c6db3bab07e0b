"""`sronnx train` under torchrun: two real CPU processes (gloo) train one model.

Gradients of a two-rank step equal one process's on the same patches; a torchrun run writes
a checkpoint and config with world_size 2 that export and verify take; resuming on two
processes continues exactly, and on one process goes on by the stated rule.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():  # pragma: no cover - builds without distributed
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)

from click.testing import CliRunner  # noqa: E402
from helpers import ROOT  # noqa: E402

from sronnx.archs.registry import create_model  # noqa: E402
from sronnx.cli import main  # noqa: E402
from sronnx.train.checkpoint import load_checkpoint  # noqa: E402
from sronnx.train.data import PatchSampler, load_pairs  # noqa: E402
from sronnx.train.distributed import (  # noqa: E402
    Distributed,
    barrier,
    local_batch,
    setup,
    teardown,
    wrap,
)
from sronnx.train.trainer import forward_backward, loss_function  # noqa: E402

ARCH = "espcn:f1=8,f2=8"
#: a short run: scale 2, 16-pixel HR patches, global batch 4 (2 per rank), constant rate
RUN = ["--arch", ARCH, "--scale", "2", "--batch", "4", "--patch", "16", "--val-every", "4",
       "--ckpt-every", "4", "--schedule", "constant", "--seed", "7", "--quiet"]
STEPS = 12
TORCH_ENV_KEYS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _env() -> dict[str, str]:
    """A child's environment: this checkout importable, one thread per rank, and none of a
    surrounding torchrun job's variables."""
    env = {k: v for k, v in os.environ.items() if k not in TORCH_ENV_KEYS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = "1"
    return env


def _run(args: list[str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=_env(), capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def _torchrun(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`torchrun --standalone --nproc-per-node 2 -m sronnx train ...` (torchrun's module)."""
    args = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "sronnx", "train", *RUN, "--data", str(data), "--out", str(out), *extra]
    return _run(args)


def _check(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def runs(train_images: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two-process runs: `full`, STEPS straight; `half`, STEPS/2 then resumed to STEPS
    (`half_at_6`: a copy of it before the resume)."""
    root = tmp_path_factory.mktemp("ddp")
    full, half = root / "full", root / "half"
    _check(_torchrun(train_images, full, "--steps", str(STEPS)))
    _check(_torchrun(train_images, half, "--steps", str(STEPS // 2)))
    shutil.copytree(half, root / "half_at_6")
    _check(_torchrun(train_images, half, "--steps", str(STEPS), "--resume"))
    return {"full": full, "half": half, "half_at_6": root / "half_at_6", "data": train_images}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: gloo's threads, by the names they give themselves (Linux): none may outlive `teardown`
GLOO_THREADS = ("pt_gloo_runloop", "gloo_tcp_loop")


def _thread_names() -> list[str] | None:
    """This process's threads, by name (None where /proc does not list them)."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return None
    names = []
    for task in tasks.iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:  # a thread that ended meanwhile
            pass
    return names


def _grad_step(ctx: Distributed, device: torch.device, rank: int, patches: str,
               out: str) -> None:
    """One DDP step on this rank's half of the saved patches; its gradients and weights saved.
    The DistributedDataParallel wrapper lives in this call only: it is gone when the caller
    tears the process group down (its reducer holds the group)."""
    torch.manual_seed(rank)  # rank 1 starts elsewhere: DDP must broadcast rank 0's weights
    model = create_model(ARCH, 2).double()
    net = wrap(model, ctx, device)
    lr, hr = torch.load(patches)
    share = local_batch(len(lr), ctx.world_size)
    mine = slice(rank * share, (rank + 1) * share)
    forward_backward(net, lr[mine], hr[mine], loss_function("l1"))
    torch.save({"grads": {n: p.grad for n, p in model.named_parameters()},
                "weights": model.state_dict()}, Path(out) / f"rank{rank}.pt")


def _grad_worker(rank: int, port: int, patches: str, out: str) -> None:
    """One rank of a two-process gloo job: one DDP step (`_grad_step`), a barrier so neither
    rank ends the job while the other is still in a collective, then the teardown; the threads
    left after it are saved for the test to check that none of gloo's outlives it."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2",
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    ctx = Distributed.from_environment()
    device, owned = setup(ctx, "cpu")
    try:
        _grad_step(ctx, device, rank, patches, out)
        barrier(ctx)
    finally:
        teardown(owned)
    (Path(out) / f"threads{rank}.json").write_text(json.dumps(_thread_names()))


def test_two_ranks_give_the_gradients_of_one_process_on_the_whole_batch(
        train_images: Path, tmp_path: Path) -> None:
    """In float64, so that what is compared is the averaging, not float32 rounding (which
    leaves about 2e-6 relative on a bias summed over every pixel)."""
    lr_np, hr_np = PatchSampler(load_pairs(train_images, 2), 2, 16, seed=5).batch(8)
    lr, hr = torch.from_numpy(lr_np).double(), torch.from_numpy(hr_np).double()
    torch.save((lr, hr), tmp_path / "patches.pt")
    torch.multiprocessing.spawn(_grad_worker, args=(_free_port(), str(tmp_path / "patches.pt"),
                                                    str(tmp_path)), nprocs=2, join=True)
    torch.manual_seed(0)
    single = create_model(ARCH, 2).double()
    forward_backward(single, lr, hr, loss_function("l1"))
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        for name, p in single.named_parameters():
            torch.testing.assert_close(got["weights"][name], p.detach(), rtol=0, atol=0)
            g = got["grads"][name]
            rel = float((g - p.grad).norm() / p.grad.norm())
            assert rel < 1e-12, f"rank {rank} {name}: relative gradient difference {rel:.2e}"
        # A gloo thread left running could still be dropping a finished collective (taking
        # the GIL) as the interpreter exits, and abort the process (SIGABRT).
        names = json.loads((tmp_path / f"threads{rank}.json").read_text())
        if names is not None:
            assert not [n for n in names if n in GLOO_THREADS], (rank, names)


def test_torchrun_run_writes_world_size_and_exports(runs: dict[str, Path],
                                                    tmp_path: Path) -> None:
    full = runs["full"]
    for name in ("best.pt", "last.pt", "log.jsonl", "config.json", "loss_curve.png"):
        assert (full / name).is_file(), name
    assert json.loads((full / "config.json").read_text())["world_size"] == 2
    records = _records(full)
    assert [r["step"] for r in records] == list(range(1, STEPS + 1))  # one writer: no doubles
    assert {r["world_size"] for r in records} == {2}
    last = load_checkpoint(full / "last.pt")
    assert last["step"] == STEPS and last["world_size"] == 2
    assert last["config"]["batch"] == 4 and len(json.loads(last["samplers"])) == 2
    onnx_path = tmp_path / "m.onnx"
    _check(_run(["-m", "sronnx", "export", str(full / "last.pt"), "-o", str(onnx_path)]))
    _check(_run(["-m", "sronnx", "verify", str(onnx_path)]))


def test_resume_on_two_processes_continues_exactly(runs: dict[str, Path]) -> None:
    assert load_checkpoint(runs["half_at_6"] / "last.pt")["step"] == STEPS // 2
    assert load_checkpoint(runs["half"] / "last.pt")["step"] == STEPS
    assert _same_weights(runs["full"] / "last.pt", runs["half"] / "last.pt")
    full, half = _records(runs["full"]), _records(runs["half"])
    assert [r["step"] for r in half] == [r["step"] for r in full]
    assert [r["loss"] for r in half] == pytest.approx([r["loss"] for r in full], abs=1e-7)


def test_resume_on_another_number_of_processes(runs: dict[str, Path], tmp_path: Path) -> None:
    """The rule: allowed; weights, optimizer, schedule and step carry over, the global batch
    stays, the patch streams are re-derived per rank from the step reached: deterministic,
    though not the patches the two-process run goes on with."""
    outcomes = []
    for copy in ("a", "b"):
        run = tmp_path / copy
        shutil.copytree(runs["half_at_6"], run)
        r = CliRunner().invoke(main, ["train", *RUN, "--data", str(runs["data"]), "--out",
                                      str(run), "--steps", str(STEPS), "--resume",
                                      "--threads", "1"], env={k: None for k in TORCH_ENV_KEYS})
        assert r.exit_code == 0, r.output
        assert "trained on 2 process(es) and now continues on 1" in r.output
        last = load_checkpoint(run / "last.pt")
        assert last["step"] == STEPS and last["world_size"] == 1
        assert last["config"]["batch"] == 4
        assert [r["world_size"] for r in _records(run)] == [2] * 6 + [1] * 6
        assert json.loads((run / "config.json").read_text())["world_size"] == 1
        outcomes.append(run / "last.pt")
    assert _same_weights(*outcomes)  # deterministic
    assert not _same_weights(outcomes[0], runs["full"] / "last.pt")  # other patches


def test_a_global_batch_that_does_not_divide_is_refused(train_images: Path,
                                                        tmp_path: Path) -> None:
    """Checked on every rank before any process group is joined: here as rank 0 of 2."""
    r = CliRunner().invoke(main, ["train", *RUN, "--data", str(train_images), "--out",
                                  str(tmp_path / "run"), "--steps", "2", "--batch", "3"],
                           env={"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"})
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "--batch 3 is the global batch, shared equally by the 2 processes" in r.output
    assert not (tmp_path / "run").exists()
