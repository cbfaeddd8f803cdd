"""Drive the real studio window the way a returning user does (run as a script, in a
subprocess, by ``test_project_switch.py`` and by hand under Xvfb).

    python tests/qt/switch_driver.py layout            # 1st start: raise Model, save layout
    python tests/qt/switch_driver.py new N [project]   # 2nd start: Ctrl+N N times while the
    python tests/qt/switch_driver.py open N project    #   Model pane loads its model

Each switch waits until the Model pane's inspection job is running (the model is being
loaded on a worker thread), then switches the project, as a user pressing Ctrl+N / Ctrl+O
about two seconds after the start does. ``keys`` instead of ``new`` sends the real key
press (Ctrl+N) to the window. Prints ``switched N`` and exits 0 when the window survived.
"""

from __future__ import annotations

import sys
import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

MODE = sys.argv[1]
COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 1
PROJECT = sys.argv[3] if len(sys.argv) > 3 else None
DEADLINE = time.monotonic() + 240
LINGER_MS = int(__import__("os").environ.get("LINGER_MS", "0"))  # then quit


def window():
    from studio.qt.main_window import MainWindow

    return next((w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)), None)


def loading(win) -> bool:
    """The Model pane's background load is under way."""
    state = getattr(win.model_pane, "state", None)
    if state is not None:
        return state.loading
    task = getattr(win.model_pane, "_inspect", None)  # before the model-source state
    return bool(task is not None and task.running)


def step(done: int = 0) -> None:
    win = window()
    if win is None or win.model_pane is None or not win.isVisible():
        QTimer.singleShot(50, lambda: step(done))
        return
    if MODE == "layout":
        win.docks["model"].raise_()
        win.docks.save_layout()
        print("layout saved", flush=True)
        QApplication.instance().exit(0)
        return
    if done >= COUNT or time.monotonic() > DEADLINE:
        print(f"switched {done}", flush=True)
        code = 0 if done >= COUNT else 3
        QTimer.singleShot(LINGER_MS, lambda: QApplication.instance().exit(code))
        return
    if not loading(win):  # wait until the model is being loaded on the worker
        QTimer.singleShot(20, lambda: step(done))
        return
    time.sleep(0.05)  # well inside from_pretrained
    if MODE == "new":
        win.files.new()
    elif MODE == "keys":
        QTest.keyClick(win, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    else:
        win.files.open(PROJECT, ask=False)
    QTimer.singleShot(0, lambda: step(done + 1))


def main() -> int:
    from studio.qt.app import main as studio_main
    from studio.qt.app import make_app

    make_app()
    # New project asks what it fine-tunes (and whether to save changes): answered here as
    # a user would, "Text" and "Discard", so the dialogs never wait for a hand
    from PySide6.QtWidgets import QInputDialog, QMessageBox

    QInputDialog.getItem = staticmethod(lambda parent, title, label, items, *a, **k:
                                        (items[0], True))
    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.StandardButton.Discard)
    QTimer.singleShot(0, step)
    return studio_main([PROJECT] if PROJECT else [])


if __name__ == "__main__":
    raise SystemExit(main())
