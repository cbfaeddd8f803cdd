"""The window's tool dialogs (Run and Help menus, File › Export for a cluster): each opens
its own window over the current project or run, and is kept here while it is open."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from studio.config import families
from studio.config.io import resolve_path
from studio.config.validate import validate
from studio.core.errors import ConfigError


class WindowTools:
    """Opens the tool dialogs for ``window`` (a ``MainWindow``)."""

    def __init__(self, window) -> None:
        self.window = window
        self.lr_finder = self.bias_probe = self.balance = None
        self.about_dialog = self.cluster_dialog = self.system_check_dialog = None
        self.auto_caption_dialog = None

    @property
    def project(self):
        return self.window.project

    def _checked(self, title: str):
        """The project's config as `studio` would accept it, or None after saying why."""
        try:
            return validate(self.project.config)
        except ConfigError as exc:
            QMessageBox.warning(self.window, title, self.window.explain(exc))
            return None

    def open_lr_finder(self):
        if self.window.host.running:
            self.window.statusBar().showMessage("Stop the run before the learning-rate test",
                                                4000)
            return None
        cfg = self._checked("Cannot find a learning rate")
        if cfg is None:
            return None
        from studio.qt.panes.lr_finder import LRFinderDialog

        if self.lr_finder is not None and self.lr_finder.running:
            self.lr_finder.raise_()
            return self.lr_finder
        self.lr_finder = LRFinderDialog(
            cfg, lambda lr: self.project.replace_section("train", lr=lr), parent=self.window)
        self.lr_finder.show()
        return self.lr_finder

    def export_model(self, run_dir: str | None = None):
        """Runs › Export… / File › Export model…: the given run, else the one selected in
        the Runs pane, else the run just trained, else this project's latest."""
        from studio.qt.dialogs.export import ExportDialog

        w = self.window
        infos = w.runs_pane.infos
        run_dir = (run_dir or w.runs_pane.selected_path() or w.session.run_dir
                   or (str(infos[0].path) if infos else None))
        if not run_dir:
            QMessageBox.information(w, "Export model", "This project has no runs yet: train "
                                    "first (Train, F5), then export the result.")
            return None
        self.export_dialog = ExportDialog(run_dir, w)
        self.export_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.export_dialog.show()
        return self.export_dialog

    def auto_caption(self, images: list):
        """The dataset pane's Auto-caption…: the dialog, which rescans the pane after it
        writes or undoes captions."""
        from studio.qt.dialogs.autocaption import AutoCaptionDialog

        w = self.window
        dialog = AutoCaptionDialog(images, self.project.runs_dir(), w)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        pane = w.dataset_pane
        dialog.written.connect(lambda: pane.rescan(force=True))
        dialog.show()
        self.auto_caption_dialog = dialog
        return dialog

    @property
    def lr_finder_running(self) -> bool:
        return self.lr_finder is not None and self.lr_finder.running

    def open_bias_probe(self):
        """On the selected (or last) run: base model before, its best weights after; with
        no run, the project's model alone. Images and audio: the captions' balance."""
        from studio.qt.panes.probes import BiasProbeDialog
        from studio.state.probes import BiasProbeState

        cfg = self.project.config
        if not families.get(cfg.run.family).bias_probe:  # captioned files: their balance
            from studio.qt.panes.probes import BalanceDialog

            self.balance = BalanceDialog(
                tuple(str(resolve_path(cfg, p)) for p in cfg.data.paths),
                cfg.probe.balance_groups,
                lambda g: self.project.replace_section("probe", balance_groups=g), self.window)
            self.balance.show()
            self.balance.run_report()
            return self.balance
        if self.bias_probe is not None and self.bias_probe.isVisible():
            self.bias_probe.raise_()
            return self.bias_probe
        target = (self.window.runs_pane.selected_path() or self.window.session.run_dir
                  or cfg.model.source)
        state = BiasProbeState(cfg.probe.bias_templates, target)
        self.bias_probe = BiasProbeDialog(
            state, lambda t: self.project.replace_section("probe", bias_templates=t),
            parent=self.window)
        self.bias_probe.show()
        return self.bias_probe

    def export_for_cluster(self) -> None:
        from studio.qt.dialogs.cluster import ClusterDialog

        cfg = self._checked("Cannot export for a cluster")  # what `studio train` accepts
        if cfg is None:
            return
        base = self.project.path.parent if self.project.path else Path.home()
        self.cluster_dialog = ClusterDialog(cfg, base / f"{cfg.run.name}-cluster", self.window)
        self.cluster_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.cluster_dialog.show()

    def system_check(self) -> None:
        from studio.qt.dialogs.system_check import SystemCheckDialog

        self.system_check_dialog = SystemCheckDialog(self.window)
        self.system_check_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.system_check_dialog.show()

    def about(self) -> None:
        from studio.qt.dialogs.about import AboutDialog

        self.about_dialog = AboutDialog(self.window)
        self.about_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.about_dialog.show()
