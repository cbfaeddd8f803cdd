"""The dataset pane's captions row, shown for families that train on captioned images
(``FamilySpec.reads_captions``): how many images have their own caption, the warning for
those without ("7 of 20 images have no caption: they train as 'my_style'"), caption files
to check, and the buttons that open the caption editor and the bucket preview.

It owns the pane's caption undo journal (``CaptionEdits``), shared by the editor and the
detail view's Save caption, so every caption write can be undone.
"""

from __future__ import annotations

import dataclasses
import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QBoxLayout, QHBoxLayout, QLabel, QPushButton, QWidget

from studio.config import families
from studio.config.schema import DataConfig
from studio.core.errors import DataError
from studio.data import captioned
from studio.state.dataset import DatasetState
from studio.state.project import Project

WARNING = "#e69b00"


def reads_captions(state: DatasetState) -> bool:
    try:
        return families.get(state.family).reads_captions
    except Exception:  # noqa: BLE001 - an unknown family: no captions row
        return False


def buckets(family: str) -> bool:
    """Does ``family`` bucket its images (it reads the ``data.bucketing`` knob)?"""
    meta = next(f.metadata for f in dataclasses.fields(DataConfig) if f.name == "bucketing")
    return families.knob_applies(family, "data.bucketing", meta.get("families"))


class CaptionsBar(QWidget):
    show_missing = Signal()   # the warning's "show them" link: filter the grid to them
    show_problems = Signal()  # the caption files' "show them": the grid's Problems filter

    def __init__(self, project: Project, state: DatasetState, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.project = project
        self.state = state
        journal = None
        if project.path is not None:   # beside the project file, hidden
            journal = project.path.with_name(f".{project.path.stem}.captions.jsonl")
        self.edits = captioned.CaptionEdits(journal)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.linkActivated.connect(
            lambda link: (self.show_problems if link == "problems" else self.show_missing).emit())
        self.edit_button = QPushButton("Edit captions…", self)
        self.edit_button.setToolTip("Edit captions, find and replace across the caption files, "
                                    "prepend the trigger word (every change can be undone)")
        self.edit_button.clicked.connect(self.open_editor)
        self.buckets_button = QPushButton("Buckets…", self)
        self.buckets_button.setToolTip("Which aspect-ratio bucket each image trains in, and "
                                       "what is cut off (data.resolution, data.bucketing)")
        self.buckets_button.clicked.connect(self.open_buckets)
        # the two buttons side by side; stacked in a narrow dock, where side by side they
        # squeezed the warning into six lines with its links broken across them
        self.buttons = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.buttons.addWidget(self.edit_button)
        self.buttons.addWidget(self.buckets_button)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("<b>Captions:</b>", self), 0, Qt.AlignmentFlag.AlignTop)
        lay.addWidget(self.label, 1)
        lay.addLayout(self.buttons)
        lay.setAlignment(self.buttons, Qt.AlignmentFlag.AlignTop)
        self.editor = None
        self.bucket_dialog = None
        self.refresh()

    NARROW = 640   # px: below this the buttons stack

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        want = (QBoxLayout.Direction.TopToBottom if self.width() < self.NARROW
                else QBoxLayout.Direction.LeftToRight)
        if self.buttons.direction() != want:
            self.buttons.setDirection(want)

    # -- what the row says ---------------------------------------------------------------
    def images(self) -> list:
        """The scan's images that will train (included and usable)."""
        return [it for it in self.state.items
                if it.kind == "image" and self.state.is_used(it)]

    def captions(self) -> list[captioned.CaptionedImage]:
        trigger = self.project.config.data.trigger_word
        return [captioned.caption_for(it.path, it.caption, it.caption_path or None,
                                      getattr(it, "caption_problem", ""), trigger=trigger)
                for it in self.images()]

    def refresh(self) -> None:
        show = reads_captions(self.state)
        self.setVisible(show)
        if not show:
            return
        # a family that does not bucket (captioning) has no buckets to preview
        self.buckets_button.setVisible(buckets(self.state.family))
        items = [] if self.state.scanning else self.captions()
        if not items:
            # while a scan runs the images found so far are not all of them: counting them
            # ("no images yet", "3 of 5 have no caption") would say something untrue
            self.label.setText("counted when the scan is done…" if self.state.scanning
                               else "no images yet")
            self.edit_button.setEnabled(False)
            self.buckets_button.setEnabled(False)
            return
        self.edit_button.setEnabled(True)
        self.buckets_button.setEnabled(True)
        own = sum(it.from_file for it in items)
        parts = [f"{own} of {len(items)} image{'s' if len(items) != 1 else ''} captioned"]
        missing = captioned.missing_summary(items)
        if missing:
            parts = [f"<span style='color:{WARNING}'>⚠ {html.escape(missing, quote=False)}"
                     f"</span> (<a href='missing'>show&nbsp;them</a>)"]
        bad = [it for it in items if it.problem]
        if bad:
            # what is wrong with the first two (the fix is in the detail view and the editor)
            whats = [it.problem.split(";")[0] for it in bad[:2]] + (["…"] if len(bad) > 2 else [])
            parts.append(f"<span style='color:{WARNING}'>{len(bad)} caption file"
                         f"{'s' if len(bad) != 1 else ''} to check: "
                         f"{html.escape(', '.join(whats), quote=False)}</span> "
                         f"(<a href='problems'>show&nbsp;them</a>)")
        trigger = self.project.config.data.trigger_word.strip()
        if trigger:
            parts.append(f"trigger word '{html.escape(trigger, quote=False)}'")
        self.label.setText(" · ".join(parts))

    # -- the dialogs -----------------------------------------------------------------------
    def open_editor(self):
        from studio.qt.dialogs.captions import CaptionEditor

        images = self.images()
        self.editor = CaptionEditor(
            [it.path for it in images], trigger=self.project.config.data.trigger_word,
            edits=self.edits, thumbnails={it.path: it.thumbnail for it in images},
            written=self.captions_written, parent=self)
        self.editor.show()
        return self.editor

    def open_buckets(self):
        from studio.qt.widgets.buckets import BucketPreviewDialog

        data = self.project.config.data
        try:
            captioned.buckets_of(data.resolution, data.bucketing)
        except DataError as exc:  # resolution 0 of a model not read yet: say what to set
            from PySide6.QtWidgets import QMessageBox

            QMessageBox.information(self, "Buckets", str(exc))
            return None
        self.bucket_dialog = BucketPreviewDialog([it.path for it in self.images()],
                                                 data.resolution, data.bucketing, parent=self)
        self.bucket_dialog.show()
        self.bucket_dialog.load()
        return self.bucket_dialog

    def captions_written(self, paths: list[str]) -> None:
        """Caption files changed on disk: show the new captions in the scan's items."""
        for path in paths:
            it = self.state.item(path)
            if it is None or not dataclasses.is_dataclass(it):
                continue
            sidecar = captioned.caption_file_of(path)
            text, problem = captioned.read_caption_file(sidecar) if sidecar else ("", "")
            new = dataclasses.replace(it, caption=text, caption_path=str(sidecar or ""),
                                      caption_problem=problem)
            if new != it:
                self.state.replace_item(new)
        self.refresh()

    def write_one(self, path: str, text: str) -> str:
        """The detail view's Save caption, through the journal (undoable)."""
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        edits = self.edits.write({path: text}, f"caption of {name}")
        self.captions_written([path])
        return str(edits[0].path) if edits else str(captioned.sidecar_for(path))
