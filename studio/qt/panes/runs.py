"""Runs: past runs of the project's runs folder, with their honest state.

States come from ``studio.runs.list_runs``: a run whose heartbeat went stale is
"interrupted" (with Resume when it has a checkpoint), never "running" forever. Open
shows a run's curves and samples; Overlay draws it over the current curves.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.runs import RunInfo, list_runs
from studio.runs.store import run_info

LIVE_STATES = ("starting", "running", "paused", "stopping")
STATE_COLOURS = {"completed": "#2e9d4f", "failed": "#d23c3c", "interrupted": "#c98a00",
                 "running": "#3c78c8", "paused": "#3c78c8", "starting": "#3c78c8",
                 "stopped": "#808080"}
COLUMNS = ("Run", "State", "Step", "Best val loss", "Started")


class RunsPane(QWidget):
    open_requested = Signal(str)      # run folder
    overlay_requested = Signal(str)   # run folder
    resume_requested = Signal(str)    # run folder
    export_requested = Signal(str)    # run folder

    def __init__(self, runs_dir: str | Path = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs_dir = Path(runs_dir) if runs_dir else None
        self.project: str | None = None  # the project file whose runs are listed
        self.infos: list[RunInfo] = []
        self.busy = False  # a run is training: Resume waits

        self.folder_label = QLabel("")
        self.folder_label.setWordWrap(True)
        self.all_runs = QCheckBox("Other projects' runs too")
        self.all_runs.setToolTip("Also list the runs in this folder that other projects (or "
                                 "`studio train` with a plain config) made")
        self.all_runs.toggled.connect(lambda _on: self.refresh())
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.all_runs)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setMinimumHeight(44)  # a header and a row: the bottom docks stay short
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i in range(1, len(COLUMNS)):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemDoubleClicked.connect(lambda *_: self._emit(self.open_requested))

        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Show this run's curves and samples")
        self.open_button.clicked.connect(lambda: self._emit(self.open_requested))
        self.overlay_button = QPushButton("Overlay on curves")
        self.overlay_button.setToolTip("Draw this run's curves over the current ones")
        self.overlay_button.clicked.connect(lambda: self._emit(self.overlay_requested))
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue this run from its latest checkpoint")
        self.resume_button.clicked.connect(lambda: self._emit(self.resume_requested))
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Export this run's weights as a model folder (Ctrl+E)")
        self.export_button.clicked.connect(lambda: self._emit(self.export_requested))
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for b in (self.open_button, self.overlay_button, self.resume_button,
                  self.export_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        # while a run trains its row (step, best loss) is re-read now and then
        self.timer = QTimer(self)
        self.timer.setInterval(3000)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.refresh()

    def _tick(self) -> None:
        """While a run trains, re-read only the live rows (not every past run's folder)."""
        if not (self.busy and self.isVisible()):
            return
        for k, info in enumerate(self.infos):  # rows are in the order of self.infos
            if info.state in LIVE_STATES:
                self.infos[k] = run_info(info.path)
                self._fill(self.tree.topLevelItem(k), self.infos[k])
        self._update_buttons()

    def set_runs_dir(self, runs_dir: str | Path, project: str | None = None) -> None:
        """List the runs in ``runs_dir``; with ``project`` (a project file's path, "" for
        an unsaved project) only that project's, unless "other projects' runs" is ticked."""
        runs_dir = Path(runs_dir) if runs_dir else None
        if (runs_dir, project) == (self.runs_dir, self.project):
            return
        self.runs_dir, self.project = runs_dir, project
        self.refresh()

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._update_buttons()

    def refresh(self) -> None:
        selected = self.selected_path()
        own = None if self.all_runs.isChecked() else self.project
        self.infos = list_runs(self.runs_dir, project=own) if self.runs_dir else []
        whose = "Runs" if own is None else "This project's runs"
        self.folder_label.setText(
            f"{whose} in {self.runs_dir}" if self.runs_dir else "No runs folder yet")
        self.tree.clear()
        for info in self.infos:
            item = QTreeWidgetItem()
            self._fill(item, info)
            self.tree.addTopLevelItem(item)
            if str(info.path) == selected:
                item.setSelected(True)
        if not self.infos:
            placeholder = QTreeWidgetItem(["No runs yet — press Train (F5)", "", "", "", ""])
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.tree.addTopLevelItem(placeholder)
        self._update_buttons()

    def _fill(self, item: QTreeWidgetItem, info: RunInfo) -> None:
        for col, text in enumerate(self._row(info)):
            item.setText(col, text)
        item.setData(0, Qt.ItemDataRole.UserRole, str(info.path))
        colour = STATE_COLOURS.get(info.state)
        item.setForeground(1, QColor(colour) if colour else self.palette().text().color())
        tip = info.message or info.state
        if info.state == "interrupted":
            tip = ("The process stopped without finishing (crash, kill or reboot). "
                   + ("Resume continues from its last checkpoint." if info.resumable
                      else "It has no checkpoint to resume from."))
        item.setToolTip(1, tip)
        item.setToolTip(0, str(info.path))

    @staticmethod
    def _row(info: RunInfo) -> list[str]:
        step = f"{info.step:,}/{info.total_steps:,}" if info.total_steps else f"{info.step:,}"
        best = f"{info.best_val_loss:.4f}" if isinstance(info.best_val_loss, (int, float)) else ""
        started = _dt.datetime.fromtimestamp(info.started).strftime("%Y-%m-%d %H:%M")
        return [info.name if info.name != info.id else info.id, info.state, step, best, started]

    def selected_info(self) -> RunInfo | None:
        path = self.selected_path()
        return next((i for i in self.infos if str(i.path) == path), None)

    def selected_path(self) -> str | None:
        items = self.tree.selectedItems() if hasattr(self, "tree") else []
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def select(self, run_dir: str | Path) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == str(run_dir):
                self.tree.setCurrentItem(item)
                item.setSelected(True)
                return

    def _update_buttons(self) -> None:
        info = self.selected_info()
        self.open_button.setEnabled(info is not None and not self.busy)
        self.overlay_button.setEnabled(info is not None)
        self.resume_button.setEnabled(info is not None and info.resumable and not self.busy)
        self.export_button.setEnabled(info is not None and info.step > 0)

    def _emit(self, signal) -> None:
        path = self.selected_path()
        if path:
            signal.emit(path)
