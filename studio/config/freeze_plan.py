"""The freeze plan's formulas, torch-free so the engine and the GUI's layer tree share one
rule: the presets, the discriminative rate factor of each group, and the run's length in
optimizer steps (the unfreeze timeline's axis).

``groups`` are any objects with ``name`` and ``note`` and either ``has_params`` or
``params`` (a list): the engine's ``LayerGroup`` or the GUI state's ``GroupInfo``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from studio.config.schema import GroupPlan, TrainConfig

HEAD_NAMES = ("lm_head", "final_norm", "head", "out")
# Groups that stay frozen unless freeze.groups names them: MusicGen's text encoder (the
# conditioning a user fine-tunes *towards*, rarely worth moving) and its codec (shown for
# its size; it has no trainable parameters in the tree: its codes are the targets); a
# captioner's vision encoder (its features are what pre-training paid for); Stable
# Diffusion's second (SDXL) text encoder and its VAE (no trainable parameters in the tree:
# its latents are the targets).
FROZEN_BY_DEFAULT = ("text_encoder", "codec", "vision_encoder", "text_encoder_2", "vae")


def is_lora_target(module: str, targets: Sequence[str]) -> bool:
    """``freeze.lora_targets`` (ends of module names: ``to_q`` matches ``...attn1.to_q``)
    narrows LoRA to those layers; empty: every linear / conv layer of a LoRA group. The
    engine adapts exactly these, and the layer tree counts exactly these."""
    return not targets or any(module == e or module.endswith("." + e) for e in targets)


def _has_params(g: Any) -> bool:
    has = getattr(g, "has_params", None)
    return bool(has) if has is not None else bool(getattr(g, "params", ()))


def preset_plan(groups: Sequence[Any], preset: str, every: int) -> dict[str, GroupPlan]:
    """Plans per group name for a named preset (explicit ``freeze.groups`` override it)."""
    names = [g.name for g in groups]
    plans = {n: GroupPlan(n, "frozen") for n in names if n in FROZEN_BY_DEFAULT}
    if preset == "none":
        return plans
    names = [n for n in names if n not in FROZEN_BY_DEFAULT]
    groups = [g for g in groups if g.name not in FROZEN_BY_DEFAULT]
    head = [n for n in names if n in HEAD_NAMES]
    if preset == "head_only":
        for g in groups:
            plans[g.name] = GroupPlan(g.name, "full" if g.name in head else "frozen")
        # a tied head has no weights of its own: it trains through the embeddings
        if any(g.name in ("lm_head", "head") and not _has_params(g) and "tied" in g.note
               for g in groups):
            plans[names[0]] = GroupPlan(names[0], "full")
    elif preset == "lower_half_frozen":
        blocks = [n for n in names if n.startswith("block.")]
        frozen = set(blocks[: len(blocks) // 2]) | {n for n in names if n == "embeddings"}
        for n in names:
            plans[n] = GroupPlan(n, "frozen" if n in frozen else "full")
    elif preset == "gradual":
        # top-down: the head (and final norm) first, then one more group every `every` steps
        order = head + [n for n in reversed(names) if n not in head]
        for k, n in enumerate(order):
            stage = 0 if n in head else k - len(head) + 1
            plans[n] = GroupPlan(n, "full", start_step=stage * every)
    return plans


def discriminative_factor(index: int, n: int, ratio: float) -> float:
    """The rate factor of group ``index`` of ``n``: ``ratio`` for the first (embeddings),
    1 for the last (head), geometric in between (ULMFiT; fastai's ``slice(lo, hi)``)."""
    return ratio ** ((n - 1 - index) / (n - 1)) if n > 1 else 1.0


def run_length(train: TrainConfig, train_examples: int | None = None) -> int | None:
    """Optimizer steps of the run: ``max_steps``, else ``epochs`` over the training set in
    steps of ``batch_size`` x ``grad_accum`` examples; None while it is set in epochs and
    the number of training examples is not known yet."""
    if train.max_steps > 0:
        return train.max_steps
    if not train_examples:
        return None
    micro = max(1, math.ceil(train_examples / train.batch_size))
    return max(1, math.ceil(train.epochs * micro / train.grad_accum))
