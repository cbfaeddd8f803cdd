"""The window's actions and menus, built from tables (napari's ``qactions`` idea): one row
per action (text, what it calls, shortcut, tip), one list per menu. ``MainWindow`` gets each
action as ``act_<key>`` and keeps no menu code of its own.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QAction,
    QColor,
    QIcon,
    QKeySequence,
    QPainter,
    QPalette,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

SHORTCUTS = {
    "train": "F5", "pause": "F6", "resume": "F7", "stop": "Shift+F5", "save_now": "F8",
    "sample_now": "F9",
}
RUN_KEYS = tuple(SHORTCUTS)  # the run controls: toolbar, Run menu, application-wide keys
RUN_ICON_COLOURS = {"train": "#2e9d4f", "stop": "#d23c3c", "pause": "#d08a00"}
_STD = QKeySequence.StandardKey

# key: (text, the window's method to call (dotted), shortcut, tip)
ACTIONS: dict[str, tuple[str, str, object, str]] = {
    "new": ("&New project", "files.new", _STD.New, ""),
    "open": ("&Open project…", "files.open_dialog", _STD.Open, ""),
    "save": ("&Save project", "files.save", _STD.Save, ""),
    "save_as": ("Save project &as…", "files.save_as", _STD.SaveAs, ""),
    "add_folder": ("Add &folder…", "files.add_folder_dialog", "Ctrl+Shift+O",
                   "Add a folder of training files to the dataset"),
    "add_files": ("Add f&iles…", "files.add_files_dialog", "Ctrl+Shift+I",
                  "Add training files to the dataset"),
    "quit": ("&Quit", "close", _STD.Quit, ""),
    "train": ("&Train", "train", SHORTCUTS["train"], "Start training with the current settings"),
    "pause": ("&Pause", "host.pause", SHORTCUTS["pause"],
              "Pause after this step; the model stays loaded, so you can still sample or save"),
    "resume": ("&Resume", "host.resume", SHORTCUTS["resume"], "Continue the paused run"),
    "stop": ("S&top", "coordinator.stop", SHORTCUTS["stop"],
             "Stop the run; a checkpoint is saved so it can be resumed"),
    "save_now": ("Save checkpoint &now", "host.save_now", SHORTCUTS["save_now"],
                 "Write a resumable checkpoint now"),
    "sample_now": ("S&ample now", "host.sample_now", SHORTCUTS["sample_now"],
                   "Generate samples from the current weights now"),
    "copy_cli": ("Copy as &CLI command", "copy_cli_command", None,
                 "Copy the command that runs these settings headless"),
    "trial": ("Tr&y a few steps…", "ask_trial", None,
              "Train a few steps of this run, then stop with samples and a verdict (does the "
              "loss fall?); Continue carries the same run on"),
    "lr_find": ("Find &learning rate…", "tools.open_lr_finder", None,
                "A short range test that suggests train.lr"),
    "bias_probe": ("&Bias probe…", "tools.open_bias_probe", None,
                   "Text: templated prompts scored before and after fine-tuning; images and "
                   "audio: the balance of caption words"),
    "export_model": ("&Export model…", "tools.export_model", "Ctrl+E",
                     "Export a run's weights as a folder transformers / diffusers / peft load: "
                     "best, latest or any checkpoint; full model or LoRA adapter"),
    "export_cluster": ("Export for a &cluster…", "tools.export_for_cluster", None,
                       "Write this project's config plus torchrun / accelerate / SLURM launch "
                       "scripts for a multi-GPU machine or cluster"),
    "reset_layout": ("&Reset layout", "reset_layout", None, ""),
    "system_check": ("&System check…", "tools.system_check", None, ""),
    "about": ("&About Fine-Tuning Studio", "tools.about", None, ""),
}
# "-": a separator; "@recent": the recent-projects submenu; "@docks": a toggle per pane
MENUS: dict[str, list[str]] = {
    "&File": ["new", "open", "save", "save_as", "@recent", "-", "add_folder", "add_files", "-",
              "export_model", "export_cluster", "-", "quit"],
    "&Run": ["train", "pause", "resume", "stop", "-", "save_now", "sample_now", "-", "copy_cli",
             "-", "trial", "lr_find", "bias_probe"],
    "&View": ["@docks", "-", "reset_layout"],
    "&Help": ["system_check", "about"],
}


def _target(window, dotted: str) -> Callable[[], object]:
    """The callable at ``window.<dotted>``, looked up when triggered (objects may change)."""
    def call() -> object:
        obj = window
        for part in dotted.split("."):
            obj = getattr(obj, part)
        return obj()
    return call


def build_actions(window: QMainWindow) -> dict[str, QAction]:
    """Every action of the table, added to the window (shortcuts work whichever pane has
    the focus) and set as ``window.act_<key>``."""
    actions = {}
    for key, (text, slot, shortcut, tip) in ACTIONS.items():
        action = QAction(text, window)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            shortcut_text = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{tip} ({shortcut_text})" if shortcut_text else tip)
            action.setStatusTip(tip)
        call = _target(window, slot)
        action.triggered.connect(lambda _checked=False, call=call: call())
        if key in RUN_KEYS:  # also from a floating pane (its own window)
            action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        window.addAction(action)
        setattr(window, f"act_{key}", action)
        actions[key] = action
    return actions


def build_menus(window: QMainWindow, actions: dict[str, QAction], docks) -> QMenu:
    """The menu bar from ``MENUS``; returns the recent-projects submenu."""
    recent = None
    for title, entries in MENUS.items():
        menu = window.menuBar().addMenu(title)
        for entry in entries:
            if entry == "-":
                menu.addSeparator()
            elif entry == "@recent":
                recent = menu.addMenu("Recent projects")
            elif entry == "@docks":
                menu.addActions([dock.toggleViewAction() for dock in docks.values()])
            else:
                menu.addAction(actions[entry])
    return recent


def build_toolbar(window: QMainWindow, actions: dict[str, QAction]) -> QToolBar:
    tb = QToolBar("Run controls", window)
    tb.setObjectName("toolbar_run")
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    tb.setMovable(False)
    tb.addActions([actions[k] for k in RUN_KEYS[:4]])
    tb.addSeparator()
    tb.addActions([actions[k] for k in RUN_KEYS[4:]])
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
    return tb


def paint_run_icons(window: QMainWindow, actions: dict[str, QAction]) -> None:
    """Run-control glyphs in their colours, the others in the theme's text colour."""
    text = window.palette().color(QPalette.ColorRole.ButtonText)
    for key in RUN_KEYS:
        colour = RUN_ICON_COLOURS.get(key)
        actions[key].setIcon(run_icon(key, QColor(colour) if colour else text))


def enable_for(actions: dict[str, QAction], state: str, running: bool) -> None:
    """Which actions a run state allows (``state``: RunSession.state)."""
    for key in ("train", "lr_find", "trial", "new", "open"):
        actions[key].setEnabled(not running)
    actions["pause"].setEnabled(state == "running")
    actions["resume"].setEnabled(state in ("paused", "pausing"))
    actions["stop"].setEnabled(state in ("starting", "running", "pausing", "paused"))
    live = state in ("running", "paused", "pausing")
    actions["save_now"].setEnabled(live)
    actions["sample_now"].setEnabled(live)


def fill_recent_menu(menu: QMenu, recent: list[str], open_fn: Callable[[str], object],
                     clear_fn: Callable[[], object]) -> None:
    menu.clear()
    for i, path in enumerate(recent):
        act = menu.addAction(f"&{i + 1}  {Path(path).name} — {Path(path).parent}")
        act.setEnabled(Path(path).is_file())
        act.triggered.connect(lambda _c=False, p=path: open_fn(p))
    if not recent:
        menu.addAction("No recent projects").setEnabled(False)
    else:
        menu.addSeparator()
        menu.addAction("Clear list").triggered.connect(lambda _c=False: clear_fn())


def run_icon(kind: str, colour: QColor) -> QIcon:
    """Simple run-control glyphs drawn in ``colour`` (the style's media icons are black,
    unreadable on a dark theme)."""
    size = 64
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(colour)
    if kind == "train":
        p.drawPolygon(QPolygonF([QPointF(16, 10), QPointF(54, 32), QPointF(16, 54)]))
    elif kind == "pause":
        p.drawRoundedRect(QRectF(14, 10, 13, 44), 3, 3)
        p.drawRoundedRect(QRectF(37, 10, 13, 44), 3, 3)
    elif kind == "resume":
        p.drawRoundedRect(QRectF(10, 12, 9, 40), 2, 2)
        p.drawPolygon(QPolygonF([QPointF(26, 12), QPointF(56, 32), QPointF(26, 52)]))
    elif kind == "stop":
        p.drawRoundedRect(QRectF(13, 13, 38, 38), 5, 5)
    elif kind == "save_now":  # an arrow down into a tray
        p.drawPolygon(QPolygonF([QPointF(24, 8), QPointF(40, 8), QPointF(40, 26),
                                 QPointF(50, 26), QPointF(32, 44), QPointF(14, 26),
                                 QPointF(24, 26)]))
        p.drawRoundedRect(QRectF(8, 48, 48, 8), 2, 2)
    elif kind == "sample_now":  # a sparkle
        c = QPointF(32, 32)
        pts = []
        for i in range(8):
            r = 26 if i % 2 == 0 else 7
            a = math.pi / 4 * i
            pts.append(c + QPointF(r * math.sin(a), -r * math.cos(a)))
        p.drawPolygon(QPolygonF(pts))
    p.end()
    return QIcon(pix)
