"""The studio window: dock panes, menus, run controls, status bar, drag and drop.

Panes are views of Qt-free state: Dataset / Model / Settings of the ``Project``;
Curves of the ``RunHistory``; Gallery of the ``GalleryState``; Log of the
``RunSession``; Runs of the run store. The ``EngineHost`` feeds history, gallery and
session from the training thread. The layout is remembered (QSettings).
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QIcon,
    QKeySequence,
    QPainter,
    QPalette,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QToolBar,
    QWidget,
)

from studio.config import config_from_dict, config_to_dict, families
from studio.config.io import resolve_path
from studio.core.errors import StudioError
from studio.qt.engine_host import EngineHost
from studio.qt.panes.gallery import GalleryPane
from studio.qt.panes.log import LogPane
from studio.qt.panes.runs import RunsPane
from studio.state.gallery import GalleryState
from studio.state.project import Project
from studio.state.run_history import RunHistory
from studio.state.session import RunSession

LAYOUT_VERSION = 1
MAX_RECENT = 8
STATUS_MS = 100

STATE_TEXT = {
    "idle": "Ready", "starting": "Starting…", "running": "Training", "pausing": "Pausing…",
    "paused": "Paused", "stopping": "Stopping…", "completed": "Completed",
    "stopped": "Stopped", "failed": "Failed",
}
STATE_COLOUR = {"running": "#2e9d4f", "paused": "#c98a00", "pausing": "#c98a00",
                "failed": "#d23c3c", "stopping": "#c98a00", "starting": "#3c78c8"}

SHORTCUTS = {
    "train": "F5", "pause": "F6", "resume": "F7", "stop": "Shift+F5", "save_now": "F8",
    "sample_now": "F9",
}


class _FirstPaintWatch(QObject):
    """App-wide event filter that fires once, on the first paint of the window."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt name
        if event.type() == QEvent.Type.Paint and isinstance(obj, QWidget) \
                and obj.window() is self.window:
            QApplication.instance().removeEventFilter(self)
            QTimer.singleShot(0, self.window._after_first_paint)  # once the paint is done
        return False


RUN_ICON_COLOURS = {"train": "#2e9d4f", "stop": "#d23c3c", "pause": "#d08a00"}


def run_icon(kind: str, colour: QColor) -> QIcon:
    """Simple run-control glyphs drawn in ``colour`` (the style's media icons are black,
    unreadable on a dark theme)."""
    size = 64
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    if kind == "train":
        p.drawPolygon(QPolygonF([QPointF(16, 10), QPointF(54, 32), QPointF(16, 54)]))
    elif kind == "pause":
        p.drawRoundedRect(QRectF(14, 10, 13, 44), 3, 3)
        p.drawRoundedRect(QRectF(37, 10, 13, 44), 3, 3)
    elif kind == "resume":
        p.drawRoundedRect(QRectF(10, 12, 9, 40), 2, 2)
        p.drawPolygon(QPolygonF([QPointF(26, 12), QPointF(56, 32), QPointF(26, 52)]))
    elif kind == "stop":
        p.drawRoundedRect(QRectF(13, 13, 38, 38), 5, 5)
    elif kind == "save_now":  # an arrow down into a tray
        p.drawPolygon(QPolygonF([QPointF(24, 8), QPointF(40, 8), QPointF(40, 26),
                                 QPointF(50, 26), QPointF(32, 44), QPointF(14, 26),
                                 QPointF(24, 26)]))
        p.drawRoundedRect(QRectF(8, 48, 48, 8), 2, 2)
    elif kind == "sample_now":  # a sparkle
        c = QPointF(32, 32)
        pts = []
        for i in range(8):
            r = 26 if i % 2 == 0 else 7
            a = math.pi / 4 * i
            pts.append(c + QPointF(r * math.sin(a), -r * math.cos(a)))
        p.drawPolygon(QPolygonF(pts))
    p.end()
    return QIcon(pix)


def local_paths(mime) -> list[str]:
    """The local files and folders of a drag's mime data."""
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


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
        self.curves = None  # built after the first paint (pyqtgraph takes ~1 s to import)
        self.error_dialog: QMessageBox | None = None
        self._closing = False
        self._painted = False
        self._pending_overlays: list[RunHistory] = []
        self._unsubscribe_project = None
        self._status_version = -1

        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowTabbedDocks
                            | QMainWindow.DockOption.AllowNestedDocks)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)

        # -- panes and docks ------------------------------------------------------------
        self.gallery_pane = GalleryPane(self.gallery)
        self.log_pane = LogPane(self.session)
        self.runs_pane = RunsPane()
        self.curves_placeholder = QLabel("Loading curves…")
        self.curves_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.docks: dict[str, QDockWidget] = {}
        for key, title in [("dataset", "Dataset"), ("model", "Model"), ("settings", "Settings"),
                           ("curves", "Curves"), ("gallery", "Gallery"), ("log", "Log"),
                           ("runs", "Runs")]:
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{key}")
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable)
            self.docks[key] = dock
        self.docks["curves"].setWidget(self.curves_placeholder)
        self.docks["gallery"].setWidget(self.gallery_pane)
        self.docks["log"].setWidget(self.log_pane)
        self.docks["runs"].setWidget(self.runs_pane)
        self.dataset_pane = self.model_pane = self.settings_pane = None
        self._panes_deferred = True

        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._default_layout()
        self._restore_layout()

        # -- wiring ---------------------------------------------------------------------
        self.host.state_changed.connect(self._update_actions)
        self.host.run_failed.connect(self._on_run_failed)
        self.host.problem_paused.connect(self._on_problem_paused)
        self.host.run_started.connect(lambda _e: self.runs_pane.refresh())
        self.host.run_ended.connect(self._on_run_ended)
        self.runs_pane.open_requested.connect(self.open_run)
        self.runs_pane.overlay_requested.connect(self.overlay_run)
        self.runs_pane.resume_requested.connect(self.resume_run)
        self.gallery.subscribe(self._on_gallery_changed)
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(STATUS_MS)
        self.status_timer.timeout.connect(self._refresh_status)
        self.status_timer.start()

        self.set_project(self.project)
        self._update_actions()
        self._refresh_status()
        self._paint_watch = _FirstPaintWatch(self)
        QApplication.instance().installEventFilter(self._paint_watch)

    # ======================================================================================
    # building
    # ======================================================================================
    def _action(self, text: str, slot, shortcut: str | QKeySequence | None = None,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            shortcut_text = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{tip} ({shortcut_text})" if shortcut_text else tip)
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # shortcuts work whichever pane has the focus
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.act_new = a("&New project", self.new_project, QKeySequence.StandardKey.New)
        self.act_open = a("&Open project…", self.open_project_dialog, QKeySequence.StandardKey.Open)
        self.act_save = a("&Save project", self.save_project, QKeySequence.StandardKey.Save)
        self.act_save_as = a("Save project &as…", self.save_project_as,
                             QKeySequence.StandardKey.SaveAs)
        self.act_add_folder = a("Add &folder…", self.add_folder_dialog, "Ctrl+Shift+O",
                                "Add a folder of training files to the dataset")
        self.act_add_files = a("Add f&iles…", self.add_files_dialog, "Ctrl+Shift+I",
                               "Add training files to the dataset")
        self.act_quit = a("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_train = a("&Train", self.train, SHORTCUTS["train"],
                           "Start training with the current settings")
        self.act_pause = a("&Pause", self.host.pause, SHORTCUTS["pause"],
                           "Pause after this step; the model stays loaded, so you can still "
                           "sample or save")
        self.act_resume = a("&Resume", self.host.resume, SHORTCUTS["resume"],
                            "Continue the paused run")
        self.act_stop = a("S&top", self.host.stop, SHORTCUTS["stop"],
                          "Stop the run; a checkpoint is saved so it can be resumed")
        self.act_save_now = a("Save checkpoint &now", self.host.save_now, SHORTCUTS["save_now"],
                              "Write a resumable checkpoint now")
        self.act_sample_now = a("S&ample now", self.host.sample_now, SHORTCUTS["sample_now"],
                                "Generate samples from the current weights now")
        self.act_copy_cli = a("Copy as &CLI command", self.copy_cli_command, None,
                              "Copy the command that runs these settings headless")
        self.act_export_cluster = a("Export for a &cluster…", self.export_for_cluster, None,
                                    "Write this project's config plus torchrun / accelerate / "
                                    "SLURM launch scripts for a multi-GPU machine or cluster")
        self.act_reset_layout = a("&Reset layout", self.reset_layout)
        self.act_about = a("&About Fine-Tuning Studio", self.about)
        self.run_actions = [self.act_train, self.act_pause, self.act_resume, self.act_stop,
                            self.act_save_now, self.act_sample_now]
        for act in self.run_actions:  # also from a floating pane (its own window)
            act.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self._paint_run_icons()

    def _paint_run_icons(self) -> None:
        text = self.palette().color(QPalette.ColorRole.ButtonText)
        for key, act in zip(SHORTCUTS, self.run_actions):
            colour = RUN_ICON_COLOURS.get(key)
            act.setIcon(run_icon(key, QColor(colour) if colour else text))

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt name
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "run_actions"):
            self._paint_run_icons()  # a theme change: glyphs follow the text colour
        super().changeEvent(event)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.act_new, self.act_open, self.act_save, self.act_save_as])
        self.recent_menu = file_menu.addMenu("Recent projects")
        self._rebuild_recent_menu()
        file_menu.addSeparator()
        file_menu.addActions([self.act_add_folder, self.act_add_files])
        file_menu.addSeparator()
        file_menu.addAction(self.act_export_cluster)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        run_menu = bar.addMenu("&Run")
        run_menu.addActions(self.run_actions[:4])
        run_menu.addSeparator()
        run_menu.addActions(self.run_actions[4:])
        run_menu.addSeparator()
        run_menu.addAction(self.act_copy_cli)
        self._build_probe_menu(run_menu)
        view_menu = bar.addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addAction(self.act_reset_layout)
        help_menu = bar.addMenu("&Help")
        self.act_system_check = help_menu.addAction("&System check…", self.system_check)
        help_menu.addAction(self.act_about)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Run controls", self)
        tb.setObjectName("toolbar_run")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.setMovable(False)
        tb.addActions(self.run_actions[:4])
        tb.addSeparator()
        tb.addActions(self.run_actions[4:])
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.state_label = QLabel()
        self.device_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setMinimumWidth(160)
        self.progress.setTextVisible(True)
        self.throughput_label = QLabel()
        self.eta_label = QLabel()
        self.gpu_label = QLabel()
        self.loss_label = QLabel()
        sb.addWidget(self.state_label)
        for w in (self.loss_label, self.device_label, self.progress, self.throughput_label,
                  self.eta_label, self.gpu_label):
            sb.addPermanentWidget(w)

    def _default_layout(self) -> None:
        d = self.docks
        for dock in d.values():
            dock.setFloating(False)
            dock.show()
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d["dataset"])
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, d["curves"])
        self.splitDockWidget(d["curves"], d["gallery"], Qt.Orientation.Vertical)
        self.tabifyDockWidget(d["dataset"], d["model"])
        self.tabifyDockWidget(d["model"], d["settings"])
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d["log"])
        self.tabifyDockWidget(d["log"], d["runs"])
        if "queue" in d:
            self.tabifyDockWidget(d["runs"], d["queue"])
        d["dataset"].raise_()
        d["log"].raise_()
        self.resize(1500, 940)
        self.resizeDocks([d["dataset"], d["curves"]], [460, 1040], Qt.Orientation.Horizontal)
        self.resizeDocks([d["curves"], d["gallery"], d["log"]], [390, 360, 140],
                         Qt.Orientation.Vertical)

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state, LAYOUT_VERSION)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def reset_layout(self) -> None:
        self.settings.remove("window/state")
        self._default_layout()

    # ======================================================================================
    # first paint: then the heavier parts
    # ======================================================================================
    def _after_first_paint(self) -> None:
        if self._painted:
            return
        self._painted = True
        self.first_painted.emit()
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

    # ======================================================================================
    # the project
    # ======================================================================================
    def set_project(self, project: Project) -> None:
        """Show ``project``: the Dataset, Model and Settings panes are rebuilt for it."""
        if self._unsubscribe_project is not None:
            self._unsubscribe_project()
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
            if old is not None:
                old.deleteLater()

    def runs_dir(self) -> Path:
        cfg = self.project.config
        return resolve_path(cfg, cfg.run.runs_dir).resolve()

    def _on_project_changed(self, _what: str) -> None:
        name = self.project.name or "Untitled"
        where = f" — {self.project.path}" if self.project.path else ""
        self.setWindowTitle(f"{name}[*]{where} — Fine-Tuning Studio")
        self.setWindowModified(self.project.dirty)
        runs_dir = self.runs_dir()
        if self.runs_pane.runs_dir != runs_dir:
            self.runs_pane.set_runs_dir(runs_dir)
        self._refresh_status(force=True)

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False when the user cancels."""
        if not self.project.dirty:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes",
            f"The project “{self.project.name}” has unsaved changes. Save them?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save_project()
        return answer == QMessageBox.StandardButton.Discard

    def new_project(self) -> None:
        if self.host.running:
            self.statusBar().showMessage("Stop the run before starting a new project", 4000)
            return
        if not self.maybe_save():
            return
        self.set_project(Project(name="Untitled"))

    def open_project_dialog(self) -> None:
        if self.host.running or not self.maybe_save():
            return
        start = str(self.project.path.parent) if self.project.path else str(Path.cwd())
        path, _ = QFileDialog.getOpenFileName(self, "Open project", start,
                                              "Projects (*.toml);;All files (*)")
        if path:
            self.open_project(path, ask=False)

    def open_project(self, path: str | Path, ask: bool = True) -> bool:
        if self.host.running:
            self.statusBar().showMessage("Stop the run before opening another project", 4000)
            return False
        if ask and not self.maybe_save():
            return False
        try:
            project = Project.load(path)
        except (StudioError, OSError) as exc:
            QMessageBox.warning(self, "Cannot open project", str(exc))
            self._forget_recent(str(path))
            return False
        self.set_project(project)
        self._remember_recent(str(Path(path).resolve()))
        return True

    def save_project(self) -> bool:
        if self.project.path is None:
            return self.save_project_as()
        return self._save_to(self.project.path)

    def save_project_as(self) -> bool:
        start = str(self.project.path or Path.cwd() / f"{self.project.name or 'project'}.toml")
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", start,
                                              "Projects (*.toml)")
        if not path:
            return False
        if not path.endswith(".toml"):
            path += ".toml"
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        if path != self.project.path:  # Save As: the project is named after its file
            self.project.name = Path(path).stem
        try:
            self.project.save(path)
        except OSError as exc:
            QMessageBox.warning(self, "Cannot save project", f"{path}: {exc.strerror or exc}")
            return False
        self._remember_recent(str(Path(path).resolve()))
        self.statusBar().showMessage(f"Saved {path}", 3000)
        return True

    # -- recent projects -------------------------------------------------------------------
    def recent_projects(self) -> list[str]:
        value = self.settings.value("recent_projects", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember_recent(self, path: str) -> None:
        items = [path] + [p for p in self.recent_projects() if p != path]
        self.settings.setValue("recent_projects", items[:MAX_RECENT])
        self._rebuild_recent_menu()

    def _forget_recent(self, path: str) -> None:
        self.settings.setValue("recent_projects",
                               [p for p in self.recent_projects() if p != path])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_projects()
        for i, path in enumerate(recent):
            act = self.recent_menu.addAction(f"&{i + 1}  {Path(path).name} — {Path(path).parent}")
            act.setEnabled(Path(path).is_file())
            act.triggered.connect(lambda _c=False, p=path: self.open_project(p))
        if not recent:
            none = self.recent_menu.addAction("No recent projects")
            none.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear list")
            clear.triggered.connect(self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.setValue("recent_projects", [])
        self._rebuild_recent_menu()

    # -- dataset paths ------------------------------------------------------------------------
    def add_paths(self, paths) -> list[str]:
        """Add files or folders to the project's dataset; returns the ones added."""
        added = []
        for p in paths:
            p = str(Path(p).resolve())
            if p not in self.project.dataset_paths:
                self.project.add_dataset_path(p)
                added.append(p)
        if added:
            self.docks["dataset"].show()
            self.docks["dataset"].raise_()
            names = ", ".join(Path(p).name for p in added[:3]) + ("…" if len(added) > 3 else "")
            self.statusBar().showMessage(f"Added to the dataset: {names}", 4000)
        return added

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the dataset")
        if folder:
            self.add_paths([folder])

    def add_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add files to the dataset")
        if files:
            self.add_paths(files)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt name
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt name
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt name
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        self.add_paths(paths)
        event.acceptProposedAction()

    # ======================================================================================
    # runs
    # ======================================================================================
    def train(self) -> None:
        if self.host.running:
            return
        if getattr(self, "lr_finder", None) is not None and self.lr_finder.running:
            self.statusBar().showMessage("The learning-rate test is running: stop it or "
                                         "wait for it first", 4000)
            return
        cfg = self.project.config
        try:  # the same validation `studio train` applies, before any thread starts
            cfg = config_from_dict(config_to_dict(cfg), base_dir=cfg.base_dir)
        except StudioError as exc:
            QMessageBox.warning(self, "Cannot start training", str(exc))
            return
        self.ensure_curves()
        self.docks["curves"].raise_()
        self.host.start(cfg)
        self.runs_pane.set_busy(True)

    def resume_run(self, run_dir: str) -> None:
        if self.host.running:
            return
        self.host.start(None, resume=run_dir)
        self.runs_pane.set_busy(True)

    def open_run(self, run_dir: str) -> None:
        if self.host.running:
            self.statusBar().showMessage("A run is training: use Overlay to compare", 4000)
            return
        self.host.open_run(run_dir)
        self.docks["curves"].raise_()

    def overlay_run(self, run_dir: str) -> None:
        history = RunHistory.from_run(run_dir)
        if self.curves is None:
            self._pending_overlays.append(history)
        else:
            self.curves.add_overlay(history)
        self.docks["curves"].raise_()

    def _build_probe_menu(self, run_menu) -> None:
        """Issue 8: the learning-rate finder and the bias probe (their own windows)."""
        run_menu.addSeparator()
        self.act_trial = self._action("Tr&y a few steps…", self.ask_trial, None,
                                      "Train a few steps of this run, then stop with samples "
                                      "and a verdict (does the loss fall?); Continue carries "
                                      "the same run on")
        run_menu.addAction(self.act_trial)
        self.trial = None            # the trial engine while a trial runs
        self.trial_verdict = None    # core.trial.TrialVerdict of the last trial
        self.trial_box: QMessageBox | None = None
        self.host.run_ended.connect(self._on_trial_ended)
        self.act_lr_find = self._action("Find &learning rate…", self.open_lr_finder, None,
                                        "A short range test that suggests train.lr")
        run_menu.addAction(self.act_lr_find)
        self.lr_finder = None
        self.act_bias_probe = self._action("&Bias probe…", self.open_bias_probe, None,
                                           "Text: templated prompts scored before and "
                                           "after fine-tuning; images and audio: the "
                                           "balance of caption words")
        run_menu.addAction(self.act_bias_probe)
        self.bias_probe = None
        self._build_queue_dock()

    # -- the queue (issue 8): queued runs and grids, run one after another ---------------
    def _build_queue_dock(self) -> None:
        from studio.qt.panes.queue import QueuePane
        from studio.state.queue import QueueState

        self.queue_state = QueueState(self._queue_path())
        self.queue_pane = QueuePane(self.queue_state)
        dock = QDockWidget("Queue", self)
        dock.setObjectName("dock_queue")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        dock.setWidget(self.queue_pane)
        self.docks["queue"] = dock
        self.queue_pane.add_requested.connect(self.queue_project)
        self.queue_pane.sweep_requested.connect(self.queue_sweep)
        self.queue_pane.run_requested.connect(self.run_queue)
        self.queue_pane.stop_requested.connect(self.stop_queue)
        self.queue_pane.overlay_requested.connect(
            lambda dirs: [self.overlay_run(d) for d in dirs])
        self.host.run_ended.connect(self._on_queue_run_ended)

    def _queue_path(self) -> Path:
        cfg = self.project.config
        return resolve_path(cfg, cfg.run.runs_dir) / "queue.json"

    def _checked_config(self, title: str):
        try:  # the validation `studio queue add` applies
            cfg = self.project.config
            return config_from_dict(config_to_dict(cfg), base_dir=cfg.base_dir)
        except StudioError as exc:
            QMessageBox.warning(self, title, str(exc))
            return None

    def queue_project(self, overrides=()) -> None:
        cfg = self._checked_config("Cannot queue the project")
        if cfg is not None:
            self.queue_state.set_path(self._queue_path())
            try:
                self.queue_state.add(cfg, tuple(overrides), str(self.project.path or ""))
            except StudioError as exc:
                QMessageBox.warning(self, "Cannot queue the project", str(exc))
                return
            self.docks["queue"].show()
            self.docks["queue"].raise_()

    def queue_sweep(self, axes) -> None:
        cfg = self._checked_config("Cannot queue the grid")
        if cfg is not None:
            self.queue_state.set_path(self._queue_path())
            try:
                items = self.queue_state.add_sweep(cfg, list(axes),
                                                   str(self.project.path or ""))
            except StudioError as exc:
                QMessageBox.warning(self, "Cannot queue the grid", str(exc))
                return
            self.statusBar().showMessage(f"Queued {len(items)} runs", 4000)

    def run_queue(self) -> None:
        if self.host.running:
            self.statusBar().showMessage("A run is training: the queue starts after it", 4000)
            return
        self.queue_state.set_path(self._queue_path())
        self._start_queue_item(self.queue_state.start())

    def stop_queue(self) -> None:
        self.queue_state.stop()  # the current run finishes its stop; no next one starts
        if self.host.running:
            self.host.stop()

    def _start_queue_item(self, item) -> None:
        from studio.config import load_config

        while item is not None:
            try:
                cfg = load_config(item["config"])
            except StudioError as exc:
                self.queue_state.finished("failed", message=str(exc))
                item = self.queue_state.next()
                continue
            self.ensure_curves()
            self.host.start(cfg)
            self.runs_pane.set_busy(True)
            return
        self.statusBar().showMessage("The queue is done", 6000)

    def _on_queue_run_ended(self, state: str) -> None:
        if self.queue_state.current is None:
            return
        if self._closing:  # quitting: this run stopped with its checkpoint; no next one
            self.queue_state.stop()
        final = state if state in ("completed", "stopped", "failed") else "failed"
        self.queue_state.finished(final, self.session.run_dir,
                                  self.session.error_message if final == "failed" else "")
        # the next run starts once this one's thread is gone (after the other handlers)
        QTimer.singleShot(0, lambda: self._start_queue_item(self.queue_state.next())
                          if self.queue_state.running and not self.host.running else None)

    def open_bias_probe(self):
        """On the selected (or last) run: base model before, its best weights after; with
        no run, the project's model alone."""
        from studio.qt.panes.probes import BiasProbeDialog
        from studio.state.probes import BiasProbeState

        if not families.get(self.project.config.run.family).bias_probe:  # the captions' balance
            from studio.qt.panes.probes import BalanceDialog

            cfg = self.project.config
            self.balance = BalanceDialog(
                tuple(str(resolve_path(cfg, p)) for p in cfg.data.paths),
                cfg.probe.balance_groups,
                lambda g: self.project.replace_section("probe", balance_groups=g), self)
            self.balance.show()
            self.balance.run_report()
            return self.balance
        if self.bias_probe is not None and self.bias_probe.isVisible():
            self.bias_probe.raise_()
            return self.bias_probe
        target = (self.runs_pane.selected_path() or self.session.run_dir
                  or self.project.config.model.source)
        state = BiasProbeState(self.project.config.probe.bias_templates, target)
        self.bias_probe = BiasProbeDialog(
            state, lambda t: self.project.replace_section("probe", bias_templates=t),
            parent=self)
        self.bias_probe.show()
        return self.bias_probe

    def ask_trial(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        steps, ok = QInputDialog.getInt(self, "Quick trial", "Steps to try:", 20, 1, 1_000_000)
        if ok:
            self.try_steps(steps)

    def try_steps(self, steps: int, resume: str | None = None) -> None:
        """Start (or resume) the run with a stop after ``steps`` steps: samples, a
        checkpoint and a verdict, then Continue resumes the same run."""
        if self.host.running:
            return
        from studio.core.trial import trial_engine

        base = self.host.engine_fn

        def engine_run(*args, **kwargs):  # imported in the worker thread (torch)
            from studio.engine import run
            return run(*args, **kwargs)

        self.trial = trial_engine(steps, base or engine_run)
        self.host.engine_fn = self.trial  # the worker takes it at start
        try:
            if resume:
                self.resume_run(resume)
            else:
                self.train()
        finally:
            self.host.engine_fn = base
        if not self.host.running:
            self.trial = None

    def _on_trial_ended(self, state: str) -> None:
        trial, self.trial = self.trial, None
        if trial is None or trial.last is None or state == "failed":
            return
        from studio.core.trial import verdict

        self.trial_verdict = verdict(trial.last.losses)
        text = self.trial_verdict.text if self.trial_verdict else "too few steps for a verdict"
        self.session.add_log("info", text)
        box = QMessageBox(QMessageBox.Icon.Information, "Quick trial",
                          text[0].upper() + text[1:] + ".", QMessageBox.StandardButton.NoButton,
                          self)
        box.setInformativeText("The samples are in the Gallery. Continue trains the same run "
                               "on from here, with the same schedule.")
        cont = box.addButton("Continue training", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        run_dir = self.session.run_dir
        box.buttonClicked.connect(
            lambda b: self.resume_run(run_dir) if b is cont and state == "stopped" else None)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.trial_box = box

    def continue_trial(self) -> None:
        """Continue the run the last trial stopped (Continue in the trial's message)."""
        if self.trial_box is not None:
            try:
                self.trial_box.close()
            except RuntimeError:
                pass  # already closed (and deleted)
            self.trial_box = None
        if self.session.run_dir and not self.host.running:
            self.resume_run(self.session.run_dir)

    def open_lr_finder(self):
        if self.host.running:
            self.statusBar().showMessage("Stop the run before the learning-rate test", 4000)
            return None
        try:  # the checks `studio lr-find` applies
            cfg = config_from_dict(config_to_dict(self.project.config),
                                   base_dir=self.project.config.base_dir)
        except StudioError as exc:
            QMessageBox.warning(self, "Cannot find a learning rate", str(exc))
            return None
        from studio.qt.panes.lr_finder import LRFinderDialog

        if self.lr_finder is not None and self.lr_finder.running:
            self.lr_finder.raise_()
            return self.lr_finder
        self.lr_finder = LRFinderDialog(
            cfg, lambda lr: self.project.replace_section("train", lr=lr), parent=self)
        self.lr_finder.show()
        return self.lr_finder

    def copy_cli_command(self) -> None:
        self.ensure_panes()
        fn = getattr(self.settings_pane, "copy_cli_command", None)
        if fn is not None:
            fn()
            self.statusBar().showMessage("Copied the CLI command to the clipboard", 3000)

    def _on_problem_paused(self, reason: str, message: str) -> None:
        """Out of memory or a diverged loss: the run is paused; offer the ways on."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        if reason == "out_of_memory":
            box.setWindowTitle("Out of memory")
            box.setText("The run is paused: the last step did not fit in memory.")
            box.setInformativeText(message + "\n\nHalving the micro-batch keeps the effective "
                                   "batch (gradient accumulation doubles). Freezing more layers "
                                   "in the Model pane also helps (stop, untick, resume).")
            choices = [("Halve the micro-batch", "halve_batch"),
                       ("Gradient checkpointing", "gradient_checkpointing")]
        else:
            box.setWindowTitle("Training diverged")
            box.setText("The run is paused: the loss became NaN or infinite.")
            box.setInformativeText(message + "\n\nThe weights are back at the last good "
                                   "checkpoint. Lower the learning rate and go on.")
            choices = [("Halve the learning rate and resume", "lower_lr")]
        buttons = {box.addButton(label, QMessageBox.ButtonRole.AcceptRole): action
                   for label, action in choices}
        stop = box.addButton("Stop the run", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        clicked = box.clickedButton()
        if clicked in buttons:
            self.host.fix_and_resume(buttons[clicked])
        elif clicked is stop:
            self.host.stop()

    def _on_run_failed(self, message: str, traceback: str) -> None:
        self.docks["log"].show()
        self.docks["log"].raise_()
        self.show_error("The run failed", message, traceback)

    def show_error(self, title: str, message: str, details: str = "") -> QMessageBox:
        """A non-blocking error dialog (the window keeps working behind it)."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, message,
                          QMessageBox.StandardButton.Ok, self)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.error_dialog = box
        return box

    def _on_run_ended(self, state: str) -> None:
        self.runs_pane.set_busy(False)
        self.runs_pane.refresh()
        if self.session.run_dir:
            self.runs_pane.select(self.session.run_dir)
        self._update_actions()
        if self._closing:
            self.close()

    def _on_curve_clicked(self, step: int) -> None:
        if self.gallery.steps:
            self.gallery_pane.jump_to(step)
            self.docks["gallery"].show()
            self.docks["gallery"].raise_()

    def _on_gallery_changed(self, what: str) -> None:
        if what in ("selected", "reset", "samples") and self.curves is not None:
            self.curves.set_sample_marker(self.gallery.selected)

    def _update_actions(self, *_args) -> None:
        state = self.session.state
        running = self.host.running
        self.act_train.setEnabled(not running)
        if hasattr(self, "act_lr_find"):
            self.act_lr_find.setEnabled(not running)
            self.act_trial.setEnabled(not running)
        self.act_pause.setEnabled(state == "running")
        self.act_resume.setEnabled(state in ("paused", "pausing"))
        self.act_stop.setEnabled(state in ("starting", "running", "pausing", "paused"))
        live = state in ("running", "paused", "pausing")
        self.act_save_now.setEnabled(live)
        self.act_sample_now.setEnabled(live)
        for act in (self.act_new, self.act_open):
            act.setEnabled(not running)
        self._refresh_status(force=True)

    def _refresh_status(self, force: bool = False) -> None:
        s = self.session
        if not force and s.version == self._status_version:
            return
        self._status_version = s.version
        colour = STATE_COLOUR.get(s.state)
        text = STATE_TEXT.get(s.state, s.state)
        if s.state == "completed" and s.finish_reason == "early_stopping":
            text = "Completed (early stopping)"
        self.state_label.setText(f"<b style='color:{colour}'>{text}</b>" if colour
                                 else f"<b>{text}</b>")
        self.state_label.setToolTip(s.error_message if s.state == "failed" else s.run_dir)
        device = s.device or f"{self.project.config.train.device} (chosen at start)"
        if s.precision:
            device += f", {s.precision}"
        self.device_label.setText(f"Device: {device}")
        total = max(1, s.total_steps)
        self.progress.setRange(0, total)
        self.progress.setValue(min(s.step, total))
        self.progress.setFormat(s.progress_text())
        self.progress.setVisible(bool(s.total_steps))
        self.throughput_label.setText(s.throughput_text())
        self.eta_label.setText(s.eta_text())
        self.gpu_label.setText(s.gpu_text())
        self.gpu_label.setVisible(bool(s.gpu_text()))
        self.loss_label.setText(f"loss {s.loss:.4f}" if s.loss == s.loss else "")

    # ======================================================================================
    # help, closing
    # ======================================================================================
    def about(self) -> None:
        from studio.qt.dialogs.about import AboutDialog

        self.about_dialog = AboutDialog(self)
        self.about_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.about_dialog.show()

    def export_for_cluster(self) -> None:
        from studio.qt.dialogs.cluster import ClusterDialog

        cfg = self.project.config
        try:  # the cluster gets a config `studio train` accepts, or nothing
            cfg = config_from_dict(config_to_dict(cfg), base_dir=cfg.base_dir)
        except StudioError as exc:
            QMessageBox.warning(self, "Cannot export for a cluster", str(exc))
            return
        base = self.project.path.parent if self.project.path else Path.home()
        self.cluster_dialog = ClusterDialog(cfg,
                                            base / f"{self.project.config.run.name}-cluster", self)
        self.cluster_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.cluster_dialog.show()

    def system_check(self) -> None:
        from studio.qt.dialogs.system_check import SystemCheckDialog

        self.system_check_dialog = SystemCheckDialog(self)
        self.system_check_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.system_check_dialog.show()

    def shutdown_now(self, timeout_ms: int = 60_000) -> bool:
        """Stop a run and join its thread (blocking)."""
        return self.host.shutdown(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt name
        if self.host.running:
            if not self._closing:
                answer = QMessageBox.question(
                    self, "A run is training",
                    "Stop the run and quit? A checkpoint is saved first, so the run can be "
                    "resumed later.",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                    QMessageBox.StandardButton.No)
                if answer != QMessageBox.StandardButton.Yes:
                    event.ignore()
                    return
                self._closing = True
                self.host.stop()
                self.statusBar().showMessage("Stopping the run (saving a checkpoint)…")
            event.ignore()  # closes when run_ended arrives (the thread has been joined)
            return
        if not self.maybe_save():
            self._closing = False
            event.ignore()
            return
        self.save_layout()
        self.status_timer.stop()
        if self.curves is not None:
            self.curves.timer.stop()
        event.accept()
