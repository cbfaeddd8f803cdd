"""Learning-rate finder: Smith's exponential range test.

Train a few hundred steps with the rate growing exponentially from ``start_lr`` to
``end_lr``, record the smoothed loss at each rate, stop once it blows up, then put the
weights (and the random generators) back exactly as they were. The suggestion is the
rate where the smoothed loss falls fastest (the steepest downward slope against
log-rate), before the minimum: a rate that still learns quickly and is well clear of the
cliff. The run uses the config's model, data, freeze plan, optimizer and batch size, so
the answer is for the run you are about to start; nothing is written to disk.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from studio.config import RunConfig
from studio.config.io import resolve_path
from studio.core.control import RunControl
from studio.core.errors import ConfigError


@dataclass
class LRFindResult:
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)     # raw loss at each rate
    smoothed: list[float] = field(default_factory=list)   # EMA, bias-corrected
    suggestion: float | None = None
    min_loss_lr: float | None = None
    reason: str = "completed"    # "completed", "diverged" or "stopped"

    def to_dict(self) -> dict:
        return asdict(self)


def suggest(lrs: list[float], smoothed: list[float]) -> tuple[float | None, float | None]:
    """(suggested rate, rate at the lowest smoothed loss). The suggestion is the steepest
    descent of the smoothed loss over log-rate, looked for before the minimum and after
    the first tenth of the points (the EMA's start is not trustworthy)."""
    n = len(smoothed)
    if n < 5:
        return None, None
    finite = [i for i in range(n) if math.isfinite(smoothed[i])]
    if not finite:
        return None, None
    i_min = min(finite, key=lambda i: smoothed[i])
    lo = max(1, n // 10)
    best, best_slope = None, 0.0
    for i in range(lo, i_min + 1):
        a, b = i - 1, min(i + 1, n - 1)
        if not (math.isfinite(smoothed[a]) and math.isfinite(smoothed[b])):
            continue
        slope = (smoothed[b] - smoothed[a]) / (math.log(lrs[b]) - math.log(lrs[a]))
        if slope < best_slope:
            best, best_slope = i, slope
    min_lr = lrs[i_min]
    if best is None:  # no descent at all: a tenth of the rate at the minimum
        return min_lr / 10, min_lr
    return lrs[best], min_lr


def find_lr(cfg: RunConfig, *, steps: int = 100, start_lr: float = 1e-7, end_lr: float = 1.0,
            smoothing: float = 0.9, diverge: float = 4.0,
            progress: Callable[[int, float, float, float], None] | None = None,
            control: RunControl | None = None, loaded: Any = None) -> LRFindResult:
    """Run the range test. ``progress(i, lr, loss, smoothed)`` after each step.
    ``loaded``: an already loaded model (its weights, trainable flags and mode are restored
    afterwards; a LoRA freeze plan leaves its adapters attached, so pass a fresh model
    then). By default the config's model is loaded fresh."""
    from studio.engine.device import pick_device, pick_precision
    from studio.engine.optim import build_optimizer
    from studio.models import freeze as fz
    from studio.models.base import get_family

    if steps < 5:
        raise ConfigError("--steps", f"{steps} is too few for a range test", "use 50 or more")
    if not 0 < start_lr < end_lr:
        raise ConfigError("--start/--end", f"need 0 < start < end, got {start_lr:g} and "
                          f"{end_lr:g}", "e.g. --start 1e-7 --end 1")
    control = control or RunControl()
    t = cfg.train
    device = pick_device(t.device)
    precision = pick_precision(t.precision, device)
    family = get_family(cfg.run.family)
    if loaded is None:
        loaded = family.load(cfg.model.source, device, torch.float32,
                             revision=cfg.model.revision,
                             trust_remote_code=cfg.model.trust_remote_code)
    model = loaded.model
    data = family.datasets(loaded, cfg, resolve=lambda p: resolve_path(cfg, p))
    if data.n_train == 0:
        raise ConfigError("data.paths", "no training examples", "add training files")

    # the weights as they are now, to put back afterwards (on the CPU: no extra GPU memory)
    saved = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    was_training = model.training
    result = LRFindResult()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(t.seed)
        try:
            groups = fz.resolve_plan(family.layer_groups(loaded), cfg.freeze)
            fz.apply_plan(model, groups, cfg.freeze)
            pgroups = [g for st in fz.trainable_at(groups, 0)
                       for g in fz.activate(model, st, None, t.weight_decay, 0)]
            if not pgroups:
                raise ConfigError("freeze", "nothing trains at step 0",
                                  "let at least one layer group train from the start")
            opt = build_optimizer(t, pgroups)
            trainable = [p for g in pgroups for p in g["params"]]
            model.train()
            gen = torch.Generator().manual_seed(t.seed)
            ema_raw, best = 0.0, math.inf
            factor = (end_lr / start_lr) ** (1.0 / (steps - 1))
            for i in range(steps):
                if control.stop_requested:
                    result.reason = "stopped"
                    break
                lr = start_lr * factor ** i
                for g in opt.param_groups:
                    g["lr"] = lr * g.get("lr_scale", 1.0)
                idx = torch.randint(0, data.n_train, (min(t.batch_size, data.n_train),),
                                    generator=gen)
                batch = data.train_batch(idx, t.seed * 1_000_003 + i).to(device)
                with precision.autocast(device):
                    loss = family.loss(loaded, batch)
                loss.backward()
                if t.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(trainable, t.grad_clip)
                opt.step()
                opt.zero_grad(set_to_none=True)
                value = float(loss.detach())  # a sync per step: the curve needs every point
                if math.isfinite(value):
                    ema_raw = smoothing * ema_raw + (1 - smoothing) * value
                smooth = ema_raw / (1 - smoothing ** (i + 1))
                result.lrs.append(lr)
                result.losses.append(value)
                result.smoothed.append(smooth)
                if progress is not None:
                    progress(i, lr, value, smooth)
                best = min(best, smooth)
                if not math.isfinite(value) or (i > steps // 10 and smooth > diverge * best):
                    result.reason = "diverged"
                    break
        finally:
            # put everything back: weights, trainable flags, mode
            with torch.no_grad():
                for k, v in model.state_dict().items():
                    if k in saved:
                        v.copy_(saved[k].to(v.device, v.dtype))
            for n, p in model.named_parameters():
                p.grad = None
                if n in grads:
                    p.requires_grad_(grads[n])
            model.train(was_training)
    result.suggestion, result.min_loss_lr = suggest(result.lrs, result.smoothed)
    return result


def text_plot(result: LRFindResult, width: int = 48, rows: int = 14) -> str:
    """The curve for a terminal: one line per rate band, a bar per smoothed loss."""
    if not result.lrs:
        return "(no points)"
    n = len(result.lrs)
    picks = sorted({round(k * (n - 1) / max(1, rows - 1)) for k in range(rows)})
    vals = [result.smoothed[i] for i in picks if math.isfinite(result.smoothed[i])]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    hi = min(hi, vals[0] + 1.5 * (vals[0] - lo)) if vals and vals[0] > lo else hi
    span = (hi - lo) or 1.0  # the blow-up at the end is cut off (">"), not the scale
    lines = [f"{'rate':>9}  {'loss':>8}"]
    near = (min(picks, key=lambda i: abs(math.log(result.lrs[i] / result.suggestion)))
            if result.suggestion else None)
    for i in picks:
        v = result.smoothed[i]
        bar = ("#" * max(1, int(min(v - lo, span) / span * width)) + (">" if v > hi else "")
               if math.isfinite(v) else "(inf)")
        mark = "  <- suggested" if i == near else ""
        lines.append(f"{result.lrs[i]:>9.2e}  {v:>8.4f}  {bar}{mark}")
    return "\n".join(lines)


def save_result(result: LRFindResult, path: str | Path) -> None:
    import json

    Path(path).write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
