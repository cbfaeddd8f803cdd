"""The numbers behind the curves: growing numpy buffers fed by engine events.

Qt-free (numpy only). The curves pane is a view of a ``RunHistory``: it polls
``version`` on a timer and ``setData``s from the column views, so feeding an event
costs an append, never a redraw.

Train loss is kept raw and EMA-smoothed with bias correction (the estimate is
divided by ``1 - beta**n``, so the first points are not dragged toward zero). A
non-finite loss is stored as NaN and skipped by the EMA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from studio.core import events as ev
from studio.state.observable import Observable


class Series:
    """Columns of float64 that grow by doubling; ``column(name)`` is a view of the filled part."""

    def __init__(self, names: Iterable[str], capacity: int = 256) -> None:
        self.names = tuple(names)
        self._index = {n: i for i, n in enumerate(self.names)}
        self._buf = np.full((max(1, capacity), len(self.names)), np.nan)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, **values: float) -> None:
        if self._n == self._buf.shape[0]:
            grown = np.full((self._buf.shape[0] * 2, len(self.names)), np.nan)
            grown[: self._n] = self._buf
            self._buf = grown
        row = self._buf[self._n]
        row[:] = np.nan
        for name, value in values.items():
            row[self._index[name]] = np.nan if value is None else value
        self._n += 1

    def column(self, name: str) -> np.ndarray:
        return self._buf[: self._n, self._index[name]]

    def last(self, name: str) -> float:
        return float(self._buf[self._n - 1, self._index[name]]) if self._n else math.nan

    def truncate(self, n: int) -> None:
        self._n = max(0, min(n, self._n))

    def truncate_from_step(self, step: float) -> None:
        """Forget every row whose ``step`` is >= ``step`` (a resumed run re-logs them)."""
        if self._n and "step" in self._index:
            steps = self.column("step")
            self._n = int(np.searchsorted(steps, step, side="left"))

    def clear(self) -> None:
        self._n = 0


@dataclass(frozen=True)
class Unfreeze:
    step: int
    groups: tuple[str, ...]


OVERFIT_FIELDS = ("step", "evaluations", "val_from", "val_to", "train_from", "train_to")
TRAIN_COLUMNS = ("step", "loss", "ema", "lr", "throughput", "epoch", "grad_norm")
VAL_COLUMNS = ("step", "val_loss", "ppl", "ref_loss")  # ref: the forgetting probe


class RunHistory(Observable):
    """Curves of one run. ``changed("reset")`` when it starts over; data changes bump
    ``version`` only (views poll it; per-step callbacks would cost more than the step)."""

    def __init__(self, label: str = "", smoothing: float = 0.9) -> None:
        super().__init__()
        self.label = label
        self.run_dir = ""
        self.throughput_unit = ""
        self.total_steps = 0
        self.train = Series(TRAIN_COLUMNS)
        self.val = Series(VAL_COLUMNS)
        self.unfreezes: list[Unfreeze] = []
        self.overfit: dict | None = None  # the last OverfitWarning (the curves' banner)
        # a family's own evaluation scores (EvalLogged.metrics other than ref_loss; e.g.
        # captioning's BLEU-4 and CIDEr-D), one (step, value) series per name
        self.scores: dict[str, Series] = {}
        self.version = 0
        self._smoothing = self._check_smoothing(smoothing)
        self._ema_raw = 0.0   # uncorrected EMA state
        self._ema_n = 0       # finite losses folded into it

    # -- smoothing ---------------------------------------------------------------------
    @staticmethod
    def _check_smoothing(value: float) -> float:
        if not 0.0 <= value < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {value}")
        return float(value)

    @property
    def smoothing(self) -> float:
        return self._smoothing

    def set_smoothing(self, value: float) -> None:
        value = self._check_smoothing(value)
        if value != self._smoothing:
            self._smoothing = value
            self._recompute_ema()
            self.version += 1
            self.changed("smoothing")

    def _recompute_ema(self) -> None:
        losses = self.train.column("loss")
        ema = self.train.column("ema")  # a view: written in place
        self._ema_raw, self._ema_n = 0.0, 0
        for i, x in enumerate(losses):
            ema[i] = self._fold(x)

    def _fold(self, x: float) -> float:
        """Fold one loss into the EMA; return the bias-corrected estimate."""
        b = self._smoothing
        if math.isfinite(x):
            self._ema_raw = b * self._ema_raw + (1.0 - b) * x
            self._ema_n += 1
        if self._ema_n == 0:
            return math.nan
        return self._ema_raw / (1.0 - b ** self._ema_n)

    # -- feeding -------------------------------------------------------------------------
    def reset(self, label: str = "", run_dir: str = "") -> None:
        self.label = label
        self.run_dir = run_dir
        self.throughput_unit = ""
        self.total_steps = 0
        self.train.clear()
        self.val.clear()
        self.unfreezes.clear()
        self.overfit = None
        self.scores.clear()
        self._ema_raw, self._ema_n = 0.0, 0
        self.version += 1
        self.changed("reset")

    def feed(self, event: object) -> None:
        """Take one engine event (others are ignored)."""
        if not self._take(event):
            return
        if isinstance(event, ev.RunStarted):
            if not self.label:
                self.label = event.run_id
            self.changed("started")

    def feed_record(self, rec: dict) -> None:
        """Take one metrics.jsonl record (``{"event": "StepLogged", ...}``); a malformed
        one is skipped, like a torn line."""
        event = ev.from_dict(rec)
        if event is not None:
            self._take(event)

    def _take(self, event: object) -> bool:
        """Add what the event says to the buffers; False for an event the curves ignore."""
        if isinstance(event, ev.StepLogged):
            if event.total_steps:
                self.total_steps = event.total_steps
            self._add_step(event.step, event.loss, event.lr, event.throughput, event.epoch,
                           event.grad_norm, event.throughput_unit)
        elif isinstance(event, ev.EvalLogged):
            self._add_eval(event.step, event.val_loss, event.perplexity,
                           event.metrics.get("ref_loss"))
            self._add_scores(event.step, event.metrics)
        elif isinstance(event, ev.OverfitWarning):
            self.overfit = {k: getattr(event, k) for k in OVERFIT_FIELDS}
        elif isinstance(event, ev.UnfreezeApplied):
            self._add_unfreeze(event.step, tuple(event.groups))
        elif isinstance(event, ev.RunStarted):
            self.run_dir = event.run_dir or self.run_dir
            if event.total_steps:
                self.total_steps = event.total_steps
            # A resumed run re-logs everything after its checkpoint.
            self._forget_from(event.start_step + 1)
        else:
            return False
        self.version += 1
        return True

    def load_records(self, records: Iterable[dict]) -> None:
        for rec in records:
            self.feed_record(rec)
        self.changed("loaded")

    @classmethod
    def from_run(cls, run_dir: str | Path, smoothing: float = 0.9) -> "RunHistory":
        """A past run's curves from its metrics.jsonl."""
        from studio.runs import read_metrics

        h = cls(label=Path(run_dir).name, smoothing=smoothing)
        h.run_dir = str(run_dir)
        h.load_records(read_metrics(run_dir))
        return h

    def _forget_from(self, step: int) -> None:
        before = len(self.train)
        self.train.truncate_from_step(step)
        self.val.truncate_from_step(step)
        for series in self.scores.values():
            series.truncate_from_step(step)
        self.unfreezes = [u for u in self.unfreezes if u.step < step]
        if self.overfit is not None and self.overfit["step"] >= step:
            self.overfit = None
        if len(self.train) != before:
            self._recompute_ema()

    def _add_step(self, step: int, loss: float, lr: float, throughput: float, epoch: float,
                  grad_norm: float, unit: str) -> None:
        if len(self.train) and step <= self.train.last("step"):
            self._forget_from(step)
        if unit:
            self.throughput_unit = unit
        self.train.append(step=step, loss=loss, ema=self._fold(loss), lr=lr,
                          throughput=throughput, epoch=epoch, grad_norm=grad_norm)

    def _add_eval(self, step: int, val_loss: float, ppl: float | None,
                  ref_loss: float | None = None) -> None:
        if len(self.val) and step <= self.val.last("step"):
            self.val.truncate_from_step(step)
        self.val.append(step=step, val_loss=val_loss, ppl=ppl,
                        ref_loss=None if ref_loss is None else _f(ref_loss))

    def _add_scores(self, step: int, metrics: dict) -> None:
        for name, value in metrics.items():
            if name == "ref_loss" or not isinstance(value, (int, float)):
                continue
            series = self.scores.setdefault(name, Series(("step", "value"), capacity=64))
            if len(series) and step <= series.last("step"):
                series.truncate_from_step(step)
            series.append(step=step, value=float(value))

    def _add_unfreeze(self, step: int, groups: tuple[str, ...]) -> None:
        self.unfreezes = [u for u in self.unfreezes if u.step < step]
        self.unfreezes.append(Unfreeze(step, groups))

    # -- reading ---------------------------------------------------------------------------
    @property
    def last_step(self) -> int:
        return int(self.train.last("step")) if len(self.train) else 0

    def value_at(self, step: float) -> dict[str, float]:
        """The nearest logged train row and validation row to ``step`` (hover read-out)."""
        out: dict[str, float] = {}
        if len(self.train):
            i = _nearest(self.train.column("step"), step)
            for name in TRAIN_COLUMNS:
                out[name] = float(self.train.column(name)[i])
        if len(self.val):
            j = _nearest(self.val.column("step"), step)
            out["val_step"] = float(self.val.column("step")[j])
            out["val_loss"] = float(self.val.column("val_loss")[j])
            out["ppl"] = float(self.val.column("ppl")[j])
            out["ref_loss"] = float(self.val.column("ref_loss")[j])
        for name, series in self.scores.items():
            if len(series):
                k = _nearest(series.column("step"), step)
                out[f"score:{name}"] = float(series.column("value")[k])
        return out


def _f(value) -> float:
    if value is None:
        return math.nan
    return float(value)


def _nearest(sorted_values: np.ndarray, x: float) -> int:
    i = int(np.searchsorted(sorted_values, x))
    if i <= 0:
        return 0
    if i >= len(sorted_values):
        return len(sorted_values) - 1
    return i if sorted_values[i] - x < x - sorted_values[i - 1] else i - 1
