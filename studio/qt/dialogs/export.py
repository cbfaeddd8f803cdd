"""Runs › Export model… / File › Export model…: a run's weights as a folder the ecosystem
loads (the same code as ``studio export``), with the weights, the format and the folder
chosen here, progress while it writes, and "Show folder" when it is done.

Weights that are the base model unchanged (the run's best validation loss was its step-0
evaluation) are named as such in the list, and exporting them asks first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.config import families, load_config
from studio.core.errors import StudioError
from studio.qt.widgets.tasks import Task, run_in_background
from studio.runs.store import RunFolder

DEFAULT = "default"  # the family's default_exports, all of them
WARN = "#b35c00"


def _engine_choices(run_dir: str) -> list:
    from studio.engine.restore import weights_choices
    return weights_choices(run_dir)


def _engine_export(run_dir: str, out: str, weights: str, fmt: str, allow_unchanged: bool,
                   report: Callable, cancel: Any) -> str:  # noqa: ARG001 - one stage at a time
    from studio.engine.restore import export_formats_of, export_run

    # DEFAULT: what `studio export` writes (text-to-image: a diffusers LoRA and a kohya file)
    for one in (export_formats_of(run_dir) if fmt == DEFAULT else (fmt,)):
        export_run(run_dir, out, weights=weights, fmt=one, allow_unchanged=allow_unchanged,
                   progress=report)
    return str(out)


def _trains_lora(cfg) -> bool:
    return cfg.freeze.default_mode == "lora" or any(g.mode == "lora" for g in cfg.freeze.groups)


class ExportDialog(QDialog):
    def __init__(self, run_dir: str | Path, parent: QWidget | None = None, *,
                 choices: Callable[[str], list] = _engine_choices,
                 export: Callable[..., str] = _engine_export) -> None:
        super().__init__(parent)
        self.run_dir = str(run_dir)
        self._export_fn = export
        self.task: Task | None = None
        self.exported: Path | None = None
        folder = RunFolder(run_dir)
        self.cfg = load_config(folder.config_path)
        self.setWindowTitle(f"Export model — {Path(run_dir).name}")
        self.setMinimumWidth(560)

        self.weights = QComboBox(self)
        self.choices = choices(self.run_dir)
        for c in self.choices:
            self.weights.addItem(c.label + (" — the base model, unchanged" if c.unchanged
                                            else ""), c.key)
        self.weights.currentIndexChanged.connect(self._update)
        self.format = QComboBox(self)
        spec = families.get(self.cfg.run.family)
        offered = dict(spec.export_formats)
        if len(spec.default_exports) > 1:  # the family's usual set, written together
            self.format.addItem(" + ".join(offered[k].split(" (")[0]
                                           for k in spec.default_exports), DEFAULT)
        for key, text in offered.items():
            self.format.addItem(text, key)
        lora_only = {"adapter", "diffusers_lora", "kohya", DEFAULT} - {"full"}
        if not _trains_lora(self.cfg):  # an adapter needs LoRA to hold
            for i in range(self.format.count()):
                if self.format.itemData(i) in lora_only:
                    self.format.model().item(i).setEnabled(False)
                    self.format.setItemData(i, "This run trained no LoRA adapters.",
                                            Qt.ItemDataRole.ToolTipRole)
        self.format.currentIndexChanged.connect(self._update)
        self.folder = QLineEdit(str(folder.export_dir), self)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)

        self.warning = QLabel(self)
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"color: {WARN};")
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)  # stages, not a fraction: a busy bar while it writes
        self.bar.hide()

        self.export_button = QPushButton("Export", self)
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        self.show_button = QPushButton("Show folder", self)
        self.show_button.setEnabled(False)
        self.show_button.clicked.connect(self.show_folder)
        close = QPushButton("Close", self)
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.show_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(close)

        form = QFormLayout()
        form.addRow("Weights", self.weights)
        form.addRow("Format", self.format)
        form.addRow("Folder", row)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.warning)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addStretch(1)
        lay.addLayout(buttons)
        if not self.choices:
            self.status.setText("This run has no saved weights yet: let it reach its first "
                                "checkpoint, or resume it.")
        self._update()

    # -- state ------------------------------------------------------------------------------
    def choice(self):
        i = self.weights.currentIndex()
        return self.choices[i] if 0 <= i < len(self.choices) else None

    def _update(self) -> None:
        c = self.choice()
        busy = self.task is not None
        self.export_button.setEnabled(c is not None and not busy)
        self.warning.setText(
            "These weights are the base model unchanged: the run's validation loss never "
            "beat its value before training. Pick the latest checkpoint to export what the "
            "run learned." if c is not None and c.unchanged else "")
        self.warning.setVisible(bool(self.warning.text()))

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export into", self.folder.text())
        if path:
            self.folder.setText(path)

    # -- export -----------------------------------------------------------------------------
    def start(self, allow_unchanged: bool | None = None) -> None:
        c = self.choice()
        if c is None or self.task is not None:
            return
        if c.unchanged and allow_unchanged is None:
            answer = QMessageBox.question(
                self, "Export the base model unchanged?",
                "The run never beat the base model on its validation set, so its best "
                "weights are the base model's own. Export them anyway?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
        allow = bool(allow_unchanged) or c.unchanged
        out = self.folder.text().strip()
        if not out:
            self.status.setText("Choose a folder to export into.")
            return
        fmt = self.format.currentData()
        self.status.setText("Starting…")
        self.bar.show()
        self.show_button.setEnabled(False)
        self.task = run_in_background(self._export_fn, self.run_dir, out, c.key, fmt, allow,
                                      done=self._done, error=self._failed,
                                      progress=self.status.setText, pool_name="model")
        self._update()

    def _done(self, out: str) -> None:
        self.task = None
        self.bar.hide()
        self.exported = Path(out)
        fmt = self.format.currentData()
        how = ("peft.PeftModel.from_pretrained(base_model, folder)" if fmt == "adapter"
               else families.get(self.cfg.run.family).export_loader)
        self.status.setText(f"Exported to {out}\nLoad it with {how}")
        self.show_button.setEnabled(True)
        self._update()

    def _failed(self, exc: BaseException) -> None:
        self.task = None
        self.bar.hide()
        text = str(exc) if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
        self.status.setText(f"Export failed: {text}")
        self._update()

    def show_folder(self) -> None:
        if self.exported is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.exported)))

    def reject(self) -> None:
        if self.task is not None:
            self.task.cancel()  # it finishes its current stage; the result is dropped
        super().reject()
