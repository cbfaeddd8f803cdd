"""Optimizers and learning-rate schedules (multipliers of the peak rate)."""

from __future__ import annotations

import math

import torch

from studio.config.schema import TrainConfig


def build_optimizer(t: TrainConfig, groups: list[dict]) -> torch.optim.Optimizer:
    # One fused kernel per step on CUDA instead of many small ones (the state is the same).
    on_cuda = all(p.is_cuda for g in groups for p in g["params"])
    fused = {"fused": True} if on_cuda else {}
    if t.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=t.lr, betas=(t.beta1, t.beta2), eps=t.eps, **fused)
    if t.optimizer == "adam":
        # Adam's weight decay is the classic L2 term added to the gradient.
        return torch.optim.Adam(groups, lr=t.lr, betas=(t.beta1, t.beta2), eps=t.eps, **fused)
    if t.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=t.lr, momentum=t.momentum, nesterov=t.nesterov)
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=t.lr, momentum=t.momentum, eps=t.eps)
    raise ValueError(t.optimizer)


def lr_multiplier(step: int, total: int, t: TrainConfig) -> float:
    """Multiplier of the peak rate for the update made at optimizer step ``step`` (0-based).

    Warm-up is linear from 1/(warmup+1) to 1; after it, the shape decays from 1 to
    ``min_lr_ratio`` at the last step. one_cycle uses warm-up (default 10% of the run)
    then cosine annealing, the schedule of Smith's 1cycle policy.
    """
    warmup = t.warmup_steps
    if t.schedule == "one_cycle" and warmup == 0:
        warmup = max(1, int(0.1 * total))
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if t.schedule == "constant":
        return 1.0
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    floor = t.min_lr_ratio
    if t.schedule == "linear":
        return floor + (1.0 - floor) * (1.0 - progress)
    # cosine and one_cycle anneal on a half cosine
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
