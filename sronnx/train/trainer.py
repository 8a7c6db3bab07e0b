"""The training loop behind `sronnx train`: patches in, checkpoints and a metric log out.

Library code: it reports progress through a callback and never prints or exits.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sronnx.data import ImagePair, PatchSampler, centre_crop, load_pairs, to_nchw_float
from sronnx.degradations import TRAINING, make_training
from sronnx.metrics import mse_rgb, psnr_y, quantize
from sronnx.registry import create_model, format_spec, parse_spec
from sronnx.train.checkpoint import load_checkpoint, save_checkpoint


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
    degradation: str = "bicubic"  # a name in sronnx.degradations.TRAINING
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


def _lr_factor(cfg: TrainConfig, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if cfg.warmup and step < cfg.warmup:
            return (step + 1) / cfg.warmup
        if cfg.schedule == "cosine":
            progress = min(step / max(total, 1), 1.0)
            return 0.5 * (1 + math.cos(math.pi * progress)) * 0.99 + 0.01
        if cfg.schedule == "step":
            return 0.5 ** (step // max(total // 4, 1))
        return 1.0

    return factor


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


def train(cfg: TrainConfig, resume: bool = False,
          on_progress: Callable[[Progress], None] | None = None) -> dict[str, Any]:
    """Train (or resume) a model; returns a summary. Checkpoints: RUN/last.pt, RUN/best.pt."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda: this torch build or machine has no CUDA device")
        torch.backends.cudnn.benchmark = True  # patch shapes repeat: pick the fastest kernels
    device = torch.device(cfg.device)
    if cfg.loss not in ("l1", "mse"):
        raise ValueError(f"loss must be 'l1' or 'mse', got {cfg.loss!r}")
    if cfg.degradation not in TRAINING:
        raise ValueError(f"degradation must be one of {', '.join(TRAINING)}, "
                         f"got {cfg.degradation!r}")
    if cfg.schedule not in ("cosine", "step", "constant"):
        raise ValueError(f"schedule must be cosine, step or constant, got {cfg.schedule!r}")
    name, spec_kwargs = parse_spec(cfg.arch)
    out = Path(cfg.out)
    last_path, best_path = out / "last.pt", out / "best.pt"
    state = load_checkpoint(last_path) if resume and last_path.exists() else None
    if resume and state is None:
        raise FileNotFoundError(f"--resume: no checkpoint at {last_path}")
    if state is not None:
        # The run's own configuration wins over the command line on resume, but the total
        # length may be extended, and paths, threads and device are this machine's.
        saved = state["config"]
        local = ("steps", "epochs", "threads", "device", "out", "data", "val")
        keep = {k: saved[k] for k in saved if k not in local}
        keep.setdefault("degradation", "bicubic")  # runs from before degradations existed
        cfg = TrainConfig(**{**asdict(cfg), **keep, "steps": cfg.steps or saved.get("steps"),
                             "epochs": cfg.epochs or saved.get("epochs")})
        name, spec_kwargs = parse_spec(cfg.arch)

    patch = cfg.patch - cfg.patch % cfg.scale
    torch.manual_seed(cfg.seed)
    model = create_model(name, cfg.scale, **spec_kwargs).to(device)
    fixed = model.fixed_input_size()
    if fixed is not None:
        patch = fixed[0] * cfg.scale  # the fc bottleneck sees whole fixed-size inputs

    pairs = load_pairs(cfg.data, cfg.scale)
    if cfg.val:
        train_pairs, val_pairs = pairs, load_pairs(cfg.val, cfg.scale)
    else:
        train_pairs, val_pairs = _split_validation(pairs, cfg.val_fraction, cfg.seed)
    # bicubic: patches cut from the LR images degraded whole, the stream as it always was;
    # otherwise each LR patch is made from its HR patch, drawing from the sampler's generator.
    # Validation: the standard bicubic protocol; with another degradation, best.pt is chosen
    # on the validation crops degraded once by it (a fixed stream seeded by --seed, the same
    # in every run and on resume), and the clean figure is logged beside it.
    degradation = make_training(cfg.degradation)
    sampler = PatchSampler(train_pairs, cfg.scale, patch, cfg.seed,
                           degradation=None if cfg.degradation == "bicubic" else degradation)
    side = max(max(cfg.val_max_side, patch) // cfg.scale, 1)  # LR side of the centre crops
    val_images = [centre_crop(p, cfg.scale, side, side) for p in val_pairs]
    if fixed is not None:
        fh, fw = fixed
        val_images = [(lr[:fh, :fw], hr[: fh * cfg.scale, : fw * cfg.scale])
                      for lr, hr in val_images if lr.shape[0] >= fh and lr.shape[1] >= fw]
    degraded_val = None
    if cfg.degradation != "bicubic":
        val_rng = np.random.default_rng([cfg.seed, 0x5A1])
        degraded_val = [(degradation(hr, cfg.scale, val_rng), hr) for _, hr in val_images]

    if cfg.steps:
        total = cfg.steps
    elif cfg.epochs:
        total = cfg.epochs * steps_per_epoch(train_pairs, patch, cfg.batch)
    else:
        raise ValueError("give --steps or --epochs")

    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(cfg, total))
    step, best, wall = 0, -math.inf, 0.0
    if state is None and cfg.init:
        start_from = load_checkpoint(Path(cfg.init))
        if int(start_from["scale"]) != cfg.scale or start_from["arch"] != name or \
                dict(start_from["spec"]) != dict(model.spec()):
            raise ValueError(
                f"--init {cfg.init}: a {start_from['arch']} x{start_from['scale']} "
                f"{start_from['spec']} checkpoint cannot start a {name} x{cfg.scale} "
                f"{model.spec()} run")
        model.load_state_dict(start_from["model"])
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        sampler.set_state(json.loads(state["sampler"]))
        torch.set_rng_state(state["torch_rng"])
        step, best, wall = int(state["step"]), float(state["best_psnr"]), float(state["wall_s"])

    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "log.jsonl"
    spec_str = format_spec(name, model.spec())
    if state is None:
        log_path.write_text("")
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    elif log_path.exists():
        # a run killed between checkpoints logged steps that will now run again
        kept = [line for line in log_path.read_text().splitlines()
                if line and json.loads(line)["step"] <= step]
        log_path.write_text("".join(line + "\n" for line in kept))

    def payload(val_psnr: float | None) -> dict[str, Any]:
        return {
            "arch": name, "spec": model.spec(), "spec_str": spec_str, "scale": cfg.scale,
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "sampler": json.dumps(sampler_state),
            "torch_rng": torch.get_rng_state(), "step": step, "best_psnr": best,
            "val_psnr_y": val_psnr, "wall_s": time.perf_counter() - start, "config": asdict(cfg),
            "degradation": degradation.describe(),
            "data": str(cfg.data), "val": str(cfg.val) if cfg.val else "held-out part of data",
        }

    loss_fn = F.l1_loss if cfg.loss == "l1" else F.mse_loss
    model.train()
    t_last, patches_since, last_val = time.perf_counter(), 0, None
    sampler_state = sampler.state()
    # Losses stay on the device until a flush, so a GPU is not made to wait every step.
    pending: list[tuple[dict[str, Any], torch.Tensor]] = []

    def flush() -> None:
        if not pending:
            return
        values = torch.stack([t for _, t in pending]).cpu().tolist()
        with log_path.open("a") as fh:
            for (record, _), (loss_v, mse_v) in zip(pending, values, strict=True):
                if not math.isfinite(loss_v):
                    raise FloatingPointError(f"loss became {loss_v} at step {record['step']}")
                fh.write(json.dumps({**record, "loss": loss_v, "train_mse": mse_v}) + "\n")
        pending.clear()

    batches = _batches(sampler, cfg.batch)
    start = time.perf_counter() - wall  # wall: the seconds of the run so far (resumed runs)
    try:
        while step < total:
            lr_np, hr_np, next_state = next(batches)
            lr_t, hr_t = _to_device(lr_np, device), _to_device(hr_np, device)
            sr = model(lr_t)
            loss = loss_fn(sr, hr_t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            sampler_state = next_state
            with torch.no_grad():
                losses = torch.stack([loss.detach(), F.mse_loss(sr.detach(), hr_t)])
            patches_since += cfg.batch
            record: dict[str, Any] = {"step": step, "lr": sched.get_last_lr()[0],
                                      "t": round(time.perf_counter() - start, 3)}
            val = None
            if step % cfg.val_every == 0 or step == total:
                val = evaluate(model, val_images, cfg.scale, device)
                if degraded_val is not None:
                    clean = val
                    val = evaluate(model, degraded_val, cfg.scale, device)
                    val["val_clean_psnr_y"] = clean["val_psnr_y"]
                record.update(val)
                last_val = val["val_psnr_y"]
            pending.append((record, losses))
            checkpoint = step % cfg.ckpt_every == 0 or step == total or val is not None
            now = time.perf_counter()
            show = on_progress is not None and (val is not None or now - t_last > 0.5)
            if checkpoint or show or len(pending) >= 100:
                flush()
            if val is not None and val["val_psnr_y"] > best:
                best = val["val_psnr_y"]
                save_checkpoint(best_path, payload(last_val))
            if checkpoint:
                save_checkpoint(last_path, payload(last_val))
            if show:
                rate = patches_since / max(now - t_last, 1e-9)
                on_progress(Progress(step, total, float(losses[0]), rate, val))
                t_last, patches_since = now, 0
        flush()
    finally:
        batches.close()
    if not best_path.exists():
        save_checkpoint(best_path, payload(last_val))
    write_loss_curve(log_path, out / "loss_curve.png")
    return {"steps": step, "best_val_psnr_y": best, "last_val_psnr_y": last_val,
            "train_seconds": time.perf_counter() - start, "run_dir": str(out), "spec": spec_str}


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
