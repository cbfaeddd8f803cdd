"""Curves: the pyqtgraph view of a ``RunHistory``.

Items are created once; a QTimer (~15 Hz) ``setData``s them from the history's growing
numpy buffers when its ``version`` moved, with peak downsampling and clip-to-view on
(STYLE.md 6). Feeding the history per step costs an append; drawing happens here, at
most 15 times a second, whatever the step rate.

Loss plot: train loss raw (faint) and EMA-smoothed with bias correction (bold),
validation loss (dots). Below: perplexity, learning rate, throughput. Past runs can be
overlaid (dashed); unfreeze events are vertical markers; a click emits the step under
the cursor (the window jumps the gallery to the nearest sampled step).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFrame,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core import units
from studio.state.run_history import RunHistory

# Each timer tick draws ONE of the three plot groups (loss, learning rate, throughput), so
# an event-loop turn paints one plot rather than all four (measured: all four at once cost
# the GUI thread ~40 ms on a 2-core CPU, one plot about a third of that). Each plot still
# redraws about 10 times a second.
REFRESH_MS = 33
PARTS = ("loss", "lr", "speed")

# Colours readable on light and dark backgrounds.
TRAIN = (31, 119, 180)
VAL = (230, 110, 20)
REF = (214, 39, 40)  # the forgetting probe's reference loss
PPL = (150, 80, 190)
LR = (40, 160, 80)
SPEED = (200, 60, 90)
UNFREEZE = (120, 120, 120)
MARKER = (230, 110, 20)
# extra metrics (the third row: a family's sample statistics), in order of appearance
EXTRA_COLORS = ((31, 119, 180), (230, 110, 20), (40, 160, 80), (150, 80, 190),
                (200, 60, 90), (120, 120, 120))
# The least height of each row of plots (loss; perplexity, learning rate and throughput;
# the extra metrics): a title, the step axis' labels and a value range with two or three
# readable ticks. A shorter pane scrolls: squeezed below this, the rows drew their tick
# labels over one another and their curves in a line of pixels.
ROW_MIN_HEIGHTS = (124, 92, 92)
LABEL_GAP_PX = 16  # a value label's line and some air
TITLE_HEIGHT = 18  # a 9 pt title's line (pyqtgraph reserves 30 px)
OVERLAY_COLOURS = [(120, 120, 120), (23, 190, 207), (188, 189, 34), (227, 119, 194),
                   (140, 86, 75)]


class _ValueAxis(pg.AxisItem):
    """A value axis with at most one label per ``LABEL_GAP_PX`` of its length: pyqtgraph
    puts at least two intervals' worth (up to five labels) on any axis, which on a short
    plot drew "8.0e-04 6.0e-04 4.0e-04 2.0e-04" over one another."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.setStyle(maxTextLevel=0)  # labels on the major ticks only

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph names
        levels = super().tickSpacing(minVal, maxVal, size)
        if not levels:
            return levels
        span, most = abs(maxVal - minVal), max(1.5, size / LABEL_GAP_PX)  # intervals
        spacing = levels[0][0]
        while spacing > 0 and span / spacing > most:
            spacing *= 2.5 if f"{spacing:.0e}".startswith("2") else 2  # 1, 2, 5, 10…
        return [(spacing, 0)] + [lv for lv in levels[1:] if lv[0] < spacing]


class _SciAxis(_ValueAxis):
    """Tick labels like 5.0e-04 (learning rates)."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph name
        return [f"{v * scale:.1e}" if v else "0" for v in values]


class _SideLegend(pg.LegendItem):
    """A legend laid out beside its plot: as tall as its entries (a layout cell would
    stretch it to the plot's height and spread the entries apart)."""

    def updateSize(self):  # noqa: N802 - pyqtgraph name
        super().updateSize()
        self.setMaximumHeight(max(1.0, self.height()))

    def setLabelTextColor(self, *args, **kargs):  # noqa: N802 - pyqtgraph name
        super().setLabelTextColor(*args, **kargs)
        for _sample, label in self.items:  # pyqtgraph only colours labels added later
            label.setText(label.text, color=self.opts["labelTextColor"])


def _set_title(plot: pg.PlotItem, text: str, **opts) -> None:
    plot.setTitle(text, size="9pt", **opts)
    plot.layout.setRowFixedHeight(0, TITLE_HEIGHT)  # setTitle makes it 30 px again


def _item(plot: pg.PlotItem, name: str | None, pen, symbol: str | None = None,
          brush=None) -> pg.PlotDataItem:
    item = plot.plot([], [], name=name, pen=pen, symbol=symbol, symbolSize=6,
                     symbolBrush=brush, symbolPen=None, connect="finite")
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    return item


class CurvesPane(QWidget):
    step_clicked = Signal(int)  # the step under a left click on any plot

    def __init__(self, history: RunHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self._seen_version = -1
        self._overlays: list[tuple[RunHistory, list[pg.PlotDataItem]]] = []
        self._unfreeze_lines: list[pg.InfiniteLine] = []
        self._unfreezes_drawn: tuple = ()

        # -- controls ---------------------------------------------------------------
        self.log_scale = QCheckBox("Log scale")
        self.log_scale.setToolTip("Logarithmic loss and perplexity axes: late, small "
                                  "improvements stay visible next to the early drop.")
        self.log_scale.toggled.connect(self.set_log_scale)
        self.smoothing = QDoubleSpinBox()
        self.smoothing.setRange(0.0, 0.995)
        self.smoothing.setSingleStep(0.05)
        self.smoothing.setDecimals(3)
        self.smoothing.setValue(history.smoothing)
        self.smoothing.setToolTip("EMA weight of the smoothed train loss (bias-corrected). "
                                  "Higher is smoother but lags more; 0 shows the raw loss.")
        self.smoothing.valueChanged.connect(self.history.set_smoothing)
        self.clear_overlays_button = QPushButton("Clear overlays")
        self.clear_overlays_button.setToolTip("Remove the past runs drawn for comparison.")
        self.clear_overlays_button.clicked.connect(self.clear_overlays)
        self.clear_overlays_button.setEnabled(False)
        self.fit_button = QPushButton("Whole run")
        self.fit_button.setToolTip("Show the whole run again after zooming or panning "
                                   "(wheel: zoom the steps, drag: pan)")
        self.fit_button.clicked.connect(self.fit_view)
        self.fit_button.setEnabled(False)
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setMinimumWidth(50)

        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        bar.addWidget(self.log_scale)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smoothing)
        bar.addSpacing(12)
        bar.addWidget(self.fit_button)
        bar.addWidget(self.clear_overlays_button)
        bar.addSpacing(12)
        bar.addWidget(self.readout, 1)

        # -- plots --------------------------------------------------------------------
        self.view = pg.GraphicsLayoutWidget()
        self.view.ci.setContentsMargins(4, 4, 4, 4)
        # the loss legend sits beside its plot, never over the curves (inside the plot it
        # hid the forgetting curve's label and the right end of every curve)
        top = self.view.addLayout(row=0, col=0, colspan=3)
        top.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = top.addPlot(row=0, col=0, axisItems={"left": _ValueAxis("left")})
        self.legend = _SideLegend(labelTextSize="8pt")
        top.addItem(self.legend, row=0, col=1)
        top.layout.setAlignment(self.legend, Qt.AlignmentFlag.AlignTop)
        self.loss_plot.legend = self.legend  # plot(name=...) adds its entry here
        self.ppl_plot = self.view.addPlot(row=1, col=0, axisItems={"left": _ValueAxis("left")})
        self.lr_plot = self.view.addPlot(row=1, col=1, axisItems={"left": _SciAxis("left")})
        self.speed_plot = self.view.addPlot(row=1, col=2,
                                            axisItems={"left": _ValueAxis("left")})
        # extra metrics (EvalLogged.metrics, samples' meta["stats"]): a third row, put in
        # the layout when the first one arrives (most runs have none)
        self.extra_plot = pg.PlotItem(axisItems={"left": _ValueAxis("left")})
        self.extra_legend = _SideLegend(labelTextSize="8pt")
        self.extra_plot.legend = self.extra_legend  # beside the plot, as the loss legend
        self._extra_items: dict[str, pg.PlotDataItem] = {}
        self._extra_row: pg.GraphicsLayout | None = None  # the third row, while shown
        self.plots = [self.loss_plot, self.ppl_plot, self.lr_plot, self.speed_plot,
                      self.extra_plot]
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.view.ci.layout.setRowStretchFactor(1, 2)
        self._rows = 2
        self._fit_rows()
        # the plots scroll when the dock is shorter than their rows need (the pane itself
        # stays short enough for a 640 px window)
        self.plots_area = QScrollArea()
        self.plots_area.setWidget(self.view)
        self.plots_area.setWidgetResizable(True)
        self.plots_area.setFrameShape(QFrame.Shape.NoFrame)
        self.plots_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.plots_area.setMinimumSize(320, 120)
        titles = {self.loss_plot: ("loss", "Loss"), self.ppl_plot: ("perplexity", "Perplexity"),
                  self.lr_plot: ("learning rate", "Learning rate"),
                  self.speed_plot: ("items/s", "Throughput"),
                  self.extra_plot: ("value", "Scores and sample statistics")}
        # Ranges are set here, not by pyqtgraph's auto-range: the step axis spans the whole
        # run (0..total steps) and the value axes move only when the data leaves them or
        # they grow too loose, so axes (the costliest part of a repaint) are rarely redrawn.
        # The step range is shared: a pan or zoom on one plot moves all (not setXLink: it
        # lines plots up in screen space, which turns side-by-side plots into consecutive
        # ranges).
        for p in self.plots:
            p.showGrid(x=True, y=True, alpha=0.15)
            _set_title(p, titles[p][1])
            if p is self.loss_plot:  # the step axis is shared: named once, on the top plot
                p.setLabel("bottom", "step")
            p.setMouseEnabled(x=True, y=False)
            p.enableAutoRange(x=False, y=False)
            p.hideButtons()
            for name in ("left", "bottom"):
                p.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            p.vb.sigXRangeChanged.connect(self._sync_x)
            p.vb.sigRangeChangedManually.connect(self._on_manual_range)
        self._syncing_x = False
        self._x_follow = True          # the step axis follows the run until the user zooms
        self._x_set: tuple | None = None
        self._y_set: dict = {}         # plot -> the value range last set
        self._unit = ""
        self._resets = 0
        self._val_drawn: tuple = ()

        self.raw = _item(self.loss_plot, "train (raw)", pg.mkPen(TRAIN + (70,), width=1))
        self.ema = _item(self.loss_plot, "train (smoothed)", pg.mkPen(TRAIN, width=2))
        self.val = _item(self.loss_plot, "validation", pg.mkPen(VAL, width=2), "o", VAL)
        self.ref = _item(self.loss_plot, "reference (forgetting)",
                         pg.mkPen(REF, width=2, style=Qt.PenStyle.DashLine), "s", REF)
        self.ppl = _item(self.ppl_plot, None, pg.mkPen(PPL, width=2), "o", PPL)
        self.lr = _item(self.lr_plot, None, pg.mkPen(LR, width=2))
        self.speed = _item(self.speed_plot, None, pg.mkPen(SPEED, width=1))

        self._cursors = []
        for p in self.plots:
            line = pg.InfiniteLine(angle=90, movable=False,
                                   pen=pg.mkPen((128, 128, 128, 150), width=1))
            line.setVisible(False)
            p.addItem(line, ignoreBounds=True)
            self._cursors.append(line)
        self._sample_markers = []
        for p in self.plots:
            line = pg.InfiniteLine(angle=90, movable=False,
                                   pen=pg.mkPen(MARKER + (110,), width=1,
                                                style=Qt.PenStyle.DotLine))
            line.setVisible(False)
            p.addItem(line, ignoreBounds=True)
            self._sample_markers.append(line)

        self._mouse_proxy = pg.SignalProxy(self.view.scene().sigMouseMoved, rateLimit=30,
                                           slot=self._on_mouse_moved)
        self.view.scene().sigMouseClicked.connect(self._on_mouse_clicked)

        # -- empty state ------------------------------------------------------------
        self.hint = QLabel("No curves yet.\n\nPress Train (F5) and the loss, validation loss, "
                           "perplexity,\nlearning rate and throughput appear here as the run "
                           "goes.\nRuns › Open or Overlay shows a past run.")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.hint)
        self.stack.addWidget(self.plots_area)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        # the overfitting alarm: validation rising while training falls
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setStyleSheet("QLabel { background: #fff3cd; color: #664d03; "
                                  "border: 1px solid #e0b000; border-radius: 3px; "
                                  "padding: 4px 8px; margin: 0 6px; }")
        self.banner.setVisible(False)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)

        self._apply_palette()
        self.history.subscribe(self._on_history_changed)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self._pending: list[str] = []
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.refresh()

    def _fit_rows(self) -> None:
        """Each row of plots keeps its least height (``ROW_MIN_HEIGHTS``); the plots'
        widget asks for their sum, so a shorter dock scrolls rather than squeezes."""
        layout = self.view.ci.layout
        for row in range(self._rows):
            layout.setRowMinimumHeight(row, ROW_MIN_HEIGHTS[row])
        spacing = layout.verticalSpacing() if layout.verticalSpacing() >= 0 else 6
        self.view.setMinimumSize(320, sum(ROW_MIN_HEIGHTS[:self._rows]) + 8
                                 + spacing * (self._rows - 1))

    def _sync_x(self, vb, x_range) -> None:
        if self._syncing_x:
            return
        self._syncing_x = True
        try:
            for p in self.plots:
                if p.vb is not vb:
                    p.vb.setXRange(*x_range, padding=0)
        finally:
            self._syncing_x = False
        self._fit_y()  # the values in view changed

    def _on_manual_range(self, *_args) -> None:
        self._x_follow = False
        self.fit_button.setEnabled(True)

    def fit_view(self) -> None:
        """Back to the whole run: the step axis follows the run again."""
        self._x_follow = True
        self._x_set = None
        self._y_set.clear()
        self.fit_button.setEnabled(False)
        self._fit_x()
        self._fit_y()

    # -- ranges ----------------------------------------------------------------------------
    def _series(self, plot) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (steps, values) drawn in ``plot``, overlays included."""
        t, v = self.history.train, self.history.val
        own = {
            self.loss_plot: [(t.column("step"), t.column("loss")),
                             (v.column("step"), v.column("val_loss")),
                             (v.column("step"), v.column("ref_loss"))],
            self.ppl_plot: [(v.column("step"), v.column("ppl"))],
            self.lr_plot: [(t.column("step"), t.column("lr"))],
            self.speed_plot: [(t.column("step"), t.column("throughput"))],
            self.extra_plot: [(e.column("step"), e.column("value"))
                              for e in self.history.extras.values()],
        }[plot]
        for _h, items in self._overlays:
            for item in items:
                if item.getViewBox() is plot.vb:
                    x, y = item.getOriginalDataset()
                    if x is not None:
                        own.append((x, y))
        return own

    def _fit_x(self) -> bool:
        """Follow the run's length on x; True when the range changed. A longer past run
        drawn over it runs off the right edge instead of squashing this run into the
        left corner (pan or zoom out to see its end); with no run of its own, the pane
        fits the overlays."""
        if not self._x_follow:
            return False
        own = max(self.history.total_steps, self.history.last_step)
        last = own or max([h.last_step for h, _ in self._overlays]
                          + [h.total_steps for h, _ in self._overlays] + [1])
        wanted = (0.0, float(max(1, last)))
        if wanted != self._x_set:
            self._x_set = wanted
            self.loss_plot.vb.setXRange(*wanted, padding=0.02)
            return True
        return False

    def _fit_y(self, plots=None) -> None:
        """Fit the y ranges of ``plots`` (default: all) to the values in view."""
        x0, x1 = self.loss_plot.vb.viewRange()[0]
        log = self.log_scale.isChecked()
        for plot in self.plots if plots is None else plots:
            logged = log and plot in (self.loss_plot, self.ppl_plot)
            zero_based = plot in (self.lr_plot, self.speed_plot)
            parts = []
            for x, y in self._series(plot):
                keep = (x >= x0) & (x <= x1) & np.isfinite(y)
                if logged:
                    keep &= y > 0
                parts.append(y[keep])
            values = np.concatenate(parts) if parts else np.empty(0)
            if values.size == 0:
                continue
            if logged:
                values = np.log10(values)
            lo, hi = (0.0, float(values.max())) if zero_based else \
                (float(values.min()), float(values.max()))
            span = hi - lo
            pad = 0.08 * span if span > 0 else max(abs(hi) * 0.05, 1e-12 if zero_based else 0.05)
            current = self._y_set.get(plot)
            if current is not None:
                c_lo, c_hi = current
                inside = lo >= c_lo and hi <= c_hi
                snug = (c_hi - c_lo) <= 2.5 * (span + 2 * pad)
                if inside and snug:
                    continue
            wanted = (lo if zero_based else lo - pad, hi + pad)
            self._y_set[plot] = wanted
            plot.vb.setYRange(*wanted, padding=0)

    # -- data ------------------------------------------------------------------------------
    def _on_history_changed(self, what: str) -> None:
        if what == "smoothing" and abs(self.smoothing.value() - self.history.smoothing) > 1e-9:
            self.smoothing.setValue(self.history.smoothing)
        if what in ("reset", "started", "loaded"):
            self._seen_version = -1  # redraw at the next tick
            self._resets += 1
            self._y_set.clear()
            if what == "reset":
                self._x_follow, self._x_set = True, None
                self.fit_button.setEnabled(False)
                self._drop_extras()
                for plot in self.plots:  # no value axis of the last run's numbers
                    plot.vb.setYRange(0.0, 1.0, padding=0)
            if what == "started" or (what == "reset" and self.history.label):
                # a run is starting: show its (still empty) plots now, while the model
                # loads, rather than paying the plots' first layout when data arrives
                self.stack.setCurrentWidget(self.plots_area)
                self._fit_x()

    def _tick(self) -> None:
        """Timer slot: when the history changed, draw its plots one per tick."""
        h = self.history
        if not self.isVisible():
            return  # nobody looking (hidden or a background tab)
        if h.version != self._seen_version:
            self._seen_version = h.version
            self._pending = list(PARTS)
        if self._pending:
            self._draw((self._pending.pop(0),))

    def refresh(self) -> None:
        """Push everything new in the history's buffers into the items now."""
        h = self.history
        if (h.version == self._seen_version and not self._pending) or not self.isVisible():
            return  # nothing new, or nobody looking (hidden or a background tab)
        self._seen_version = h.version
        self._pending = []
        self._draw(PARTS)

    def _draw(self, parts: tuple[str, ...]) -> None:
        h = self.history
        t, v = h.train, h.val
        steps = t.column("step")
        fit = []
        if "lr" in parts:
            self.lr.setData(steps, t.column("lr"))
            fit.append(self.lr_plot)
        if "speed" in parts:
            self.speed.setData(steps, t.column("throughput"))
            fit.append(self.speed_plot)
            if h.throughput_unit != self._unit:
                self._unit = h.throughput_unit
                _set_title(self.speed_plot, f"Throughput ({h.throughput_unit}/s)")
        if "loss" not in parts:
            self._fit_y(fit)
            return
        self.raw.setData(steps, t.column("loss"))
        self.ema.setData(steps, t.column("ema"))
        fit.append(self.loss_plot)
        # validation changes once per evaluation: skip its items otherwise (setData is
        # the costliest call here after painting)
        val_key = (len(v), v.last("step"), v.last("val_loss"), self._resets,
                   (h.overfit or {}).get("step"))
        if val_key != self._val_drawn:
            fit.append(self.ppl_plot)
            self._val_drawn = val_key
            vsteps = v.column("step")
            self.val.setData(vsteps, v.column("val_loss"))
            ppl = v.column("ppl")
            # a diffusion model's loss (noise MSE) has no perplexity: say so, rather than
            # leave an empty plot that looks broken
            none = len(ppl) > 0 and not np.isfinite(ppl).any()
            self.ppl.setData(vsteps[:0] if none else vsteps, ppl[:0] if none else ppl)
            title = "Perplexity — none for this model's loss" if none else "Perplexity"
            if title != self.ppl_plot.titleLabel.text:
                _set_title(self.ppl_plot, title,
                           color=self.palette().color(QPalette.ColorRole.Text).name())
            ref = v.column("ref_loss")
            keep = np.isfinite(ref)
            self.ref.setData(vsteps[keep], ref[keep])
            self._update_banner()
        if self._draw_extras():
            fit.append(self.extra_plot)
        if self._fit_x():
            fit = list(self.plots)  # a new x range: every plot's visible values changed
        self._fit_y(fit)
        if tuple(h.unfreezes) != self._unfreezes_drawn:
            self._sync_unfreezes()
        self._update_stack()

    def _draw_extras(self) -> bool:
        """The extra metrics' curves (a new name gets its own line and legend entry);
        True when there are any."""
        extras = self.history.extras
        if not extras:
            return False
        if self._extra_row is None:
            row = self._extra_row = self.view.addLayout(row=2, col=0, colspan=3)
            row.setContentsMargins(0, 0, 0, 0)
            row.addItem(self.extra_plot, row=0, col=0)
            row.addItem(self.extra_legend, row=0, col=1)
            row.layout.setAlignment(self.extra_legend, Qt.AlignmentFlag.AlignTop)
            self.view.ci.layout.setRowStretchFactor(2, 2)
            self._rows = 3
            self._fit_rows()
        for name, series in extras.items():
            item = self._extra_items.get(name)
            if item is None:
                color = EXTRA_COLORS[len(self._extra_items) % len(EXTRA_COLORS)]
                item = _item(self.extra_plot, name.replace("_", " "),
                             pg.mkPen(color, width=2), "o", color)
                self._extra_items[name] = item
            item.setData(series.column("step"), series.column("value"))
        return True

    def _drop_extras(self) -> None:
        """A reset (another project, a new run): the last run's extra metrics go, their
        lines, legend entries and row; the next run may have other statistics, or none
        (a MIDI run's "in key" and "repeated bars" stayed under a text-to-image run)."""
        for item in self._extra_items.values():
            self.extra_plot.removeItem(item)  # its legend entry too
        self._extra_items.clear()
        row, self._extra_row = self._extra_row, None
        if row is not None:
            row.removeItem(self.extra_plot)
            row.removeItem(self.extra_legend)
            self.view.ci.removeItem(row)
            layout = self.view.ci.layout
            layout.setRowStretchFactor(2, 0)
            layout.setRowMinimumHeight(2, 0)
            self._rows = 2
            self._fit_rows()

    def banner_text(self) -> str:
        o = self.history.overfit
        if not o:
            return ""
        v = self.history.val
        losses = v.column("val_loss")
        best = ""
        if len(v) and np.isfinite(losses).any():
            i = int(np.nanargmin(losses))
            best = (f" The best weights (step {v.column('step')[i]:.0f}, validation "
                    f"{losses[i]:.4f}) are kept: export uses them.")
        return (f"<b>Overfitting</b> at step {o['step']}: the validation loss rose for "
                f"{o['evaluations']} evaluations ({o['val_from']:.4f} → {o['val_to']:.4f}) "
                f"while the training loss fell ({o['train_from']:.4f} → "
                f"{o['train_to']:.4f}).{best}")

    def _update_banner(self) -> None:
        text = self.banner_text()
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def _update_stack(self) -> None:
        has_data = (len(self.history.train) > 0 or len(self.history.val) > 0
                    or bool(self._overlays) or self.history.total_steps > 0
                    or bool(self.history.label))
        self.stack.setCurrentWidget(self.plots_area if has_data else self.hint)

    def _sync_unfreezes(self) -> None:
        for line in self._unfreeze_lines:
            line.getViewBox() and line.getViewBox().removeItem(line)
        self._unfreeze_lines = []
        for u in self.history.unfreezes:
            for i, p in enumerate(self.plots):
                label = f"unfreeze {', '.join(u.groups)}" if i == 0 else None
                line = pg.InfiniteLine(
                    pos=u.step, angle=90, movable=False, label=label,
                    pen=pg.mkPen(UNFREEZE, width=1, style=Qt.PenStyle.DashLine),
                    labelOpts={"position": 0.92, "color": UNFREEZE, "rotateAxis": (1, 0),
                               "anchors": [(0, 0.5), (0, 0.5)]} if label else None)
                p.addItem(line, ignoreBounds=True)
                self._unfreeze_lines.append(line)
        self._unfreezes_drawn = tuple(self.history.unfreezes)

    # -- overlays -------------------------------------------------------------------------
    def add_overlay(self, other: RunHistory) -> None:
        """Draw a past run (dashed) over the current curves for comparison."""
        colour = OVERLAY_COLOURS[len(self._overlays) % len(OVERLAY_COLOURS)]
        dash = Qt.PenStyle.DashLine
        name = other.label or "past run"
        if len(name) > 28:  # the legend column stays narrow; the tooltip-free full name
            name = name[:12] + "…" + name[-15:]  # keeps its date and its distinct ending
        items = [
            _item(self.loss_plot, f"{name} (smoothed)", pg.mkPen(colour, width=2, style=dash)),
            _item(self.loss_plot, f"{name} (validation)", pg.mkPen(colour, width=1, style=dash),
                  "t", colour),
            _item(self.ppl_plot, None, pg.mkPen(colour, width=1, style=dash), "t", colour),
            _item(self.lr_plot, None, pg.mkPen(colour, width=1, style=dash)),
            _item(self.speed_plot, None, pg.mkPen(colour, width=1, style=dash)),
        ]
        t, v = other.train, other.val
        items[0].setData(t.column("step"), t.column("ema"))
        items[1].setData(v.column("step"), v.column("val_loss"))
        items[2].setData(v.column("step"), v.column("ppl"))
        items[3].setData(t.column("step"), t.column("lr"))
        items[4].setData(t.column("step"), t.column("throughput"))
        self._overlays.append((other, items))
        self.clear_overlays_button.setEnabled(True)
        self._update_stack()
        self._fit_x()
        self._fit_y()

    @property
    def overlays(self) -> list[RunHistory]:
        return [h for h, _ in self._overlays]

    def overlay_items(self, index: int) -> list[pg.PlotDataItem]:
        return list(self._overlays[index][1])

    def clear_overlays(self) -> None:
        for _, items in self._overlays:
            for item in items:
                plot = item.getViewBox()
                for p in self.plots:
                    if p.vb is plot:
                        p.removeItem(item)
        self._overlays.clear()
        self.clear_overlays_button.setEnabled(False)
        self._update_stack()
        self._x_set = None
        self._y_set.clear()
        self._fit_x()
        self._fit_y()

    # -- options ----------------------------------------------------------------------------
    def set_log_scale(self, on: bool) -> None:
        if self.log_scale.isChecked() != on:
            self.log_scale.setChecked(on)  # re-enters through toggled
            return
        x_range = self.loss_plot.vb.viewRange()[0]
        for p in (self.loss_plot, self.ppl_plot):
            p.setLogMode(x=False, y=on)
            p.enableAutoRange(x=False, y=False)  # setLogMode turns pyqtgraph's back on
            self._y_set.pop(p, None)
        self.loss_plot.vb.setXRange(*x_range, padding=0)
        self._fit_y()

    def set_sample_marker(self, step: int | None) -> None:
        """A dotted line at the step the gallery shows."""
        for line in self._sample_markers:
            if step is None:
                line.setVisible(False)
            else:
                line.setValue(step)
                line.setVisible(True)

    # -- mouse -------------------------------------------------------------------------------
    def _step_at(self, scene_pos) -> float | None:
        for p in self.plots:
            if p.sceneBoundingRect().contains(scene_pos) and \
                    p.vb.sceneBoundingRect().contains(scene_pos):
                return float(p.vb.mapSceneToView(scene_pos).x())
        return None

    def readout_text(self, step: float) -> str:
        values = self.history.value_at(step)
        if not values:
            return ""
        parts = [f"<b>step {values['step']:.0f}</b>" if "step" in values else ""]
        if "loss" in values:
            parts.append(f"loss {values['loss']:.4f}")
            parts.append(f"smoothed {values['ema']:.4f}")
        if "val_loss" in values:
            parts.append(f"val {values['val_loss']:.4f} @ {values['val_step']:.0f}")
            if not math.isnan(values["ppl"]):
                parts.append(f"ppl {values['ppl']:.2f}")
        if not math.isnan(values.get("ref_loss", math.nan)):
            parts.append(f"reference {values['ref_loss']:.4f}")
        if "lr" in values and not math.isnan(values["lr"]):
            parts.append(f"lr {values['lr']:.2e}")
        if "throughput" in values and self.history.throughput_unit:
            parts.append(units.rate(values["throughput"], self.history.throughput_unit))
        return " · ".join(p for p in parts if p)

    def _on_mouse_moved(self, args) -> None:
        pos = args[0]
        step = self._step_at(pos)
        if step is None or (len(self.history.train) == 0 and len(self.history.val) == 0):
            for c in self._cursors:
                c.setVisible(False)
            return
        values = self.history.value_at(step)
        snap = values.get("step", values.get("val_step", step))
        for c in self._cursors:
            c.setValue(snap)
            c.setVisible(True)
        self.readout.setText(self.readout_text(step))

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        step = self._step_at(event.scenePos())
        if step is not None:
            self.step_clicked.emit(max(0, int(round(step))))

    def showEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().showEvent(event)
        self.refresh()  # catch up on what arrived while hidden

    # -- theme -------------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        pal = self.palette()
        self.view.setBackground(pal.color(QPalette.ColorRole.Base))
        fg = pal.color(QPalette.ColorRole.Text)
        for p in self.plots:
            for axis in ("left", "bottom"):
                ax = p.getAxis(axis)
                ax.setPen(pg.mkPen(fg))
                ax.setTextPen(pg.mkPen(fg))
            p.titleLabel.setText(p.titleLabel.text, color=fg.name(), size="9pt")
        bg = pal.color(QPalette.ColorRole.Base)
        bg.setAlpha(200)
        for legend in (self.legend, self.extra_legend):
            legend.setLabelTextColor(fg)
            legend.setBrush(pg.mkBrush(bg))

