"""The training loop behind `sronnx train`: patches in, checkpoints and a metric log out.

Library code: it reports progress through a callback and never prints or exits.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sronnx.archs import create_model, format_spec, parse_spec, scale_problem
from sronnx.imaging import mse_rgb, psnr_y, quantize
from sronnx.train import distributed as ddp
from sronnx.train.checkpoint import load_checkpoint, save_checkpoint
from sronnx.train.data import ImagePair, PatchSampler, centre_crop, load_pairs, to_nchw_float
from sronnx.train.degradations import TRAINING, make_training
from sronnx.train.distributed import Distributed

#: The files that mark a folder as holding a run; a fresh run refuses such a folder.
RUN_FILES = ("last.pt", "best.pt", "log.jsonl")
#: Fields a resumed run takes from the command line: its length, and this machine's paths,
#: threads and device. Every other field is the run's own.
LOCAL_FIELDS = ("steps", "epochs", "threads", "device", "out", "data", "val")
#: Fields that name the model being trained: a resume that asks for other values is refused.
IDENTITY_FIELDS = ("arch", "scale")
#: The cosine schedule ends at this fraction of --lr.
FINAL_LR_FACTOR = 0.01


class RunExistsError(ValueError):
    """A fresh run was asked to write into a folder that already holds a run.

    `folder` is the run folder, `found` the run files in it (names from RUN_FILES).
    """

    def __init__(self, folder: Path, found: list[str]) -> None:
        self.folder, self.found = Path(folder), list(found)
        super().__init__(f"{folder} already holds a run ({', '.join(found)})")


class ResumeMismatchError(ValueError):
    """A resume asked for another architecture or scale than the run's; the message names
    the run's value and the given one."""


@dataclass
class TrainConfig:
    arch: str
    scale: int
    data: str
    out: str
    val: str | None = None
    steps: int | None = None
    epochs: int | None = None
    batch: int = 16
    patch: int = 96  # HR patch side; rounded down to a multiple of the scale
    lr: float = 1e-3
    schedule: str = "cosine"  # cosine | step | constant
    warmup: int = 0
    loss: str = "l1"  # l1 | mse
    weight_decay: float = 0.0
    seed: int = 0
    degradation: str = "bicubic"  # a name in sronnx.train.degradations.TRAINING
    # a checkpoint whose weights start the run (fine-tuning); optimizer, schedule and data
    # stream start fresh. Same architecture spec and scale required.
    init: str | None = None
    device: str = "cpu"
    val_every: int = 500
    ckpt_every: int = 100
    val_fraction: float = 0.05  # held out of --data when --val is not given
    val_max_side: int = 256  # validation images are centre-cropped to this HR side, for speed
    threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Progress:
    step: int
    total: int
    loss: float
    patches_per_s: float
    val: dict[str, float] | None = None


def _split_validation(pairs: list[ImagePair], fraction: float, seed: int):
    if len(pairs) < 2:
        return pairs, pairs[:1]
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_val = max(1, int(round(len(pairs) * fraction)))
    val = [pairs[i] for i in sorted(order[:n_val])]
    train = [pairs[i] for i in sorted(order[n_val:])]
    return train, val


def evaluate(model: nn.Module, pairs: list[tuple[np.ndarray, np.ndarray]], scale: int,
             device: torch.device) -> dict[str, float]:
    """Mean Y-PSNR (border = scale, 8-bit output) and RGB MSE over full validation images."""
    model.eval()
    psnrs, mses = [], []
    with torch.no_grad():
        for lr, hr in pairs:
            x = torch.from_numpy(to_nchw_float(lr)).to(device)
            sr = model(x)[0].permute(1, 2, 0).cpu().numpy()
            sr8 = quantize(sr)
            psnrs.append(psnr_y(sr8, hr, border=scale))
            mses.append(mse_rgb(sr8, hr))
    model.train()
    finite = [p for p in psnrs if math.isfinite(p)]
    return {"val_psnr_y": float(np.mean(finite)) if finite else math.inf,
            "val_mse": float(np.mean(mses))}


@dataclass
class LrSchedule:
    """The learning-rate factor (times --lr) per step, as it stands after any resumes.

    `total`: the length the run's schedule was made for (warmup, then cosine, step or
    constant). `extensions`: for a cosine run resumed with another length, one
    (start step, factor at that step, new total) per such resume: from `start` on, the
    factor follows a new half cosine from its value there down to FINAL_LR_FACTOR at the
    new total, so the rate never jumps. Step and constant schedules keep `total`: the step
    schedule halves the rate every total/4 steps however long the run becomes.
    """

    total: int
    extensions: list[tuple[int, float, int]] = field(default_factory=list)

    def end(self) -> int:
        """The step at which the schedule reaches its final value."""
        return self.extensions[-1][2] if self.extensions else self.total

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "extensions": [list(e) for e in self.extensions]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LrSchedule:
        return cls(int(data["total"]),
                   [(int(s), float(f), int(e)) for s, f, e in data.get("extensions", [])])


def _lr_factor(cfg: TrainConfig, schedule: LrSchedule) -> Callable[[int], float]:
    total = schedule.total

    def original(step: int) -> float:
        if cfg.warmup and step < cfg.warmup:
            return (step + 1) / cfg.warmup
        if cfg.schedule == "cosine":
            progress = min(step / max(total, 1), 1.0)
            return 0.5 * (1 + math.cos(math.pi * progress)) * 0.99 + FINAL_LR_FACTOR
        if cfg.schedule == "step":
            return 0.5 ** (step // max(total // 4, 1))
        return 1.0

    def factor(step: int) -> float:
        for start, start_factor, end in reversed(schedule.extensions):
            if step >= start:
                progress = min((step - start) / max(end - start, 1), 1.0)
                cosine = 0.5 * (1 + math.cos(math.pi * progress))
                return FINAL_LR_FACTOR + (start_factor - FINAL_LR_FACTOR) * cosine
        return original(step)

    return factor


def extend_schedule(cfg: TrainConfig, schedule: LrSchedule, step: int,
                    total: int) -> LrSchedule:
    """The schedule of a run resumed at `step` (optimizer steps done) to run `total` steps.

    The same total keeps the schedule as it was (a resume is then exact). Otherwise a
    cosine run goes on from its current factor down to FINAL_LR_FACTOR at the new total
    (while still warming up, its cosine is simply made for the new total: it has not begun);
    step and constant schedules are unchanged.
    """
    if cfg.schedule != "cosine" or total == schedule.end():
        return schedule
    if cfg.warmup and step < cfg.warmup and not schedule.extensions:
        return LrSchedule(total)
    current = _lr_factor(cfg, schedule)(step)
    return LrSchedule(schedule.total, [*schedule.extensions, (step, current, total)])


def _same_arch(a: str, b: str, scale: int) -> bool:
    """Whether two spec strings name the same architecture: order, spacing and values
    spelled out at their defaults aside (the models' full specs are compared)."""
    try:
        if format_spec(*parse_spec(a)) == format_spec(*parse_spec(b)):
            return True
        first, second = create_model(a, scale), create_model(b, scale)
    except (ValueError, TypeError):
        return a == b
    return (first.arch_name, first.spec()) == (second.arch_name, second.spec())


def resume_config(cfg: TrainConfig, saved: dict[str, Any],
                  given: Collection[str] | None = None) -> tuple[TrainConfig, list[str]]:
    """The configuration a resumed run goes on with, and a warning per value not taken.

    The run's own configuration (`saved`, from its checkpoint) wins, except LOCAL_FIELDS
    (steps and epochs when `cfg` gives them; paths, threads and device always). `given`:
    the fields the caller set on purpose (None: all of them). A given arch or scale other
    than the run's raises ResumeMismatchError naming both values; any other given field
    that differs from the run's value gets a warning line saying the run's value is kept.
    """
    given = set(asdict(cfg)) if given is None else set(given)
    saved = {"degradation": "bicubic", **saved}  # runs from before degradations existed
    if "arch" in given and not _same_arch(cfg.arch, saved["arch"], int(saved["scale"])):
        raise ResumeMismatchError(
            f"--resume: the run in {cfg.out} trains --arch {saved['arch']}, not the given "
            f"--arch {cfg.arch}; resume with the run's own --arch or choose another --out")
    if "scale" in given and int(cfg.scale) != int(saved["scale"]):
        raise ResumeMismatchError(
            f"--resume: the run in {cfg.out} trains --scale {saved['scale']}, not the given "
            f"--scale {cfg.scale}; resume with the run's own --scale or choose another --out")
    current = asdict(cfg)
    warnings = [
        f"--{key.replace('_', '-')} {current[key]} is not used on resume: the run's "
        f"{saved[key]} is kept"
        for key in sorted(given)
        if key in saved and key not in LOCAL_FIELDS and key not in IDENTITY_FIELDS
        and current.get(key) != saved[key]
    ]
    keep = {k: v for k, v in saved.items() if k not in LOCAL_FIELDS and k in current}
    merged = TrainConfig(**{**current, **keep, "steps": cfg.steps or saved.get("steps"),
                            "epochs": cfg.epochs or saved.get("epochs")})
    return merged, warnings


def _total_steps(cfg: TrainConfig, train_pairs: list[ImagePair], patch: int) -> int:
    """The run's length in optimizer steps: --steps, or --epochs times steps_per_epoch."""
    if cfg.steps:
        return cfg.steps
    if cfg.epochs:
        return cfg.epochs * steps_per_epoch(train_pairs, patch, cfg.batch)
    raise ValueError("give --steps or --epochs")


def steps_per_epoch(pairs: list[ImagePair], patch: int, batch: int) -> int:
    """One epoch: as many patches as cover the training images' area once."""
    area = sum(p.hr.shape[0] * p.hr.shape[1] for p in pairs)
    return max(1, math.ceil(area / (patch * patch) / batch))


def _to_device(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 NHWC -> float32 NCHW in [0, 1] on `device` (the same values as `to_nchw_float`)."""
    t = torch.from_numpy(batch).to(device, non_blocking=True)
    return t.permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def _batches(sampler: PatchSampler, batch: int
             ) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    """Batches with one more cut ahead in a thread while the model trains on this one.

    Each batch comes with the sampler's state *after* it, so a checkpoint records the
    position of the next batch the loop will use, not of the one cut ahead: a resumed run
    sees exactly the stream the straight run saw.
    """
    def cut() -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        return (*sampler.batch_uint8(batch), sampler.state())

    with ThreadPoolExecutor(1, thread_name_prefix="sronnx-batches") as pool:
        ahead = pool.submit(cut)
        while True:
            item = ahead.result()
            ahead = pool.submit(cut)
            yield item


def loss_function(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training loss called `name` (l1 or mse), a mean over the batch's pixels."""
    if name not in ("l1", "mse"):
        raise ValueError(f"loss must be 'l1' or 'mse', got {name!r}")
    return F.l1_loss if name == "l1" else F.mse_loss


def forward_backward(net: nn.Module, lr_t: torch.Tensor, hr_t: torch.Tensor,
                     loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """One step's gradients: the loss of `net` on this batch, back-propagated into its
    parameters' (cleared) gradients. Returns (loss, output), detached.

    Through DistributedDataParallel the gradients come out averaged over the ranks: with
    equal shares of a batch, those of a single process on the whole batch.
    """
    sr = net(lr_t)
    loss = loss_fn(sr, hr_t)
    for p in net.parameters():
        p.grad = None
    loss.backward()
    return loss.detach(), sr.detach()


def train(cfg: TrainConfig, resume: bool = False,
          on_progress: Callable[[Progress], None] | None = None,
          given: Collection[str] | None = None,
          on_warning: Callable[[str], None] | None = None,
          distributed: Distributed | None = None) -> dict[str, Any]:
    """Train (or resume) a model; returns a summary. Checkpoints: RUN/last.pt, RUN/best.pt.

    A fresh run refuses a folder that holds a run (RunExistsError, before writing anything).
    `resume` continues RUN/last.pt with the run's own configuration (`resume_config`:
    `given` names the fields the caller set on purpose, None all; another arch or scale
    raises ResumeMismatchError, other values not taken go to `on_warning`, one line each);
    another length continues the learning-rate schedule without a jump (`extend_schedule`).
    Raises ValueError for a bad configuration, DataError for unreadable data and
    CheckpointError for an unusable checkpoint.

    `distributed`: this process's place in a torchrun job (default: read from the
    environment, `Distributed.from_environment`; a single process without it). With N > 1
    processes the model trains in DistributedDataParallel, `cfg.batch` is the global batch
    (B/N per rank, B a multiple of N), each rank draws from its own seeded stream, and rank
    0 alone validates, logs, calls `on_progress`/`on_warning` and writes files; config.json,
    the checkpoints and each log record carry `world_size`. A resume on the same N continues
    exactly; on another N the run goes on from its step with its weights, optimizer and
    schedule, and the patch streams re-derived per rank from that step (`sronnx.train.
    distributed`). An error on any rank ends that process; torchrun then stops the others.
    """
    ctx = Distributed.from_environment() if distributed is None else distributed
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda: this torch build or machine has no CUDA device")
        torch.backends.cudnn.benchmark = True  # patch shapes repeat: pick the fastest kernels
    loss_fn = loss_function(cfg.loss)
    if cfg.degradation not in TRAINING:
        raise ValueError(f"degradation must be one of {', '.join(TRAINING)}, "
                         f"got {cfg.degradation!r}")
    if cfg.schedule not in ("cosine", "step", "constant"):
        raise ValueError(f"schedule must be cosine, step or constant, got {cfg.schedule!r}")
    if scale_problem(int(cfg.scale)):
        raise ValueError(f"scale: {scale_problem(int(cfg.scale))}")
    name, spec_kwargs = parse_spec(cfg.arch)
    out = Path(cfg.out)
    last_path = out / "last.pt"
    if not resume:
        found = [f for f in RUN_FILES if (out / f).exists()]
        if found:
            raise RunExistsError(out, found)
    state = load_checkpoint(last_path) if resume and last_path.exists() else None
    if resume and state is None:
        raise FileNotFoundError(f"--resume: no checkpoint at {last_path}")
    if state is not None:
        cfg, notes = resume_config(cfg, state["config"], given)
        for note in notes:
            if on_warning is not None and ctx.is_main:
                on_warning(note)
        name, spec_kwargs = parse_spec(cfg.arch)
    per_rank = ddp.local_batch(cfg.batch, ctx.world_size)
    saved_world = int(state.get("world_size", 1)) if state is not None else ctx.world_size
    device, owns_group = ddp.setup(ctx, cfg.device)
    try:
        # the DistributedDataParallel wrapper lives in _train's _Trainer only: gone by the
        # teardown, which can then free the process group (see ddp.teardown)
        return _train(_Job(cfg, ctx, device, state, saved_world, per_rank, name, spec_kwargs,
                           loss_fn, on_progress, on_warning))
    finally:
        ddp.teardown(owns_group)


@dataclass(frozen=True)
class _Job:
    """What `_train` runs, once `train` has settled the configuration.

    Attributes:
        cfg: the configuration (a resumed run's own, `resume_config`).
        ctx: this process's place in the job.
        device: where this rank trains.
        state: the checkpoint a resumed run goes on from; None for a fresh run.
        saved_world: the processes the checkpoint was trained on (this job's for a fresh run).
        per_rank: patches per optimizer step on this rank (the global batch's share).
        name, spec_kwargs: the architecture and its arguments.
        loss_fn: the training loss.
        on_progress, on_warning: the caller's callbacks (rank 0 only calls them).
    """

    cfg: TrainConfig
    ctx: Distributed
    device: torch.device
    state: dict[str, Any] | None
    saved_world: int
    per_rank: int
    name: str
    spec_kwargs: dict[str, Any]
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    on_progress: Callable[[Progress], None] | None
    on_warning: Callable[[str], None] | None

    @property
    def restream(self) -> bool:
        """A resume on another number of processes: the patch streams are re-derived."""
        return self.state is not None and self.saved_world != self.ctx.world_size


def _train(job: _Job) -> dict[str, Any]:
    """`train` once the configuration is settled and this rank has joined the job."""
    # every rank has checked the folder and read its checkpoint before rank 0 writes
    ddp.barrier(job.ctx)
    return _Trainer(job).run()


class _Trainer:
    """One rank's run: the model, its data, optimizer and schedule (restored on resume),
    the run folder, and the loop that trains, validates, logs and writes checkpoints (rank 0
    alone validates, logs and writes)."""

    def __init__(self, job: _Job) -> None:
        cfg = self.cfg = job.cfg
        self.job, self.ctx = job, job.ctx
        self.out = Path(cfg.out)
        self.last_path, self.best_path = self.out / "last.pt", self.out / "best.pt"
        self.log_path = self.out / "log.jsonl"
        patch = cfg.patch - cfg.patch % cfg.scale
        torch.manual_seed(cfg.seed)
        self.model = create_model(job.name, cfg.scale, **job.spec_kwargs).to(job.device)
        self.fixed = self.model.fixed_input_size()
        if self.fixed is not None:
            patch = self.fixed[0] * cfg.scale  # the fc bottleneck sees whole fixed-size inputs
        self.patch = patch
        self._load_data()
        self._make_schedule()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr,
                                    weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, _lr_factor(cfg, self.schedule))
        self.step, self.best, self.wall = 0, -math.inf, 0.0
        self._restore()
        self.net = ddp.wrap(self.model, self.ctx, job.device)
        self.spec_str = format_spec(job.name, self.model.spec())
        self.run_config = {**asdict(cfg), "world_size": self.ctx.world_size}
        self._prepare_folder()
        self.last_val: float | None = None
        self.sampler_state = self.sampler.state()
        self.streams: list[Any] = []  # every rank's stream position, for checkpoints
        self.start = 0.0  # perf_counter at the run's step 0 (resumed runs: earlier)
        # Losses stay on the device until a flush, so a GPU is not made to wait every step.
        self.pending: list[tuple[dict[str, Any], torch.Tensor]] = []

    def _load_data(self) -> None:
        """The training pairs and their patch sampler, the validation crops and, with a
        degradation other than bicubic, their degraded form (rank 0)."""
        cfg, ctx, state = self.cfg, self.ctx, self.job.state
        pairs = load_pairs(cfg.data, cfg.scale)
        if cfg.val:
            train_pairs, val_pairs = pairs, load_pairs(cfg.val, cfg.scale)
        else:
            train_pairs, val_pairs = _split_validation(pairs, cfg.val_fraction, cfg.seed)
        self.train_pairs = train_pairs
        # bicubic: patches cut from the LR images degraded whole, the stream as it always
        # was; otherwise each LR patch is made from its HR patch, drawing from the sampler's
        # generator. Validation: the standard bicubic protocol; with another degradation,
        # best.pt is chosen on the validation crops degraded once by it (a fixed stream
        # seeded by --seed, the same in every run and on resume), and the clean figure is
        # logged beside it.
        self.degradation = degradation = make_training(cfg.degradation)
        # one stream per rank; on another number of processes, re-derived from the step
        # reached
        seed = ddp.patch_seed(cfg.seed, ctx.world_size, ctx.rank,
                              int(state["step"]) if state is not None and self.job.restream
                              else None)
        self.sampler = PatchSampler(
            train_pairs, cfg.scale, self.patch, seed,
            degradation=None if cfg.degradation == "bicubic" else degradation)
        side = max(max(cfg.val_max_side, self.patch) // cfg.scale, 1)  # LR side of the crops
        val_images = [centre_crop(p, cfg.scale, side, side) for p in val_pairs]
        if self.fixed is not None:
            fh, fw = self.fixed
            val_images = [(lr[:fh, :fw], hr[: fh * cfg.scale, : fw * cfg.scale])
                          for lr, hr in val_images if lr.shape[0] >= fh and lr.shape[1] >= fw]
        self.val_images = val_images
        self.degraded_val = None
        if cfg.degradation != "bicubic" and ctx.is_main:
            val_rng = np.random.default_rng([cfg.seed, 0x5A1])
            self.degraded_val = [(degradation(hr, cfg.scale, val_rng), hr)
                                 for _, hr in val_images]

    def _make_schedule(self) -> None:
        """The run's length in steps and its learning-rate schedule (a resumed run's own,
        extended to a new length)."""
        cfg, state = self.cfg, self.job.state
        self.total = total = _total_steps(cfg, self.train_pairs, self.patch)
        schedule = LrSchedule(total)
        if state is not None:
            if "lr_schedule" in state:
                schedule = LrSchedule.from_json(json.loads(state["lr_schedule"]))
            else:  # runs from before: the schedule was made for the length last asked for
                saved = state["config"]
                schedule = LrSchedule(_total_steps(
                    TrainConfig(**{**asdict(cfg), "steps": saved.get("steps"),
                                   "epochs": saved.get("epochs")}), self.train_pairs,
                    self.patch))
            schedule = extend_schedule(cfg, schedule, int(state["step"]), total)
        self.schedule = schedule

    def _restore(self) -> None:
        """--init's weights for a fresh run (ValueError for another model's checkpoint), or
        a resumed run's weights, optimizer, schedule, streams, RNG, step, best and time."""
        cfg, job, state = self.cfg, self.job, self.job.state
        if state is None and cfg.init:
            start_from = load_checkpoint(Path(cfg.init))
            if int(start_from["scale"]) != cfg.scale or start_from["arch"] != job.name or \
                    dict(start_from["spec"]) != dict(self.model.spec()):
                raise ValueError(
                    f"--init {cfg.init}: a {start_from['arch']} x{start_from['scale']} "
                    f"{start_from['spec']} checkpoint cannot start a {job.name} x{cfg.scale} "
                    f"{self.model.spec()} run")
            self.model.load_state_dict(start_from["model"])
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        if not job.restream:
            saved_streams = (json.loads(state["samplers"]) if "samplers" in state
                             else [json.loads(state["sampler"])])
            self.sampler.set_state(saved_streams[self.ctx.rank])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.best = int(state["step"]), float(state["best_psnr"])
        self.wall = float(state["wall_s"])
        if job.restream and self.ctx.is_main and job.on_warning is not None:
            job.on_warning(
                f"the run was trained on {job.saved_world} process(es) and now continues on "
                f"{self.ctx.world_size}: weights, optimizer, schedule and step {self.step} "
                f"carry over, the global batch stays {cfg.batch} ({job.per_rank} per process) "
                "and the patch streams are re-derived per process from this step "
                f"(deterministic, but not the patches a run on {job.saved_world} would have "
                "seen)")

    def _prepare_folder(self) -> None:
        """Rank 0: a fresh run's folder, empty log and config.json; a resumed run's
        config.json with the processes it goes on with, and its log cut back to the
        checkpoint's step (a run killed between checkpoints logged steps that run again)."""
        if not self.ctx.is_main:
            return
        out, log_path = self.out, self.log_path
        out.mkdir(parents=True, exist_ok=True)
        if self.job.state is None:
            log_path.write_text("")
            (out / "config.json").write_text(json.dumps(self.run_config, indent=2))
            return
        config_path = out / "config.json"
        if self.job.restream and config_path.is_file():  # the processes it goes on with
            try:
                recorded = json.loads(config_path.read_text())
            except ValueError:
                recorded = None
            if isinstance(recorded, dict):
                config_path.write_text(json.dumps(
                    {**recorded, "world_size": self.ctx.world_size}, indent=2))
        if log_path.exists():
            # a run killed between checkpoints logged steps that will now run again
            kept = [line for line in log_path.read_text().splitlines()
                    if line and json.loads(line)["step"] <= self.step]
            log_path.write_text("".join(line + "\n" for line in kept))

    def payload(self, val_psnr: float | None) -> dict[str, Any]:
        """A checkpoint of the run as it stands (`val_psnr`: the last validation PSNR-Y)."""
        cfg, model = self.cfg, self.model
        return {
            "arch": self.job.name, "spec": model.spec(), "spec_str": self.spec_str,
            "scale": cfg.scale, "model": model.state_dict(), "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(), "sampler": json.dumps(self.sampler_state),
            "lr_schedule": json.dumps(self.schedule.to_json()),
            "samplers": json.dumps(self.streams), "world_size": self.ctx.world_size,
            "torch_rng": torch.get_rng_state(), "step": self.step, "best_psnr": self.best,
            "val_psnr_y": val_psnr, "wall_s": time.perf_counter() - self.start,
            "config": self.run_config, "degradation": self.degradation.describe(),
            "data": str(cfg.data), "val": str(cfg.val) if cfg.val else "held-out part of data",
        }

    def flush(self) -> None:
        """Append the pending records to the log with their losses (FloatingPointError for
        a loss that is not finite)."""
        if not self.pending:
            return
        values = torch.stack([t for _, t in self.pending]).cpu().tolist()
        with self.log_path.open("a") as fh:
            for (record, _), (loss_v, mse_v) in zip(self.pending, values, strict=True):
                if not math.isfinite(loss_v):
                    raise FloatingPointError(f"loss became {loss_v} at step {record['step']}")
                fh.write(json.dumps({**record, "loss": loss_v, "train_mse": mse_v}) + "\n")
        self.pending.clear()

    def run(self) -> dict[str, Any]:
        """Train to the run's length; rank 0 then writes best.pt (if validation never
        improved) and the loss curve. Returns the summary."""
        ctx = self.ctx
        self.model.train()
        self.t_last, self.patches_since = time.perf_counter(), 0
        batches = _batches(self.sampler, self.job.per_rank)
        # wall: the seconds of the run so far (resumed runs)
        self.start = time.perf_counter() - self.wall
        self.streams = ddp.gather(self.sampler_state, ctx)
        try:
            while self.step < self.total:
                self._train_step(next(batches))
            self.flush()
        finally:
            batches.close()
        if ctx.is_main:
            if not self.best_path.exists():
                save_checkpoint(self.best_path, self.payload(self.last_val))
            write_loss_curve(self.log_path, self.out / "loss_curve.png")
        ddp.barrier(ctx)  # the job ends when rank 0's files are written
        return {"steps": self.step, "best_val_psnr_y": self.best,
                "last_val_psnr_y": self.last_val,
                "train_seconds": time.perf_counter() - self.start, "run_dir": str(self.out),
                "spec": self.spec_str}

    def _train_step(self, item: tuple[np.ndarray, np.ndarray, dict[str, Any]]) -> None:
        """One optimizer step on a batch (LR, HR, the sampler's state after it); then rank 0
        logs, validates and checkpoints where due, the other ranks wait at checkpoints."""
        cfg, ctx, device = self.cfg, self.ctx, self.job.device
        lr_np, hr_np, next_state = item
        lr_t, hr_t = _to_device(lr_np, device), _to_device(hr_np, device)
        loss, sr = forward_backward(self.net, lr_t, hr_t, self.job.loss_fn)
        self.opt.step()
        self.sched.step()
        self.step += 1
        self.sampler_state = next_state
        with torch.no_grad():
            # the global batch's figures: the mean of the ranks' equal shares
            losses = ddp.mean(torch.stack([loss, F.mse_loss(sr, hr_t)]), ctx)
        self.patches_since += cfg.batch
        validate = self.step % cfg.val_every == 0 or self.step == self.total
        checkpoint = self.step % cfg.ckpt_every == 0 or self.step == self.total or validate
        if checkpoint:
            self.streams = ddp.gather(self.sampler_state, ctx)
        if not ctx.is_main:
            if checkpoint:
                ddp.barrier(ctx)  # rank 0 validates and writes meanwhile
            return
        self._log_step(losses, validate, checkpoint)

    def _validate(self) -> dict[str, float]:
        """The validation figures: on the clean crops, or with a degradation on the degraded
        ones with the clean PSNR-Y beside them."""
        cfg, device = self.cfg, self.job.device
        val = evaluate(self.model, self.val_images, cfg.scale, device)
        if self.degraded_val is not None:
            clean = val
            val = evaluate(self.model, self.degraded_val, cfg.scale, device)
            val["val_clean_psnr_y"] = clean["val_psnr_y"]
        return val

    def _log_step(self, losses: torch.Tensor, validate: bool, checkpoint: bool) -> None:
        """Rank 0 after a step: the log record (validated where due), best.pt on a better
        validation, last.pt at a checkpoint, and the progress callback."""
        ctx, on_progress = self.ctx, self.job.on_progress
        record: dict[str, Any] = {"step": self.step, "lr": self.sched.get_last_lr()[0],
                                  "t": round(time.perf_counter() - self.start, 3),
                                  "world_size": ctx.world_size}
        val = None
        if validate:
            val = self._validate()
            record.update(val)
            self.last_val = val["val_psnr_y"]
        self.pending.append((record, losses))
        now = time.perf_counter()
        show = on_progress is not None and (val is not None or now - self.t_last > 0.5)
        if checkpoint or show or len(self.pending) >= 100:
            self.flush()
        if val is not None and val["val_psnr_y"] > self.best:
            self.best = val["val_psnr_y"]
            save_checkpoint(self.best_path, self.payload(self.last_val))
        if checkpoint:
            save_checkpoint(self.last_path, self.payload(self.last_val))
            ddp.barrier(ctx)
        if show:
            rate = self.patches_since / max(now - self.t_last, 1e-9)
            on_progress(Progress(self.step, self.total, float(losses[0]), rate, val))
            self.t_last, self.patches_since = now, 0


def write_loss_curve(log_path: Path, png_path: Path) -> Path | None:
    """Training vs validation MSE per step (log scale), as in the study's figures."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    records = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line]
    if not records:
        return None
    steps = np.array([r["step"] for r in records])
    train_mse = np.array([r["train_mse"] for r in records])
    window = max(1, len(train_mse) // 50)
    smooth = np.convolve(train_mse, np.ones(window) / window, mode="valid")
    val = [(r["step"], r["val_mse"]) for r in records if "val_mse" in r]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(steps[window - 1 :], smooth, label="training MSE (smoothed)")
    if val:
        vs, vm = zip(*val, strict=True)
        ax.plot(vs, vm, "o-", label="validation MSE")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("MSE (RGB, [0, 1])")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
    return png_path
