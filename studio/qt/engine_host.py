"""The engine host: training runs in a worker QObject moved to a QThread.

The thread is ``widgets.tasks.start_thread`` (the superqt way, STYLE.md 3-5). The engine
talks through a sink that emits ONE cross-thread signal per event; the host, on the GUI
thread, feeds the Qt-free state objects (``RunHistory``, ``GalleryState``,
``RunSession``), which the views read, and signals the few moments that need an answer.

Pause, resume, stop, save-now and sample-now are ``RunControl`` flags set directly from
the GUI thread: a worker busy inside ``engine.run`` has no event loop to receive
queued signals. An exception in the worker becomes ``run_failed`` — shown, logged and
marked failed — never a run reported as done.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import traceback
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

from studio.config import RunConfig
from studio.core import events as ev
from studio.core.control import RunControl
from studio.qt.widgets.tasks import start_thread
from studio.state.gallery import GalleryState
from studio.state.run_history import RunHistory
from studio.state.session import RunSession

EngineFn = Callable[..., object]


def _lower_this_threads_priority(niceness: int = 10) -> None:
    """Let the GUI thread win the CPU: the training thread (and the torch CPU threads it
    starts, which inherit it) run at a lower OS priority. Training loses nothing while the
    GUI is idle; on a busy CPU the window stays responsive. Linux only (elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (OSError, AttributeError):
        pass


class _ControlledSink:
    """The engine's sink, on the engine's thread: ``RunControl`` sees each event first (it
    serves a trial's stop after N steps), then one cross-thread signal emission."""

    def __init__(self, control: RunControl, report) -> None:
        self._control, self._report = control, report

    def emit(self, event: object) -> None:
        self._control.observe(event)
        self._report(event)


class EngineHost(QObject):
    """Starts, controls and reports one run at a time."""

    # Views read the state objects; these are for what must happen once, at a moment.
    event = Signal(object)             # every engine event, once the states have taken it
    run_started = Signal(object)       # RunStarted
    problem_paused = Signal(str, str)  # reason ("out_of_memory" / "diverged"), message
    run_failed = Signal(str, str)      # message, traceback (once per run)
    state_changed = Signal(str)        # RunSession.state
    run_ended = Signal(str)            # final state, after the worker thread has been joined

    def __init__(self, history: RunHistory | None = None, gallery: GalleryState | None = None,
                 session: RunSession | None = None, engine_fn: EngineFn | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.history = history if history is not None else RunHistory()
        self.gallery = gallery if gallery is not None else GalleryState()
        self.session = session if session is not None else RunSession()
        self.engine_fn = engine_fn
        self.control: RunControl | None = None
        self.result = None
        self._thread: QThread | None = None  # from start until run_ended
        self._failure_reported = False
        self.session.subscribe(self._on_session_changed)

    # -- queries -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """A worker thread exists (from ``start`` until ``run_ended``)."""
        return self._thread is not None

    # -- starting ------------------------------------------------------------------------
    def start(self, cfg: RunConfig | None, *, resume: str | Path | None = None,
              stop_after: int | None = None) -> None:
        """Start a run of ``cfg`` (or continue the run folder ``resume``); ``stop_after``:
        a quick trial, stopped with samples and a checkpoint after that many steps."""
        if self.running:
            raise RuntimeError("a run is already in progress")
        if cfg is None and resume is None:
            raise ValueError("give a config or a run folder to resume")
        self.result = None
        self._failure_reported = False
        # interactive: out-of-memory and diverged losses pause and ask (problem_paused)
        self.control = RunControl(interactive=True)
        if stop_after is not None:
            self.control.stop_after(stop_after)
        if resume is not None:
            resume = str(resume)
            # the curves and samples so far, so the resumed run continues them
            self.open_run(resume, log=False)
        else:
            self.history.reset(label=cfg.run.name)
            self.gallery.clear()
        engine_fn, control = self.engine_fn, self.control

        def work(report):
            _lower_this_threads_priority()
            fn = engine_fn
            if fn is None:
                from studio.engine import run as fn  # heavy (torch): imported off the GUI thread
            # data.exclude (the files unticked in the dataset browser) travels in the
            # config: the engine leaves those files out
            return fn(cfg, _ControlledSink(control, report), control, resume=resume)

        self._thread, _worker = start_thread(
            work, name="studio-engine", reported=self._on_event, returned=self._on_returned,
            errored=self._on_errored, done=self._on_done, ended=self._on_thread_finished)
        # "starting" is announced once ``running`` is true, so views enable the right actions
        self.session.begin(cfg.run.name if cfg is not None else Path(resume).name,
                           resume_dir=resume or "")

    def open_run(self, run_dir: str | Path, log: bool = True) -> None:
        """Show a past run: its curves (metrics.jsonl) and samples in history and gallery."""
        from studio.runs import read_metrics

        records = read_metrics(run_dir)
        self.history.reset(label=Path(run_dir).name, run_dir=str(run_dir))
        self.history.load_records(records)
        self.gallery.clear(run_dir=str(run_dir))
        self.gallery.load_records(records, run_dir)
        if log:
            self.session.add_log("info", f"Opened run {run_dir}")

    # -- control (flags, set directly) ------------------------------------------------
    def pause(self) -> None:
        if self.control is not None and self.session.state == "running":
            self.control.pause()
            self.session.set_state("pausing")

    def fix_and_resume(self, action: str) -> None:
        """Answer a problem pause: "halve_batch" / "gradient_checkpointing" (out of memory)
        or "lower_lr" (a diverged loss: half the rate), then resume."""
        if self.control is None:
            return
        if action == "lower_lr":
            self.control.scale_lr(0.5)
        else:
            self.control.request_fit(action)
        self.resume()

    def resume(self) -> None:
        if self.control is not None and self.session.state in ("paused", "pausing"):
            self.control.resume()
            self.session.set_state("running")

    def stop(self) -> None:
        if self.control is not None and self.session.active and self.session.state != "stopping":
            self.control.request_stop()
            self.session.add_log("info", "Stopping: the run saves a checkpoint, then ends…")
            self.session.set_state("stopping")

    def save_now(self) -> None:
        if self.control is not None and self.session.state in ("running", "paused", "pausing"):
            self.control.request_save()
            self.session.add_log("info", "Checkpoint requested")

    def sample_now(self) -> None:
        if self.control is not None and self.session.state in ("running", "paused", "pausing"):
            self.control.request_sample()
            self.session.add_log("info", "Samples requested")

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop a run (with its checkpoint) and join the worker thread; True when joined.
        Blocks the GUI thread: for quitting, after the user has agreed."""
        thread = self._thread
        if thread is None:
            return True
        if self.control is not None:
            self.control.request_stop()
        joined = thread.wait(timeout_ms)
        return bool(joined)

    # -- from the worker (GUI thread) -------------------------------------------------
    @Slot(object)
    def _on_event(self, event: object) -> None:
        for state in (self.history, self.gallery, self.session):
            try:
                state.feed(event)
            except Exception as exc:  # noqa: BLE001 - a broken view must not hide the run
                traceback.print_exc()
                if state is not self.session:
                    self.session.add_log("error", f"internal error showing "
                                                  f"{type(event).__name__}: {exc!r}")
        if isinstance(event, ev.RunStarted):
            # the engine has imported torch and built the model: move those long-lived
            # objects out of the collector's sight, so collections stay cheap while training
            gc.freeze()
            self.run_started.emit(event)
        elif isinstance(event, ev.RunPaused) and event.reason in ("out_of_memory", "diverged"):
            self.problem_paused.emit(event.reason, event.message)
        elif isinstance(event, ev.RunFailed):
            self._report_failure(event.message, event.traceback)
        self.event.emit(event)

    @Slot(str, str)
    def _on_errored(self, message: str, tb: str) -> None:
        # The engine emits RunFailed before re-raising; that event arrived first (same
        # sender thread, FIFO), so this only reports errors it could not announce.
        self._report_failure(message, tb)

    def _report_failure(self, message: str, tb: str) -> None:
        self.session.fail(message, tb)
        if not self._failure_reported:
            self._failure_reported = True
            self.run_failed.emit(message, tb)

    @Slot(object)
    def _on_returned(self, result: object) -> None:
        self.result = result

    @Slot()
    def _on_done(self) -> None:
        result = self.result  # None after an error
        state = getattr(result, "state", None)
        if self.session.active:
            if state in ("completed", "stopped", "failed"):
                if state == "failed":
                    self._report_failure("the engine reported a failed run", "")
                else:
                    self.session.set_state(state)
            elif result is None:
                self._report_failure("the run ended without a result", "")
            else:
                self.session.set_state("completed")

    @Slot()
    def _on_thread_finished(self) -> None:
        self._thread = None
        # what RunStarted froze (the engine's objects among them) may be garbage now: one
        # full collection here, on the GUI thread, between runs
        gc.unfreeze()
        gc.collect()
        self.run_ended.emit(self.session.state)

    def _on_session_changed(self, what: str) -> None:
        if what == "state":
            self.state_changed.emit(self.session.state)
