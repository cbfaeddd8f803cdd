"""Auto-caption: a captioning model proposes captions for the dataset's images; the user
reviews and edits them in a list and accepts. Nothing is written before Accept; an
existing caption file is replaced only after a confirmation, and Undo puts the old text
back (``studio.models.autocaption``: the rules the CLI shares).

The model runs on the "autocaption" torch thread (``studio.qt.torch_thread``), with a
progress bar and Cancel (the captions made so far stay in the list).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.models import autocaption as ac

STARTER = "starter:captioning"
COL_ACCEPT, COL_IMAGE, COL_CURRENT, COL_PROPOSED = range(4)
ICON = 48


def model_choices(runs_dir: Path | None) -> list[tuple[str, str]]:
    """(label, source) of the models offered: the starter, then finished runs' exports."""
    from studio.runs.store import list_runs

    out = [("Built-in starter (shapes captioner)", STARTER)]
    for info in list_runs(runs_dir) if runs_dir else []:
        export = info.path / "export"
        if (export / "config.json").is_file():
            out.append((f"Run {info.name} ({info.id}) export", str(export)))
    return out


class AutoCaptionDialog(QDialog):
    """``images``: the dataset's image files. ``written`` is emitted after captions were
    written or undone (the dataset pane rescans)."""

    written = Signal()

    def __init__(self, images: list[str], runs_dir: Path | None = None,
                 parent: QWidget | None = None, journal=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Auto-caption")
        self.images = [Path(p) for p in images]
        self.edits = journal if journal is not None else ac.edits()
        self.job = None
        self.proposals: list[ac.Proposal] = []

        self.model_box = QComboBox(self)
        self.model_box.setEditable(True)
        self.model_box.setToolTip("A captioning model: the starter, a finished run's export, a "
                                  "local folder (Browse…) or a hub id such as "
                                  "Salesforce/blip-image-captioning-base")
        for label, source in model_choices(runs_dir):
            self.model_box.addItem(label, source)
        self.browse = QPushButton("Browse…", self)
        self.browse.clicked.connect(self._browse)
        self.all_box = QCheckBox("Caption every image (images that have a caption are "
                                 "proposed unticked; nothing is written until Accept)", self)
        self.start_button = QPushButton("Caption", self)
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop captioning; the captions made so far stay")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel(self)
        self.status.setWordWrap(True)

        self.table = QTableWidget(0, 4, self)
        self.table.setHorizontalHeaderLabels(["Write", "Image", "Current caption",
                                              "Proposed caption (double-click to edit)"])
        self.table.setIconSize(QSize(ICON, ICON))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(ICON + 6)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(COL_ACCEPT, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(COL_IMAGE, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(COL_CURRENT, QHeaderView.ResizeMode.Stretch)
        head.setSectionResizeMode(COL_PROPOSED, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)

        self.accept_button = QPushButton("Accept ticked", self)
        self.accept_button.setToolTip("Write the ticked captions beside their images")
        self.accept_button.setEnabled(False)
        self.accept_button.clicked.connect(self.accept_ticked)
        self.undo_button = QPushButton("Undo", self)
        self.undo_button.setToolTip("Put back the caption files as they were before the last "
                                    "Accept")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.undo)
        close = QPushButton("Close", self)
        close.clicked.connect(self.reject)

        top = QHBoxLayout()
        top.addWidget(QLabel("Model:"))
        top.addWidget(self.model_box, 1)
        top.addWidget(self.browse)
        run_row = QHBoxLayout()
        run_row.addWidget(self.all_box, 1)
        run_row.addWidget(self.start_button)
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.cancel_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.undo_button)
        bottom.addStretch(1)
        bottom.addWidget(self.accept_button)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(run_row)
        layout.addLayout(prog)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        self._say_what_is_to_do()
        self.resize(820, 560)

    # -- choosing -------------------------------------------------------------------------
    @property
    def source(self) -> str:
        text = self.model_box.currentText().strip()
        index = self.model_box.findText(text)
        data = self.model_box.itemData(index) if index >= 0 else None
        return str(data) if data else text

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Captioning model folder")
        if folder:
            self.model_box.setEditText(folder)

    def _todo(self) -> list[tuple[Path, str | None]]:
        return [t for t in ac.find_images(self.images, True)
                if self.all_box.isChecked() or t[1] is None]

    def _say_what_is_to_do(self) -> None:
        missing = sum(1 for _, cur in ac.find_images(self.images, True) if cur is None)
        self.status.setText(f"{len(self.images)} images; {missing} without a caption file. "
                            "Caption proposes captions for them; you review, edit and "
                            "accept.")

    # -- captioning -----------------------------------------------------------------------
    def start(self) -> None:
        from studio.qt.torch_thread import torch_thread

        todo = self._todo()
        if not todo:
            self.status.setText("Every image has a caption file. Tick \"Caption every "
                                "image\" to propose new ones for review.")
            return
        self.progress.setRange(0, len(todo))
        self.progress.setValue(0)
        self._busy(True)
        self.status.setText(f"Loading {self.source} and captioning {len(todo)} images…")

        def work(source, todo, report, cancel):
            return ac.propose(source, todo, progress=lambda d, n: report(d),
                              cancelled=cancel.is_set)

        self.job = torch_thread("autocaption").submit(
            work, self.source, todo, done=self._done, error=self._failed,
            progress=self.progress.setValue)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling after this batch…")

    def _busy(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on)
        for w in (self.start_button, self.model_box, self.browse, self.all_box,
                  self.accept_button):
            w.setEnabled(not on)

    def _failed(self, exc: BaseException) -> None:
        self._busy(False)
        self.job = None
        self.status.setText(f"Could not caption: {exc}")

    def _done(self, proposals: list[ac.Proposal]) -> None:
        self._busy(False)
        self.job = None
        self.show_proposals(proposals)
        cut = " (cancelled: the captions made so far)" if len(proposals) < self.progress.maximum() \
            else ""
        self.status.setText(f"{len(proposals)} captions proposed{cut}. Edit them, untick "
                            "any you do not want, then Accept ticked.")

    # -- review ---------------------------------------------------------------------------
    def show_proposals(self, proposals: list[ac.Proposal]) -> None:
        self.proposals = list(proposals)
        self.table.setRowCount(len(proposals))
        for row, p in enumerate(proposals):
            tick = QTableWidgetItem()
            tick.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            # a proposal over an existing caption starts unticked: replacing is a choice
            tick.setCheckState(Qt.CheckState.Checked if p.current is None
                               else Qt.CheckState.Unchecked)
            self.table.setItem(row, COL_ACCEPT, tick)
            image = QTableWidgetItem(p.image.name)
            pix = QPixmap(str(p.image))
            if not pix.isNull():
                image.setIcon(QIcon(pix.scaled(ICON, ICON, Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.FastTransformation)))
            image.setToolTip(str(p.image))
            image.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            self.table.setItem(row, COL_IMAGE, image)
            current = QTableWidgetItem(p.current if p.current is not None else "(none)")
            current.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            if p.current is None:
                current.setForeground(self.palette().placeholderText())
            self.table.setItem(row, COL_CURRENT, current)
            self.table.setItem(row, COL_PROPOSED, QTableWidgetItem(p.caption))
        self.accept_button.setEnabled(bool(proposals))

    def ticked(self) -> list[ac.Proposal]:
        """The ticked rows, with the user's edits."""
        out = []
        for row, p in enumerate(self.proposals):
            if self.table.item(row, COL_ACCEPT).checkState() == Qt.CheckState.Checked:
                text = self.table.item(row, COL_PROPOSED).text()
                out.append(ac.Proposal(p.image, text, p.current))
        return out

    def confirm_overwrite(self, n: int) -> bool:
        answer = QMessageBox.question(
            self, "Replace captions?",
            f"{n} of the ticked images already have a caption file. Replace "
            f"{'it' if n == 1 else 'them'}?\n\nThe old text is kept: Undo puts it back.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def accept_ticked(self) -> None:
        chosen = self.ticked()
        existing = sum(1 for p in chosen if p.current is not None)
        overwrite = bool(existing) and self.confirm_overwrite(existing)
        try:
            written, kept = ac.apply(chosen, overwrite=overwrite, journal=self.edits)
        except OSError as e:
            self.status.setText(f"Could not write a caption file: {e}. The ones written "
                                "before it can be undone.")
            written, kept = [], []
        self.undo_button.setEnabled(self.edits.can_undo)
        kept_note = f"; {len(kept)} existing caption files left as they were" if kept else ""
        self.status.setText(f"Wrote {len(written)} caption files{kept_note}. Undo puts back "
                            "what was there.")
        self.written.emit()

    def undo(self) -> None:
        restored, problems = self.edits.undo()
        self.undo_button.setEnabled(self.edits.can_undo)
        note = (" " + "; ".join(problems)) if problems else ""
        self.status.setText(f"Undone: {len(restored)} caption files as they were.{note}")
        self.written.emit()

    def reject(self) -> None:
        self.cancel()
        super().reject()
