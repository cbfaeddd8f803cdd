"""The Queue pane: the Qt view of a ``QueueState``.

Queue the project as it is, or a small grid (learning rates x batch sizes x freeze
presets); run the queue (the window trains one item after another; a failed run is
marked and the next starts); the table compares the finished runs (best validation loss,
reference drift, time, peak memory) and "Overlay curves" draws them over the Curves.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.config.schema import FREEZE_PRESETS
from studio.core import units
from studio.state.queue import QueueState

COLUMNS = ["#", "Run", "Values", "State", "Best val", "Ref drift", "Time", "Peak GPU"]
MIN_HEIGHT = 64  # the pane's least height: a row of buttons; the rest scrolls
STATE_COLOUR = {"completed": "#2e9d4f", "failed": "#d23c3c", "running": "#3c78c8",
                "stopped": "#c98a00"}


class QueuePane(QWidget):
    add_requested = Signal()                # queue the project as it is
    sweep_requested = Signal(object)        # list of "section.key=v1,v2" axes
    run_requested = Signal()
    stop_requested = Signal()
    overlay_requested = Signal(object)      # list of run folders

    def __init__(self, state: QueueState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.add_button = QPushButton("Queue project")
        self.add_button.setToolTip("Queue the project's current settings (a snapshot: later "
                                   "edits do not change the queued run)")
        self.add_button.clicked.connect(self.add_requested.emit)
        self.run_button = QPushButton("Run queue")
        self.run_button.setToolTip("Train every pending item, one after another; a failed "
                                   "run is marked and the next one starts")
        self.run_button.clicked.connect(self._run_or_stop)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove)
        self.overlay_button = QPushButton("Overlay curves")
        self.overlay_button.setToolTip("Draw the selected (or all finished) runs over the "
                                       "Curves")
        self.overlay_button.clicked.connect(self._overlay)

        self.lrs = QLineEdit()
        self.lrs.setPlaceholderText("1e-4, 3e-4")
        self.lrs.setToolTip("Learning rates to try (comma-separated); empty: the project's")
        self.batches = QLineEdit()
        self.batches.setPlaceholderText("4, 8")
        self.batches.setToolTip("Batch sizes to try; empty: the project's")
        self.presets: dict[str, QCheckBox] = {}
        presets_row = QHBoxLayout()
        presets_row.setSpacing(6)
        for name in FREEZE_PRESETS:
            box = QCheckBox(name)
            box.setToolTip(f"Try freeze.preset = {name}")
            self.presets[name] = box
            presets_row.addWidget(box)
        self.sweep_button = QPushButton("Queue grid")
        self.sweep_button.setToolTip("Queue every combination of the values")
        self.sweep_button.clicked.connect(self._sweep)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        h = self.table.horizontalHeader()
        for i in range(len(COLUMNS)):
            h.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.setMinimumHeight(48)  # a header and a row; the bottom docks stay short
        self.note = QLabel()
        self.note.setWordWrap(True)

        bar = QHBoxLayout()
        for w in (self.add_button, self.run_button, self.remove_button, self.overlay_button):
            bar.addWidget(w)
        bar.addStretch(1)
        # the grid's values on one line and its presets on the next: on one line they
        # made the bottom docks (and so the window) at least ~690 px wide
        grid = QHBoxLayout()
        grid.addWidget(QLabel("Grid: rates"))
        grid.addWidget(self.lrs, 2)
        grid.addWidget(QLabel("batches"))
        grid.addWidget(self.batches, 1)
        freeze_row = QHBoxLayout()
        freeze_row.addWidget(QLabel("freeze"))
        freeze_row.addLayout(presets_row)
        freeze_row.addStretch(1)
        freeze_row.addWidget(self.sweep_button)
        # the controls scroll inside the pane: their natural height (~176 px) was the least
        # height of the bottom docks, which left the Curves little room on a small screen
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addLayout(grid)
        layout.addLayout(freeze_row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        scroll.setMinimumHeight(MIN_HEIGHT)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        state.subscribe(self._on_state)
        self._on_state("items")

    # -- input -------------------------------------------------------------------------------
    def sweep_axes(self) -> list[str]:
        axes = []
        for key, edit in (("train.lr", self.lrs), ("train.batch_size", self.batches)):
            values = [v.strip() for v in edit.text().replace(";", ",").split(",") if v.strip()]
            if values:
                axes.append(f"{key}={','.join(values)}")
        presets = [n for n, b in self.presets.items() if b.isChecked()]
        if presets:
            axes.append(f"freeze.preset={','.join(presets)}")
        return axes

    def _sweep(self) -> None:
        axes = self.sweep_axes()
        if not axes:
            self.note.setText("Give rates, batch sizes or freeze presets to sweep.")
            return
        self.sweep_requested.emit(axes)

    def _run_or_stop(self) -> None:
        (self.stop_requested if self.state.running else self.run_requested).emit()

    def selected_items(self) -> list[dict]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.state.items[r] for r in rows if r < len(self.state.items)]

    def _remove(self) -> None:
        for item in self.selected_items():
            if item["state"] != "running":
                self.state.remove(item["id"])

    def _overlay(self) -> None:
        items = self.selected_items() or self.state.items
        dirs = [i["run_dir"] for i in items if i.get("run_dir")
                and i["state"] in ("completed", "stopped")]
        if dirs:
            self.overlay_requested.emit(dirs)

    # -- view --------------------------------------------------------------------------------
    def _on_state(self, what: str) -> None:
        s = self.state
        self.table.setRowCount(len(s.items))
        best = min((s.row(i).get("best_val_loss") for i in s.items
                    if s.row(i).get("best_val_loss") is not None), default=None)
        for r, item in enumerate(s.items):
            c = s.row(item)
            mem = c.get("peak_gpu_bytes")
            cells = [str(item["id"]), item["name"], " ".join(o.split(".", 1)[-1]
                                                            for o in item["overrides"]),
                     item["state"],
                     f"{c['best_val_loss']:.4f}" if c.get("best_val_loss") is not None else "",
                     f"{c['ref_drift']:+.4f}" if c.get("ref_drift") is not None else "",
                     units.clock(c["time_s"], hours_pad=False) if c.get("time_s") else "",
                     f"{mem / 2**30:.2f} GB" if mem else ("n/a" if c else "")]
            for j, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if j == 3:
                    colour = STATE_COLOUR.get(text)
                    if colour:
                        cell.setForeground(QColor(colour))
                    if item.get("message"):
                        cell.setToolTip(item["message"])
                if j == 4 and best is not None and c.get("best_val_loss") == best:
                    font = cell.font()
                    font.setBold(True)
                    cell.setFont(font)
                if j in (0, 4, 5, 6, 7):
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, j, cell)
        pending = sum(1 for i in s.items if i["state"] == "pending")
        failed = sum(1 for i in s.items if i["state"] == "failed")
        self.note.setText(f"{len(s.items)} in {s.queue.path}: {pending} pending"
                          + (f", {failed} failed (hover the state for the reason)"
                             if failed else "")
                          + (". Working through the queue…" if s.running else "."))
        self.run_button.setText("Stop queue" if s.running else "Run queue")
        self._update_buttons()

    def _update_buttons(self) -> None:
        s = self.state
        self.run_button.setEnabled(s.running or any(i["state"] == "pending" for i in s.items))
        self.remove_button.setEnabled(bool(self.selected_items()))
        self.overlay_button.setEnabled(any(i.get("run_dir") for i in s.items))
