"""Scrolling a form must not change its fields: spin boxes and combo boxes take the mouse
wheel only once the user has clicked into them (Qt gives it to whatever is under the
pointer, so a long form's values changed as the user scrolled past them)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QWidget


class _WheelGuard(QObject):
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt name
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) \
                and not obj.hasFocus():
            event.ignore()  # the scroll area above gets it and scrolls
            return True
        return False


_GUARD: _WheelGuard | None = None


def wheel_only_when_focused(widget: QWidget) -> QWidget:
    """Make ``widget`` (a spin box, a combo box) ignore the wheel until it has focus."""
    global _GUARD
    if _GUARD is None:
        _GUARD = _WheelGuard()
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a wheel never gives it focus
    widget.installEventFilter(_GUARD)
    return widget
