"""What a run tells the outside world besides its events: every event into the run's
metrics.jsonl, an honest failure report, and the throughput meter (training time only)."""

from __future__ import annotations

import time
import traceback

from studio.core import events as ev
from studio.core.errors import StudioError
from studio.core.sinks import EventSink, event_to_dict
from studio.engine import dist as dd
from studio.runs.store import RunFolder


class FolderSink:
    """Every event also goes to the run's metrics.jsonl (append + flush per line)."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder

    def emit(self, event: object) -> None:
        try:
            self.folder.append_metric({"t": time.time(), **event_to_dict(event)})
        except OSError:
            pass  # a full disk must not kill training; the checkpoint save reports it


def report_failure(exc: BaseException, folder: RunFolder | None, sink: EventSink | None,
                    d: dd.Dist, step: int) -> None:
    """Mark the run failed and emit RunFailed, saying which process failed (rank 0 writes
    the run folder, so it reports for every process)."""
    if not d.main:
        return
    if isinstance(exc, KeyboardInterrupt):
        message = "interrupted"
    elif isinstance(exc, StudioError):
        message = str(exc)
    else:
        message = f"{type(exc).__name__}: {exc}"
    if d.enabled and not isinstance(exc, StudioError):
        message = (f"a training process failed (rank {d.rank} of {d.world}): {message}"
                   if "Connection" not in message and "peer" not in message else
                   f"another training process died (seen by rank {d.rank}): {message}")
    exists = folder is not None and folder.path.exists()
    if exists:
        try:
            folder.write_status("failed", message=message, step=step)
        except OSError:
            pass
    targets = ([FolderSink(folder)] if exists else []) + ([sink] if sink else [])
    failed = ev.RunFailed(step=step, message=message, traceback=traceback.format_exc(),
                          run_dir=str(folder.path) if folder else "")
    for s in targets:
        try:
            s.emit(failed)
        except Exception:  # noqa: BLE001 - the original error matters more
            pass


def report_stopped_preparing(exc: StudioError, folder: RunFolder | None,
                             sink: EventSink | None, d: dd.Dist, step: int) -> None:
    """A stop asked for while the data was being prepared (``data.progress.DataStopped``,
    before step 1): the run ends *stopped*, as the user asked, not failed. Its status says
    so, a log line says what was kept (the files prepared completely are cached) and
    RunFinished("stopped") closes it, in the run folder and to ``sink``."""
    if not d.main:
        return
    exists = folder is not None and folder.path.exists()
    if exists:
        try:
            folder.write_status("stopped", message=str(exc), step=step)
        except OSError:
            pass
    run_dir = str(folder.path) if folder else ""
    targets = ([FolderSink(folder)] if exists else []) + ([sink] if sink else [])
    for event in (ev.LogMessage("info", f"Stopped while preparing the data: {exc.fix}" if exc.fix else
                                  "Stopped while preparing the data"),
                  ev.RunFinished(step=step, reason="stopped", best_val_loss=None,
                                 best_step=None, run_dir=run_dir)):
        for s in targets:
            try:
                s.emit(event)
            except Exception:  # noqa: BLE001 - a broken view must not turn a stop into a crash
                pass


class Meter:
    """Throughput over one log interval. Pauses and side work (evaluation, sampling,
    checkpoints) are skipped: they are not training time."""

    def __init__(self) -> None:
        self.restart(0)
        self.step_time_ema: float | None = None  # seconds per step, for the ETA

    def restart(self, step: int, now: float | None = None) -> None:
        self.t0, self.items, self.step0 = now or time.perf_counter(), 0, step

    def skip(self, seconds: float) -> None:
        self.t0 += seconds

    def read(self, step: int, now: float) -> tuple[float, float]:
        """(seconds since the interval began, seconds per step smoothed over intervals)."""
        dt = max(1e-9, now - self.t0)
        per_step = dt / max(1, step - self.step0)
        ema = self.step_time_ema
        self.step_time_ema = per_step if ema is None else 0.8 * ema + 0.2 * per_step
        return dt, self.step_time_ema
