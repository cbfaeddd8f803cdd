"""The current run as the window sees it (Qt-free): state, progress, and the log.

The status bar and the run controls are views of ``RunSession``; the log pane is a
view of its ``log``. ``feed(event)`` is called on the GUI thread by the engine host.

States: "idle" (no run yet), "starting" (model and data loading), "running",
"pausing" / "paused", "stopping", and the final "completed", "stopped", "failed".
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from studio.core import events as ev
from studio.core import units
from studio.state.observable import Observable

ACTIVE = ("starting", "running", "pausing", "paused", "stopping")
FINAL = ("completed", "stopped", "failed")


@dataclass(frozen=True)
class LogLine:
    time: float
    level: str  # "info", "warning", "error"
    text: str


def describe(event: object) -> tuple[str, str] | None:
    """(level, text) of the log line for a notable event; None for per-step events."""
    if isinstance(event, ev.LogMessage):
        return event.level, event.text
    if isinstance(event, ev.RunStarted):
        verb = "Resumed" if event.resumed else "Started"
        return "info", (f"{verb} run {event.run_id} on {event.device} ({event.precision}): "
                        f"{event.trainable_params:,} of {event.total_params:,} parameters train; "
                        f"{event.train_examples} train / {event.val_examples} validation "
                        f"examples; steps {event.start_step}..{event.total_steps}")
    if isinstance(event, ev.EvalLogged):
        ppl = f", perplexity {event.perplexity:.2f}" if event.perplexity is not None else ""
        best = " (best so far)" if event.is_best else ""
        return "info", f"Step {event.step}: validation loss {event.val_loss:.4f}{ppl}{best}"
    if isinstance(event, ev.SampleReady):
        n = len(event.samples)
        return "info", f"Step {event.step}: {n} sample{'s' if n != 1 else ''} ready"
    if isinstance(event, ev.CheckpointSaved):
        return "info", f"Step {event.step}: checkpoint saved ({event.reason}) to {event.path}"
    if isinstance(event, ev.UnfreezeApplied):
        return "info", f"Step {event.step}: unfroze {', '.join(event.groups)}"
    if isinstance(event, ev.RunPaused):
        return "info", f"Paused at step {event.step}"
    if isinstance(event, ev.RunResumed):
        return "info", f"Resumed at step {event.step}"
    if isinstance(event, ev.RunFinished):
        best = (f"; best validation loss {event.best_val_loss:.4f} at step {event.best_step}"
                if event.best_val_loss is not None else "")
        return "info", f"Finished ({event.reason}) at step {event.step}{best}. Run folder: {event.run_dir}"
    if isinstance(event, ev.RunFailed):
        return "error", f"FAILED at step {event.step}: {event.message}"
    return None


class RunSession(Observable):
    """``changed("state")`` when the run state changes, ``changed("log")`` per log line,
    ``changed("log_cleared")`` when the log is emptied (another project is shown).
    Progress fields change every step and bump ``version`` only (views poll)."""

    MAX_LOG = 5000

    def __init__(self) -> None:
        super().__init__()
        self.state = "idle"
        self.run_dir = ""
        self.run_id = ""
        self.device = ""
        self.precision = ""
        self.step = 0
        self.total_steps = 0
        self.loss = math.nan
        self.throughput = math.nan
        self.throughput_unit = ""
        self.eta_s = math.nan
        self.elapsed_s = 0.0
        self.gpu_mem_bytes = 0
        self.best_val_loss: float | None = None
        self.error_message = ""
        self.error_traceback = ""
        self.finish_reason = ""
        self.log: list[LogLine] = []
        self.log_count = 0  # lines ever logged (the list keeps the last MAX_LOG)
        self.version = 0

    # -- log --------------------------------------------------------------------------------
    def add_log(self, level: str, text: str) -> None:
        self.log.append(LogLine(time.time(), level, text))
        self.log_count += 1
        if len(self.log) > self.MAX_LOG:
            del self.log[: len(self.log) - self.MAX_LOG]
        self.changed("log")

    def log_since(self, count: int) -> list[LogLine]:
        """Lines logged after the first ``count`` (those still kept)."""
        new = self.log_count - count
        if new <= 0:
            return []
        return self.log[-min(new, len(self.log)):]

    # -- state ------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.version += 1
            self.changed("state")

    def begin(self, name: str, resume_dir: str = "") -> None:
        """A run is being started (before the engine has said anything)."""
        self._clear_run(resume_dir)
        verb = f"Resuming {resume_dir}" if resume_dir else f"Starting run '{name}'"
        self.add_log("info", f"{verb}: loading the model and data…")
        self.set_state("starting")

    def clear(self) -> None:
        """Back to "Ready" with no run's figures and an empty log (another project is
        shown: the last one's messages are in its run folder, not this window's)."""
        self._clear_run("")
        self.log.clear()
        self.version += 1
        self.changed("log_cleared")
        self.set_state("idle")

    def _clear_run(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.run_id = ""
        self.device = self.precision = ""
        self.step = self.total_steps = 0
        self.loss = self.throughput = self.eta_s = math.nan
        self.elapsed_s = 0.0
        self.gpu_mem_bytes = 0
        self.best_val_loss = None
        self.error_message = self.error_traceback = self.finish_reason = ""

    def fail(self, message: str, traceback: str = "") -> None:
        """Mark the run failed (once; a second report of the same failure is ignored)."""
        if self.state == "failed":
            return
        self.error_message = message
        self.error_traceback = traceback
        self.add_log("error", f"Run failed: {message}")
        self.set_state("failed")

    def feed(self, event: object) -> None:
        line = describe(event)
        if isinstance(event, ev.RunFailed) or (isinstance(event, ev.RunResumed)
                                               and self.state == "stopping"):
            line = None  # failures are logged by fail(); a stop wakes a pause, not a resume
        if line is not None:
            self.add_log(*line)
        if isinstance(event, ev.StepLogged):
            self.step, self.total_steps = event.step, event.total_steps
            self.loss, self.throughput = event.loss, event.throughput
            self.throughput_unit = event.throughput_unit
            self.eta_s, self.elapsed_s = event.eta_s, event.elapsed_s
            self.gpu_mem_bytes = event.gpu_mem_bytes
            self.version += 1
        elif isinstance(event, ev.RunStarted):
            self.run_dir, self.run_id = event.run_dir, event.run_id
            self.device, self.precision = event.device, event.precision
            self.step, self.total_steps = event.start_step, event.total_steps
            self.version += 1
            if self.state in ("starting", "idle"):
                self.set_state("running")
        elif isinstance(event, ev.EvalLogged):
            self.best_val_loss = event.best_val_loss
            self.version += 1
        elif isinstance(event, ev.RunPaused):
            self.step = event.step
            if self.state != "stopping":
                self.set_state("paused")
        elif isinstance(event, ev.RunResumed):
            if self.state != "stopping":
                self.set_state("running")
        elif isinstance(event, ev.RunFinished):
            if event.run_dir:  # a run stopped before it started training said no RunStarted
                self.run_dir = event.run_dir
            self.step = event.step
            self.finish_reason = event.reason
            self.best_val_loss = event.best_val_loss
            self.eta_s = 0.0
            self.set_state("stopped" if event.reason == "stopped" else "completed")
        elif isinstance(event, ev.RunFailed):
            if event.run_dir:
                self.run_dir = event.run_dir
            self.fail(event.message, event.traceback)

    # -- for the status bar ---------------------------------------------------------------------
    def progress_text(self) -> str:
        if self.total_steps:
            return f"step {self.step:,}/{self.total_steps:,}"
        return f"step {self.step:,}" if self.step else ""

    def throughput_text(self) -> str:
        return units.rate(self.throughput, self.throughput_unit) if self.throughput_unit else ""

    def eta_text(self) -> str:
        if self.state in FINAL:
            return ""
        return f"ETA {units.clock(self.eta_s)}" if self.state in ("running", "pausing") else ""

    def gpu_text(self) -> str:
        if self.device.startswith("cuda") and self.gpu_mem_bytes > 0:
            return f"GPU mem {units.size(self.gpu_mem_bytes)}"
        return ""
