"""The first start's layout on the screen it gets: the window fits a 1366 x 768 (or
smaller) screen, and the Curves dock gets the height its plots need before the gallery
takes its share (a 768 px screen squeezed the plots to their axes)."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from studio.qt import docks


def test_the_first_window_fits_a_small_screen(make_window, monkeypatch):
    win = make_window()
    assert docks.default_size(win) == docks.DEFAULT_SIZE  # offscreen: no real screen
    monkeypatch.setattr(QApplication, "platformName", staticmethod(lambda: "xcb"))
    free = win.screen().availableGeometry()  # offscreen's nominal 800 x 800
    width, height = docks.default_size(win)
    assert width <= free.width() and height <= free.height() - 30


def test_the_default_layout_gives_the_curves_their_plots_first(make_window, qtbot):
    win = make_window()
    win.resize(1350, 728)  # a 1366 x 768 screen, less the window manager's frame
    win.reset_layout()
    win.resize(1350, 728)
    qtbot.wait(50)
    win.docks._size_docks()
    qtbot.wait(50)
    curves, gallery, log = (win.docks[k].height() for k in ("curves", "gallery", "log"))
    assert curves >= docks.CURVES_NEED - 5 and curves > gallery
    assert log >= win.docks["queue"].minimumSizeHint().height()


def test_the_queue_pane_lets_the_bottom_docks_be_short(make_window):
    """The Queue pane's controls scroll: its least height (it was ~160 px, the bottom
    docks' floor) leaves the Curves room at 1024 x 640."""
    win = make_window()
    queue = win.queue_pane
    assert queue.minimumSizeHint().height() <= 80
    assert queue.sizeHint().height() > 150  # at ease it still shows all its controls
    assert queue.add_button.isVisibleTo(queue) and queue.table.isVisibleTo(queue)
    assert win.runs_pane.minimumSizeHint().height() <= 110  # its list: a header and a row
