"""An exponential moving average (EMA) of the weights that train, for every family.

As diffusers' training scripts do (``diffusers.training_utils.EMAModel``): after each
optimizer step every shadow weight moves toward its parameter,
``shadow -= (1 - decay_k) * (shadow - param)``, with the warm-up
``decay_k = min(decay, (1 + k) / (10 + k))`` at update k = 0, 1, 2... (decay 0 at the first
update: the shadow starts as the weights), so a short run is not dragged back to its start.
The shadows live on the trainer's device, one per trainable parameter (LoRA adapters or
whole groups); a group unfrozen later joins when it starts to train, its shadow starting
from its weights then. Evaluation, samples and saved best/exported weights swap the shadows
in (``applied``) and put the training weights back afterwards; checkpoints hold both, the
training weights to resume from and ``ema.safetensors``, which sample/export prefer.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from safetensors.torch import load_file
from torch import nn

from studio.core.errors import RunError
from studio.engine.dist import full, like

FILE = "ema.safetensors"


def decay_at(decay: float, updates_done: int) -> float:
    """The decay of the update after ``updates_done`` earlier ones (diffusers' warm-up)."""
    if updates_done <= 0:
        return 0.0
    return min(decay, (1 + updates_done) / (10 + updates_done))


class EMA:
    """Shadow weights of a model's trainable parameters, keyed by parameter name."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self.updates = 0                        # updates done (the warm-up's counter)
        self.shadow: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """After an optimizer step. A parameter new to training (a group unfrozen at
        this step) joins with its current value as its shadow."""
        keep = 1.0 - decay_at(self.decay, self.updates)
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            s = self.shadow.get(name)
            if s is None:
                self.shadow[name] = p.detach().clone()
            else:
                s.sub_((s - p.detach()).mul_(keep))
        self.updates += 1

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """The shadow weights in the model for the block; the training weights after it
        (also when the block raises), bit for bit."""
        params = dict(model.named_parameters())
        saved = {}
        with torch.no_grad():
            for name, s in self.shadow.items():
                saved[name] = params[name].detach().clone()
                params[name].copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for name, w in saved.items():
                    params[name].copy_(w)

    # -- checkpoints -------------------------------------------------------------------------
    def state(self) -> dict[str, torch.Tensor]:
        """Whole CPU copies (FSDP shards gathered: every rank calls), plus the counter."""
        out = {n: full(s).to("cpu", copy=True).contiguous() for n, s in self.shadow.items()}
        out["__updates__"] = torch.tensor(self.updates, dtype=torch.int64)
        return out

    def load(self, ckpt_dir: Path, model: nn.Module) -> None:
        """The shadows a checkpoint saved (none saved: start again from the weights)."""
        path = ckpt_dir / FILE
        self.shadow, self.updates = {}, 0
        if not path.is_file():
            return
        try:
            saved = load_file(str(path))
        except (OSError, RuntimeError) as exc:
            raise RunError(f"{path}: the EMA weights are damaged ({exc})",
                           "resume from an earlier checkpoint") from None
        self.updates = int(saved.pop("__updates__", torch.tensor(0)))
        params = dict(model.named_parameters())
        for name, t in saved.items():
            if name not in params:
                raise RunError(f"{path}: EMA weights do not match the model ({name})",
                               "the base model changed since this run was saved")
            p = params[name]
            self.shadow[name] = like(t.to(p.dtype), p).to(p.device).clone()


def weights_file(ckpt_dir: Path) -> dict[str, torch.Tensor] | None:
    """A checkpoint's EMA weights as a model's weights (None: the run kept no EMA)."""
    path = ckpt_dir / FILE
    if not path.is_file():
        return None
    saved = load_file(str(path))
    saved.pop("__updates__", None)
    return saved
