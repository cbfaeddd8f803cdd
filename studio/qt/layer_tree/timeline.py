"""The unfreeze timeline: one track per layer-tree row on the run's step axis, a handle per
trainable group that sets the optimizer step at which it starts training.

A QPainter widget that sits beside the tree; the pane tells it where each tree row is
(``set_tracks``), so tracks stay aligned with the rows while the tree scrolls or
expands. Drawing: a group waits (dashed) until its start, then trains (a bar: blue for
full, orange for LoRA; the first ``warmup`` steps drawn as a ramp, the engine's warm-up
after a late start); frozen groups are hatched grey; a tied head shows, outlined, the
bar of the group it trains with; a parent shows where its groups start.

Input: drag a handle (snaps to round steps at the current zoom; hold Shift for single
steps), double-click a track to move its handle there, or select a track and use the
keyboard: Up/Down choose the track, Left/Right move by one step (Shift: 10), Page Up /
Page Down by a tenth of the axis, Home / End to the start / end of the run. Escape
cancels a drag. Edits are announced with ``start_changed(key, step)`` (on release, or
per key press); ``start_previewed(key, step)`` follows the drag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QApplication, QSizePolicy, QToolTip, QWidget

MODE_COLORS = {"full": QColor("#3b82c4"), "lora": QColor("#d9822b")}
FROZEN_COLOR = QColor("#8a8f98")
LATE_COLOR = QColor("#d64541")
HANDLE_W = 8


def nice_step(x: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is >= x."""
    if x <= 1:
        return 1
    p = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * p >= x:
            return int(m * p)
    return int(10 * p)


def nice_ceil(x: float) -> int:
    """A round number >= x for an axis end (100, 150, 200, 250, 300, 400, 500, ...)."""
    if x <= 10:
        return 10
    p = 10 ** math.floor(math.log10(x))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * p >= x:
            return int(m * p)
    return int(10 * p)


def step_label(n: int) -> str:
    if n >= 10_000:
        return f"{n / 1000:g}k"
    return str(n)


@dataclass
class Track:
    """One row of the timeline, placed where the tree shows that row."""

    key: str
    kind: str                  # "group", "parent", "tied" or "blank" (a parameter row)
    top: int
    height: int
    title: str = ""
    mode: str = "full"         # a group's mode ("frozen" too)
    start: int = 0
    tip: str = ""
    alternate: bool = False    # alternate row shading, like the tree
    starts: tuple[int, ...] = ()   # a parent's trainable groups' starts
    editable: bool = False     # a group that trains: it has a handle


@dataclass
class _Drag:
    key: str
    original: int
    value: int
    offset: float = 0.0


@dataclass
class _Axis:
    total: int | None = None   # steps in the run, None while unknown
    maximum: int = 100         # the axis' right end
    epoch_steps: float | None = None
    warmup: int = 0


class UnfreezeTimeline(QWidget):
    start_changed = Signal(str, int)
    start_previewed = Signal(str, int)
    selection_changed = Signal(str)

    LEFT = 10
    RIGHT = 18

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setMinimumWidth(130)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Unfreeze timeline")
        self.setToolTip("")
        self.tracks: list[Track] = []
        self.axis = _Axis()
        self.axis_bottom = 24      # the tree header's bottom: the axis is drawn above it
        self.view_bottom = 10_000  # the tree viewport's bottom: tracks below are hidden
        self.selected: str | None = None
        self.wheel_target: QWidget | None = None
        self._drag: _Drag | None = None
        self._hover: str | None = None

    # -- what the pane sets ----------------------------------------------------------------
    def set_axis(self, total: int | None, maximum: int, epoch_steps: float | None = None,
                 warmup: int = 0) -> None:
        if self._drag is not None:  # keep the scale still under the mouse
            self.axis.total, self.axis.epoch_steps, self.axis.warmup = total, epoch_steps, warmup
        else:
            self.axis = _Axis(total, max(1, int(maximum)), epoch_steps, warmup)
        self.update()

    def set_tracks(self, tracks: list[Track], axis_bottom: int, view_bottom: int) -> None:
        self.tracks = tracks
        self.axis_bottom = axis_bottom
        self.view_bottom = view_bottom
        if self._drag is not None and self.track(self._drag.key) is None:
            self._drag = None
        self.update()

    def set_selected(self, key: str | None) -> None:
        if key != self.selected:
            self.selected = key
            self.update()

    def track(self, key: str) -> Track | None:
        return next((t for t in self.tracks if t.key == key), None)

    @property
    def dragging(self) -> bool:
        return self._drag is not None

    # -- geometry --------------------------------------------------------------------------
    def _span(self) -> tuple[float, float]:
        return float(self.LEFT), float(max(self.LEFT + 10, self.width() - self.RIGHT))

    def x_of(self, step: float) -> float:
        x0, x1 = self._span()
        return x0 + (x1 - x0) * min(max(step, 0), self.axis.maximum) / self.axis.maximum

    def step_at(self, x: float) -> float:
        x0, x1 = self._span()
        return (x - x0) / (x1 - x0) * self.axis.maximum

    def snap(self) -> int:
        """Drag resolution: a round number of steps about one pixel wide."""
        x0, x1 = self._span()
        return nice_step(self.axis.maximum / (x1 - x0))

    def shown_start(self, t: Track) -> int:
        return self._drag.value if self._drag is not None and self._drag.key == t.key \
            else t.start

    def handle_pos(self, key: str) -> QPoint:
        """Centre of a track's handle (for tests and tooltips)."""
        t = self.track(key)
        return QPoint(round(self.x_of(self.shown_start(t))), t.top + t.height // 2)

    def pos_for(self, key: str, step: float) -> QPoint:
        t = self.track(key)
        return QPoint(round(self.x_of(step)), t.top + t.height // 2)

    def _track_at(self, y: int) -> Track | None:
        if y < self.axis_bottom or y >= self.view_bottom:
            return None
        return next((t for t in self.tracks if t.top <= y < t.top + t.height), None)

    def _on_handle(self, t: Track | None, x: float) -> bool:
        return (t is not None and t.editable
                and abs(x - self.x_of(self.shown_start(t))) <= HANDLE_W / 2 + 3)

    def sizeHint(self) -> QSize:
        return QSize(320, 200)

    # -- painting --------------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        p.save()
        p.setClipRect(QRect(0, self.axis_bottom, self.width(),
                            max(0, self.view_bottom - self.axis_bottom)))
        self._paint_rows(p, pal)
        self._paint_grid(p, pal)
        for t in self.tracks:
            if t.top + t.height < self.axis_bottom or t.top > self.view_bottom:
                continue
            if t.kind == "group":
                self._paint_group(p, pal, t)
            elif t.kind == "tied":
                self._paint_tied(p, pal, t)
            elif t.kind == "parent":
                self._paint_parent(p, pal, t)
        p.restore()
        self._paint_axis(p, pal)
        p.end()

    def _paint_rows(self, p: QPainter, pal: QPalette) -> None:
        for t in self.tracks:
            r = QRect(0, t.top, self.width(), t.height)
            if t.alternate:
                p.fillRect(r, pal.color(QPalette.ColorRole.AlternateBase))
            if t.key == self.selected:
                c = QColor(pal.color(QPalette.ColorRole.Highlight))
                c.setAlpha(70 if self.hasFocus() else 35)
                p.fillRect(r, c)

    def _paint_grid(self, p: QPainter, pal: QPalette) -> None:
        x0, x1 = self._span()
        grid = QColor(pal.color(QPalette.ColorRole.Text))
        grid.setAlpha(22)
        p.setPen(QPen(grid, 1))
        for s in self._ticks():
            x = round(self.x_of(s)) + 0.5
            p.drawLine(QPointF(x, self.axis_bottom), QPointF(x, self.view_bottom))
        ep = self.axis.epoch_steps
        if ep and (x1 - x0) * ep / self.axis.maximum >= 12:
            c = QColor(pal.color(QPalette.ColorRole.Text))
            c.setAlpha(60)
            p.setPen(QPen(c, 1, Qt.PenStyle.DotLine))
            k = 1
            while k * ep < self.axis.maximum:
                x = round(self.x_of(k * ep)) + 0.5
                p.drawLine(QPointF(x, self.axis_bottom), QPointF(x, self.view_bottom))
                k += 1
        total = self.axis.total
        if total is not None and total < self.axis.maximum:
            # the steps after the run ends: a group starting there never trains
            xe = self.x_of(total)
            shade = QColor(LATE_COLOR)
            shade.setAlpha(18)
            p.fillRect(QRectF(xe, self.axis_bottom, x1 + self.RIGHT - xe,
                              self.view_bottom - self.axis_bottom), shade)
        if total is not None:
            xe = round(self.x_of(total)) + 0.5
            c = QColor(pal.color(QPalette.ColorRole.Text))
            c.setAlpha(140)
            p.setPen(QPen(c, 1, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(xe, self.axis_bottom), QPointF(xe, self.view_bottom))

    def _ticks(self) -> list[int]:
        x0, x1 = self._span()
        fm = QFontMetrics(self.font())
        label_w = fm.horizontalAdvance(step_label(self.axis.maximum)) + 18
        every = nice_step(self.axis.maximum * label_w / max(1.0, x1 - x0))
        return list(range(0, self.axis.maximum + 1, every))

    def _paint_axis(self, p: QPainter, pal: QPalette) -> None:
        h = self.axis_bottom
        p.fillRect(QRect(0, 0, self.width(), h), pal.color(QPalette.ColorRole.Button))
        line = QColor(pal.color(QPalette.ColorRole.Mid))
        p.setPen(QPen(line, 1))
        p.drawLine(QPointF(0, h - 0.5), QPointF(self.width(), h - 0.5))
        fm = QFontMetrics(self.font())
        text = pal.color(QPalette.ColorRole.ButtonText)
        x0, x1 = self._span()
        end_x = self.x_of(self.axis.total) if self.axis.total is not None else None
        end_label = f"end {step_label(self.axis.total)}" if end_x is not None else ""
        bold = QFont(self.font())
        bold.setBold(True)
        end_w = QFontMetrics(bold).horizontalAdvance(end_label)
        end_lx = (min(max(end_x - end_w / 2, 1), self.width() - end_w - 1)
                  if end_x is not None else None)
        for s in self._ticks():
            x = self.x_of(s)
            label = step_label(s)
            w = fm.horizontalAdvance(label)
            lx = min(max(x - w / 2, 1), self.width() - w - 1)
            if end_lx is not None and lx < end_lx + end_w + 6 and end_lx < lx + w + 6:
                continue  # the end label wins
            p.setPen(QPen(text, 1))
            p.drawText(QPointF(lx, h - 7), label)
            p.setPen(QPen(line, 1))
            p.drawLine(QPointF(round(x) + 0.5, h - 4), QPointF(round(x) + 0.5, h - 1))
        if end_lx is not None:
            p.setFont(bold)
            p.setPen(QPen(text, 1))
            p.drawText(QPointF(end_lx, h - 7), end_label)
            p.setFont(self.font())

    def _bar_rect(self, t: Track, start: float) -> QRectF:
        _, x1 = self._span()
        end = self.x_of(self.axis.total) if self.axis.total is not None else x1
        inset = max(4.0, t.height * 0.24)
        return QRectF(self.x_of(start), t.top + inset, max(0.0, end - self.x_of(start)),
                      t.height - 2 * inset)

    def _paint_group(self, p: QPainter, pal: QPalette, t: Track) -> None:
        x0, x1 = self._span()
        if t.mode == "frozen":
            end = self.x_of(self.axis.total) if self.axis.total is not None else x1
            r = QRectF(x0, t.top + t.height * 0.3, end - x0, t.height * 0.4)
            brush = QBrush(FROZEN_COLOR, Qt.BrushStyle.BDiagPattern)
            p.setPen(QPen(FROZEN_COLOR.lighter(110), 1))
            p.setBrush(brush)
            p.drawRoundedRect(r, 3, 3)
            return
        start = self.shown_start(t)
        color = QColor(MODE_COLORS.get(t.mode, MODE_COLORS["full"]))
        late = self.axis.total is not None and start >= self.axis.total
        mid = t.top + t.height / 2
        if start > 0:  # frozen until its start: a dashed line
            wait = QColor(FROZEN_COLOR)
            p.setPen(QPen(wait, 1.5, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(x0, mid), QPointF(self.x_of(start), mid))
        if not late:
            bar = self._bar_rect(t, start)
            fill = QColor(color)
            fill.setAlpha(190)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(fill)
            warm = self.axis.warmup if start > 0 else 0
            xw = min(self.x_of(start + warm), bar.right())
            if warm > 0 and xw - bar.left() >= 3:
                # the engine's warm-up after a late start: the rate ramps up from ~0
                path = QPainterPath()
                path.moveTo(bar.left(), bar.bottom())
                path.lineTo(xw, bar.top())
                path.lineTo(bar.right() - 3, bar.top())
                path.quadTo(bar.right(), bar.top(), bar.right(), bar.top() + 3)
                path.lineTo(bar.right(), bar.bottom() - 3)
                path.quadTo(bar.right(), bar.bottom(), bar.right() - 3, bar.bottom())
                path.closeSubpath()
                p.drawPath(path)
            else:
                p.drawRoundedRect(bar, 3, 3)
        self._paint_handle(p, pal, t, start, LATE_COLOR if late else color)

    def _paint_handle(self, p: QPainter, pal: QPalette, t: Track, start: int,
                      color: QColor) -> None:
        x = self.x_of(start)
        hot = t.key == self._hover or (self._drag is not None and self._drag.key == t.key)
        r = QRectF(x - HANDLE_W / 2, t.top + 3, HANDLE_W, t.height - 6)
        c = color.darker(125) if not hot else color.darker(150)
        p.setPen(QPen(pal.color(QPalette.ColorRole.Base), 1))
        p.setBrush(c)
        p.drawRoundedRect(r, 2.5, 2.5)
        grip = QColor(255, 255, 255, 200)
        p.setPen(QPen(grip, 1))
        cy = r.center().y()
        for dy in (-3, 0, 3):
            p.drawLine(QPointF(x - 2, cy + dy), QPointF(x + 2, cy + dy))
        if t.key == self.selected and self.hasFocus():
            p.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), 1.5))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(r.adjusted(-2.5, -2.5, 2.5, 2.5), 3, 3)
        if self._drag is not None and self._drag.key == t.key:
            self._paint_value_badge(p, pal, t, start)

    def _paint_value_badge(self, p: QPainter, pal: QPalette, t: Track, start: int) -> None:
        """The value next to the handle while it is dragged."""
        fm = QFontMetrics(self.font())
        label = f"step {start:,}"
        if self.axis.epoch_steps:
            label += f" · epoch {start / self.axis.epoch_steps:.2f}"
        w, h = fm.horizontalAdvance(label) + 10, fm.height() + 4
        x = self.x_of(start) + HANDLE_W
        if x + w > self.width() - 2:
            x = self.x_of(start) - HANDLE_W - w
        r = QRectF(x, t.top + (t.height - h) / 2, w, h)
        p.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1))
        p.setBrush(pal.color(QPalette.ColorRole.ToolTipBase))
        p.drawRoundedRect(r, 3, 3)
        p.setPen(pal.color(QPalette.ColorRole.ToolTipText))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, label)

    def _paint_tied(self, p: QPainter, pal: QPalette, t: Track) -> None:
        if t.mode == "frozen":
            return
        bar = self._bar_rect(t, t.start)
        if bar.width() < 2:
            return
        color = QColor(MODE_COLORS.get(t.mode, MODE_COLORS["full"]))
        p.setPen(QPen(color, 1.2, Qt.PenStyle.DashLine))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(bar, 3, 3)

    def _paint_parent(self, p: QPainter, pal: QPalette, t: Track) -> None:
        x0, x1 = self._span()
        mid = t.top + t.height / 2
        if not t.starts:
            pen = QPen(FROZEN_COLOR, 1.5, Qt.PenStyle.DotLine)
            p.setPen(pen)
            p.drawLine(QPointF(x0, mid), QPointF(x1, mid))
            return
        text = QColor(pal.color(QPalette.ColorRole.Text))
        text.setAlpha(150)
        first = min(t.starts)
        end = self.x_of(self.axis.total) if self.axis.total is not None else x1
        p.setPen(QPen(text, 1.5))
        p.drawLine(QPointF(self.x_of(first), mid), QPointF(max(self.x_of(first), end), mid))
        p.setBrush(text)
        p.setPen(Qt.PenStyle.NoPen)
        for s in sorted(set(t.starts)):
            x = self.x_of(s)
            p.drawPolygon(QPolygonF([QPointF(x, mid - 4), QPointF(x + 4, mid),
                                     QPointF(x, mid + 4), QPointF(x - 4, mid)]))

    # -- input -----------------------------------------------------------------------------
    def _select(self, key: str | None) -> None:
        if key != self.selected:
            self.selected = key
            self.update()
            if key is not None:
                self.selection_changed.emit(key)

    def mousePressEvent(self, e: QMouseEvent) -> None:
        if e.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(e)
        pos = e.position()
        t = self._track_at(int(pos.y()))
        if t is None or t.kind == "blank":
            return
        self._select(t.key)
        if self._on_handle(t, pos.x()):
            self._drag = _Drag(t.key, t.start, t.start, pos.x() - self.x_of(t.start))
            self.update()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        pos = e.position()
        if self._drag is None:
            t = self._track_at(int(pos.y()))
            hover = t.key if self._on_handle(t, pos.x()) else None
            if hover != self._hover:
                self._hover = hover
                self.setCursor(Qt.CursorShape.SizeHorCursor if hover
                               else Qt.CursorShape.ArrowCursor)
                self.update()
            return
        fine = bool(e.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        value = self._value_at(pos.x() - self._drag.offset, fine)
        if value != self._drag.value:
            self._drag.value = value
            self.start_previewed.emit(self._drag.key, value)
            self.update()

    def _value_at(self, x: float, fine: bool = False) -> int:
        raw = min(max(self.step_at(x), 0.0), float(self.axis.maximum))
        q = 1 if fine else self.snap()
        value = int(round(raw / q) * q)
        return min(max(value, 0), self.axis.maximum)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        if e.button() != Qt.MouseButton.LeftButton or self._drag is None:
            return super().mouseReleaseEvent(e)
        drag, self._drag = self._drag, None
        self.update()
        if drag.value != drag.original:
            self.start_changed.emit(drag.key, drag.value)

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:
        t = self._track_at(int(e.position().y()))
        if t is None or not t.editable:
            return
        value = self._value_at(e.position().x())
        self._select(t.key)
        if value != t.start:
            self.start_changed.emit(t.key, value)

    def leaveEvent(self, _e) -> None:
        if self._hover is not None:
            self._hover = None
            self.unsetCursor()
            self.update()

    def wheelEvent(self, e) -> None:
        if self.wheel_target is not None:
            QApplication.sendEvent(self.wheel_target, e)
        else:
            super().wheelEvent(e)

    def keyPressEvent(self, e) -> None:
        key = e.key()
        if key == Qt.Key.Key_Escape and self._drag is not None:
            self.start_previewed.emit(self._drag.key, self._drag.original)
            self._drag = None
            self.update()
            return
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            rows = [t for t in self.tracks if t.kind == "group"]
            if not rows:
                return
            keys = [t.key for t in rows]
            i = keys.index(self.selected) if self.selected in keys else -1
            i = max(0, i - 1) if key == Qt.Key.Key_Up else min(len(keys) - 1, i + 1)
            self._select(keys[i])
            return
        t = self.track(self.selected) if self.selected else None
        if t is None or not t.editable or self._drag is not None:
            return super().keyPressEvent(e)
        shift = bool(e.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        big = max(1, self.axis.maximum // 10)
        end = self.axis.total if self.axis.total is not None else self.axis.maximum
        moves = {Qt.Key.Key_Left: t.start - (10 if shift else 1),
                 Qt.Key.Key_Right: t.start + (10 if shift else 1),
                 Qt.Key.Key_PageDown: t.start - big, Qt.Key.Key_PageUp: t.start + big,
                 Qt.Key.Key_Home: 0, Qt.Key.Key_End: end}
        if key not in moves:
            return super().keyPressEvent(e)
        value = max(0, moves[key])
        if value != t.start:
            self.start_changed.emit(t.key, value)

    def focusInEvent(self, e) -> None:
        super().focusInEvent(e)
        if self.selected is None:
            rows = [t for t in self.tracks if t.editable]
            if rows:
                self._select(rows[0].key)
        self.update()

    def focusOutEvent(self, e) -> None:
        super().focusOutEvent(e)
        self.update()

    def event(self, e) -> bool:
        if e.type() == e.Type.ToolTip:
            t = self._track_at(e.pos().y())
            if t is not None and t.tip:
                QToolTip.showText(e.globalPos(), t.tip, self)
            else:
                QToolTip.hideText()
                e.ignore()
            return True
        return super().event(e)
