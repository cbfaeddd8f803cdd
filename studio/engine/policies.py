"""The loop's three decisions about trouble and progress, kept small and apart from the loop
so each reads (and is tested) on its own:

* **out of memory**: the settings that make the next step fit (``fit``, ``auto_fit``);
* **divergence**: a NaN/inf loss goes back to the last good checkpoint (``roll_back``);
* **early stopping**: stop when validation stopped improving (``EarlyStopping``).

A policy gets plain values and callables (tests drive it with tiny fakes); the loop does
the heavy lifting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from studio.config.schema import TrainConfig
from studio.core.errors import RunError
from studio.engine.checkpoint import Progress

# What an out-of-memory fit tries, in order (also the GUI's choices, by these names).
FIT_ACTIONS = ("halve_batch", "gradient_checkpointing")


# -- out of memory ----------------------------------------------------------------------------

def fit(train: TrainConfig, action: str,
        enable_checkpointing: Callable[[], bool]) -> tuple[TrainConfig, str] | None:
    """The training settings after ``action`` and what to tell the user, or None when the
    action cannot help. Halving the micro-batch doubles the accumulation, so the effective
    batch (and so the run's results) stays the same."""
    if action == "halve_batch":
        if train.batch_size <= 1:
            return None
        bs, accum = max(1, train.batch_size // 2), train.grad_accum * 2
        return (dataclasses.replace(train, batch_size=bs, grad_accum=accum),
                f"out of memory: micro-batch halved to {bs}, gradient accumulation doubled "
                f"to {accum} (the effective batch stays {bs * accum})")
    if action == "gradient_checkpointing":
        if train.gradient_checkpointing or not enable_checkpointing():
            return None
        return (dataclasses.replace(train, gradient_checkpointing=True),
                "out of memory: gradient checkpointing turned on")
    return None


def auto_fit(train: TrainConfig,
             enable_checkpointing: Callable[[], bool]) -> tuple[TrainConfig, str] | None:
    """``train.on_oom = "auto_fit"``: the first action that helps, or None."""
    for action in FIT_ACTIONS:
        fitted = fit(train, action, enable_checkpointing)
        if fitted is not None:
            return fitted
    return None


def oom_message(step: int, train: TrainConfig) -> str:
    return (f"out of memory at step {step} with a micro-batch of {train.batch_size}: halve "
            "the micro-batch (the effective batch is kept through accumulation), turn on "
            "gradient checkpointing, or freeze more layers")


def oom_resume_hint(train: TrainConfig) -> str:
    """The headless way out: the same run, resumed with what fits."""
    return (f"; then `studio resume` (e.g. train.batch_size={max(1, train.batch_size // 2)} "
            f"train.grad_accum={train.grad_accum * 2})")


# -- divergence -------------------------------------------------------------------------------

class _Checkpoints(Protocol):
    def latest_checkpoint(self) -> Path | None: ...
    def truncate_metrics_after(self, step: int) -> int: ...


def divergence_message(loss: float, step: int) -> str:
    return (f"the training loss became {loss} at step {step}: the learning rate is probably "
            "too high")


def roll_back(progress: Progress, folder: _Checkpoints, load: Callable[[Path], Progress],
              message: str) -> Path:
    """Put the last good checkpoint back (``load`` restores its weights, optimizer and RNG
    and returns its progress): the step and data position return to it and the metrics
    logged after it are dropped, so the curves continue from there. The best validation
    loss is kept: its weights (best/) were saved when it was reached. Returns the
    checkpoint; without one there is nothing good to go back to, so the run fails."""
    latest = folder.latest_checkpoint()
    if latest is None:
        raise RunError(message + " (before the first checkpoint)",
                       "lower train.lr (or turn on train.grad_clip) and start again")
    saved = load(latest)
    progress.step, progress.pos = saved.step, saved.pos
    folder.truncate_metrics_after(progress.step)
    return latest


# -- early stopping ---------------------------------------------------------------------------

@dataclass
class EarlyStopping:
    """Tracks the best validation loss in ``Progress``; says stop when it has not improved
    for ``patience`` evaluations, or when the overfitting alarm rang (0: never stops)."""

    patience: int

    def record(self, progress: Progress, val: float) -> bool:
        """Take one evaluation; True when it is the best so far."""
        progress.last_val_loss = val
        is_best = progress.best_val_loss is None or val < progress.best_val_loss
        if is_best:
            progress.best_val_loss, progress.best_step = val, progress.step
            progress.evals_since_best = 0
        else:
            progress.evals_since_best += 1
        return is_best

    def why_stop(self, progress: Progress, overfitting: bool = False) -> str:
        """Why to stop now (the log line), or "" to go on."""
        if not self.patience:
            return ""
        if overfitting:
            return (f"early stopping: overfitting (best validation loss "
                    f"{progress.best_val_loss:.4f} at step {progress.best_step}; export uses "
                    "those weights)")
        if progress.evals_since_best >= self.patience:
            return (f"early stopping: no better validation loss in {self.patience} "
                    "evaluations")
        return ""
