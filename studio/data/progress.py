"""Progress and stop for long data preparation (tokenizing a large corpus).

The data layer is called by model families whose ``datasets(loaded, cfg, resolve)`` has no
room for a sink or a RunControl, so the engine opens a *reporting context* around that
call instead, and the data functions report into it and poll it::

    with progress.reporting(lambda text: log(text), lambda: control.stop_requested):
        data = family.datasets(loaded, cfg, resolve=Path)

Outside such a context ``report`` does nothing and ``check_stop`` never stops, so tests,
scripts and the dataset pane call the same functions unchanged. The context is a
``contextvars.ContextVar``: each thread (a GUI worker, the CLI) has its own.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from studio.core.errors import StudioError


class DataStopped(StudioError):
    """A stop was requested while the data was being prepared."""

    def __init__(self) -> None:
        super().__init__("stopped while preparing the data",
                         "files tokenized completely are cached; the next run continues "
                         "from there")


@dataclass(frozen=True)
class _Context:
    report: Callable[[str], None] | None
    should_stop: Callable[[], bool] | None


_CURRENT: contextvars.ContextVar[_Context | None] = contextvars.ContextVar(
    "studio_data_progress", default=None)


@contextmanager
def reporting(report: Callable[[str], None] | None,
              should_stop: Callable[[], bool] | None = None) -> Iterator[None]:
    """Send progress lines to ``report`` and stop (raise ``DataStopped``) once
    ``should_stop()`` is true, for the data preparation run inside the block."""
    token = _CURRENT.set(_Context(report, should_stop))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def report(text: str) -> None:
    ctx = _CURRENT.get()
    if ctx is not None and ctx.report is not None:
        ctx.report(text)


def check_stop() -> None:
    ctx = _CURRENT.get()
    if ctx is not None and ctx.should_stop is not None and ctx.should_stop():
        raise DataStopped


class Meter:
    """Rate-limited "what / done of total / ETA" lines: the first at once, then at most one
    every ``every`` seconds, and the last when ``done == total``."""

    def __init__(self, what: str, total: float, unit: str = "MB", scale: float = 1e6,
                 every: float = 2.0) -> None:
        self.what, self.total, self.unit, self.scale, self.every = what, total, unit, scale, every
        self.t0 = time.perf_counter()
        self.last = -1e9

    def update(self, done: float) -> None:
        now = time.perf_counter()
        if now - self.last < self.every and done < self.total:
            return
        self.last = now
        elapsed = now - self.t0
        share = done / self.total if self.total else 1.0
        eta = f", about {elapsed * (1 - share) / share:.0f} s left" if 0 < share < 1 else ""
        # counted things (scale 1: images, files) read "3 of 12", sizes "3.5 of 12.0 MB"
        fmt = ",.0f" if self.scale == 1 else ",.1f"
        report(f"{self.what}: {done / self.scale:{fmt}} of {self.total / self.scale:{fmt}} "
               f"{self.unit} ({share:.0%}){eta}")
