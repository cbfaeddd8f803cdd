"""The caption editor: every image's caption in one table (edit one), find/replace across
the caption files with a preview of how many change, and prepend the trigger word to all.

All writes go through ``studio.data.captioned.CaptionBook`` (atomic UTF-8 sidecars, one
undo step per action, the old bytes kept), so Undo puts back exactly what was there.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.data.captioned import CaptionBook, CaptionEdit, CaptionEdits, missing_summary

ICON = QSize(48, 48)
_PATH_ROLE = Qt.ItemDataRole.UserRole + 1


def _short(text: str, n: int = 48) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _around_change(old: str, new: str, context: int = 14) -> tuple[str, str]:
    """The part of ``old`` and ``new`` around their first difference, so a preview shows
    what changes rather than the same long beginning twice."""
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    start = max(0, start - context)
    lead = "…" if start else ""
    return _short(lead + old[start:], 36), _short(lead + new[start:], 36)


class CaptionEditor(QDialog):
    """``images``: the image paths; ``thumbnails``: path -> JPEG/PNG bytes (the scan's);
    ``written(edits)`` is called after each write or undo so the dataset pane can show the
    new captions."""

    asks_before_closing = True  # New / Open / Quit close it first (see ProjectFiles)

    def __init__(self, images: list[str], *, trigger: str = "", edits: CaptionEdits | None = None,
                 thumbnails: dict[str, bytes] | None = None,
                 written: Callable[[list[str]], None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Captions")
        self.resize(860, 620)
        self.book = CaptionBook(images, trigger=trigger, edits=edits)
        self._thumbs = thumbnails or {}
        self._written = written
        self._filling = False

        # the table
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(["Image", "Caption", "From"])
        self.table.setIconSize(ICON)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(ICON.height() + 8)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(0, 200)
        self.table.setWordWrap(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed
                                   | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.table.itemChanged.connect(self._cell_edited)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)

        # find / replace
        self.find_edit = QLineEdit(self)
        self.find_edit.setPlaceholderText("Find")
        self.replace_edit = QLineEdit(self)
        self.replace_edit.setPlaceholderText("Replace with")
        self.whole_word = QCheckBox("Whole words", self)
        self.match_case = QCheckBox("Match case", self)
        self.replace_button = QPushButton("Replace", self)
        self.replace_button.clicked.connect(self.replace_all)
        self.replace_preview = QLabel(self)
        self.replace_preview.setWordWrap(True)
        self.replace_preview.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        for w in (self.find_edit, self.replace_edit):
            w.textChanged.connect(self._preview_replace)
        for c in (self.whole_word, self.match_case):
            c.toggled.connect(self._preview_replace)
        fr = QGroupBox("Find and replace in the caption files", self)
        grid = QGridLayout(fr)
        grid.addWidget(self.find_edit, 0, 0)
        grid.addWidget(self.replace_edit, 0, 1)
        grid.addWidget(self.replace_button, 0, 2)
        opts = QHBoxLayout()
        opts.addWidget(self.whole_word)
        opts.addWidget(self.match_case)
        opts.addWidget(self.replace_preview, 1)
        grid.addLayout(opts, 1, 0, 1, 3)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)

        # trigger word
        self.trigger_edit = QLineEdit(trigger, self)
        self.trigger_edit.setPlaceholderText("trigger word, e.g. my_style")
        self.trigger_edit.textChanged.connect(self._preview_prepend)
        self.prepend_button = QPushButton("Prepend to all", self)
        self.prepend_button.clicked.connect(self.prepend_all)
        self.prepend_preview = QLabel(self)
        self.prepend_preview.setWordWrap(True)
        self.prepend_preview.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        tr = QGroupBox("Trigger word", self)
        tl = QGridLayout(tr)
        tl.addWidget(self.trigger_edit, 0, 0)
        tl.addWidget(self.prepend_button, 0, 1)
        tl.addWidget(self.prepend_preview, 1, 0, 1, 2)
        tl.setColumnStretch(0, 1)

        # bottom row
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.undo_button = QPushButton("Undo", self)
        self.undo_button.clicked.connect(self.undo)
        self.save_button = QPushButton("Save edits", self)
        self.save_button.setToolTip("Write the captions edited in the table to their files")
        self.save_button.clicked.connect(self.save_edits)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.undo_button)
        bottom.addWidget(self.save_button)
        bottom.addWidget(buttons)

        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        tools = QHBoxLayout()
        tools.addWidget(fr, 3)
        tools.addWidget(tr, 2)
        lay.addLayout(tools)
        lay.addLayout(bottom)
        self._pending: dict[str, str] = {}
        self._fill()

    # -- the table -------------------------------------------------------------------------
    def _icon(self, path: str) -> QIcon:
        data = self._thumbs.get(path)
        if not data:
            return QIcon()
        image = QImage.fromData(data)
        return QIcon(QPixmap.fromImage(image)) if not image.isNull() else QIcon()

    @staticmethod
    def _source_text(it) -> str:
        """The From column: the caption file, or why the image trains without one (a file
        that exists but is empty is named as such, not called "none")."""
        if it.from_file:
            return it.source
        why = it.problem.split(";")[0] if it.problem else "none"
        return f"{why}: trains as '{_short(it.caption, 20)}'"

    def _fill(self) -> None:
        self._filling = True
        items = self.book.items
        self.table.setRowCount(len(items))
        for row, it in enumerate(items):
            path = str(it.path)
            name = QTableWidgetItem(self._icon(path), it.path.name)
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            name.setToolTip(path)
            name.setData(_PATH_ROLE, path)
            caption = QTableWidgetItem(self._pending.get(path, it.caption if it.from_file else ""))
            if not it.from_file:
                caption.setToolTip(f"No caption file: trains as '{it.caption}' ({it.source}). "
                                   f"Type a caption to write {it.path.stem}.txt.")
            source = QTableWidgetItem(self._source_text(it))
            source.setFlags(source.flags() & ~Qt.ItemFlag.ItemIsEditable)
            if it.problem:
                source.setToolTip(it.problem)
                source.setText(source.text() + " ⚠")
            self.table.setItem(row, 0, name)
            self.table.setItem(row, 1, caption)
            self.table.setItem(row, 2, source)
        self._filling = False
        self._refresh()

    def _cell_edited(self, cell: QTableWidgetItem) -> None:
        if self._filling or cell.column() != 1:
            return
        path = self.table.item(cell.row(), 0).data(_PATH_ROLE)
        it = self.book.item(path)
        old = it.caption if it is not None and it.from_file else ""
        text = " ".join(cell.text().split())
        if text == old:
            self._pending.pop(path, None)
        else:
            self._pending[path] = text
        self._refresh()

    def _refresh(self) -> None:
        n = len(self.book.items)
        text = f"{n} image{'s' if n != 1 else ''}"
        missing = missing_summary(self.book.items)
        if missing:
            text = f"<b>{html.escape(missing, quote=False)}</b> (type a caption to give one its own)"
        problems = [it.problem for it in self.book.items if it.problem]
        if problems:
            text += f" · {len(problems)} caption file{'s' if len(problems) != 1 else ''} to check (⚠)"
        self.summary.setText(text + ". Double-click a caption to edit it.")
        n = len(self._pending)   # "Save 1 edit", "Save 3 edits"; "Save edits" (disabled)
        self.save_button.setText(f"Save {n} edit{'s' if n != 1 else ''}" if n else "Save edits")
        self.save_button.setEnabled(bool(self._pending))
        self.undo_button.setEnabled(self.book.edits.can_undo)
        self.undo_button.setText(f"Undo {self.book.edits.undo_label}" if self.book.edits.can_undo
                                 else "Undo")
        self._preview_replace()
        self._preview_prepend()

    # -- previews ----------------------------------------------------------------------------
    def replace_changes(self) -> dict[str, str]:
        return self.book.preview_replace(self.find_edit.text(), self.replace_edit.text(),
                                         case_sensitive=self.match_case.isChecked(),
                                         whole_word=self.whole_word.isChecked())

    def _preview_replace(self) -> None:
        if not self.find_edit.text():
            self.replace_preview.setText("Type what to find: the count of captions that change "
                                         "shows here before anything is written.")
            self.replace_button.setEnabled(False)
            return
        changes = self.replace_changes()
        n = len(changes)
        if not n:
            self.replace_preview.setText("No caption changes.")
        else:
            path, new = next(iter(changes.items()))
            old, new = _around_change(self.book.item(path).caption, new)  # type: ignore[union-attr]
            self.replace_preview.setText(
                f"{n} caption{'s' if n != 1 else ''} change, e.g. “{old}” → “{new}”")
        self.replace_button.setText(f"Replace in {n}" if n else "Replace")
        self.replace_button.setEnabled(bool(n))

    def prepend_changes(self) -> dict[str, str]:
        return self.book.preview_prepend(self.trigger_edit.text())

    def _preview_prepend(self) -> None:
        word = self.trigger_edit.text().strip()
        n = len(self.prepend_changes()) if word else 0
        if not word:
            self.prepend_preview.setText("Type the trigger word.")
        elif n:
            self.prepend_preview.setText(f"{n} caption{'s' if n != 1 else ''} do not start "
                                         f"with '{word}' yet." + self._uncaptioned_note(word))
        else:
            self.prepend_preview.setText(f"Every caption holds '{word}'."
                                         + self._uncaptioned_note(word))
        self.prepend_button.setText(f"Prepend to {n}" if n else "Prepend to all")
        self.prepend_button.setEnabled(bool(n))

    def _uncaptioned_note(self, word: str) -> str:
        """What the images without a caption train as: prepending writes files only, so
        unless the project's trigger word (data.trigger_word) is this word, they do not
        train as it."""
        bare = [it for it in self.book.items if not it.from_file]
        if not bare:
            return ""
        if word == self.book.trigger:
            return " Images without a caption train as the trigger word already."
        n = len(bare)
        return (f" {n} image{'s' if n != 1 else ''} without a caption still train"
                f"{'s' if n == 1 else ''} as '{_short(bare[0].caption, 24)}': set "
                f"data.trigger_word to '{word}' (Settings) to train {'it' if n == 1 else 'them'}"
                f" as '{word}'.")

    # -- writing -------------------------------------------------------------------------------
    def _write(self, changes: dict[str, str], label: str) -> list[CaptionEdit]:
        try:
            edits = self.book.apply(changes, label)
        except OSError as e:
            self.status.setText(f"Not all written: {e.strerror or e} "
                                f"({Path(getattr(e, 'filename', '') or '').name}); what was "
                                f"written can be undone.")
            edits = []
        else:
            n = len(edits)
            self.status.setText(f"{label}: {n} caption file{'s' if n != 1 else ''} written.")
        self._after_write([str(e.path) for e in edits] or list(changes))
        return edits

    def _after_write(self, _paths: list[str]) -> None:
        self._fill()
        if self._written is not None:
            self._written([str(it.path) for it in self.book.items])

    def save_edits(self) -> None:
        changes, self._pending = dict(self._pending), {}
        n = len(changes)
        self._write(changes, f"edit of {n} caption{'s' if n != 1 else ''}")

    def reject(self) -> None:
        """Close (the button, Esc, the window's X): captions typed in the table and not
        saved yet are asked about, never dropped without a word."""
        if self._pending:
            n = len(self._pending)
            what = ("1 caption typed in the table is not saved yet. Save it to its caption file?"
                    if n == 1 else f"{n} captions typed in the table are not saved yet. Save "
                    "them to their caption files?")
            answer = QMessageBox.question(
                self, "Unsaved captions", what,
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
            if answer == QMessageBox.StandardButton.Cancel:
                return
            if answer == QMessageBox.StandardButton.Save:
                self.save_edits()
            self._pending = {}
        super().reject()

    def replace_all(self) -> None:
        self._write(self.replace_changes(),
                    f"replace “{_short(self.find_edit.text(), 20)}”")

    def prepend_all(self) -> None:
        self._write(self.prepend_changes(), f"prepend “{self.trigger_edit.text().strip()}”")

    def undo(self) -> None:
        label = self.book.edits.undo_label
        restored, problems = self.book.undo()
        text = f"Undid {label}: {len(restored)} file{'s' if len(restored) != 1 else ''} restored."
        if problems:
            text += " " + "; ".join(problems[:3]) + (" …" if len(problems) > 3 else "")
        self.status.setText(text)
        self._after_write([str(p) for p in restored])
