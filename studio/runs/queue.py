"""A queue of runs (an overnight session) and small grid sweeps, plus the comparison
table of finished runs. Torch-free: the CLI, the engine's queue runner and the window's
Queue pane share it.

The queue is one JSON file (``runs/queue.json`` by default). Each item is a config
*snapshot* written when it was queued (``queue/NNN-name.toml``, paths made absolute), so
what you queued is what runs, whatever happens to the project afterwards. Items are
``pending``, ``running``, ``completed``, ``stopped`` or ``failed``; a failed run is marked
with its message and the queue goes on.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
import time
from pathlib import Path

from studio.config import RunConfig, apply_overrides, save_config
from studio.config.io import resolve_path
from studio.core import events, units
from studio.core.errors import ConfigError
from studio.runs.store import _atomic_write_text, read_metrics, read_status

STATES = ("pending", "running", "completed", "stopped", "failed")


def expand_grid(specs) -> list[tuple[str, ...]]:
    """``["train.lr=1e-4,3e-4", "train.batch_size=4,8"]`` -> the 4 override tuples of the
    grid (in order: the last key varies fastest)."""
    axes = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[a-z_]+\.[a-z_]+", key):
            raise ConfigError(spec, "a sweep axis is section.key=v1,v2,...",
                              "e.g. train.lr=1e-4,3e-4")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not vals:
            raise ConfigError(key, "no values to sweep", "give one or more, comma-separated")
        axes.append([f"{key}={v}" for v in vals])
    return [tuple(combo) for combo in itertools.product(*axes)] if axes else [()]


def _suffix(overrides) -> str:
    """A short run-name suffix from overrides: train.lr=3e-4 -> lr3e-4."""
    parts = []
    for o in overrides:
        key, _, value = o.partition("=")
        if key == "run.name":
            continue
        short = {"batch_size": "bs", "preset": ""}.get(key.split(".")[-1], key.split(".")[-1])
        parts.append(f"{short}{value}")
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", "-".join(parts))[:60]


def absolute(cfg: RunConfig) -> RunConfig:
    """The config with its paths made absolute (so a snapshot runs from anywhere)."""
    data = dataclasses.replace(
        cfg.data, paths=tuple(str(resolve_path(cfg, p).resolve()) for p in cfg.data.paths),
        exclude=tuple(str(resolve_path(cfg, p).resolve()) for p in cfg.data.exclude))
    model = cfg.model
    src = resolve_path(cfg, model.source)
    if not model.source.startswith("starter:") and src.exists():
        model = dataclasses.replace(model, source=str(src.resolve()))
    ev = cfg.eval
    if ev.reference not in ("auto", "off", ""):
        ev = dataclasses.replace(ev, reference=str(resolve_path(cfg, ev.reference).resolve()))
    runs_dir = str(resolve_path(cfg, cfg.run.runs_dir).resolve())
    return dataclasses.replace(cfg, data=data, model=model, eval=ev,
                               run=dataclasses.replace(cfg.run, runs_dir=runs_dir))


class RunQueue:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.items: list[dict] = []
        self.load()

    # -- the file ----------------------------------------------------------------------
    def load(self) -> "RunQueue":
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.items = list(data.get("items", []))
            except (OSError, ValueError) as exc:
                raise ConfigError(str(self.path), f"unreadable queue file ({exc})",
                                  "fix or delete it") from None
        else:
            self.items = []
        return self

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(self.path, json.dumps({"items": self.items}, indent=1))

    @property
    def configs_dir(self) -> Path:
        return self.path.parent / "queue"

    # -- adding --------------------------------------------------------------------------
    def add(self, cfg: RunConfig, overrides=(), source: str = "") -> dict:
        """Queue ``cfg`` with ``overrides`` (validated now: a bad value fails here, not at
        3 a.m.). The run is named after its overrides (``sonnets-lr3e-4-bs8``)."""
        overrides = tuple(overrides)
        cfg = apply_overrides(cfg, overrides)
        suffix = _suffix(overrides)
        if suffix and not any(o.startswith("run.name=") for o in overrides):
            cfg = dataclasses.replace(cfg, run=dataclasses.replace(
                cfg.run, name=f"{cfg.run.name}-{suffix}"))
        cfg = absolute(cfg)
        n = max([int(i["id"]) for i in self.items] + [0]) + 1
        self.configs_dir.mkdir(parents=True, exist_ok=True)
        snap = self.configs_dir / f"{n:03d}-{re.sub(r'[^A-Za-z0-9.+-]+', '_', cfg.run.name)}.toml"
        save_config(cfg, snap, comments=False)
        item = {"id": n, "name": cfg.run.name, "config": str(snap), "source": source,
                "overrides": list(overrides), "state": "pending", "run_dir": "",
                "message": "", "added": time.time()}
        self.items.append(item)
        self.save()
        return item

    def add_sweep(self, cfg: RunConfig, specs, source: str = "") -> list[dict]:
        grid = expand_grid(specs)
        for combo in grid:  # every point is validated before any is queued
            apply_overrides(cfg, combo)
        return [self.add(cfg, combo, source) for combo in grid]

    # -- running ---------------------------------------------------------------------------
    def next_pending(self) -> dict | None:
        return next((i for i in self.items if i["state"] == "pending"), None)

    def get(self, item_id: int) -> dict:
        for i in self.items:
            if int(i["id"]) == int(item_id):
                return i
        raise ConfigError(f"queue item {item_id}", "no such item",
                          "see `studio queue list`")

    def mark(self, item_id: int, state: str, **fields) -> dict:
        assert state in STATES, state
        self.load()  # another process may have added items meanwhile
        item = self.get(item_id)
        item.update(state=state, **fields)
        self.save()
        return item

    def remove(self, item_id: int) -> None:
        self.load()
        item = self.get(item_id)
        if item["state"] == "running":
            raise ConfigError(f"queue item {item_id}", "is running", "stop it first")
        self.items.remove(item)
        self.save()

    def reset_interrupted(self) -> None:
        """Items left "running" by a process that died go back to pending."""
        changed = False
        for i in self.items:
            if i["state"] == "running":
                st = read_status(i["run_dir"]) if i.get("run_dir") else {}
                if st.get("state") not in ("running", "starting", "paused"):
                    i["state"], changed = "pending", True
        if changed:
            self.save()


# -- comparison --------------------------------------------------------------------------------

def compare_runs(run_dirs) -> list[dict]:
    """Per run: best validation loss (and step), reference drift, training time, peak GPU
    memory, state — from its status.json and metrics.jsonl."""
    rows = []
    for d in run_dirs:
        status = read_status(d)
        elapsed, peak, ref0, ref1 = 0.0, 0, None, None
        for event in map(events.from_dict, read_metrics(d)):
            if isinstance(event, events.StepLogged):
                if math.isfinite(event.elapsed_s) and event.elapsed_s:
                    elapsed = event.elapsed_s
                peak = max(peak, event.gpu_mem_bytes)
            elif isinstance(event, events.EvalLogged):
                ref = event.metrics.get("ref_loss")
                if ref is not None:
                    ref0 = ref if ref0 is None else ref0
                    ref1 = ref
        drift = None if ref0 is None or ref1 is None or ref0 == ref1 else ref1 - ref0
        rows.append({"run": Path(d).name, "run_dir": str(d), "state": status.get("state", "?"),
                     "best_val_loss": status.get("best_val_loss"),
                     "best_step": status.get("best_step"), "ref_drift": drift,
                     "ref_start": ref0, "time_s": elapsed, "peak_gpu_bytes": peak or None,
                     "step": status.get("step")})
    return rows


def _fmt(v, spec: str, none: str = "-") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return none
    return format(v, spec)


def comparison_table(rows: list[dict]) -> str:
    head = (f"{'RUN':<46} {'STATE':<10} {'BEST VAL':>9} {'@STEP':>6} {'REF DRIFT':>10} "
            f"{'TIME':>8} {'PEAK GPU':>9}")
    lines = [head]
    best = min((r["best_val_loss"] for r in rows if r["best_val_loss"] is not None),
               default=None)
    for r in rows:
        mark = " *" if best is not None and r["best_val_loss"] == best else ""
        mem = _fmt(r["peak_gpu_bytes"] / 2**30 if r["peak_gpu_bytes"] else None, ".2f")
        lines.append(f"{r['run'][:46]:<46} {r['state']:<10} {_fmt(r['best_val_loss'], '.4f'):>9} "
                     f"{_fmt(r['best_step'], 'd'):>6} {_fmt(r['ref_drift'], '+.4f'):>10} "
                     f"{units.clock(r['time_s'], hours_pad=False):>8} "
                     f"{(mem + ' GB') if mem != '-' else 'n/a':>9}{mark}")
    if best is not None:
        lines.append("* best validation loss; REF DRIFT: change of the forgetting probe's "
                     "reference loss; PEAK GPU: n/a on a CPU")
    return "\n".join(lines)
