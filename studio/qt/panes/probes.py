"""The bias probe window: the Qt view of a ``BiasProbeState``.

Templates are edited here (one per line) and written into the project's
``probe.bias_templates`` when run, so they are saved with the project. Scoring
(``studio.engine.bias_probe``, which the app injects) loads models, so it runs in a worker thread; the table
shows each continuation's share before → after and the gap, the chart the gaps.
"""

from __future__ import annotations

from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import StudioError
from studio.qt import services
from studio.qt.widgets.tasks import ThreadJob
from studio.state.probes import BiasProbeState

BEFORE = (150, 150, 150)
AFTER = (214, 39, 40)


class BiasProbeDialog(QDialog):
    done_running = Signal()

    def __init__(self, state: BiasProbeState, save_templates: Callable[[tuple], None],
                 probe_fn=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Bias probe")
        self.state, self.save_templates, self.probe_fn = state, save_templates, probe_fn
        self._job: ThreadJob | None = None

        self.target_label = QLabel()
        self.target_label.setWordWrap(True)
        self.target_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        choose = QPushButton("Choose run…")
        choose.setToolTip("Probe another run folder (its base model before, its best "
                          "weights after)")
        choose.clicked.connect(self.choose_run)
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("The {nurse|engineer|CEO} said that -> he|she|they")
        self.editor.setToolTip("One template a line: a prompt with one {a|b|c} list of "
                               "groups, then -> and the continuations to compare. Saved with "
                               "the project (probe.bias_templates).")
        self.editor.setMaximumHeight(90)
        self.run_button = QPushButton("Run probe")
        self.run_button.clicked.connect(self.start)

        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Prompt", "Shares before → after", "Gap before",
                                              "Gap after", "Change"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for i in (2, 3, 4):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)

        self.chart = pg.PlotWidget()
        self.chart.setMinimumHeight(200)
        self.plot = self.chart.getPlotItem()
        self.plot.showGrid(y=True, alpha=0.2)
        self.plot.setLabel("left", "gap (1st − 2nd)")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.bars_before = pg.BarGraphItem(x=[], height=[], width=0.38,
                                           brush=pg.mkBrush(BEFORE), name="before")
        self.bars_after = pg.BarGraphItem(x=[], height=[], width=0.38,
                                          brush=pg.mkBrush(AFTER), name="after")
        self.plot.addItem(self.bars_before)
        self.plot.addItem(self.bars_after)
        self.plot.addLine(y=0, pen=pg.mkPen((128, 128, 128), width=1))
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        close = QPushButton("Close")
        close.clicked.connect(self.close)

        top = QHBoxLayout()
        top.addWidget(self.target_label, 1)
        top.addWidget(choose)
        edit_row = QHBoxLayout()
        edit_row.addWidget(self.editor, 1)
        edit_row.addWidget(self.run_button, 0, Qt.AlignmentFlag.AlignBottom)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.chart)
        split.setSizes([260, 220])
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary, 1)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(QLabel("Templates"))
        layout.addLayout(edit_row)
        layout.addWidget(split, 1)
        layout.addLayout(bottom)
        self.resize(820, 640)
        self._apply_palette()
        self.editor.setPlainText("\n".join(state.templates))
        self.state.subscribe(self._on_state)
        self._on_state("reset")

    # -- actions ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._job is not None

    def choose_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a run folder", self.state.target)
        if folder:
            self.state.target = folder
            self._on_state("target")

    def templates(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.editor.toPlainText().splitlines() if t.strip())

    def start(self) -> None:
        if self.running:
            return
        from studio.core.errors import ConfigError

        templates = self.templates()
        try:  # the same check the engine applies, before any thread starts
            from studio.config.bias_templates import parse_templates
            parse_templates(templates)
        except ConfigError as exc:
            self.state.fail(str(exc))
            return
        self.state.set_templates(templates)
        self.save_templates(templates)  # saved with the project
        self.state.start()
        target, probe_fn = self.state.target, self.probe_fn

        def job(_report):
            fn = probe_fn or services.current().probe  # the app's: loads models
            return fn(target, templates)

        self._job = ThreadJob(job, finished=self._on_finished, errored=self._on_errored,
                              ended=self._on_thread_finished)

    @Slot(object)
    def _on_finished(self, report: dict) -> None:
        self.state.finish(report)

    @Slot(str)
    def _on_errored(self, message: str) -> None:
        self.state.fail(message)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._job = None
        self._on_state("thread")
        self.done_running.emit()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt name
        if self._job is not None:
            self._job.wait(60_000)  # scoring is short; a model load cannot be cancelled
        super().closeEvent(event)

    # -- the view ----------------------------------------------------------------------------
    def _on_state(self, what: str) -> None:
        s = self.state
        target = s.target or "(no run or model)"
        self.target_label.setText(f"<b>Probing:</b> {target}")
        self.run_button.setEnabled(not self.running and s.status != "running")
        self.summary.setText(s.summary())
        if what in ("done", "reset"):
            self._fill()

    def _fill(self) -> None:
        s = self.state
        rows = s.rows()
        compared = s.compared
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            conts = list(r["before"])
            if compared:
                shares = "   ".join(f"{c} {r['before_shares'][c]:.0%} → "
                                   f"{r['after_shares'][c]:.0%}" for c in conts)
                cells = [r["prompt"], shares, f"{r['before_gap']:+.2f}",
                         f"{r['after_gap']:+.2f}", f"{r['after_gap'] - r['before_gap']:+.2f}"]
            else:
                shares = "   ".join(f"{c} {r['before_shares'][c]:.0%}" for c in conts)
                cells = [r["prompt"], shares, f"{r['before_gap']:+.2f}", "", ""]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(r["template"] if j == 0 else text)
                self.table.setItem(i, j, item)
        xs = list(range(len(rows)))
        self.bars_before.setOpts(x=[x - 0.2 for x in xs] if compared else xs,
                                 height=[r["before_gap"] for r in rows])
        self.bars_after.setOpts(x=[x + 0.2 for x in xs],
                                height=[r["after_gap"] for r in rows] if compared
                                else [0.0] * len(rows))
        self.bars_after.setVisible(compared)
        ticks = [(x, r["group"]) for x, r in zip(xs, rows)]
        self.plot.getAxis("bottom").setTicks([ticks])
        if rows:
            self.plot.setXRange(-0.7, len(rows) - 0.3, padding=0)
            self.plot.setYRange(-1.0, 1.0, padding=0.05)

    def _apply_palette(self) -> None:
        pal = self.palette()
        self.chart.setBackground(pal.color(QPalette.ColorRole.Base))
        fg = pal.color(QPalette.ColorRole.Text)
        for axis in ("left", "bottom"):
            ax = self.plot.getAxis(axis)
            ax.setPen(pg.mkPen(fg))
            ax.setTextPen(pg.mkPen(fg))
        self.legend.setLabelTextColor(fg)


class BalanceDialog(QDialog):
    """Image and audio datasets: the caption words and the named groups compared
    (``studio.data.balance``; reads only the caption sidecars, so it runs here)."""

    def __init__(self, paths: tuple[str, ...], groups: tuple[str, ...],
                 save_groups: Callable[[tuple], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Dataset balance report")
        self.paths, self.save_groups = tuple(paths), save_groups
        self.report = None
        intro = QLabel("Which words the captions (same-name .txt files) use, and how groups "
                       "of words you name compare: a model learns the proportions its "
                       "captions show.")
        intro.setWordWrap(True)
        self.editor = QPlainTextEdit("\n".join(groups))
        self.editor.setPlaceholderText("man|woman|person")
        self.editor.setToolTip("One group a line, words separated by |. Saved with the "
                               "project (probe.balance_groups).")
        self.editor.setMaximumHeight(70)
        self.run_button = QPushButton("Report")
        self.run_button.clicked.connect(self.run_report)
        self.groups_table = QTableWidget(0, 3)
        self.groups_table.setHorizontalHeaderLabels(["Group", "Captions with each word",
                                                     "Verdict"])
        self.groups_table.verticalHeader().setVisible(False)
        self.groups_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        gh = self.groups_table.horizontalHeader()
        gh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        gh.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        gh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.groups_table.setMaximumHeight(150)
        self.chart = pg.PlotWidget()
        self.chart.setMinimumHeight(220)
        self.plot = self.chart.getPlotItem()
        self.plot.setTitle("Most frequent caption words", size="9pt")
        self.plot.setLabel("left", "captions")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=pg.mkBrush(AFTER))
        self.plot.addItem(self.bars)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row = QHBoxLayout()
        row.addWidget(self.editor, 1)
        row.addWidget(self.run_button, 0, Qt.AlignmentFlag.AlignBottom)
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary, 1)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(QLabel("Groups"))
        layout.addLayout(row)
        layout.addWidget(self.groups_table)
        layout.addWidget(self.chart, 1)
        layout.addLayout(bottom)
        self.resize(760, 600)
        pal = self.palette()
        self.chart.setBackground(pal.color(QPalette.ColorRole.Base))
        fg = pal.color(QPalette.ColorRole.Text)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setPen(pg.mkPen(fg))
            self.plot.getAxis(axis).setTextPen(pg.mkPen(fg))
        self.plot.titleLabel.setText(self.plot.titleLabel.text, color=fg.name(), size="9pt")

    def groups(self) -> tuple[str, ...]:
        return tuple(g.strip() for g in self.editor.toPlainText().splitlines() if g.strip())

    def run_report(self) -> None:
        from studio.data.balance import balance_report, verdict

        groups = self.groups()
        try:
            if not self.paths:
                raise StudioError("data.paths is empty", "add a folder of images or audio "
                                  "with .txt captions to the dataset")
            self.report = balance_report(self.paths, groups)
        except StudioError as exc:
            self.summary.setText(f"Failed: {exc}")
            return
        self.save_groups(groups)  # saved with the project
        r = self.report
        self.groups_table.setRowCount(len(r.groups))
        for i, g in enumerate(r.groups):
            counts = "   ".join(f"{w} {n}" for w, n in g["counts"].items())
            for j, text in enumerate((g["group"], counts, verdict(g))):
                self.groups_table.setItem(i, j, QTableWidgetItem(text))
        xs = list(range(len(r.top)))
        self.bars.setOpts(x=xs, height=[n for _, n in r.top])
        self.plot.getAxis("bottom").setTicks([[(x, w) for x, (w, _) in zip(xs, r.top)]])
        if r.top:
            self.plot.setXRange(-0.6, len(r.top) - 0.4, padding=0)
            self.plot.setYRange(0, max(n for _, n in r.top) * 1.08, padding=0)
        missing = (f"; without a caption, e.g. {', '.join(r.uncaptioned_examples)}"
                   if r.uncaptioned_examples else "")
        folder = (f" ({r.from_folder} audio files described by their folder's name, as "
                  "training does)" if r.from_folder else "")
        self.summary.setText(f"{r.media} image/audio files, {r.captioned} with a caption"
                             f"{folder}{missing}.")
