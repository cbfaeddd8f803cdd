"""The learning-rate finder window: the Qt view of an ``LRFinderState``.

The range test (``studio.engine.lr_finder.find_lr``, which the app injects) runs in a worker QObject moved to a
QThread (the engine host's pattern); each step arrives as one signal. "Use this rate"
writes the suggestion into the project's ``train.lr`` (one click).
"""

from __future__ import annotations

import math
from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.config import RunConfig
from studio.core.control import RunControl
from studio.qt import services
from studio.qt.widgets.tasks import ThreadJob
from studio.state.probes import LRFinderState

RAW = (31, 119, 180, 90)
SMOOTH = (31, 119, 180)
SUGGEST = (46, 157, 79)


class LRFinderDialog(QDialog):
    """``apply(lr)`` is called by "Use this rate"."""

    done_running = Signal()

    def __init__(self, cfg: RunConfig, apply: Callable[[float], None],
                 state: LRFinderState | None = None, find_fn=None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find a learning rate")
        self.cfg, self.apply_fn, self.find_fn = cfg, apply, find_fn
        self.state = state or LRFinderState()
        self.control: RunControl | None = None
        self._job: ThreadJob | None = None

        intro = QLabel("A short range test on your data with your settings: the rate grows "
                       "exponentially while the loss is recorded. A good rate is where the "
                       "loss falls fastest, well before it blows up. The model's weights are "
                       "put back afterwards; nothing is saved.")
        intro.setWordWrap(True)
        self.steps = QSpinBox()
        self.steps.setRange(20, 2000)
        self.steps.setValue(100)
        self.steps.setToolTip("More steps: a smoother curve, a longer test.")
        self.steps.setMaximumWidth(110)
        self.start_lr = QDoubleSpinBox()
        self.end_lr = QDoubleSpinBox()
        for box, value in ((self.start_lr, -7), (self.end_lr, 0)):
            box.setRange(-10, 1)
            box.setDecimals(1)
            box.setSingleStep(0.5)
            box.setPrefix("1e")
            box.setValue(value)
        self.start_lr.setToolTip("First rate, as a power of ten.")
        self.end_lr.setToolTip("Last rate, as a power of ten.")
        form = QFormLayout()
        form.addRow("Steps", self.steps)
        rates = QHBoxLayout()
        rates.addWidget(self.start_lr)
        rates.addWidget(QLabel("to"))
        rates.addWidget(self.end_lr)
        rates.addStretch(1)
        form.addRow("Rates", rates)

        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.toggle)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.plot_widget = pg.PlotWidget()
        self.plot_widget.setMinimumSize(420, 260)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLogMode(x=True, y=False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.setLabel("left", "loss")
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.raw = self.plot.plot([], [], pen=pg.mkPen(RAW, width=1), name="loss")
        self.smooth = self.plot.plot([], [], pen=pg.mkPen(SMOOTH, width=2), name="smoothed")
        self.marker = pg.InfiniteLine(angle=90, movable=False,
                                      pen=pg.mkPen(SUGGEST, width=2, style=Qt.PenStyle.DashLine),
                                      label="suggested", labelOpts={"position": 0.9,
                                                                     "color": SUGGEST})
        self.marker.setVisible(False)
        self.plot.addItem(self.marker, ignoreBounds=True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.use_button = QPushButton("Use this rate")
        self.use_button.setEnabled(False)
        self.use_button.setToolTip("Set train.lr in the project to the suggested rate")
        self.use_button.clicked.connect(self.use_suggestion)
        close = QPushButton("Close")
        close.clicked.connect(self.close)

        top = QHBoxLayout()
        top.addLayout(form, 1)
        top.addWidget(self.run_button, 0, Qt.AlignmentFlag.AlignBottom)
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary, 1)
        bottom.addWidget(self.use_button)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.plot_widget, 1)
        layout.addLayout(bottom)
        self.resize(640, 520)
        self._apply_palette()
        self.state.subscribe(self._on_state)
        self._on_state("reset")

    # -- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._job is not None

    def toggle(self) -> None:
        if self.running:
            if self.control is not None:
                self.control.request_stop()
            self.run_button.setEnabled(False)
            return
        self.start()

    def start(self) -> None:
        if self.running:
            return
        kwargs = {"steps": self.steps.value(), "start_lr": 10 ** self.start_lr.value(),
                  "end_lr": 10 ** self.end_lr.value()}
        self.control = RunControl()
        self.state.start(kwargs["steps"])
        cfg, control, find_fn = self.cfg, self.control, self.find_fn

        def job(report):
            fn = find_fn or services.current().find_lr  # the app's: torch, off the GUI thread
            return fn(cfg, progress=report, control=control, **kwargs)

        self._job = ThreadJob(job, point=self._on_point, finished=self._on_finished,
                              errored=self._on_errored, ended=self._on_thread_finished)

    @Slot(object)
    def _on_point(self, point: tuple) -> None:
        _i, lr, loss, smoothed = point
        self.state.add_point(lr, loss, smoothed)

    @Slot(object)
    def _on_finished(self, result: dict) -> None:
        self.state.finish(result)

    @Slot(str)
    def _on_errored(self, message: str) -> None:
        self.state.fail(message)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._job = None
        self._on_state("thread")
        self.done_running.emit()

    def use_suggestion(self) -> None:
        if self.state.suggestion is not None:
            lr = float(f"{self.state.suggestion:.2e}")
            self.apply_fn(lr)
            self.summary.setText(f"train.lr is now {lr:.2e}.")

    def stop_and_wait(self, timeout_ms: int = 30_000) -> None:
        if self._job is not None:
            if self.control is not None:
                self.control.request_stop()
            self._job.wait(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt name
        if self.running:
            self.stop_and_wait()
        super().closeEvent(event)

    # -- the view ----------------------------------------------------------------------------
    def _on_state(self, what: str) -> None:
        s = self.state
        busy = self.running or s.status == "running"
        self.run_button.setText("Stop" if busy else "Run")
        self.run_button.setEnabled(True)
        for w in (self.steps, self.start_lr, self.end_lr):
            w.setEnabled(not busy)
        self.progress.setRange(0, max(1, s.steps))
        self.progress.setValue(len(s.lrs))
        self.progress.setFormat(f"{len(s.lrs)} / {s.steps} steps" if s.steps else "")
        if what in ("point", "done", "reset"):
            finite = [(lr, a, b) for lr, a, b in zip(s.lrs, s.losses, s.smoothed)
                      if math.isfinite(a) and math.isfinite(b)]
            xs = [lr for lr, _, _ in finite]
            self.raw.setData(xs, [a for _, a, _ in finite])
            self.smooth.setData(xs, [b for _, _, b in finite])
            if finite:  # the interesting part: the blow-up at the end is cut off
                smooth = [b for _, _, b in finite]
                lo, first = min(smooth + [a for _, a, _ in finite]), smooth[0]
                hi = min(max(smooth), first + 0.5 * max(first - lo, 1e-3))
                self.plot.setYRange(lo - 0.05 * (hi - lo), hi, padding=0)
        if s.status == "done" and s.suggestion is not None:
            self.marker.setValue(math.log10(s.suggestion))
            self.marker.label.setFormat(f"suggested {s.suggestion:.1e}")
            self.marker.setVisible(True)
            self.use_button.setText(f"Use {s.suggestion:.2e}")
            self.use_button.setEnabled(True)
        else:
            self.marker.setVisible(False)
            self.use_button.setText("Use this rate")
            self.use_button.setEnabled(False)
        self.summary.setText(s.summary())

    def _apply_palette(self) -> None:
        pal = self.palette()
        self.plot_widget.setBackground(pal.color(QPalette.ColorRole.Base))
        fg = pal.color(QPalette.ColorRole.Text)
        for axis in ("left", "bottom"):
            ax = self.plot.getAxis(axis)
            ax.setPen(pg.mkPen(fg))
            ax.setTextPen(pg.mkPen(fg))
        self.legend.setLabelTextColor(fg)
