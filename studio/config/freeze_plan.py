"""Freeze-plan presets, torch-free so the engine and the GUI's layer tree share one rule.

``groups`` are any objects with ``name`` and ``note`` and either ``has_params`` or
``params`` (a list): the engine's ``LayerGroup`` or the GUI state's ``GroupInfo``.
"""

from __future__ import annotations

from typing import Any, Sequence

from studio.config.schema import GroupPlan

HEAD_NAMES = ("lm_head", "final_norm", "head", "out")
# Groups that stay frozen unless freeze.groups names them: MusicGen's text encoder (the
# conditioning a user fine-tunes *towards*, rarely worth moving) and its codec (shown for
# its size; it has no trainable parameters in the tree: its codes are the targets).
FROZEN_BY_DEFAULT = ("text_encoder", "codec")


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
