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


DEFAULT_SIZE = (1500, 940)
CURVES_NEED = 300  # the Curves dock: title, its bar and two rows of plots unscrolled


def default_size(window: QWidget) -> tuple[int, int]:
    """The first start's window size: 1500 x 940, or the screen's free area where that
    is smaller (a window larger than the screen hides its bottom and right docks)."""
    width, height = DEFAULT_SIZE
    screen = window.screen() or QApplication.primaryScreen()
    # offscreen (tests, screenshots) has no real screen: its nominal 800 x 800 is no limit
    if screen is not None and QApplication.platformName() not in ("offscreen", "minimal"):
        free = screen.availableGeometry()
        frame = 40  # the window manager's title bar and borders
        width = max(640, min(width, free.width() - 16))
        height = max(480, min(height, free.height() - frame))
    return width, height


class Docks(dict):
    """``key -> QDockWidget`` for every pane of ``DOCKS``, owned by ``window``."""

    def __init__(self, window: QMainWindow, settings: QSettings) -> None:
        super().__init__()
        self.window, self.settings = window, settings
        self._sizer: _OnFirstShow | None = None  # the default proportions, once shown
        # a dialog closing (Open, Export, New) activates the window, and some window
        # managers (openbox) then stack it over the floating docks: they go on top again
        self._activation = _OnActivate(window, self.raise_floating)
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
        w.resize(*default_size(w))
        self._size_docks()
        if not w.isVisible():  # sizes given before the first show do not hold: again then
            self._sizer = _OnFirstShow(w, self._size_docks_once_shown)

    def _size_docks_once_shown(self) -> None:
        if self._sizer is not None:  # not replaced by a saved layout meanwhile
            self._sizer = None
            self._size_docks()

    def _size_docks(self) -> None:
        """The proportions of the 1500 x 940 layout, on whatever size the window has: the
        fixed sizes of that layout, on a 768 px screen, squeezed the curves to their axes
        and gave the log the rest."""
        w, d = self.window, self
        width, height = w.width(), w.height()
        left = min(460, width * 2 // 5)  # the Model pane's form needs about 460 px
        w.resizeDocks([d["dataset"], d["curves"]], [left, width - left],
                      Qt.Orientation.Horizontal)
        right = [d["curves"], d["gallery"], d["log"]]
        column = sum(x.height() for x in right) if w.isVisible() else height - 150
        # the bottom tabs (Log, Runs, Queue) take the least of them all: the plots need
        # the height more; Qt drops a request below a dock's minimum altogether
        bottom = max(column * 15 // 100, *(d[k].minimumSizeHint().height()
                                           for k in ("log", "runs", "queue")))
        rest = max(0, column - bottom)
        # about half each for curves and gallery, but the curves' two rows of plots first
        curves = min(max(rest * 52 // 100, CURVES_NEED), rest * 7 // 10)
        w.resizeDocks(right, [curves, rest - curves, bottom], Qt.Orientation.Vertical)

    def restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if geometry is not None:
            self.window.restoreGeometry(geometry)
        if state is not None and self.window.restoreState(state, LAYOUT_VERSION):
            self._sizer = None  # the user's own sizes, not the default proportions

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


class _OnActivate(QObject):
    """Calls ``then()`` each time ``window`` becomes the active window."""

    def __init__(self, window: QWidget, then: Callable[[], None]) -> None:
        super().__init__(window)
        self.then = then
        window.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt name
        if event.type() == QEvent.Type.WindowActivate:
            self.then()
        return False


class _OnFirstShow(QObject):
    """Calls ``then()`` once ``window`` has been shown and laid out (the event loop's
    next turn after its Show event); dropped with it."""

    def __init__(self, window: QWidget, then: Callable[[], None]) -> None:
        super().__init__(window)
        self.then = then
        window.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt name
        if event.type() == QEvent.Type.Show:
            obj.removeEventFilter(self)
            QTimer.singleShot(0, self._fire)
        return False

    def _fire(self) -> None:
        self.then()
        self.deleteLater()


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
