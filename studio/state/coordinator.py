"""Run orchestration, Qt-free: train, resume, the quick trial, the queue and stop.

The window drives a ``RunCoordinator`` and shows what it says; the coordinator starts runs
through a ``Launcher`` (the engine host in the window, a fake in the tests) and is told
when each run has ended (``run_ended``). One run at a time; ``mode`` says what the current
run is for:

    idle --train/resume--> run --run_ended--> idle
    idle --trial(N)------> trial --run_ended--> idle, with a verdict (Continue resumes it)
    idle --run_queue-----> queue --run_ended--> the next pending item ... --> idle

Configs are checked by ``studio.config.validate`` before any run starts; a bad one raises
``ConfigError`` (the window shows it) and nothing starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from studio.config import RunConfig
from studio.config.validate import validate
from studio.core.trial import TrialVerdict, verdict
from studio.runs.lock import ProjectLock
from studio.state.observable import Observable
from studio.state.queue import QueueState
from studio.state.run_history import RunHistory
from studio.state.session import RunSession

FINAL_STATES = ("completed", "stopped", "failed")


class Launcher(Protocol):
    """What the coordinator needs of whoever runs the engine (``qt.engine_host.EngineHost``)."""

    @property
    def running(self) -> bool: ...

    def start(self, cfg: RunConfig | None, *, resume: str | None = None,
              stop_after: int | None = None) -> None: ...

    def stop(self) -> None: ...


@dataclass
class TrialOutcome:
    """The end of a quick trial: its verdict (None: too few steps) and the run to continue."""

    verdict: TrialVerdict | None
    run_dir: str
    can_continue: bool   # it stopped as asked (not completed, not failed)

    @property
    def text(self) -> str:
        return self.verdict.text if self.verdict else "too few steps for a verdict"


class RunCoordinator(Observable):
    """``changed(what)``: "started" (a run was launched), "mode", "trial" (``trial`` holds
    the outcome), "notice" (``notice`` holds a line for the status bar)."""

    def __init__(self, launcher: Launcher, session: RunSession, history: RunHistory,
                 queue: QueueState | None = None) -> None:
        super().__init__()
        self.launcher = launcher
        self.session = session
        self.history = history
        self.queue = queue
        self.mode = "idle"                 # idle / run / trial / queue
        self.trial: TrialOutcome | None = None
        self.notice = ""
        self.closing = False               # the window is quitting: no next run starts
        self._trial_from = 0               # the history's first row of the trial
        self._lock: ProjectLock | None = None  # held while a run of a saved project trains

    @property
    def running(self) -> bool:
        return self.launcher.running

    # -- starting --------------------------------------------------------------------------
    def train(self, cfg: RunConfig) -> bool:
        """Start a run of ``cfg``; raises ConfigError when it is not valid."""
        cfg = validate(cfg)
        return self._launch("run", cfg)

    def resume(self, run_dir: str) -> bool:
        return self._launch("run", None, resume=run_dir)

    def try_steps(self, cfg: RunConfig | None, steps: int, resume: str | None = None) -> bool:
        """A quick trial: ``steps`` steps of the real run (or of the run ``resume``), then a
        stop with samples, a checkpoint and a verdict; ``continue_trial`` carries it on."""
        if resume is None:
            cfg = validate(cfg)
        if not self._launch("trial", cfg, resume=resume, stop_after=steps):
            return False
        self._trial_from = len(self.history.train)  # a resume shows the earlier steps too
        return True

    def continue_trial(self) -> bool:
        """Resume the run the last trial stopped."""
        outcome, self.trial = self.trial, None
        if outcome is None or not outcome.can_continue:
            return False
        return self.resume(outcome.run_dir)

    def _launch(self, mode: str, cfg: RunConfig | None, **kwargs) -> bool:
        """Start a run; a project trains in one process at a time (another window or
        ``studio train`` on the same project file: a RunError naming it)."""
        if self.launcher.running:
            return False
        if cfg is not None and cfg.run.project:
            self._lock = ProjectLock(cfg.run.project, "a Fine-Tuning Studio window").acquire()
        try:
            self.launcher.start(cfg, **kwargs)
        except BaseException:
            self._unlock()
            raise
        self._set_mode(mode)
        self.changed("started")
        return True

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # -- stopping --------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the current run (with its checkpoint); a queue goes on to its next item."""
        if self.launcher.running:
            self.launcher.stop()

    def quit(self) -> None:
        """The window is closing: stop the run, and start nothing after it."""
        self.closing = True
        if self.queue is not None:
            self.queue.stop()
        self.stop()

    # -- the queue -------------------------------------------------------------------------
    def queue_project(self, cfg: RunConfig, overrides=(), source: str = "") -> dict:
        return self._queue().add(validate(cfg), tuple(overrides), source)

    def queue_sweep(self, cfg: RunConfig, axes, source: str = "") -> list[dict]:
        return self._queue().add_sweep(validate(cfg), list(axes), source)

    def run_queue(self) -> bool:
        if self.launcher.running:
            self._say("A run is training: the queue starts after it")
            return False
        return self._start_next(self._queue().start())

    def stop_queue(self) -> None:
        self._queue().stop()  # the current run finishes its stop; no next one starts
        self.stop()

    def _queue(self) -> QueueState:
        if self.queue is None:
            raise RuntimeError("this coordinator has no queue")
        return self.queue

    def _start_next(self, item: dict | None) -> bool:
        """Start the first of the pending items whose config loads (the others are marked
        failed with the reason)."""
        queue = self._queue()
        while item is not None:
            cfg, problem = queue.load_item(item)
            if cfg is not None:
                return self._launch("queue", cfg)
            queue.finished("failed", message=problem)
            item = queue.next()
        self._say("The queue is done")
        self._set_mode("idle")
        return False

    # -- the run ended (the launcher's thread has finished) ---------------------------------
    def run_ended(self, state: str) -> None:
        self._unlock()
        mode = self.mode
        self._set_mode("idle")
        final = state if state in FINAL_STATES else "failed"
        if mode == "trial" and final != "failed":
            self._judge_trial(final)
        elif mode == "queue":
            queue = self._queue()
            if self.closing:
                queue.stop()
            queue.finished(final, self.session.run_dir,
                           self.session.error_message if final == "failed" else "")
            if queue.running and not self.launcher.running:
                self._start_next(queue.next())

    def _judge_trial(self, state: str) -> None:
        steps = self.history.train.column("step")[self._trial_from:]
        losses = self.history.train.column("loss")[self._trial_from:]
        self.trial = TrialOutcome(verdict([(int(s), float(v)) for s, v in zip(steps, losses)]),
                                  self.session.run_dir, can_continue=state == "stopped")
        self.session.add_log("info", self.trial.text)
        self.changed("trial")

    # -- helpers ---------------------------------------------------------------------------
    def _set_mode(self, mode: str) -> None:
        if mode != self.mode:
            self.mode = mode
            self.changed("mode")

    def _say(self, text: str) -> None:
        self.notice = text
        self.changed("notice")
