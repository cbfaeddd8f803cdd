"""Scrolling the Settings form with the mouse wheel never changes a number or a choice."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from studio.qt.panes.settings import SettingsPane
from studio.state.project import Project


def _wheel(widget, up: bool = True) -> None:
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(), QPoint(0, 120 if up else -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_wheel_over_unfocused_fields_changes_nothing(qtbot):
    project = Project()
    pane = SettingsPane(project)
    qtbot.addWidget(pane)
    pane.resize(600, 500)
    pane.show()
    spin = pane.editors["train.batch_size"].editor
    combo = pane.editors["train.optimizer"].editor
    before = project.config
    for w in (spin, combo):
        _wheel(w)
        _wheel(w, up=False)
    assert project.config == before
    assert spin.value() == before.train.batch_size
    assert combo.currentData() == before.train.optimizer
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=2000)
    _wheel(spin)  # clicked into: the wheel is the user's intent
    assert spin.value() == before.train.batch_size + 1
