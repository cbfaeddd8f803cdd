"""Run names that say what a run is and what differs: ``sonnets-lr3e-4-lora-r16``.

Every run used to be called "run", so a list of twenty runs was twenty "run"s. A run
the user did not name is called after its project (or its family) plus the few settings
that set it apart from the run before it (or, for the first run, from the family's
defaults). Stdlib only.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from studio.config import families

DEFAULT_NAME = "run"  # the schema's default: "the user did not name this run"
MAX_PARTS = 3

# (dotted setting, short label) in order of how much they tell a run apart
_TELLING = (
    ("model.source", ""), ("train.lr", "lr"), ("freeze.preset", ""),
    ("freeze.default_mode", ""), ("freeze.lora_rank", "r"), ("train.max_steps", "steps"),
    ("train.epochs", "ep"), ("train.batch_size", "bs"), ("data.block_size", "ctx"),
    ("train.optimizer", ""), ("train.schedule", ""), ("train.weight_decay", "wd"),
    ("train.seed", "seed"), ("data.image_size", "px"), ("data.clip_seconds", "s"),
)


def _get(cfg: Any, dotted: str) -> Any:
    section, key = dotted.split(".")
    return getattr(getattr(cfg, section, None), key, None)


def _short(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.0e}" if value and (abs(value) < 1e-2 or abs(value) >= 1e4) \
            else f"{value:g}"
        return text.replace("e-0", "e-").replace("e+0", "e")
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return re.split(r"[\\/]", value.rstrip("/\\"))[-1]  # a model folder: its name
    return str(value).replace("starter:", "starter-")


def slug(text: str) -> str:
    s = re.sub(r"[^\w.-]+", "-", text.strip(), flags=re.UNICODE).strip("-.")
    return s[:60]


def differences(cfg: Any, base: Any) -> list[str]:
    """Short labels of the telling settings where ``cfg`` differs from ``base``."""
    out = []
    for dotted, label in _TELLING:
        now = _get(cfg, dotted)
        if now is None or now == _get(base, dotted):
            continue
        if dotted == "freeze.lora_rank" and _get(cfg, "freeze.default_mode") != "lora":
            continue  # the rank of adapters nobody trains says nothing
        if dotted in ("train.epochs", "train.max_steps") and not now:
            continue
        out.append(f"{label}{_short(now)}" if label else _short(now))
    return out


def run_name(cfg: Any, project_name: str = "", previous: Any = None) -> str:
    """The name for a run of ``cfg``: the user's own ``run.name`` when they set one, else
    the project's name (or the family's) and up to three settings that differ from
    ``previous`` (the last run of the project) or from the family's defaults."""
    if cfg.run.name and cfg.run.name != DEFAULT_NAME:
        return cfg.run.name
    spec = families.get(cfg.run.family)
    head = slug(project_name) if project_name and project_name != "Untitled" else \
        spec.title.lower()
    base = previous if previous is not None else families.default_config(cfg.run.family)
    parts = differences(cfg, base)[:MAX_PARTS]
    return "-".join([head or spec.name] + [slug(p) for p in parts if slug(p)])


def named(cfg: Any, project_name: str = "", previous: Any = None) -> Any:
    """``cfg`` with ``run.name`` filled in by ``run_name``."""
    return dataclasses.replace(cfg, run=dataclasses.replace(
        cfg.run, name=run_name(cfg, project_name, previous)))
