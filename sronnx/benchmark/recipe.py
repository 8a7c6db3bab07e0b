"""The study's recipe: variants, questions, budget and data, read from `bench/study.json`.

No torch here: the recipe can be read, checked and fingerprinted anywhere. A run's
fingerprint covers everything that changes its trained weights, so a resumed study never mixes
runs made under different settings.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_RECIPE = Path("bench") / "study.json"
BUDGET_KEYS = ("steps", "batch", "patch", "lr", "schedule", "warmup", "loss", "val_every",
               "ckpt_every", "val_max_side")


class RecipeError(ValueError):
    """The recipe file is missing or inconsistent; the message says where."""


@dataclass(frozen=True)
class Recipe:
    path: Path
    root: Path  # relative paths of the recipe are taken from here
    out: Path
    scale: int
    train: Path
    train_images: int | None  # use only the first N training images (quick runs)
    val: tuple[Path, ...]
    eval_max_side: int | None  # centre-crop validation images for the final scores (quick)
    threads: int
    budget: dict[str, Any]
    seeds: int
    reference: str
    reference_seeds: int
    speed: dict[str, Any]
    variants: dict[str, str]  # id -> architecture spec
    questions: dict[str, tuple[str, ...]]
    selected: tuple[str, ...]  # the variants this invocation runs
    quick: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def runs(self) -> list[tuple[str, int]]:
        """(variant, seed) pairs to run, reference first so the seed spread comes early."""
        order = sorted(self.selected, key=lambda v: v != self.reference)
        return [(v, s) for v in order for s in range(self.seeds_of(v))]

    def seeds_of(self, variant: str) -> int:
        return max(self.seeds, self.reference_seeds) if variant == self.reference \
            else self.seeds

    def train_fingerprint(self, variant: str, seed: int) -> str:
        """What determines the trained weights: change any of it and the run is another."""
        return _digest({"spec": self.variants[variant], "scale": self.scale, "seed": seed,
                        "budget": self.budget, "train": self.rel(self.train),
                        "train_images": self.train_images,
                        "val": [self.rel(v) for v in self.val]})

    def eval_fingerprint(self) -> str:
        """What determines the scores of a trained run (not its weights): threads change the
        throughput, so another thread count re-scores every run without retraining it."""
        return _digest({"val": [self.rel(v) for v in self.val],
                        "eval_max_side": self.eval_max_side,
                        "speed": self.speed, "threads": self.threads})

    def rel(self, path: Path) -> str:
        """`path` as written relative to the root (the same wherever the study is started)."""
        return Path(os.path.relpath(path, self.root)).as_posix()

    def summary(self) -> dict[str, Any]:
        """The recipe as recorded in results.json."""
        return {"recipe": self.rel(self.path), "quick": self.quick, "scale": self.scale,
                "train": self.rel(self.train), "train_images": self.train_images,
                "val": [self.rel(v) for v in self.val], "eval_max_side": self.eval_max_side,
                "threads": self.threads, "budget": dict(self.budget), "seeds": self.seeds,
                "reference": self.reference, "reference_seeds": self.reference_seeds,
                "speed": dict(self.speed), "variants": dict(self.variants),
                "questions": {q: list(v) for q, v in self.questions.items()},
                "selected": list(self.selected)}


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _path(root: Path, text: str) -> Path:
    p = Path(text)
    return p if p.is_absolute() else Path(os.path.normpath(Path(root, p)))


def load_recipe(path: str | Path = DEFAULT_RECIPE, *, quick: bool = False,
                seeds: int | None = None, variants: list[str] | None = None,
                steps: int | None = None, threads: int | None = None) -> Recipe:
    """Read a recipe; `quick` applies its "quick" section; the other arguments override."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"no study recipe at {path} (run from the repository root, or pass "
                          "--recipe bench/study.json)")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RecipeError(f"{path}: not valid JSON: {exc}") from exc
    cfg = dict(raw)
    if quick:
        over = dict(raw.get("quick") or {})
        over.pop("about", None)
        cfg["budget"] = {**raw["budget"], **over.pop("budget", {})}
        cfg["speed"] = {**raw["speed"], **over.pop("speed", {})}
        cfg.update(over)
    root = Path(os.path.normpath(path.parent / cfg.get("root", ".")))
    budget = dict(cfg["budget"])
    missing = [k for k in BUDGET_KEYS if k not in budget]
    if missing:
        raise RecipeError(f"{path}: budget lacks {', '.join(missing)}")
    if steps is not None:
        budget["steps"] = steps
    all_variants = dict(cfg["variants"])
    questions = {q: tuple(v) for q, v in cfg["questions"].items()}
    # "run": the variants this recipe (or its quick section) runs; all of them by default
    selected = list(variants or cfg.get("run") or all_variants)
    for v in [*selected, *(x for vs in questions.values() for x in vs), cfg["reference"]]:
        if v not in all_variants:
            raise RecipeError(f"{path}: variant {v!r} is not defined in \"variants\"")
    recipe = Recipe(
        path=path, root=root, out=_path(root, cfg.get("out", "bench/results/study")),
        scale=int(cfg["scale"]), train=_path(root, cfg["train"]),
        train_images=cfg.get("train_images"), val=tuple(_path(root, v) for v in cfg["val"]),
        eval_max_side=cfg.get("eval_max_side"), threads=int(threads or cfg.get("threads", 2)),
        budget=budget, seeds=int(seeds or cfg.get("seeds", 1)), reference=cfg["reference"],
        reference_seeds=int(cfg.get("reference_seeds", 1)), speed=dict(cfg["speed"]),
        variants=all_variants, questions=questions, selected=tuple(dict.fromkeys(selected)),
        quick=quick, raw=raw,
    )
    if seeds is not None:
        recipe = replace(recipe, reference_seeds=max(seeds, recipe.reference_seeds))
    return recipe
