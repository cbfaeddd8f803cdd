"""What the loop starts from and leans on: the device, the model made ready to train, a
freeze plan that trains something, the validation loss. Small helpers, so loop.py reads as
the loop."""

from __future__ import annotations

import gc
import math
from typing import Any, Callable

import torch
from torch import nn

from studio.config.schema import TrainConfig
from studio.core.errors import ConfigError, RunError
from studio.engine.device import pick_device, tune_cpu_allocator
from studio.engine.dist import Dist
from studio.models import freeze as fz


def device_for(train: TrainConfig, dist: Dist) -> torch.device:
    """CUDA, then Apple MPS, then CPU (or what ``train.device`` says); each process of a
    distributed run takes the GPU of its local rank."""
    device = pick_device(train.device)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    if device.type == "cpu":
        tune_cpu_allocator()
    return device


def prepare_model(model: nn.Module, train: TrainConfig, log: Callable[[str, str], None]) -> None:
    """Dropout and gradient checkpointing as the config says; training mode."""
    if train.dropout >= 0:
        set_dropout(model, train.dropout)
    if train.gradient_checkpointing and not enable_checkpointing(model):
        log("this model does not support gradient checkpointing; training without", "warning")
    model.train()


def log_data(data: Any, log: Callable[[str, str], None]) -> None:
    """What the dataset holds, and the files it skipped (the first 20)."""
    log(data.summary, "info")
    for sk in data.skipped[:20]:
        log(f"skipped {sk.path}: {sk.reason}", "warning")
    if len(data.skipped) > 20:
        log(f"... and {len(data.skipped) - 20} more skipped files", "warning")


def set_dropout(model: nn.Module, p: float) -> None:
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = p
    for key in ("resid_pdrop", "embd_pdrop", "attn_pdrop", "dropout", "attention_dropout",
                "hidden_dropout"):
        if hasattr(model.config, key):
            setattr(model.config, key, p)
    # Some architectures (Llama, Qwen) read attention dropout from a module attribute.
    for m in model.modules():
        if hasattr(m, "attention_dropout") and isinstance(m.attention_dropout, float):
            m.attention_dropout = p


def enable_checkpointing(model: nn.Module) -> bool:
    """Turn on gradient checkpointing; False when the model cannot."""
    for name in ("gradient_checkpointing_enable", "enable_gradient_checkpointing"):
        fn = getattr(model, name, None)
        if fn is not None:
            try:
                fn()
            except (ValueError, NotImplementedError, AttributeError):
                return False
            return True
    return False


def check_plan(groups: list[fz.GroupState]) -> None:
    """A freeze plan must train something, from step 0."""
    if not any(s.mode != "frozen" and s.params for s in groups):
        raise ConfigError("freeze", "the plan freezes every layer group: nothing would train",
                          "set at least one group to full or lora")
    if not fz.trainable_at(groups, 0):
        first = min(s.start_step for s in groups if s.mode != "frozen" and s.params)
        raise ConfigError("freeze.groups", f"no group trains before step {first}",
                          "let at least one group start at step 0")


def free_memory(device: torch.device) -> None:
    """After an out-of-memory error: let go of what the failed step held."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def mean_val_loss(family: Any, loaded: Any, data: Any, *, bs: int, max_batches: int,
                  device: torch.device, precision: Any,
                  log: Callable[[str, str], None]) -> tuple[float, int]:
    """Mean validation loss per item of ``data``'s validation split, under no_grad, in eval
    mode (dropout off), and the batch size that fitted: out of memory halves the batch and
    starts again (``log`` says so)."""
    model = loaded.model
    while True:
        n_batches = math.ceil(data.n_val / bs)
        if max_batches:
            n_batches = min(n_batches, max_batches)
        model.eval()
        total = torch.zeros((), device=device)
        count = 0
        try:
            with torch.no_grad():
                for b in range(n_batches):
                    batch = data.val_batch(b, bs).to(device, non_blocking=True)
                    with precision.autocast(device):
                        loss = family.val_loss(loaded, batch, b)
                    total += loss.float() * len(batch)
                    count += len(batch)
            return float(total / max(1, count)), bs  # one sync point per evaluation
        except torch.OutOfMemoryError:
            free_memory(device)
            if bs <= 1:
                raise RunError("out of memory while evaluating one example",
                               "lower data.block_size / image size or freeze more") from None
            bs = max(1, bs // 2)
            log(f"out of memory while evaluating: evaluation batch halved to {bs}", "warning")
        finally:
            model.train()
