"""The studio window: dock panes, run controls, status bar, drag and drop.

Panes are views of Qt-free state: Dataset / Model / Settings of the ``Project``;
Curves of the ``RunHistory``; Gallery of the ``GalleryState``; Log of the
``RunSession``; Runs of the run store; Queue of the ``QueueState``. The ``EngineHost``
feeds history, gallery and session from the training thread. What runs when (train,
resume, trial, queue, stop) is the Qt-free ``RunCoordinator``; the actions and menus come
from ``qt.actions``; the tool dialogs from ``qt.tools``; the project files from
``qt.project_files``. The layout is remembered (QSettings).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox

from studio.core.errors import ConfigError, StudioError
from studio.qt import actions as qactions
from studio.qt.actions import SHORTCUTS  # noqa: F401 - the run controls' keys, re-exported
from studio.qt.dialogs import run_dialogs
from studio.qt.docks import Docks, FirstPaintWatch
from studio.qt.engine_host import EngineHost
from studio.qt.panes.gallery import GalleryPane
from studio.qt.panes.log import LogPane
from studio.qt.panes.queue import QueuePane
from studio.qt.panes.runs import RunsPane
from studio.qt.project_files import ProjectFiles
from studio.qt.tools import WindowTools
from studio.qt.widgets.run_status import RunStatus
from studio.state.coordinator import RunCoordinator
from studio.state.gallery import GalleryState
from studio.state.project import Project
from studio.state.queue import QueueState
from studio.state.run_history import RunHistory
from studio.state.session import RunSession

STATUS_MS = 100


class MainWindow(QMainWindow):
    first_painted = Signal()
    project_changed = Signal(object)

    def __init__(self, project: Project | None = None, engine_fn=None,
                 settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings()
        self.project = project or Project(name="Untitled")
        self.history = RunHistory()
        self.gallery = GalleryState()
        self.session = RunSession()
        self.host = EngineHost(self.history, self.gallery, self.session, engine_fn=engine_fn,
                               parent=self)
        self.queue_state = QueueState(self._queue_path())  # follows the project's runs folder
        self.coordinator = RunCoordinator(self.host, self.session, self.history,
                                          self.queue_state)
        self.curves = None  # built after the first paint (pyqtgraph takes ~1 s to import)
        self.error_dialog: QMessageBox | None = None
        self.trial_box: QMessageBox | None = None
        self.trial_verdict = None    # core.trial.TrialVerdict of the last trial
        self.tools = WindowTools(self)
        self._closing = False
        self._painted = False
        self._pending_overlays: list[RunHistory] = []
        self._unsubscribe_project = None

        self._build_docks()
        self.actions_by_key = qactions.build_actions(self)
        self.files = ProjectFiles(self, qactions.build_menus(self, self.actions_by_key,
                                                             self.docks))
        self.toolbar = qactions.build_toolbar(self, self.actions_by_key)
        qactions.paint_run_icons(self, self.actions_by_key)
        self.run_status = RunStatus(self.statusBar(), self.session,
                                    lambda: self.project.config.train.device)
        self.docks.default_layout()
        self.docks.restore_layout()

        self.host.state_changed.connect(self._update_actions)
        self.host.run_failed.connect(self._on_run_failed)
        self.host.problem_paused.connect(self._on_problem_paused)
        self.host.run_started.connect(lambda _e: self.runs_pane.refresh())
        self.host.run_ended.connect(self._on_run_ended)
        self.coordinator.subscribe(self._on_coordinator)
        self.gallery.subscribe(self._on_gallery_changed)
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(STATUS_MS)
        self.status_timer.timeout.connect(self.run_status.refresh)
        self.status_timer.start()

        self.set_project(self.project)
        self._update_actions()
        self._paint_watch = FirstPaintWatch(self, self._after_first_paint)

    # -- building ---------------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.gallery_pane = GalleryPane(self.gallery)
        self.log_pane = LogPane(self.session)
        self.runs_pane = RunsPane()
        self.queue_pane = QueuePane(self.queue_state)
        self.curves_placeholder = QLabel("Loading curves…")
        self.curves_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.docks = Docks(self, self.settings)
        for key, widget in (("curves", self.curves_placeholder), ("gallery", self.gallery_pane),
                            ("log", self.log_pane), ("runs", self.runs_pane),
                            ("queue", self.queue_pane)):
            self.docks[key].setWidget(widget)
        self.dataset_pane = self.model_pane = self.settings_pane = None
        self._panes_deferred = True
        self.runs_pane.open_requested.connect(self.open_run)
        self.runs_pane.overlay_requested.connect(self.overlay_run)
        self.runs_pane.resume_requested.connect(self.resume_run)
        self.runs_pane.export_requested.connect(self.tools.export_model)
        self.queue_pane.add_requested.connect(self.queue_project)
        self.queue_pane.sweep_requested.connect(self.queue_sweep)
        self.queue_pane.run_requested.connect(self.coordinator.run_queue)
        self.queue_pane.stop_requested.connect(self.coordinator.stop_queue)
        self.queue_pane.overlay_requested.connect(lambda dirs: [self.overlay_run(d)
                                                                for d in dirs])

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt name
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "actions_by_key"):
            qactions.paint_run_icons(self, self.actions_by_key)  # glyphs follow the theme
        super().changeEvent(event)

    def reset_layout(self) -> None:
        self.docks.reset_layout()

    def show_dock(self, key: str) -> None:
        self.docks.show(key)

    # -- first paint: then the heavier parts --------------------------------------------------
    def _after_first_paint(self) -> None:
        if not self._painted:
            self._painted = True
            self.first_painted.emit()
            self.docks.raise_floating()
            QTimer.singleShot(0, self._build_deferred)

    def _build_deferred(self) -> None:
        self.ensure_panes()
        self.ensure_curves()

    def ensure_panes(self) -> None:
        """Build the Model and Settings panes if they wait (they are tabs behind Dataset at
        start-up, so they are built after the first paint)."""
        if self.model_pane is None or self.settings_pane is None:
            self._panes_deferred = False
            self._build_project_panes(("model", "settings"))

    def ensure_curves(self):
        """Build the Curves pane (imports pyqtgraph) if not built yet; return it."""
        if self.curves is None:
            from studio.qt.panes.curves import CurvesPane

            self.curves = CurvesPane(self.history)
            self.curves.step_clicked.connect(self._on_curve_clicked)
            self.docks["curves"].setWidget(self.curves)
            self.curves_placeholder.deleteLater()
            self.curves.set_sample_marker(self.gallery.selected)
            for h in self._pending_overlays:
                self.curves.add_overlay(h)
            self._pending_overlays.clear()
        return self.curves

    # -- the project --------------------------------------------------------------------------
    def set_project(self, project: Project) -> None:
        """Show ``project``: the Dataset, Model and Settings panes are rebuilt for it."""
        if self._unsubscribe_project is not None:
            self._unsubscribe_project()
            self._forget_runs()
        self.project = project
        if self._panes_deferred:  # start-up: Model and Settings come after the first paint
            self._build_project_panes(("dataset",))
            for key in ("model", "settings"):
                if self.docks[key].widget() is None:
                    wait = QLabel("Loading…")
                    wait.setAlignment(Qt.AlignmentFlag.AlignCenter)
                    self.docks[key].setWidget(wait)
        else:
            self._build_project_panes(("dataset", "model", "settings"))
        self._unsubscribe_project = project.subscribe(self._on_project_changed)
        self._on_project_changed("project")
        self.project_changed.emit(project)

    def _forget_runs(self) -> None:
        """Another project: its window starts without the last one's curves, samples and
        readout (its runs are in the Runs pane)."""
        self.history.reset()
        self.gallery.clear()
        self.session.clear()
        self._pending_overlays.clear()
        if self.curves is not None:
            self.curves.clear_overlays()

    def _build_project_panes(self, keys) -> None:
        from studio.qt.panes.dataset import DatasetPane
        from studio.qt.panes.model import ModelPane
        from studio.qt.panes.settings import SettingsPane

        classes = {"dataset": DatasetPane, "model": ModelPane, "settings": SettingsPane}
        for key in keys:
            old = self.docks[key].widget()
            pane = classes[key](self.project)
            self.docks[key].setWidget(pane)
            setattr(self, f"{key}_pane", pane)
            if key == "dataset":
                pane.auto_caption_requested.connect(self.tools.auto_caption)
            if old is not None:
                old.deleteLater()

    def _on_project_changed(self, _what: str) -> None:
        name = self.project.name or "Untitled"
        where = f" — {self.project.path}" if self.project.path else ""
        self.setWindowTitle(f"{name}[*]{where} — Fine-Tuning Studio")
        self.setWindowModified(self.project.dirty)
        self.runs_pane.set_runs_dir(self.project.runs_dir(), self.project.config.run.project)
        self.queue_state.set_path(self._queue_path())  # not while the queue runs
        self.run_status.refresh(force=True)

    def busy(self, message: str) -> bool:
        """True (and says ``message``) while a run trains."""
        if self.host.running:
            self.statusBar().showMessage(message, 4000)
        return self.host.running

    def add_paths(self, paths) -> list[str]:
        return self.files.add_paths(paths)

    # -- runs (the coordinator decides; the window asks and shows) ------------------------------
    def explain(self, exc: StudioError) -> str:
        """An error in the window's words (fields and buttons, not config keys)."""
        from studio.qt.panes.settings import describe_error

        return describe_error(exc) if isinstance(exc, ConfigError) else str(exc)

    def _attempt(self, title: str, start):
        """``start()`` (a coordinator call) once the form's edits are in the project, and
        its result; on a bad setting say which, in the window's words, and return None."""
        pane = self.settings_pane
        errors = pane.apply_pending() if pane is not None else {}
        if errors:
            self.show_dock("settings")
            QMessageBox.warning(self, title, "Fix the settings marked in red first:\n"
                                + "\n".join(f"• {m}" for m in errors.values()))
            return None
        try:
            return start()
        except StudioError as exc:
            QMessageBox.warning(self, title, self.explain(exc))
            return None

    def train(self) -> None:
        if self.tools.lr_finder_running:
            self.statusBar().showMessage("The learning-rate test is running: stop it or "
                                         "wait for it first", 4000)
            return
        if not self.host.running and self._attempt(
                "Cannot start training", lambda: self.coordinator.train(self.project.run_config())):
            self.docks["curves"].raise_()

    def resume_run(self, run_dir: str) -> None:
        self.coordinator.resume(run_dir)

    def ask_trial(self) -> None:
        steps = run_dialogs.ask_trial_steps(self)
        if steps is not None:
            self.try_steps(steps)

    def try_steps(self, steps: int, resume: str | None = None) -> None:
        """Start (or resume) the run with a stop after ``steps`` steps: samples, a
        checkpoint and a verdict, then Continue resumes the same run."""
        if not self.host.running and self._attempt("Cannot start the trial", lambda: (
                self.coordinator.try_steps(None if resume else self.project.run_config(), steps,
                                           resume=resume))):
            self.docks["curves"].raise_()

    def continue_trial(self) -> None:
        """Continue the run the last trial stopped (Continue in the trial's message)."""
        run_dialogs.close_quietly(self.trial_box)
        self.trial_box = None
        self.coordinator.continue_trial()

    def _queue_path(self) -> Path:
        return self.project.runs_dir() / "queue.json"

    def queue_project(self, overrides=()) -> None:
        source = str(self.project.path or "")
        if self._attempt("Cannot queue the project", lambda: self.coordinator.queue_project(
                self.project.run_config(), overrides, source)):
            self.show_dock("queue")

    def queue_sweep(self, axes) -> None:
        source = str(self.project.path or "")
        items = self._attempt("Cannot queue the grid", lambda: self.coordinator.queue_sweep(
            self.project.run_config(), axes, source))
        if items:
            self.statusBar().showMessage(f"Queued {len(items)} runs", 4000)

    def _on_coordinator(self, what: str) -> None:
        if what == "started":
            self.ensure_curves()
            self.runs_pane.set_busy(True)
        elif what == "notice":
            self.statusBar().showMessage(self.coordinator.notice, 6000)
        elif what == "trial":
            outcome = self.coordinator.trial
            self.trial_verdict = outcome.verdict
            self.trial_box = run_dialogs.trial_box(self, outcome, self.continue_trial)

    def open_run(self, run_dir: str) -> None:
        if not self.busy("A run is training: use Overlay to compare"):
            self.host.open_run(run_dir)
            self.docks["curves"].raise_()

    def overlay_run(self, run_dir: str) -> None:
        history = RunHistory.from_run(run_dir)
        if self.curves is None:
            self._pending_overlays.append(history)
        else:
            self.curves.add_overlay(history)
        self.docks["curves"].raise_()

    def copy_cli_command(self) -> None:
        self.ensure_panes()
        self.settings_pane.copy_cli_command()
        self.statusBar().showMessage("Copied the CLI command to the clipboard", 3000)

    # -- what the run says -------------------------------------------------------------------
    def _on_problem_paused(self, reason: str, message: str) -> None:
        """Out of memory or a diverged loss: the run is paused; offer the ways on."""
        choice = run_dialogs.ask_problem_fix(self, reason, message)
        if choice == "stop":
            self.coordinator.stop()
        elif choice is not None:
            self.host.fix_and_resume(choice)

    def _on_run_failed(self, message: str, traceback: str) -> None:
        self.show_dock("log")
        self.show_error("The run failed", message, traceback)

    def show_error(self, title: str, message: str, details: str = "") -> QMessageBox:
        self.error_dialog = run_dialogs.error_box(self, title, message, details)
        return self.error_dialog

    def _on_run_ended(self, state: str) -> None:
        self.runs_pane.set_busy(False)
        if self.session.run_dir:
            self.project.note_run(self.session.run_dir)  # moved beside the file on save
        self.runs_pane.refresh()
        if self.session.run_dir:
            self.runs_pane.select(self.session.run_dir)
        self._update_actions()
        self.coordinator.run_ended(state)  # a queue may start its next run here
        if self._closing:
            self.close()

    def _on_curve_clicked(self, step: int) -> None:
        if self.gallery.steps:
            self.gallery_pane.jump_to(step)
            self.show_dock("gallery")

    def _on_gallery_changed(self, what: str) -> None:
        if what in ("selected", "reset", "samples") and self.curves is not None:
            self.curves.set_sample_marker(self.gallery.selected)

    def _update_actions(self, *_args) -> None:
        qactions.enable_for(self.actions_by_key, self.session.state, self.host.running)
        self.run_status.refresh(force=True)

    # -- closing -----------------------------------------------------------------------------
    def shutdown_now(self, timeout_ms: int = 60_000) -> bool:
        """Stop a run and join its thread (blocking)."""
        return self.host.shutdown(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt name
        if self.host.running:
            if not self._closing:
                if not run_dialogs.confirm_stop_and_quit(self):
                    event.ignore()
                    return
                self._closing = True
                self.coordinator.quit()
                self.statusBar().showMessage("Stopping the run (saving a checkpoint)…")
            event.ignore()  # closes when run_ended arrives (the thread has been joined)
            return
        if not self.files.maybe_save():
            self._closing = False
            event.ignore()
            return
        self.docks.save_layout()
        if self._unsubscribe_project is not None:  # a late scan result finds no window
            self._unsubscribe_project()
            self._unsubscribe_project = None
        self.status_timer.stop()
        if self.curves is not None:
            self.curves.timer.stop()
        event.accept()
