"""How long a new project trains, from how much data it has.

The demo's fixed 200 steps were 33 epochs of a user's 47-block poem folder: validation
rose 1.3 nats by the end and the run looked like it had worked. A new project instead
starts at about ``TARGET_EPOCHS`` passes over its training split (never fewer than
``MIN_STEPS`` optimizer steps, never more than ``MAX_STEPS``), evaluates about ten times,
and stops early after ``PATIENCE`` evaluations without a better validation loss (export
then takes the best weights). The Settings pane says how many epochs a step count means.
Stdlib only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from studio.config.freeze_plan import run_length

TARGET_EPOCHS = 3.0
MIN_STEPS, MAX_STEPS = 30, 2000
EVALUATIONS = 10
PATIENCE = 3


@dataclass(frozen=True)
class Budget:
    max_steps: int
    steps_per_epoch: int
    eval_every: int
    early_stopping_patience: int

    @property
    def epochs(self) -> float:
        return self.max_steps / self.steps_per_epoch


def train_items(items: int, cfg: Any) -> int:
    """Items (blocks, images, clips) of the training split out of ``items`` in all."""
    return max(1, round(items * (1.0 - cfg.data.val_fraction)))


def steps_per_epoch(items: int, cfg: Any) -> int:
    """Optimizer steps of one pass over the training split (the engine's own formula)."""
    one = dataclasses.replace(cfg.train, max_steps=0, epochs=1.0)
    return run_length(one, train_items(items, cfg)) or 1


def suggest(items: int, cfg: Any) -> Budget:
    """The budget for ``items`` training items (all of them, before the split)."""
    per_epoch = steps_per_epoch(items, cfg)
    steps = min(MAX_STEPS, max(MIN_STEPS, math.ceil(TARGET_EPOCHS * per_epoch)))
    return Budget(steps, per_epoch, max(1, steps // EVALUATIONS), PATIENCE)


def apply(cfg: Any, budget: Budget) -> Any:
    """``cfg`` training for ``budget`` (evaluating, sampling and stopping early to fit)."""
    return dataclasses.replace(
        cfg, train=dataclasses.replace(cfg.train, max_steps=budget.max_steps),
        eval=dataclasses.replace(cfg.eval, every=budget.eval_every,
                                 early_stopping_patience=budget.early_stopping_patience,
                                 keep_best=True),
        sample=dataclasses.replace(cfg.sample, every=max(budget.eval_every,
                                                         budget.max_steps // 4)))


def describe(cfg: Any, items: int | None) -> str:
    """"200 steps ≈ 33 passes over your 42 training blocks" for the Settings pane ("" while
    the data is not known)."""
    if not items:
        return ""
    per_epoch = steps_per_epoch(items, cfg)
    steps = run_length(cfg.train, train_items(items, cfg))
    if not steps:
        return ""
    epochs = steps / per_epoch
    text = (f"{steps:,} steps ≈ {epochs:.1f} epoch{'s' if abs(epochs - 1) > 0.05 else ''} "
            f"(one epoch = {per_epoch:,} step{'s' if per_epoch != 1 else ''} over "
            f"{train_items(items, cfg):,} training items)")
    if epochs > 3 * TARGET_EPOCHS:
        text += ("; that many passes over a small dataset tends to memorise it: turn on "
                 "early stopping or train fewer steps")
    return text
