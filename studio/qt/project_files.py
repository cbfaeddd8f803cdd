"""The File menu's commands: new, open, save, save as, recent projects, the unsaved-changes
question, and adding training files (menu or drag and drop onto the window). The window
shows whichever project these hand it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMessageBox

from studio.config import families
from studio.config.schema import RunConfig
from studio.core.errors import StudioError
from studio.qt.actions import fill_recent_menu
from studio.state.project import Project

MAX_RECENT = 8


def local_paths(mime) -> list[str]:
    """The local files and folders of a drag's mime data."""
    if not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]


def read_recent(settings) -> list[str]:
    """File > Open Recent's project files (QSettings ``recent_projects``), newest first."""
    value = settings.value("recent_projects", [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or [])]


def blank_config(family: str) -> RunConfig:
    """A new project's settings: the family's defaults, its shipped starter model (if it
    ships one), no files."""
    cfg = families.default_config(family)
    starter = families.get(family).starter or cfg.model.source
    return families.follow_model(dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, source=starter),
        data=dataclasses.replace(cfg.data, paths=())))


class ProjectFiles(QObject):
    """File commands for ``window`` (a ``MainWindow``: ``project``, ``set_project``,
    ``settings``, ``busy(message)``, ``show_dock(key)``); also its drop target."""

    def __init__(self, window, recent_menu) -> None:
        super().__init__(window)
        self.window = window
        self.recent_menu = recent_menu
        self.rebuild_recent_menu()
        window.setAcceptDrops(True)
        window.installEventFilter(self)

    @property
    def project(self) -> Project:
        return self.window.project

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False when the user cancels. Open dialogs holding
        unsaved work of their own (the caption editor) are asked to close first: New, Open
        and Quit would destroy them with everything typed in them."""
        if not self.close_dialogs_with_work():
            return False
        if not self.project.dirty:
            return True
        answer = QMessageBox.question(
            self.window, "Unsaved changes",
            f"The project “{self.project.name}” has unsaved changes. Save them?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def close_dialogs_with_work(self) -> bool:
        """Close each shown dialog that says ``asks_before_closing`` (its own Save / Discard
        / Cancel question); False when one stays open (the user cancelled)."""
        for dialog in self.window.findChildren(QDialog):
            if getattr(dialog, "asks_before_closing", False) and dialog.isVisible() \
                    and not dialog.close():
                return False
        return True

    def new(self) -> Project | None:
        """A new empty project (after the unsaved-changes question), or None."""
        if self.window.busy("Stop the run before starting a new project") \
                or not self.maybe_save():
            return None
        family = self.ask_family()
        if family is None:
            return None
        project = Project(blank_config(family), name="Untitled")
        project.auto_budget = True  # its steps follow the data it is given
        self.window.set_project(project)
        return project

    def ask_family(self) -> str | None:
        """What the new project fine-tunes (its settings start at that family's defaults)."""
        specs = families.all_specs()
        names = [f"{s.title}: {s.summary}" for s in specs]
        name, ok = QInputDialog.getItem(self.window, "New project", "What will you fine-tune?",
                                        names, 0, False)
        return specs[names.index(name)].name if ok and name in names else None

    def open_dialog(self) -> None:
        if self.window.busy("Stop the run before opening another project") \
                or not self.maybe_save():
            return
        start = str(self.project.path.parent) if self.project.path else str(Path.cwd())
        path, _ = QFileDialog.getOpenFileName(self.window, "Open project", start,
                                              "Projects (*.toml);;All files (*)")
        if path:
            self.open(path, ask=False)

    def open(self, path: str | Path, ask: bool = True) -> bool:
        if self.window.busy("Stop the run before opening another project"):
            return False
        if ask and not self.maybe_save():
            return False
        try:
            project = Project.load(path)
        except (StudioError, OSError) as exc:
            QMessageBox.warning(self.window, "Cannot open project", str(exc))
            self._forget(str(path))
            return False
        self.window.set_project(project)
        self.remember(path)
        return True

    def save(self) -> bool:
        if self.project.path is None:
            return self.save_as()
        return self._save_to(self.project.path)

    def save_as(self) -> bool:
        start = str(self.project.path or Path.cwd() / f"{self.project.name or 'project'}.toml")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save project as", start,
                                              "Projects (*.toml)")
        if not path:
            return False
        if not path.endswith(".toml"):
            path += ".toml"
        return self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        if path != self.project.path:  # Save As: the project is named after its file
            self.project.name = Path(path).stem
        try:
            self.project.save(path)
        except OSError as exc:
            QMessageBox.warning(self.window, "Cannot save project",
                                f"{path}: {exc.strerror or exc}")
            return False
        self.remember(path)
        self.window.statusBar().showMessage(f"Saved {path}", 3000)
        return True

    # -- training files ----------------------------------------------------------------------
    def add_paths(self, paths) -> list[str]:
        """Add files or folders to the project's dataset; returns the ones added."""
        added = []
        for p in paths:
            p = str(Path(p).resolve())
            if p not in self.project.dataset_paths:
                self.project.add_dataset_path(p)
                added.append(p)
        if added:
            self.window.show_dock("dataset")
            names = ", ".join(Path(p).name for p in added[:3]) + ("…" if len(added) > 3 else "")
            self.window.statusBar().showMessage(f"Added to the dataset: {names}", 4000)
        return added

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Add a folder to the dataset")
        if folder:
            self.add_paths([folder])

    def add_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.window, "Add files to the dataset")
        if files:
            self.add_paths(files)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt name
        """Files and folders dropped on the window join the dataset."""
        kind = event.type()
        if obj is not self.window or kind not in (QEvent.Type.DragEnter, QEvent.Type.DragMove,
                                                  QEvent.Type.Drop):
            return False
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return kind != QEvent.Type.DragMove
        if kind == QEvent.Type.Drop:
            self.add_paths(paths)
        event.acceptProposedAction()
        return True

    # -- recent projects -------------------------------------------------------------------
    def recent(self) -> list[str]:
        return read_recent(self.window.settings)

    def _set_recent(self, items: list[str]) -> None:
        self.window.settings.setValue("recent_projects", items[:MAX_RECENT])
        self.rebuild_recent_menu()

    def remember(self, path) -> None:
        """``path`` first in File > Open Recent (opened, saved, or given on the command
        line: the next start without a file opens it)."""
        path = str(Path(path).resolve())
        self._set_recent([path] + [p for p in self.recent() if p != path])

    def _forget(self, path: str) -> None:
        self._set_recent([p for p in self.recent() if p != path])

    def rebuild_recent_menu(self) -> None:
        fill_recent_menu(self.recent_menu, self.recent(), self.open,
                         lambda: self._set_recent([]))
