"""Checkpoints hold the whole program state, written atomically.

A checkpoint folder ``step_NNNNNN/`` holds:
  model.safetensors   the trainable weights (frozen ones come from the base model)
  optimizer.pt        optimizer (+ grad scaler) state, read back with torch.load(weights_only=True)
  rng.safetensors     torch CPU (+ CUDA) RNG states, so dropout continues identically
  ema.safetensors     the EMA (shadow) weights, when train.ema_decay is on (ema.py)
  state.json          the run's ``Progress`` (step, data position, best validation loss,
                      early-stopping counter...) plus a few facts for people reading it

It is written into a hidden temp folder and renamed into place, so a kill or a full disk
mid-save leaves the previous checkpoint untouched and no half-written one visible.

Under FSDP the weights and optimizer state are gathered into whole tensors before writing,
so a checkpoint has one format whatever the process count, and resumes under any.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from studio.core.errors import RunError
from studio.engine.dist import full, like

FORMAT_VERSION = 1


@dataclass
class Progress:
    """How far a run has got: everything of the program state besides the weights,
    optimizer and RNG. A checkpoint's state.json holds ``to_state()``; a resume hands it to
    ``restore``, so what is saved is what comes back, field for field (the names are the
    state.json keys of every earlier version)."""

    step: int = 0                       # optimizer steps done
    pos: int = 0                        # examples consumed: the data position
    total_steps: int = 0
    best_val_loss: float | None = None
    best_step: int | None = None
    evals_since_best: int = 0           # early stopping's counter
    last_val_loss: float | None = None
    tokens_seen: int = 0                # items trained on (tokens, images or clips)
    elapsed_s: float = 0.0              # training time before this session, pauses left out
    active_groups: list[str] | None = None  # layer groups training (None: all that are due)
    probes: dict[str, Any] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take every field a ``to_state`` wrote; one an older checkpoint lacks stays."""
        for f in dataclasses.fields(self):
            if f.name in state:
                setattr(self, f.name, state[f.name])

    @classmethod
    def of(cls, state: Mapping[str, Any]) -> "Progress":
        progress = cls()
        progress.restore(state)
        return progress


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Whole CPU copies of the trainable weights (under FSDP a collective: every rank calls)."""
    return {n: full(p.detach()).to("cpu", copy=True).contiguous()
            for n, p in model.named_parameters() if p.requires_grad}


def optimizer_state(optimizer: torch.optim.Optimizer) -> dict:
    """``optimizer.state_dict()`` with whole tensors (FSDP shards gathered, a collective)."""
    sd = optimizer.state_dict()
    sd["state"] = {i: {k: full(v).to("cpu", copy=True) if torch.is_tensor(v) else v
                       for k, v in st.items()} for i, st in sd["state"].items()}
    return sd


def _shard_optimizer_state(optimizer: torch.optim.Optimizer, sd: dict) -> dict:
    """The inverse of ``optimizer_state`` for sharded parameters: each per-parameter tensor
    (Adam's moments) becomes this rank's shard of it."""
    params = [p for g in optimizer.param_groups for p in g["params"]]
    state = {}
    for i, st in sd["state"].items():
        p = params[int(i)] if int(i) < len(params) else None
        state[i] = {k: like(v, p) if p is not None and torch.is_tensor(v)
                    and v.shape == p.shape else v for k, v in st.items()}
    return {**sd, "state": state}


def load_weights(model: nn.Module, weights: dict[str, torch.Tensor], source: str) -> None:
    params = dict(model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        raise RunError(f"{source}: weights do not match the model ({len(missing)} unknown, e.g. "
                       f"{missing[0]})", "the base model changed since this run was saved")
    with torch.no_grad():
        for n, t in weights.items():
            p = params[n]
            p.copy_(like(t.to(p.dtype), p).to(p.device))


def _write_dir_atomically(final: Path, write) -> Path:
    """Call ``write(tmp_dir)``, then rename tmp_dir to ``final``."""
    tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        tmp.mkdir(parents=True)
        write(tmp)
        if final.exists():
            old = final.with_name(f".old-{final.name}-{time.monotonic_ns()}")
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        what = "the disk is full" if exc.errno == 28 else (exc.strerror or str(exc))
        raise RunError(f"{final}: could not save ({what}); the previous checkpoint is intact",
                       "free disk space (or choose another run.runs_dir) and resume") from exc
    return final


def save_checkpoint(final: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scaler, state: dict, *, write_files: bool = True,
                    extra: Mapping[str, dict[str, torch.Tensor]] | None = None) -> Path:
    """``write_files=False``: take part in gathering sharded state without writing (the
    other FSDP ranks, while rank 0 writes). ``extra``: more tensor files by name (the EMA's)."""
    weights, opt_state = trainable_state(model), optimizer_state(optimizer)
    if not write_files:
        return final

    def write(tmp: Path) -> None:
        save_file(weights, str(tmp / "model.safetensors"))
        for name, tensors in (extra or {}).items():
            save_file(tensors, str(tmp / name))
        opt = {"optimizer": opt_state}
        if scaler is not None:
            opt["scaler"] = scaler.state_dict()
        torch.save(opt, tmp / "optimizer.pt")
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                rng[f"cuda{i}"] = s
        save_file(rng, str(tmp / "rng.safetensors"))
        # state.json last: its presence marks a complete checkpoint.
        (tmp / "state.json").write_text(json.dumps({**state, "format": FORMAT_VERSION},
                                                   indent=1), encoding="utf-8")

    return _write_dir_atomically(final, write)


def read_progress(ckpt: Path) -> Progress:
    try:
        return Progress.of(json.loads((ckpt / "state.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise RunError(f"{ckpt}: checkpoint is unreadable ({exc})",
                       "resume from an earlier checkpoint") from None


def load_checkpoint(ckpt: Path, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                    scaler) -> Progress:
    """Weights, optimizer (+ scaler) and RNG states back in place; returns its progress."""
    progress = read_progress(ckpt)
    try:
        load_weights(model, load_file(str(ckpt / "model.safetensors")), str(ckpt))
        if optimizer is not None:
            opt = torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True)
            optimizer.load_state_dict(_shard_optimizer_state(optimizer, opt["optimizer"]))
            if scaler is not None and "scaler" in opt:
                scaler.load_state_dict(opt["scaler"])
        rng = load_file(str(ckpt / "rng.safetensors"))
    except (OSError, RuntimeError, KeyError) as exc:
        if isinstance(exc, RunError):
            raise
        raise RunError(f"{ckpt}: checkpoint is damaged ({exc})",
                       "resume from an earlier checkpoint") from None
    torch.set_rng_state(rng["cpu"])
    cuda_states = [rng[k] for k in sorted(rng) if k.startswith("cuda")]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    return progress


def save_weights_dir(final: Path, model: nn.Module, state: dict, *,
                     write_files: bool = True) -> Path:
    """Trainable weights + a state.json (used for best/)."""
    weights = trainable_state(model)
    if not write_files:
        return final

    def write(tmp: Path) -> None:
        save_file(weights, str(tmp / "model.safetensors"))
        (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")

    return _write_dir_atomically(final, write)


def prune(checkpoints: list[Path], keep_last: int) -> None:
    for old in checkpoints[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def clean_temp(dir_: Path) -> None:
    """Remove temp folders left by a save that was killed."""
    if dir_.is_dir():
        for p in dir_.iterdir():
            if p.name.startswith((".tmp-", ".old-")):
                shutil.rmtree(p, ignore_errors=True)
