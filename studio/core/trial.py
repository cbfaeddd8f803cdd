"""Quick trial: "try N steps" of the real run, then judge, then continue the same run.

Stdlib only: the CLI and the window share it. The trial is the run itself with the full
run's schedule (not a shorter one): ``RunControl.stop_after(N)`` asks for samples and a
clean stop (with its checkpoint) once N steps are logged, so ``studio resume RUN`` (or the
window's Continue) carries on from there as if it had never stopped. The verdict says whether the training loss fell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from studio.core import events as ev
from studio.core.control import RunControl


class TrialSink:
    """Forwards every event; the stop after ``steps`` optimizer steps from the start (or the
    resume point) is ``RunControl.stop_after``, fed the events here. Keeps the training
    losses for the verdict."""

    def __init__(self, control: RunControl, steps: int, inner: Any = None) -> None:
        self.control, self.steps, self.inner = control, steps, inner
        self.losses: list[tuple[int, float]] = []
        control.stop_after(steps)

    def emit(self, event: object) -> None:
        self.control.observe(event)
        if isinstance(event, ev.StepLogged):
            self.losses.append((event.step, event.loss))
        if self.inner is not None:
            self.inner.emit(event)


@dataclass
class TrialVerdict:
    steps: int
    loss_start: float
    loss_end: float
    fell: bool
    text: str


def verdict(losses: list[tuple[int, float]]) -> TrialVerdict | None:
    """Compare the mean training loss of the first and last quarter of the trial."""
    values = [v for _, v in losses if math.isfinite(v)]
    if len(values) < 2:
        return None
    k = max(1, len(values) // 4)
    a, b = sum(values[:k]) / k, sum(values[-k:]) / k
    change = (b - a) / a if a else 0.0
    steps = losses[-1][0] - losses[0][0] + 1
    if any(not math.isfinite(v) for _, v in losses):
        fell, word = False, "became NaN/inf: the rate is too high (try `studio lr-find`)"
    elif change < -0.02:
        fell, word = True, "fell: the run learns; continue it"
    elif change > 0.02:
        fell, word = False, "rose: lower train.lr (try `studio lr-find`) before continuing"
    else:
        fell, word = False, ("barely moved: raise train.lr, or check that the right layers "
                             "train (freeze plan)")
    text = (f"trial of {steps} steps: training loss {a:.4f} -> {b:.4f} ({change:+.1%}) "
            f"{word}")
    return TrialVerdict(steps, a, b, fell, text)


def trial_engine(steps: int, base: Callable) -> Callable:
    """Wrap an engine function (``studio.engine.run``'s signature) so it stops after
    ``steps`` steps; the wrapper's ``last`` attribute holds the TrialSink of the latest
    call (its losses give the verdict)."""

    def engine(cfg, sink=None, control=None, *, resume=None, **kwargs):
        control = control or RunControl()
        trial = TrialSink(control, steps, sink)
        engine.last = trial
        return base(cfg, trial, control, resume=resume, **kwargs)

    engine.last = None
    return engine
