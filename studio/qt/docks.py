"""The window's dock panes: one dock per pane, the default arrangement, the layout
remembered between sessions (QSettings), and the first-paint watch (the heavier panes are
built after the window has shown)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QWidget

LAYOUT_VERSION = 1
DOCKS = [("dataset", "Dataset"), ("model", "Model"), ("settings", "Settings"),
         ("curves", "Curves"), ("gallery", "Gallery"), ("log", "Log"), ("runs", "Runs"),
         ("queue", "Queue")]


class Docks(dict):
    """``key -> QDockWidget`` for every pane of ``DOCKS``, owned by ``window``."""

    def __init__(self, window: QMainWindow, settings: QSettings) -> None:
        super().__init__()
        self.window, self.settings = window, settings
        window.setDockNestingEnabled(True)
        window.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                              | QMainWindow.DockOption.AllowTabbedDocks
                              | QMainWindow.DockOption.AllowNestedDocks)
        window.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        for key, title in DOCKS:
            dock = QDockWidget(title, window)
            dock.setObjectName(f"dock_{key}")
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                             | QDockWidget.DockWidgetFeature.DockWidgetClosable)
            self[key] = dock

    def show(self, key: str) -> None:
        self[key].show()
        self[key].raise_()

    def default_layout(self) -> None:
        w, d = self.window, self
        for dock in d.values():
            dock.setFloating(False)
            dock.show()
        w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, d["dataset"])
        w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, d["curves"])
        w.splitDockWidget(d["curves"], d["gallery"], Qt.Orientation.Vertical)
        w.tabifyDockWidget(d["dataset"], d["model"])
        w.tabifyDockWidget(d["model"], d["settings"])
        w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d["log"])
        w.tabifyDockWidget(d["log"], d["runs"])
        w.tabifyDockWidget(d["runs"], d["queue"])
        d["dataset"].raise_()
        d["log"].raise_()
        w.resize(1500, 940)
        w.resizeDocks([d["dataset"], d["curves"]], [460, 1040], Qt.Orientation.Horizontal)
        w.resizeDocks([d["curves"], d["gallery"], d["log"]], [390, 360, 140],
                      Qt.Orientation.Vertical)

    def restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geometry is not None:
            self.window.restoreGeometry(geometry)
        if state is not None:
            self.window.restoreState(state, LAYOUT_VERSION)

    def raise_floating(self) -> None:
        """Floating docks the layout brought back (restoreState shows them before the
        window) go above the window once it is shown: else they start behind it, shown
        as on in View but nowhere to be seen."""
        for dock in self.values():
            if dock.isFloating() and dock.isVisible():
                dock.raise_()

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.window.saveGeometry())
        self.settings.setValue("window/state", self.window.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def reset_layout(self) -> None:
        self.settings.remove("window/state")
        self.default_layout()


class FirstPaintWatch(QObject):
    """App-wide event filter that calls ``then()`` once, after the first paint of
    ``window``."""

    def __init__(self, window: QWidget, then: Callable[[], None]) -> None:
        super().__init__(window)
        self.window, self.then = window, then
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt name
        if event.type() == QEvent.Type.Paint and isinstance(obj, QWidget) \
                and obj.window() is self.window:
            QApplication.instance().removeEventFilter(self)
            QTimer.singleShot(0, self.then)  # once the paint is done
        return False
