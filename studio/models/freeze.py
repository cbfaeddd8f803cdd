"""The freeze plan made real: which layer groups train, how (full / LoRA), at what rate
and from which step — for any family's ``layer_groups``.

Decisions (written down because they change results):

* **Optimizer state exists only for parameters that have trained.** A group that starts
  later joins the optimizer as new parameter groups at its start step, with fresh state
  (Adam's moments start at zero; its bias correction makes the first updates normal-sized).
* **Warm-up on unfreezing.** A newly unfrozen group's rate ramps linearly from ~0 to its
  full value over ``freeze.unfreeze_warmup_steps``, on top of the run's schedule, so
  pre-trained weights never get a sudden full-rate kick (ULMFiT's concern).
* **Discriminative rates** spread geometrically from ``lr_first_ratio`` x lr for the first
  group (embeddings) to 1 x lr for the last (head), like fastai's ``slice(lo, hi)``;
  each group's own ``lr_scale`` multiplies on top.
* **LoRA** adds peft low-rank adapters to the group's linear / conv layers; the group's
  own weights stay frozen. Tied weights train with the group that owns them (the
  embeddings), which the layer tree says.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from studio.config.freeze_plan import discriminative_factor, preset_plan
from studio.config.schema import FreezeConfig, GroupPlan
from studio.core.errors import ConfigError
from studio.models.base import LayerGroup


@dataclass
class GroupState:
    group: LayerGroup
    index: int
    mode: str
    lr_scale: float
    start_step: int
    params: list[str] = field(default_factory=list)   # names after LoRA injection
    active: bool = False
    activated_at: int = 0


def resolve_plan(groups: list[LayerGroup], fc: FreezeConfig) -> list[GroupState]:
    names = [g.name for g in groups]
    for i, gp in enumerate(fc.groups):
        if gp.name not in names:
            close = difflib.get_close_matches(gp.name, names, n=1)
            hint = (f"did you mean '{close[0]}'? " if close else "") + \
                f"The model's groups are {', '.join(names)}"
            raise ConfigError(f"freeze.groups[{i}].name", f"no layer group named {gp.name!r}",
                              hint)
    plans = preset_plan(groups, fc.preset, fc.gradual_every)
    plans.update({gp.name: gp for gp in fc.groups})
    n = len(groups)
    states = []
    for i, g in enumerate(groups):
        gp = plans.get(g.name, GroupPlan(g.name, fc.default_mode))
        disc = discriminative_factor(i, n, fc.lr_first_ratio)
        states.append(GroupState(g, i, gp.mode, gp.lr_scale * disc, gp.start_step))
    return states


_LORA_TYPES: tuple[type, ...] = (nn.Linear, nn.Conv1d, nn.Conv2d)


def _lora_types() -> tuple[type, ...]:
    try:
        from transformers.pytorch_utils import Conv1D  # GPT-2's linear layers
        return _LORA_TYPES + (Conv1D,)
    except ImportError:
        return _LORA_TYPES


def _module_of(param_name: str) -> str:
    """Original module path of a parameter, also after LoRA injection."""
    name = param_name.replace(".base_layer.", ".")
    if ".lora_" in name:
        return name.split(".lora_", 1)[0]
    return name.rsplit(".", 1)[0] if "." in name else ""


def _is_lora_target(name: str, fc: FreezeConfig) -> bool:
    """``freeze.lora_targets`` (ends of module names) narrows LoRA to those layers; empty:
    every linear / conv layer of a LoRA group."""
    from studio.config.freeze_plan import is_lora_target

    return is_lora_target(name, tuple(getattr(fc, "lora_targets", ()) or ()))


def apply_plan(model: nn.Module, states: list[GroupState], fc: FreezeConfig) -> nn.Module:
    """Freeze everything, inject LoRA adapters for LoRA groups, record each group's
    parameters. Nothing trains until ``activate``."""
    module_group: dict[str, GroupState] = {}
    for st in states:
        for p in st.group.params:
            module_group[p.rsplit(".", 1)[0] if "." in p else ""] = st
    lora_targets = []
    types = _lora_types()
    for name, mod in model.named_modules():
        st = module_group.get(name)
        if st is not None and st.mode == "lora" and isinstance(mod, types) \
                and _is_lora_target(name, fc):
            lora_targets.append(name)
    lora_groups = [st.group.name for st in states if st.mode == "lora"]
    if lora_groups and not lora_targets:
        raise ConfigError("freeze.groups", f"LoRA needs linear or conv layers, and "
                          f"{', '.join(lora_groups)} has none", 'use mode = "full" there')
    if lora_targets:
        from peft import LoraConfig, inject_adapter_in_model

        conv1d = any(type(m).__name__ == "Conv1D" for n, m in model.named_modules()
                     if n in set(lora_targets))
        cfg = LoraConfig(r=fc.lora_rank, lora_alpha=fc.lora_alpha,
                         lora_dropout=fc.lora_dropout, target_modules=lora_targets,
                         fan_in_fan_out=conv1d)
        inject_adapter_in_model(cfg, model)
        model._studio_lora_config = cfg  # for export
    for p in model.parameters():
        p.requires_grad_(False)
    for name, _ in model.named_parameters():
        st = module_group.get(_module_of(name))
        if st is None:
            continue
        is_lora = ".lora_" in name
        if (st.mode == "full" and not is_lora) or (st.mode == "lora" and is_lora):
            st.params.append(name)
    return model


def trainable_at(states: list[GroupState], step: int) -> list[GroupState]:
    """Groups that train at ``step``, in a canonical order (start step, then tree order):
    the optimizer's parameter groups are built in this order both on a fresh start and on
    resume, so a saved optimizer state always lines up."""
    ready = [s for s in states if s.mode != "frozen" and s.params and s.start_step <= step]
    return sorted(ready, key=lambda s: (s.start_step, s.index))


def activate(model: nn.Module, st: GroupState, optimizer: torch.optim.Optimizer | None,
             weight_decay: float, step: int) -> list[dict]:
    """Turn ``requires_grad`` on for a group and give it optimizer parameter groups."""
    params = dict(model.named_parameters())
    decay, no_decay = [], []
    for n in st.params:
        p = params[n]
        p.requires_grad_(True)
        (decay if p.dim() >= 2 else no_decay).append(p)
    st.active, st.activated_at = True, step
    pgroups = []
    for ps, wd, kind in ((decay, weight_decay, "decay"), (no_decay, 0.0, "no_decay")):
        if ps:
            pgroups.append({"params": ps, "weight_decay": wd, "lr_scale": st.lr_scale,
                            "group": st.group.name, "kind": kind, "activated_at": step,
                            "start_step": st.start_step})
    if optimizer is not None:
        for g in pgroups:
            g.setdefault("lr", 0.0)
            optimizer.add_param_group(g)
    return pgroups


def group_lr(base_lr: float, g: dict, step: int, warmup: int) -> float:
    """A parameter group's rate: schedule x group scale x warm-up after a late start."""
    lr = base_lr * g.get("lr_scale", 1.0)
    if g.get("start_step", 0) > 0 and warmup > 0:
        lr *= min(1.0, (step - g["start_step"] + 1) / (warmup + 1))
    return lr


# -- memory estimate ---------------------------------------------------------------------

OPTIMIZER_STATE_FLOATS = {"adamw": 2, "adam": 2, "sgd": 1, "rmsprop": 2}


@dataclass
class MemoryEstimate:
    weights: int
    gradients: int
    optimizer: int
    activations: int
    trainable_params: int
    total_params: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations


def estimate_memory(total_params: int, trainable_params: int, *, optimizer: str,
                    momentum: float, batch: int, block: int, n_layer: int, d_model: int,
                    vocab: int, n_head: int = 1, bytes_per_act: int = 4,
                    frozen_below_blocks: int = 0) -> MemoryEstimate:
    """Training memory = weights + gradients + optimizer state + activations.

    Activations follow Korthikanti et al. (2022): per layer about 34·s·b·h + 5·a·s²·b
    values in 16-bit, i.e. ~17·s·b·h + 2.5·a·s²·b elements, plus the logits, their
    softmax and the loss gradient alive at the start of backward (5·b·s·V). Layers below the lowest trainable block keep no
    activations for backward (``frozen_below_blocks``). A rough term, as the layer tree
    says: within tens of percent, not bytes.
    """
    floats = OPTIMIZER_STATE_FLOATS.get(optimizer, 2)
    if optimizer == "sgd" and momentum == 0:
        floats = 0
    if optimizer == "rmsprop" and momentum == 0:
        floats = 1
    live_layers = max(0, n_layer - frozen_below_blocks)
    per_layer = 17 * block * batch * d_model + 2.5 * n_head * block * block * batch
    acts = live_layers * per_layer + 5 * batch * block * vocab + 2 * batch * block * d_model
    if trainable_params == 0:
        acts = 0
    return MemoryEstimate(weights=total_params * 4, gradients=trainable_params * 4,
                          optimizer=trainable_params * 4 * floats,
                          activations=int(acts * bytes_per_act),
                          trainable_params=trainable_params, total_params=total_params)


def _cfg_int(config, *names: str, default: int = 0) -> int:
    for n in names:
        v = getattr(config, n, None)
        if isinstance(v, int) and v > 0:
            return v
    return default


def model_shape(model: nn.Module, n_blocks: int = 0) -> dict:
    """What the activation term needs from a model: n_layer, d_model, vocab (logits per
    position), n_head, and for a MusicGen ``audio`` (codec frame rate and codebooks: its
    positions are codec frames, its logits one head per codebook). For a MusicGen the
    transformer that trains is the decoder, so its sizes are the ones that count."""
    cfg = getattr(model, "config", None)
    audio = None
    dec = getattr(cfg, "decoder", None)
    codec = getattr(cfg, "audio_encoder", None)
    if dec is not None and codec is not None and hasattr(dec, "num_codebooks"):
        hop = math.prod(int(r) for r in codec.upsampling_ratios)
        audio = {"frame_rate": float(codec.sampling_rate) / hop,
                 "codebooks": int(dec.num_codebooks)}
        cfg = dec
    shape = {"n_layer": _cfg_int(cfg, "n_layer", "num_hidden_layers", default=n_blocks),
             "d_model": _cfg_int(cfg, "n_embd", "hidden_size", "d_model", default=256),
             "vocab": _cfg_int(cfg, "vocab_size", default=0),
             "n_head": _cfg_int(cfg, "n_head", "num_attention_heads", default=1)}
    if audio:
        shape["vocab"] *= audio["codebooks"]
        shape["audio"] = audio
    latent = getattr(cfg, "latent", None)  # a latent diffusion UNet (text-to-image)
    if isinstance(latent, dict):
        shape["latent"] = dict(latent)
    return shape


def family_shape(family: Any, loaded: Any) -> dict:
    """What the family's optional ``memory_shape(loaded)`` hook says better than
    ``model_shape`` (a captioner: its text decoder's sizes, and ``positions`` /
    ``per_example``: what one training example is); {} without the hook."""
    hook = getattr(family, "memory_shape", None)
    return dict(hook(loaded)) if hook is not None else {}


def positions(shape: dict, data) -> tuple[int, str]:
    """Positions per training example and how to say them: what the family's
    ``memory_shape`` hook put in ``shape`` (``positions``, ``per_example``); else
    ``data.block_size`` tokens for text; for audio the codec frames of one
    ``data.clip_seconds`` clip plus the delay pattern's extra frame per codebook after the
    first."""
    if shape.get("per_example"):
        return int(shape["positions"]), str(shape["per_example"])
    latent = shape.get("latent")
    if latent:  # the UNet's positions: the latent pixels of a bucket of data.resolution
        res = int(getattr(data, "resolution", 0) or latent["native"])
        side = max(1, res // int(latent["scale"]))
        return side * side, f"{res}x{res} px images ({side}x{side} latents)"
    audio = shape.get("audio")
    if audio:
        frames = max(1, math.ceil(float(data.clip_seconds) * audio["frame_rate"]))
        return (frames + audio["codebooks"] - 1,
                f"{frames} codec frames ({float(data.clip_seconds):g} s clips)")
    return int(data.block_size), f"{int(data.block_size)} tokens"


def estimate_for(model: nn.Module, states: list[GroupState], *, optimizer: str,
                 momentum: float, batch: int, block: int,
                 shape: dict | None = None) -> MemoryEstimate:
    """The estimate for a loaded model and a resolved plan (what the layer tree shows);
    ``shape``: the model's (``family_shape``), when not ``model_shape(model)``."""
    params = dict(model.named_parameters())
    total = sum(p.numel() for p in params.values())
    trainable = sum(params[n].numel() for s in states if s.mode != "frozen"
                    for n in s.params if n in params)
    if not any(s.params for s in states):  # plan not applied yet: count the plan's groups
        trainable = sum(s.group.count for s in states if s.mode != "frozen")
    blocks = [s for s in states if s.group.name.startswith("block.")]
    lowest = next((k for k, s in enumerate(blocks) if s.mode != "frozen"), len(blocks))
    emb_trains = any(s.group.name == "embeddings" and s.mode != "frozen" for s in states)
    shape = {**model_shape(model, len(blocks)), **(shape or {})}
    return estimate_memory(
        total, trainable, optimizer=optimizer, momentum=momentum, batch=batch, block=block,
        n_layer=shape["n_layer"], d_model=shape["d_model"], vocab=shape["vocab"],
        n_head=shape["n_head"], frozen_below_blocks=0 if emb_trains else lowest)
