"""Training on several processes (torchrun): one model, DistributedDataParallel, one rank writes.

`torchrun --standalone --nproc-per-node N -m sronnx train ...` starts N copies of
`sronnx train`; each finds its place in the environment torchrun sets (WORLD_SIZE, RANK,
LOCAL_RANK) through `Distributed.from_environment`. Without those variables (or with
WORLD_SIZE=1) training is the single-process run, unchanged.

The rules the trainer follows (see `sronnx.train.trainer.train`):

* `--batch B` is the global batch: each of the N ranks trains on B/N patches per step
  (B must be a multiple of N); DistributedDataParallel averages the gradients, so one step
  equals one single-process step on the union of the ranks' patches.
* Each rank draws its patches from its own stream, seeded by `patch_seed` from (seed, N,
  rank); a single process keeps the plain seed, the stream of before.
* Rank 0 alone validates and writes (checkpoints, log.jsonl, config.json, the curve); the
  others wait at a barrier. Checkpoints hold every rank's stream position.
* Resuming on the same N continues exactly. Resuming on another N is allowed: weights,
  optimizer, schedule and step carry over, the global batch stays (it must divide by the new
  N), and the streams are re-derived per rank from (seed, new N, rank, step): deterministic,
  but not the patches an uninterrupted run on the old N would have seen.

Ending the job (`teardown`) must free the process group, not only deregister it: gloo runs
each collective on threads of its own, and the thread that finishes one drops it a moment
after the caller has been told it is done. Dropping it releases Python objects (the tensors,
and the contextvars context the work captured), for which the thread takes the GIL. Should
that moment fall as the interpreter exits, a thread that waited for the GIL while Python began
finalizing is ended by CPython (pthread_exit), and the unwinding through the work's noexcept
destructor calls std::terminate: "terminate called without an active exception", SIGABRT,
after a run that had done everything right. A loaded machine, descheduling that thread, opens
the window. Freeing the group joins gloo's threads (with the GIL let go), so by the time
`teardown` returns none is left to need the GIL. Two things would keep the group alive:
torch.distributed.nn.functional, imported by DistributedDataParallel's constructor, takes the
group that exists at its import as its functions' default argument (so `setup` imports it
first, while there is none), and a DistributedDataParallel wrapper still alive (its reducer
holds the group: drop it before `teardown`, which collects any left in a reference cycle).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import distributed as dist
from torch import nn

#: Mixed into every rank's seed so the ranks' streams are unlike any other seeded stream
#: of a run (the validation degradation's is seeded with [seed, 0x5A1]).
STREAM_TAG = 0xDD9


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job: `world_size` processes, this one `rank`
    (0 writes), `local_rank` its index on this machine (its GPU on CUDA)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def active(self) -> bool:
        """Whether there is more than one process (a process group and DDP are used)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process is rank 0, the one that validates, logs and writes."""
        return self.rank == 0

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Distributed:
        """The job torchrun describes in `env` (default `os.environ`); a single process
        when WORLD_SIZE is not set. Raises ValueError for inconsistent variables."""
        env = os.environ if env is None else env
        if "WORLD_SIZE" not in env:
            return cls()
        try:
            world = int(env["WORLD_SIZE"])
            rank = int(env.get("RANK", "0"))
            local = int(env.get("LOCAL_RANK", str(rank)))
        except ValueError as exc:
            raise ValueError(f"WORLD_SIZE, RANK and LOCAL_RANK must be integers ({exc})") from exc
        if world < 1 or not 0 <= rank < world or local < 0:
            raise ValueError(f"inconsistent torchrun environment: WORLD_SIZE={world}, "
                             f"RANK={rank}, LOCAL_RANK={local}")
        return cls(world, rank, local)


def patch_seed(seed: int, world_size: int, rank: int, step: int | None = None
               ) -> int | list[int]:
    """The seed of one rank's patch stream, for `numpy.random.default_rng`.

    A single process that starts at step 0 keeps `seed` itself (the stream of a run without
    torchrun). Otherwise the stream is derived from (seed, world_size, rank), plus `step`
    when a run resumed on another number of processes re-derives its streams there.
    """
    if world_size == 1 and step is None:
        return seed
    entropy = [int(seed) & 0xFFFFFFFF, STREAM_TAG, int(world_size), int(rank)]
    return entropy if step is None else [*entropy, int(step)]


def local_batch(batch: int, world_size: int) -> int:
    """Each rank's share of the global `batch`; ValueError when it does not divide."""
    if batch % world_size:
        lower = max(batch - batch % world_size, world_size)
        raise ValueError(
            f"--batch {batch} is the global batch, shared equally by the {world_size} "
            f"processes: give a multiple of {world_size} (e.g. {lower} or "
            f"{lower + world_size if lower < batch else lower * 2})")
    return batch // world_size


def setup(ctx: Distributed, device: str) -> tuple[torch.device, bool]:
    """The device this rank trains on, joining the process group when `ctx` is active.

    `device` "cuda": this rank's GPU is LOCAL_RANK, backend nccl; otherwise the CPU and gloo.
    Returns (device, whether this call started the process group and so must end it with
    `teardown`). A group the caller started already is used as it is.
    """
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda: this torch build or machine has no CUDA device")
        if ctx.active:
            if ctx.local_rank >= torch.cuda.device_count():
                raise RuntimeError(
                    f"LOCAL_RANK {ctx.local_rank}: this machine has only "
                    f"{torch.cuda.device_count()} CUDA device(s); start at most that many "
                    "processes per node")
            torch.cuda.set_device(ctx.local_rank)
            chosen = torch.device("cuda", ctx.local_rank)
        else:
            chosen = torch.device("cuda")
    else:
        chosen = torch.device(device)
    if not ctx.active or dist.is_initialized():
        return chosen, False
    _import_group_defaults()
    backend = "nccl" if chosen.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=ctx.rank, world_size=ctx.world_size)
    return chosen, True


def _import_group_defaults() -> None:
    """Import torch.distributed.nn.functional while no process group exists.

    Its functions take `group=group.WORLD` as a default argument, evaluated at import; the
    first DistributedDataParallel imports the module, and if a group exists by then those
    defaults hold it for the life of the process, so that `teardown` could never free it and
    gloo's threads would live on into the interpreter's exit (see the module's docstring).
    Imported now, the defaults are None.
    """
    try:
        import torch.distributed.nn.functional  # noqa: F401
    except ImportError:  # pragma: no cover - builds without it: nothing imports it either
        pass


def teardown(owned: bool) -> None:
    """End the process group `setup` started (nothing when it did not start one), freeing it:
    its backend's threads are joined here, while the interpreter is whole, rather than left
    to need the GIL as it exits (see the module's docstring).

    Drop the DistributedDataParallel wrapper (`wrap`) first: its reducer holds the group. A
    wrapper caught in a reference cycle is collected here; one still referenced (say by the
    traceback of an exception on its way out) keeps the group until it goes.
    """
    if not (owned and dist.is_initialized()):
        return
    gc.collect()
    dist.destroy_process_group()


def wrap(model: nn.Module, ctx: Distributed, device: torch.device) -> nn.Module:
    """`model` in DistributedDataParallel when `ctx` is active (rank 0's weights are
    broadcast to all), else `model` itself. Train through the result; validate and save
    `model`; drop the result before `teardown` (it holds the process group)."""
    if not ctx.active:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def barrier(ctx: Distributed) -> None:
    """Wait for every rank (nothing for a single process)."""
    if ctx.active:
        dist.barrier()


def gather(obj: Any, ctx: Distributed) -> list[Any]:
    """Every rank's `obj` (picklable), in rank order, on every rank."""
    if not ctx.active:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def mean(tensor: torch.Tensor, ctx: Distributed) -> torch.Tensor:
    """The mean of `tensor` over the ranks, in place (`tensor` itself for one process)."""
    if ctx.active:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor.div_(ctx.world_size)
    return tensor
