"""The dataset browser: the Qt view of ``studio.state.dataset.DatasetState``.

A grid of the scanned files (image thumbnails, audio waveforms with duration, text
snippets with token counts), each with an include checkbox and, when something is wrong,
a badge whose tooltip gives the reason; a detail view of the selected file (zoomable
image; waveform + spectrogram + play/stop; full text) with its editable caption sidecar;
the stats line; the train/validation split preview with its seed.

The scan runs on a worker thread (``studio.data.scan.scan``) with a progress bar and a
Cancel button; thumbnails are decoded on worker threads. The pane re-scans when the
project's dataset paths (or the settings that change what is read) change.
"""

from __future__ import annotations

import os
import random
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QRect,
    QRectF,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QFont,
    QFontMetrics,
    QImage,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.config import families
from studio.core import units
from studio.core.errors import StudioError
from studio.data import scan as scanmod
from studio.data.scan import ERROR, ScanItem
from studio.qt.widgets.captions_bar import CaptionsBar
from studio.qt.widgets.tasks import Task, run_in_background
from studio.state.dataset import DatasetState
from studio.state.project import Project

ItemRole = Qt.ItemDataRole.UserRole + 1
STACK_MIN_H = 160  # the selected file's view (image, waveform + spectrogram, text)

CELL = QSize(180, 184)
PREVIEW_H = 112
MARGIN = 8
ERROR_COLOR = QColor("#d64541")
EMPTY_HINT = "Drop files or folders here, or use Add folder…"
LEGACY_NOTE = "not UTF-8: read as"  # the scan's warning on text in a legacy encoding
NOTHING_FOUND = ("No files found in the added folders. The studio reads text (.txt, .md, "
                 ".jsonl, .csv), images (.png, .jpg, .webp …), audio (.wav, .flac, .mp3 "
                 "…) and music (.mid, .musicxml, .abc): add a folder that holds some, or remove this one under Sources.")
WARNING_COLOR = QColor("#e69b00")


def _caption_of(item: ScanItem) -> tuple:
    return (getattr(item, "caption", ""), getattr(item, "caption_path", ""),
            getattr(item, "caption_problem", ""))


def _short_problem(item: ScanItem) -> str:
    text = item.problem.split(";")[0].strip()
    return text[:1].upper() + text[1:]


def _meta(item: ScanItem, long: bool = False) -> str:
    """One short line under the name (``long``: for the detail view)."""
    if long:
        bits = [_meta(item)]
        # an image's short line already ends with its size
        if item.kind in ("text", "audio") and item.usable:
            bits.append(units.size(item.size))
        if item.kind == "text" and item.chars:
            bits.append(f"{item.chars:,} characters")
        if item.kind == "image" and item.mode:
            bits.append(item.mode)
        return " · ".join(bits)
    if item.kind == "image" and item.width:
        return f"{item.width}×{item.height} · {units.size(item.size)}"
    if item.kind == "audio" and item.sample_rate:
        ch = {1: "mono", 2: "stereo"}.get(item.channels, f"{item.channels} ch")
        return f"{units.duration(item.duration)} · {item.sample_rate / 1000:g} kHz {ch}"
    if item.kind == "midi" and item.midi is not None and item.midi.notes:
        return item.midi.short()   # the detail's piano roll says the rest
    if item.kind == "text" and item.usable:
        approx = "" if item.tokens_exact else "≈"
        docs = f" · {item.documents:,} records" if item.documents > 1 else ""
        return f"{approx}{item.tokens:,} tokens{docs}"
    return units.size(item.size)


# -- thumbnails, decoded off the GUI thread ---------------------------------------------------

def _decode(data: bytes) -> QImage:
    image = QImage.fromData(data)
    if image.isNull():
        raise ValueError("bad thumbnail")
    return image


DETAIL_MIN_HEIGHT = 120  # the file detail's least height; it scrolls below that

class ThumbnailCache(QObject):
    """Decoded thumbnails by path (least recently used dropped past ``capacity``).
    ``get`` returns None on a miss and starts decoding; ``ready(path)`` follows."""

    ready = Signal(str)

    def __init__(self, capacity: int = 600, parent=None) -> None:
        super().__init__(parent)
        self.capacity = capacity
        self._images: OrderedDict[str, QImage] = OrderedDict()
        self._pending: set[str] = set()

    def get(self, item: ScanItem) -> QImage | None:
        key = item.path + "|" + item.digest
        image = self._images.get(key)
        if image is not None:
            self._images.move_to_end(key)
            return image
        if key not in self._pending and item.thumbnail:
            self._pending.add(key)
            task = run_in_background(_decode, item.thumbnail, done=self._done,
                                     error=self._failed)
            task.setProperty("key", key)
        return None

    def _done(self, image: QImage) -> None:
        key = self.sender().property("key")
        self._pending.discard(key)
        self._images[key] = image
        while len(self._images) > self.capacity:
            self._images.popitem(last=False)
        self.ready.emit(key.split("|", 1)[0])

    def _failed(self, exc: BaseException) -> None:
        self._pending.discard(self.sender().property("key"))

    def clear(self) -> None:
        self._images.clear()


# -- the model ---------------------------------------------------------------------------

class DatasetModel(QAbstractListModel):
    """Rows are ``state.items``; the check state is include/exclude (written to the project)."""

    def __init__(self, state: DatasetState, thumbs: ThumbnailCache, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.thumbs = thumbs
        self._rows = 0
        self._unsubscribe = state.subscribe(self._on_state)
        thumbs.ready.connect(self._thumb_ready)
        self.destroyed.connect(self._unsubscribe)

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self._rows

    def item(self, row: int) -> ScanItem:
        return self.state.items[row]

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= self._rows:
            return None
        it = self.state.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return it.name
        if role == ItemRole:
            return it
        if role == Qt.ItemDataRole.CheckStateRole:
            return (Qt.CheckState.Checked if self.state.is_included(it)
                    else Qt.CheckState.Unchecked)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(it)
        return None

    def tooltip(self, it: ScanItem) -> str:
        lines = [f"<b>{_esc(it.name)}</b>", _esc(it.path), _esc(_meta(it))]
        if it.problem:
            color = ERROR_COLOR if it.severity == ERROR else WARNING_COLOR
            what = "Cannot be used" if it.severity == ERROR else "Check"
            lines.append(f"<span style='color:{color.name()}'><b>{what}:</b> "
                         f"{_esc(it.problem)}</span>")
        if not self.state.is_included(it):
            lines.append("<i>Excluded from training</i>")
        role = self.state.role(it.path)
        if role:
            lines.append(f"Split: {role}")
        if it.caption:
            lines.append(f"Caption: {_esc(it.caption[:200])}")
        if getattr(it, "caption_problem", ""):
            lines.append(f"<span style='color:{WARNING_COLOR.name()}'><b>Caption file:</b> "
                         f"{_esc(it.caption_problem)}</span>")
        if it.kind == "midi" and it.midi is not None and it.midi.notes:
            lines += [_esc(line) for line in it.midi.detail_lines()]
        return "<br>".join(lines)

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemIsUserCheckable)

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or not index.isValid():
            return False
        if isinstance(value, bool):
            checked = value
        else:
            checked = Qt.CheckState(value) == Qt.CheckState.Checked
        self.state.set_included(self.state.items[index.row()].path, checked)
        ix = self.index(index.row())
        self.dataChanged.emit(ix, ix, [Qt.ItemDataRole.CheckStateRole])
        return True

    def _on_state(self, what: str) -> None:
        if what == "reset":
            self.beginResetModel()
            self._rows = 0
            self.endResetModel()
        elif what == "items":
            # Only the new rows: nothing per existing row, so a 10,000-file scan streams.
            # (A rescanned file replacing its row is repainted by the view's update.)
            n = len(self.state.items)
            if n > self._rows:
                self.beginInsertRows(QModelIndex(), self._rows, n - 1)
                self._rows = n
                self.endInsertRows()
        # "included", "item", "split": the delegate reads the state when it paints, so
        # the pane repaints the visible cells instead of announcing every row changed.

    def _thumb_ready(self, path: str) -> None:
        row = self.state.row_of(path)
        if 0 <= row < self._rows:
            ix = self.index(row)
            self.dataChanged.emit(ix, ix, [ItemRole])


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class DatasetFilter(QSortFilterProxyModel):
    MODES = ("All files", "Text", "Images", "Audio", "Music", "Problems", "Excluded",
             "No caption")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.mode = "All files"
        self.text = ""

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.invalidateFilter()

    def set_text(self, text: str) -> None:
        self.text = text.strip().lower()
        self.invalidateFilter()

    def state_changed(self, what: str) -> None:
        """Re-filter when the change can move rows in or out of the current view."""
        if (self.mode == "Excluded" and what == "included") or (
                what == "item" and (self.mode in ("Problems", "No caption") or self.text)):
            self.invalidateFilter()

    @staticmethod
    def _captioned_kinds(state: DatasetState) -> tuple[str, ...]:
        """The kinds 'No caption' lists: those of images and audio the family trains on
        (the captions row's "3 of 17 images have no caption — show them" shows those 3,
        not every audio file beside them too); both when it trains on neither."""
        try:
            kinds = tuple(k for k in ("image", "audio") if k in state.training_kinds)
        except Exception:  # noqa: BLE001 - an unknown family: no preference
            kinds = ()
        return kinds or ("image", "audio")

    def filterAcceptsRow(self, row: int, parent) -> bool:
        model: DatasetModel = self.sourceModel()
        it = model.item(row)
        if self.text and self.text not in it.path.lower() and self.text not in it.caption.lower():
            return False
        m = self.mode
        if m == "Text":
            return it.kind == "text"
        if m == "Images":
            return it.kind == "image"
        if m == "Audio":
            return it.kind == "audio"
        if m == "Music":
            return it.kind == "midi"
        if m == "Problems":   # the file's own, or its caption file's (empty, not UTF-8…)
            return bool(it.problem or getattr(it, "caption_problem", ""))
        if m == "Excluded":
            return not model.state.is_included(it)
        if m == "No caption":   # images and audio without a caption file
            return it.kind in self._captioned_kinds(model.state) and not it.caption
        return True


# -- the grid cell ---------------------------------------------------------------------------

class DatasetDelegate(QStyledItemDelegate):
    """Paints one file: preview (thumbnail / waveform / snippet), checkbox, problem badge,
    name, one line of metadata, and the problem (or the split role) under it."""

    def __init__(self, thumbs: ThumbnailCache, parent=None) -> None:
        super().__init__(parent)
        self.thumbs = thumbs

    def sizeHint(self, option, index) -> QSize:
        return CELL

    @staticmethod
    def preview_rect(cell: QRect) -> QRect:
        return QRect(cell.x() + MARGIN, cell.y() + MARGIN, cell.width() - 2 * MARGIN, PREVIEW_H)

    @staticmethod
    def checkbox_rect(cell: QRect) -> QRect:
        p = DatasetDelegate.preview_rect(cell)
        return QRect(p.x() + 4, p.y() + 4, 20, 20)

    @staticmethod
    def badge_rect(cell: QRect) -> QRect:
        p = DatasetDelegate.preview_rect(cell)
        return QRect(p.right() - 23, p.y() + 4, 20, 20)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        it: ScanItem = index.data(ItemRole)
        if it is None:
            return
        model_index = index
        state = _state_of(index)
        pal = option.palette
        cell = option.rect.adjusted(2, 2, -2, -2)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.setPen(QPen(pal.highlight().color(), 2))
            c = pal.highlight().color()
            c.setAlpha(40)
            painter.setBrush(c)
            painter.drawRoundedRect(QRectF(cell).adjusted(1, 1, -1, -1), 6, 6)
        used = state.is_used(it) if state is not None else True
        if not used:
            painter.setOpacity(0.45)

        prev = self.preview_rect(option.rect)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(pal.color(QPalette.ColorRole.AlternateBase))
        painter.drawRoundedRect(QRectF(prev), 4, 4)
        if it.kind in ("image", "midi") and it.thumbnail:  # midi: a piano-roll thumbnail
            self._paint_image(painter, prev, it)
        elif it.kind == "audio" and it.envelope is not None and len(it.envelope):
            self._paint_wave(painter, prev, it, pal)
        elif it.kind == "text" and it.snippet:
            self._paint_snippet(painter, prev, it, pal)
        else:
            self._paint_glyph(painter, prev, it, pal)
        painter.setOpacity(1.0)

        # checkbox (include) and problem badge
        cb = QStyleOptionButton()
        cb.rect = self.checkbox_rect(option.rect)
        on = (model_index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
              and it.usable)
        cb.state = (QStyle.StateFlag.State_On if on else QStyle.StateFlag.State_Off)
        if it.usable:  # a file that cannot be used shows a greyed, empty box
            cb.state |= QStyle.StateFlag.State_Enabled
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(pal.color(QPalette.ColorRole.Base))
        painter.drawRoundedRect(QRectF(cb.rect).adjusted(1, 1, -1, -1), 3, 3)
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_IndicatorCheckBox, cb, painter,
                            option.widget)
        if it.problem:
            self._paint_badge(painter, self.badge_rect(option.rect), it)

        # text lines
        if not used:
            painter.setOpacity(0.6)
        x, w = cell.x() + MARGIN - 2, cell.width() - 2 * MARGIN + 4
        y = prev.bottom() + 6
        fm = QFontMetrics(option.font)
        lh = fm.height()
        bold = QFont(option.font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        painter.drawText(QRect(x, y, w, lh), Qt.AlignmentFlag.AlignLeft,
                         QFontMetrics(bold).elidedText(it.name, Qt.TextElideMode.ElideMiddle, w))
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.9))
        painter.setFont(small)
        sfm = QFontMetrics(small)
        painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(QRect(x, y + lh, w, sfm.height()), Qt.AlignmentFlag.AlignLeft,
                         sfm.elidedText(_meta(it), Qt.TextElideMode.ElideRight, w))
        third = ""
        if it.problem:
            painter.setPen(ERROR_COLOR if it.severity == ERROR else WARNING_COLOR)
            third = _short_problem(it)
        elif state is not None and not state.is_included(it):
            third = "excluded"
        elif getattr(it, "caption_problem", ""):   # the image trains; its caption file is odd
            painter.setPen(WARNING_COLOR)
            third = "Caption: " + it.caption_problem.split(";")[0]
        elif state is not None:
            third = state.role(it.path)
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
        if third:
            painter.drawText(QRect(x, y + lh + sfm.height(), w, sfm.height()),
                             Qt.AlignmentFlag.AlignLeft,
                             sfm.elidedText(third, Qt.TextElideMode.ElideRight, w))
        painter.restore()

    def _paint_image(self, painter: QPainter, r: QRect, it: ScanItem) -> None:
        image = self.thumbs.get(it)
        if image is None:
            return  # decoding; repainted when ready
        size = image.size().scaled(r.size() - QSize(4, 4), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(r.center())
        painter.drawImage(target, image)

    def _paint_wave(self, painter: QPainter, r: QRect, it: ScanItem, pal: QPalette) -> None:
        env = it.envelope
        n = len(env)
        inner = QRectF(r).adjusted(6, 12, -6, -18)
        mid = inner.center().y()
        half = inner.height() / 2
        path = QPainterPath()
        xs = [inner.left() + inner.width() * (i + 0.5) / n for i in range(n)]
        path.moveTo(xs[0], mid - float(env[0, 1]) * half)
        for i in range(1, n):
            path.lineTo(xs[i], mid - float(env[i, 1]) * half)
        for i in range(n - 1, -1, -1):
            path.lineTo(xs[i], mid - float(env[i, 0]) * half)
        path.closeSubpath()
        color = pal.color(QPalette.ColorRole.Highlight)
        painter.setPen(QPen(color, 1))
        painter.setBrush(color)
        painter.drawPath(path)
        # duration, bottom right
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        font = painter.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        painter.drawText(QRectF(r).adjusted(4, 0, -6, -3),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                         units.duration(it.duration))

    def _paint_snippet(self, painter: QPainter, r: QRect, it: ScanItem, pal: QPalette) -> None:
        font = painter.font()
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        painter.setFont(font)
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        text = " ".join(it.snippet.split())
        inner = QRectF(r).adjusted(8, 24, -8, -4)
        line = QFontMetrics(font).lineSpacing()
        inner.setHeight(max(1, int(inner.height() // line)) * line)  # whole lines only
        painter.save()
        painter.setClipRect(inner)
        painter.drawText(inner, Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft
                         | Qt.AlignmentFlag.AlignTop, text)
        painter.restore()
        ext = os.path.splitext(it.path)[1].lstrip(".").upper()
        painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(QRectF(r).adjusted(28, 5, -28, 0),
                         Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, ext)

    def _paint_glyph(self, painter: QPainter, r: QRect, it: ScanItem, pal: QPalette) -> None:
        ext = os.path.splitext(it.path)[1].lower() or "?"
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(QRectF(r), Qt.AlignmentFlag.AlignCenter, ext)

    def _paint_badge(self, painter: QPainter, r: QRect, it: ScanItem) -> None:
        color = ERROR_COLOR if it.severity == ERROR else WARNING_COLOR
        painter.setPen(QPen(QColor("white"), 1.5))
        painter.setBrush(color)
        painter.drawEllipse(QRectF(r).adjusted(1, 1, -1, -1))
        font = painter.font()
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(QRectF(r), Qt.AlignmentFlag.AlignCenter, "!")

    def editorEvent(self, event, model, option, index) -> bool:
        """A click on the checkbox toggles include/exclude."""
        if event.type() in (QEvent.Type.MouseButtonRelease, QEvent.Type.MouseButtonDblClick):
            if self.checkbox_rect(option.rect).adjusted(-3, -3, 3, 3).contains(
                    event.position().toPoint()):
                usable = index.data(ItemRole).usable
                if event.type() == QEvent.Type.MouseButtonRelease and usable:
                    current = index.data(Qt.ItemDataRole.CheckStateRole)
                    new = (Qt.CheckState.Unchecked if current == Qt.CheckState.Checked
                           else Qt.CheckState.Checked)
                    model.setData(index, new, Qt.ItemDataRole.CheckStateRole)
                return True
        return super().editorEvent(event, model, option, index)


def _state_of(index) -> DatasetState | None:
    model = index.model()
    while isinstance(model, QSortFilterProxyModel):
        model = model.sourceModel()
    return getattr(model, "state", None)


# -- the detail view ----------------------------------------------------------------------------

class DetailView(QWidget):
    """The selected file, large: image (zoom), audio (waveform, spectrogram, play/stop) or
    full text; its problem; include; and its caption sidecar (images and audio)."""

    def __init__(self, state: DatasetState, parent=None) -> None:
        super().__init__(parent)
        from studio.qt.widgets.image_view import ImageView

        self.state = state
        self.item: ScanItem | None = None
        self._text_task: Task | None = None
        # (image path, text) -> the caption file written; the pane's captions row sets it
        # so a save goes through its undo journal
        self.caption_writer = scanmod.write_caption

        self.title = QLabel(self)
        f = self.title.font()
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() * 1.15)
        self.title.setFont(f)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label = QLabel(self)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setWordWrap(True)
        self.path_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.meta_label = QLabel(self)
        self.problem_label = QLabel(self)
        self.problem_label.setWordWrap(True)
        self.include = QCheckBox("Include in training", self)
        self.include.toggled.connect(self._include_toggled)

        self.stack = QStackedWidget(self)
        self.stack.setMinimumHeight(STACK_MIN_H)  # an image or a spectrogram, not a strip
        self.empty = QLabel("Select a file to see it here.", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.image_view = ImageView(self)
        self._audio_view = None  # built on the first audio file (pyqtgraph loads lazily)
        self._midi_view = None   # built on the first music file
        self._midi_augment = None   # its augmented copies (built with it)
        self.text_view = QPlainTextEdit(self)
        self.text_view.setReadOnly(True)
        self.text_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.other = QLabel(self)
        self.other.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.other.setWordWrap(True)
        for w in (self.empty, self.image_view, self.text_view, self.other):
            self.stack.addWidget(w)

        # what the model sees: augmented crops of the selected image, at training size
        self.aug_box = QGroupBox("Augmented previews — what training sees", self)
        self.aug_labels = [QLabel(self.aug_box) for _ in range(6)]
        self.aug_status = QLabel(self.aug_box)
        self.aug_status.setWordWrap(True)
        self.aug_status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.aug_shuffle = QPushButton("Shuffle", self.aug_box)
        self.aug_shuffle.setToolTip("Draw another set of augmentations")
        self.aug_shuffle.clicked.connect(lambda: self.refresh_augmentations(self._aug_seed + 1))
        grid = QGridLayout()
        grid.setSpacing(4)
        for k, lab in enumerate(self.aug_labels):
            lab.setFixedSize(64, 64)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lab.setFrameShape(QFrame.Shape.StyledPanel)
            grid.addWidget(lab, k // 3, k % 3)
        side = QVBoxLayout()
        side.addWidget(self.aug_status, 1)
        side.addWidget(self.aug_shuffle, 0, Qt.AlignmentFlag.AlignLeft)
        aug_lay = QHBoxLayout(self.aug_box)
        aug_lay.addLayout(grid)
        aug_lay.addLayout(side, 1)
        self._aug_seed = 0
        self._aug_task = None
        self._aug_path: str | None = None

        self.caption_box = QGroupBox("Caption", self)
        self.caption_edit = QPlainTextEdit(self.caption_box)
        self.caption_edit.setPlaceholderText("Describe this file; saved next to it as a .txt "
                                             "sidecar with the same name.")
        self.caption_edit.setFixedHeight(64)
        self.caption_edit.textChanged.connect(self._caption_edited)
        self.caption_save = QPushButton("Save caption", self.caption_box)
        self.caption_save.setShortcut(QKeySequence("Ctrl+Return"))
        self.caption_save.setToolTip("Write the caption to its .txt sidecar (Ctrl+Enter)")
        self.caption_save.clicked.connect(self.save_caption)
        self.caption_revert = QPushButton("Revert", self.caption_box)
        self.caption_revert.clicked.connect(self._revert_caption)
        self.caption_status = QLabel(self.caption_box)
        self.caption_status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.caption_status.setWordWrap(True)  # a caption file's problem can be long
        cap_buttons = QHBoxLayout()
        cap_buttons.addWidget(self.caption_status, 1)
        cap_buttons.addWidget(self.caption_revert)
        cap_buttons.addWidget(self.caption_save)
        cap_lay = QVBoxLayout(self.caption_box)
        cap_lay.addWidget(self.caption_edit)
        cap_lay.addLayout(cap_buttons)

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.include)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.path_label)
        lay.addWidget(self.meta_label)
        lay.addWidget(self.problem_label)
        lay.addWidget(self.stack, 1)
        lay.addWidget(self.aug_box)
        lay.addWidget(self.caption_box)
        self.show_item(None)

    # -- content ----------------------------------------------------------------------
    @property
    def audio_view(self):
        """The waveform / spectrogram / player, made when first needed: it brings in
        pyqtgraph and QtMultimedia, which the window's first paint should not wait for."""
        if self._audio_view is None:
            from studio.qt.widgets.audio_view import AudioView
            self._audio_view = AudioView(self)
            self.stack.addWidget(self._audio_view)
        return self._audio_view

    @property
    def midi_view(self):
        """Piano roll, Play/Stop and the file's tracks (``studio.qt.widgets.piano_roll``)."""
        if self._midi_view is None:
            from studio.qt.widgets.piano_roll import MidiView
            self._midi_view = MidiView(self, save=False, details=True, roll_height=160)
            self.stack.addWidget(self._midi_view)
        return self._midi_view

    def refresh_midi_augment(self) -> None:
        """The selected music file's augmented copies (``MidiAugmentPreview``) under the
        project's settings; hidden for other files."""
        item, project = self.item, getattr(self.state, "project", None)
        wanted = item is not None and item.kind == "midi" and item.usable \
            and project is not None
        if self._midi_augment is None and wanted:
            from studio.qt.widgets.piano_roll import MidiAugmentPreview
            self._midi_augment = MidiAugmentPreview(self)
            self.layout().insertWidget(self.layout().indexOf(self.aug_box) + 1,
                                       self._midi_augment)
        if self._midi_augment is None:
            return
        self._midi_augment.setVisible(wanted)
        if wanted:
            from studio.qt import services
            self._midi_augment.show_for(item.path, project.config, services.current().run_torch)
        else:
            self._midi_augment.stop()

    def _stop_audio(self) -> None:
        if self._audio_view is not None:
            self._audio_view.stop()
        if self._midi_view is not None:
            self._midi_view.stop()
        if self._midi_augment is not None:
            self._midi_augment.stop()

    def show_item(self, item: ScanItem | None) -> None:
        same = item is not None and self.item is not None and item.path == self.item.path
        # the same file whose caption file changed (the caption editor's replace, prepend or
        # undo): show the new caption, unless the user is typing one here
        caption_moved = same and _caption_of(item) != _caption_of(self.item) \
            and not self.caption_revert.isEnabled()
        self.item = item
        header = (self.title, self.path_label, self.meta_label, self.include)
        if item is None:
            for w in header + (self.problem_label, self.caption_box, self.aug_box):
                w.hide()
            self._stop_audio()
            self.refresh_midi_augment()
            self.stack.setCurrentWidget(self.empty)
            return
        for w in header:
            w.show()
        self.title.setText(item.name)
        self.path_label.setText(item.path)
        meta = _meta(item, long=True)
        role = self.state.role(item.path)
        self.meta_label.setText(meta + (f" · split: {role}" if role else ""))
        self.include.blockSignals(True)
        self.include.setChecked(self.state.is_included(item) and item.usable)
        self.include.setEnabled(item.usable)
        self.include.setToolTip("" if item.usable else "This file cannot be used as it is: "
                                "fix it (see the message below) and Rescan")
        self.include.blockSignals(False)
        if item.problem:
            color = ERROR_COLOR if item.severity == ERROR else WARNING_COLOR
            what = "Cannot be used" if item.severity == ERROR else "Check"
            self.problem_label.setText(f"<span style='color:{color.name()}'><b>{what}:</b> "
                                       f"{_esc(item.problem)}</span>")
            self.problem_label.show()
        else:
            self.problem_label.hide()
        if not same:
            self._show_body(item)
        self.refresh_midi_augment()   # also when the file's judgement changed
        has_caption = item.kind in ("image", "audio")
        self.caption_box.setVisible(has_caption)
        if has_caption and (not same or caption_moved):
            self._revert_caption()

    def refresh_augmentations(self, seed: int | None = None) -> None:
        """Recompute the strip for the selected image with the project's [augment] and
        crop settings (off the GUI thread; never while a run trains in this process)."""
        item = self.item
        project = getattr(self.state, "project", None)
        if item is None or item.kind != "image" or not item.usable or project is None:
            self.aug_box.hide()
            return
        self.aug_box.show()
        if seed is not None:
            self._aug_seed = seed
        from studio.qt import services

        jobs = services.current()
        if jobs.training_active():
            self.aug_status.setText("Previews wait while a run trains (they would share its "
                                    "random generator).")
            return
        cfg = project.config
        from studio.data.image import AugmentSpec, preview_strip
        spec = AugmentSpec.from_config(cfg.augment)
        size = cfg.data.image_size or 64
        self.aug_status.setText(f"{size}x{size} {cfg.data.crop} crops with the [augment] "
                                "settings (Settings pane)" + ("" if cfg.data.image_size else
                                                              "; the model's size decides at "
                                                              "training time"))
        if self._aug_task is not None:
            self._aug_task.cancel()
        self._aug_task = jobs.run_torch(preview_strip, item.path, size, spec, cfg.data.crop,
                                           len(self.aug_labels), self._aug_seed, cfg.data.background,
                                           done=self._on_aug, error=self._on_aug_error)
        self._aug_path = item.path

    def _on_aug(self, pngs) -> None:
        if self.item is None or self._aug_path != self.item.path:
            return
        for lab, data in zip(self.aug_labels, pngs):
            pm = QPixmap()
            pm.loadFromData(data, "PNG")
            lab.setPixmap(pm.scaled(60, 60, Qt.AspectRatioMode.KeepAspectRatio,
                                    Qt.TransformationMode.SmoothTransformation))

    def _on_aug_error(self, exc: BaseException) -> None:
        self.aug_status.setText(f"No previews: {exc}")

    def _show_body(self, item: ScanItem) -> None:
        if item.kind == "image" and item.usable:
            self._stop_audio()
            self.stack.setCurrentWidget(self.image_view)
            self.image_view.set_path(item.path)
            self.refresh_augmentations()
        elif item.kind == "audio" and item.usable:
            self.aug_box.hide()
            self.stack.setCurrentWidget(self.audio_view)
            self.audio_view.set_path(item.path)
        elif item.kind == "midi" and item.usable:
            self.aug_box.hide()
            self._stop_audio()
            self.stack.setCurrentWidget(self.midi_view)
            self.midi_view.set_path(item.path)
        elif item.kind == "text" and item.size:  # also unusable text: see what is wrong
            self.aug_box.hide()
            self._stop_audio()
            self.stack.setCurrentWidget(self.text_view)
            self.text_view.setPlainText("Loading…")
            if self._text_task is not None:
                self._text_task.cancel()
            self._text_task = run_in_background(scanmod.read_text, item.path,
                                                done=self._on_text, error=self._on_text_error)
            self._text_task.setProperty("path", item.path)
        else:
            self.aug_box.hide()
            self._stop_audio()
            self.other.setText("Nothing to preview." if not item.problem else
                               "This file cannot be previewed.")
            self.stack.setCurrentWidget(self.other)

    def _on_text(self, result) -> None:
        if self.item is None or self.sender().property("path") != self.item.path:
            return
        text, truncated = result
        if truncated:
            text += "\n\n[… only the first 1 MB is shown here; training reads all of it]"
        self.text_view.setPlainText(text)

    def _on_text_error(self, exc: BaseException) -> None:
        self.text_view.setPlainText(f"Cannot read this file: {exc}")

    def _include_toggled(self, on: bool) -> None:
        if self.item is not None:
            self.state.set_included(self.item.path, on)

    # -- caption ------------------------------------------------------------------------
    def _revert_caption(self) -> None:
        item = self.item
        if item is None:
            return
        self.caption_edit.blockSignals(True)
        self.caption_edit.setPlainText(item.caption)
        self.caption_edit.blockSignals(False)
        sidecar = os.path.basename(item.caption_path) or os.path.splitext(item.name)[0] + ".txt"
        self.caption_box.setTitle(f"Caption — {sidecar}")
        problem = getattr(item, "caption_problem", "")
        self.caption_status.setText(problem or ("" if item.caption_path
                                                else "no caption file yet"))
        # a caption read from a legacy encoding: saving it as it is rewrites it as UTF-8
        self.caption_save.setEnabled(bool(problem and item.caption))
        self.caption_revert.setEnabled(False)

    def _caption_edited(self) -> None:
        changed = self.item is not None and self.caption_edit.toPlainText().strip() != \
            self.item.caption
        self.caption_save.setEnabled(changed)
        self.caption_revert.setEnabled(changed)
        self.caption_status.setText("unsaved changes" if changed else "")

    def save_caption(self) -> bool:
        item = self.item
        if item is None or item.kind not in ("image", "audio"):
            return False
        text = " ".join(self.caption_edit.toPlainText().split())  # one line, as written
        try:
            path = self.caption_writer(item.path, text)
        except OSError as exc:
            self.caption_status.setText(f"<span style='color:{ERROR_COLOR.name()}'>not saved: "
                                        f"{_esc(exc.strerror or str(exc))}</span>")
            return False
        self.state.update_caption(item.path, text, path)
        self.item = self.state.item(item.path)
        self.caption_save.setEnabled(False)
        self.caption_revert.setEnabled(False)
        self.caption_status.setText(f"saved to {os.path.basename(path)}")
        return True


# -- the pane -------------------------------------------------------------------------------------

class DatasetView(QListView):
    """The grid; Space toggles include on the selected files; accepts dropped files."""

    toggle_requested = Signal()
    dropped = Signal(list)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setGridSize(CELL + QSize(4, 4))
        self.setSpacing(0)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setWordWrap(False)
        self.setMouseTracking(True)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space:
            self.toggle_requested.emit()
            return
        super().keyPressEvent(event)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.dropped.emit(paths)
        else:
            super().dropEvent(event)


class DatasetPane(QWidget):
    """The dataset browser. ``state`` is its ``DatasetState``."""

    scan_finished = Signal(bool)   # cancelled
    # Auto-caption… pressed: the window opens the dialog (it runs a model, which a pane
    # may not import); the argument is the dataset's image files
    auto_caption_requested = Signal(list)

    def __init__(self, project: Project, parent: QWidget | None = None,
                 state: DatasetState | None = None) -> None:
        super().__init__(parent)
        if state is None:  # built the old way: the app's factory makes the state
            from studio.qt import services

            state = services.current().dataset_state(project)
        self.project = project
        self.state = state
        self._rescan_pending = False
        self._fitted_kind: str | None = None  # the detail was last fitted for this kind

        # toolbar
        self.add_folder_button = QPushButton("Add folder…", self)
        self.add_folder_button.setToolTip("Add a folder of files to the dataset")
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.add_files_button = QPushButton("Add files…", self)
        self.add_files_button.clicked.connect(self.choose_files)
        self.sources_button = QToolButton(self)
        self.sources_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.sources_button.setToolTip("The files and folders in this dataset")
        self.sources_menu = QMenu(self.sources_button)
        self.sources_button.setMenu(self.sources_menu)
        self.rescan_button = QToolButton(self)
        self.rescan_button.setText("Rescan")
        self.rescan_button.setToolTip("Read the files again (after changing them on disk)")
        self.rescan_button.clicked.connect(lambda: self.rescan(force=True))
        self.auto_caption_button = QToolButton(self)
        self.auto_caption_button.setText("Auto-caption…")
        self.auto_caption_button.setToolTip("Write captions for the images without one with a "
                                            "captioning model; review and edit them first")
        self.auto_caption_button.clicked.connect(
            lambda: self.auto_caption_requested.emit(
                [it.path for it in self.state.items if it.kind == "image"]))
        self.filter_combo = QComboBox(self)
        self.filter_combo.addItems(DatasetFilter.MODES)
        self.filter_combo.setToolTip("Show only some of the files")
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Filter by name or caption")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(80)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for w in (self.add_folder_button, self.add_files_button, self.sources_button,
                  self.rescan_button, self.auto_caption_button):
            bar.addWidget(w)
        self.auto_caption_button.setVisible(self._reads_captions())
        bar.addStretch(1)

        # progress
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(14)
        self.progress_label = QLabel(self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop scanning (the files scanned so far stay)")
        self.cancel_button.clicked.connect(self.cancel_scan)
        self.progress_row = QWidget(self)
        prog = QHBoxLayout(self.progress_row)
        prog.setContentsMargins(0, 0, 0, 0)
        prog.addWidget(self.progress_label)
        prog.addWidget(self.progress_bar, 1)
        prog.addWidget(self.cancel_button)
        self.progress_row.hide()

        # grid + detail
        self.thumbs = ThumbnailCache(parent=self)
        self.model = DatasetModel(self.state, self.thumbs, self)
        self.proxy = DatasetFilter(self)
        self.proxy.setDynamicSortFilter(False)  # re-filtered on purpose (state_changed)
        self.proxy.setSourceModel(self.model)
        self.view = DatasetView(self)
        self.view.setModel(self.proxy)
        self.view.setItemDelegate(DatasetDelegate(self.thumbs, self.view))
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.toggle_requested.connect(self._toggle_selected)
        self.view.dropped.connect(self.add_paths)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        # laid out in the grid's viewport, so it follows every resize (the splitter's
        # too) and wraps instead of being cut off in a narrow dock
        self.empty_hint = QLabel(EMPTY_HINT)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        hint_layout = QVBoxLayout(self.view.viewport())
        hint_layout.setContentsMargins(16, 16, 16, 16)
        hint_layout.addWidget(self.empty_hint)
        self.detail = DetailView(self.state, self)
        grid_side = QWidget(self)
        filters = QHBoxLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        filters.addWidget(self.filter_combo)
        filters.addWidget(self.search, 1)
        gl = QVBoxLayout(grid_side)
        gl.setContentsMargins(0, 0, 0, 0)
        gl.addLayout(filters)
        gl.addWidget(self.view, 1)
        # The detail keeps the minimum sizes its parts need (image or spectrogram, the
        # augmented previews, the caption box) and scrolls when the splitter gives it less:
        # squeezing it below them drew the parts over one another.
        self.detail_scroll = QScrollArea(self)
        self.detail_scroll.setWidget(self.detail)
        self.detail_scroll.setWidgetResizable(True)
        self.detail_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.detail_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # it scrolls: under the grid on a small screen a taller floor took the grid's room
        # even with no file selected
        self.detail_scroll.setMinimumSize(240, DETAIL_MIN_HEIGHT)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(grid_side)
        self.splitter.addWidget(self.detail_scroll)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        self._user_split = False  # the user dragged the handle: their sizes stay
        self.splitter.splitterMoved.connect(lambda *_: setattr(self, "_user_split", True))
        self.filter_combo.currentTextChanged.connect(self.proxy.set_mode)
        self.search.textChanged.connect(self.proxy.set_text)

        # stats + split
        self.stats_label = QLabel(self)
        self.stats_label.setWordWrap(True)
        self.split_label = QLabel(self)
        self.split_label.setWordWrap(True)
        self.split_label.setMinimumWidth(120)
        self.seed_spin = QSpinBox(self)
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setPrefix("seed ")
        self.seed_spin.setMaximumWidth(130)
        self.seed_spin.setToolTip("Seed of the train/validation split (data.split_seed); "
                                  "change it to draw another split.")
        self.seed_spin.setValue(project.config.data.split_seed)
        self.seed_spin.valueChanged.connect(self.state.set_split_seed)
        self.new_seed_button = QToolButton(self)
        self.new_seed_button.setText("New split")
        self.new_seed_button.setToolTip("Draw another train/validation split (a random seed)")
        self.new_seed_button.clicked.connect(self._new_seed)
        split_row = QHBoxLayout()
        split_row.setContentsMargins(0, 0, 0, 0)
        split_row.addWidget(QLabel("<b>Split:</b>", self))
        split_row.addWidget(self.split_label, 1)
        split_row.addWidget(self.seed_spin)
        split_row.addWidget(self.new_seed_button)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(bar)
        lay.addWidget(self.progress_row)
        lay.addWidget(self.splitter, 1)
        lay.addWidget(self.stats_label)
        # captioned images (FamilySpec.reads_captions): warning, editor, bucket preview
        self.captions_bar = CaptionsBar(project, self.state, self)
        self.detail.caption_writer = self.captions_bar.write_one
        self.captions_bar.show_missing.connect(
            lambda: self.filter_combo.setCurrentText("No caption"))
        self.captions_bar.show_problems.connect(
            lambda: self.filter_combo.setCurrentText("Problems"))
        lay.addWidget(self.captions_bar)
        lay.addLayout(split_row)

        self._unsubscribe = [self.state.subscribe(self._on_state),
                             project.subscribe(self._on_project)]
        self.destroyed.connect(_detach(self._unsubscribe, self.state))
        self._refresh_sources()
        self._refresh_stats()
        self._refresh_split()
        self.rescan()

    # -- adding files -------------------------------------------------------------------
    def choose_folder(self) -> None:
        start = self.project.dataset_paths[-1] if self.project.dataset_paths else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the dataset", start)
        if folder:
            self.add_paths([folder])

    def choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add files to the dataset", str(Path.home()),
            "Dataset files (*.txt *.md *.jsonl *.csv *.png *.jpg *.jpeg *.webp *.bmp *.gif "
            "*.tif *.tiff *.wav *.flac *.ogg *.mp3 *.aif *.aiff);;All files (*)")
        if files:
            self.add_paths(files)

    def add_paths(self, paths) -> None:
        for p in paths:
            self.project.add_dataset_path(os.path.abspath(str(p)))

    def remove_path(self, path: str) -> None:
        self.project.remove_dataset_path(path)

    def _refresh_sources(self) -> None:
        paths = self.project.dataset_paths
        self.sources_menu.clear()
        n = len(paths)
        self.sources_button.setText(f"Sources ({n})" if n else "Sources")
        self.sources_button.setEnabled(bool(n))
        for p in paths:
            sub = self.sources_menu.addMenu(p)
            sub.addAction("Remove from dataset", lambda p=p: self.remove_path(p))
            sub.addAction("Open in file manager",
                          lambda p=p: QDesktopServices.openUrl(QUrl.fromLocalFile(p)))
        self._update_empty_hint()

    def _update_empty_hint(self) -> None:
        """No sources: how to add some; sources that hold nothing readable: say so."""
        nothing = not self.state.scanning and not self.state.items
        if self.project.dataset_paths and nothing:
            self.empty_hint.setText(NOTHING_FOUND)
        else:
            self.empty_hint.setText(EMPTY_HINT)
        self.empty_hint.setVisible(not self.project.dataset_paths or nothing)

    # -- scanning -----------------------------------------------------------------------
    def rescan(self, force: bool = False) -> None:
        """Scan the project's dataset paths (if they changed since the last scan)."""
        self._rescan_pending = False
        if self.state.needs_rescan or force:
            self.thumbs.clear()
        self.state.rescan(force)

    def cancel_scan(self) -> None:
        self.state.cancel_scan()

    @property
    def scanning(self) -> bool:
        return self.state.scan_running

    # -- reacting to state and project ----------------------------------------------------
    def _on_state(self, what: str) -> None:
        if what == "cancelling":
            self.progress_label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)
        if what in ("progress", "scan"):
            self._refresh_progress()
        if what == "scanned":
            self.scan_finished.emit(self.state.cancelled)
        if what in ("scan", "reset", "items"):
            self._update_empty_hint()
        if what in ("items", "included", "item", "reset", "scan"):
            self._refresh_stats()
            if not self.state.scanning or what == "scan":   # "counted when the scan is done"
                self.captions_bar.refresh()
        if what in ("split", "included", "scan", "reset") or (
                what == "items" and not self.state.scanning):
            self._refresh_split()
        if what in ("included", "item", "split", "scan", "items"):
            self.proxy.state_changed(what)
            self.view.viewport().update()
        if what == "item" and self.detail.item is not None:
            self.detail.show_item(self.state.item(self.detail.item.path))
        if what == "included" and self.detail.item is not None:
            self.detail.show_item(self.state.item(self.detail.item.path))
        if what == "reset":
            self.detail.show_item(None)

    def _on_project(self, what: str) -> None:
        if what in ("dataset", "config", "model"):
            self._refresh_sources()
            self.captions_bar.refresh()
            if self.seed_spin.value() != self.project.config.data.split_seed:
                self.seed_spin.blockSignals(True)
                self.seed_spin.setValue(self.project.config.data.split_seed)
                self.seed_spin.blockSignals(False)
            self.detail.refresh_midi_augment()   # the [augment] or track settings moved
            if not self._rescan_pending and self.state.needs_rescan:
                self._rescan_pending = True
                QTimer.singleShot(0, self, self.rescan)  # one scan for a burst of changes

    def _refresh_progress(self) -> None:
        st = self.state
        if st.scanning:
            self.progress_row.show()
            self.cancel_button.setEnabled(not st.scan_cancelling)
            if st.total:
                self.progress_bar.setRange(0, st.total)
                self.progress_bar.setValue(st.done)
            else:
                self.progress_bar.setRange(0, 0)  # busy: still listing
            if not st.scan_cancelling:
                self.progress_label.setText(st.progress_text)
        else:
            self.progress_row.hide()

    def _reads_captions(self) -> bool:
        """Does the project's family train on captioned images (Auto-caption applies)?"""
        return families.get(self.state.family).reads_captions

    def _refresh_stats(self) -> None:
        self.auto_caption_button.setVisible(self._reads_captions())
        text = self.state.summary()
        extra = self.state.progress_text if not self.state.scanning else ""
        self.stats_label.setText(text + (f" — {extra}" if extra else ""))

    def _refresh_split(self) -> None:
        if self.state.scanning:
            self.split_label.setText("drawn when the scan has found every document…")
            return
        sp = self.state.split()
        frac = self.project.config.data.val_fraction
        text = sp.describe()
        if sp.documents and frac > 0 and not sp.by_block:
            text += f" ({frac:.0%} held out)"
        other = [k for k in self.state.stats.counts if k not in self.state.training_kinds
                 and k != "unsupported"]
        if other:
            text += (f" — the {families.get(self.state.family).title.lower()} family trains on "
                     f"{'/'.join(self.state.training_kinds)} files only")
        self.split_label.setText(text)
        self.split_label.setToolTip(families.get(self.state.family).split_note)

    def _new_seed(self) -> None:
        self.seed_spin.setValue(random.randrange(0, 100_000))

    # -- selection, include/exclude -------------------------------------------------------
    def _current_changed(self, current, previous) -> None:
        item = current.data(ItemRole) if current.isValid() else None
        self.state.select(item.path if item is not None else None)
        self.detail.show_item(item)
        if item is not None:
            self._fit_detail(item.kind)

    def selected_paths(self) -> list[str]:
        return [ix.data(ItemRole).path for ix in self.view.selectionModel().selectedIndexes()]

    def _toggle_selected(self) -> None:
        paths = self.selected_paths()
        if not paths:
            return
        include = not all(self.state.is_included(p) for p in paths)
        self.state.set_included_many(paths, include)

    def _context_menu(self, pos) -> None:
        paths = self.selected_paths()
        if not paths:
            return
        menu = QMenu(self)
        n = len(paths)
        what = "file" if n == 1 else f"{n} files"
        menu.addAction(f"Include {what}", lambda: self.state.set_included_many(paths, True))
        menu.addAction(f"Exclude {what}", lambda: self.state.set_included_many(paths, False))
        if n == 1:
            menu.addSeparator()
            menu.addAction("Open containing folder", lambda: QDesktopServices.openUrl(
                QUrl.fromLocalFile(os.path.dirname(paths[0]))))
        legacy = self.legacy_text(paths)
        if legacy:
            menu.addSeparator()
            menu.addAction(f"Convert {len(legacy)} file{'s' if len(legacy) != 1 else ''} to "
                           "UTF-8 (the originals are kept)",
                           lambda: self.convert_to_utf8(legacy))
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def legacy_text(self, paths) -> list[str]:
        """Those of ``paths`` read in a legacy encoding (their warning says which)."""
        items = (self.state.item(p) for p in paths)
        return [it.path for it in items
                if it is not None and it.problem.startswith(LEGACY_NOTE)]

    def convert_to_utf8(self, paths) -> list[str]:
        """Rewrite these text files as UTF-8, keeping each original beside it as a hidden
        ``.<name>.<encoding>.orig``; then scan again. Returns what was said."""
        from studio.data.text import convert_to_utf8

        said = []
        for p in paths:
            try:
                encoding, backup = convert_to_utf8(p)
                said.append(f"{os.path.basename(p)}: converted from {encoding} "
                            f"(original kept as {backup.name})")
            except (StudioError, OSError) as exc:
                said.append(f"{os.path.basename(p)}: not converted ({exc})")
        QMessageBox.information(self, "Convert to UTF-8", "\n".join(said))
        self.rescan(force=True)
        return said

    def select_path(self, path: str) -> bool:
        """Make ``path`` the current file (shown in the detail view)."""
        row = self.state.row_of(path)
        if row < 0:
            return False
        ix = self.proxy.mapFromSource(self.model.index(row))
        if not ix.isValid():
            return False
        self.view.setCurrentIndex(ix)
        return True

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # side by side when there is room, the detail under the grid in a narrow dock
        wide = self.width() >= 760
        want = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != want:
            self.splitter.setOrientation(want)
            self._fitted_kind = None
            self._default_split()
        elif self._fitted_kind is None and not self._user_split:
            self._default_split()  # nothing shown yet: the grid keeps its share as it grows

    def _default_split(self) -> None:
        wide = self.splitter.orientation() == Qt.Orientation.Horizontal
        total = sum(self.splitter.sizes()) or (self.width() if wide else self.splitter.height())
        # side by side the detail gets half: a piano roll or a photo squeezed into a
        # third of a docked pane is unreadable, and the grid keeps its columns of cards
        share = 0.5 if wide else 0.62
        self.splitter.setSizes([int(total * share), total - int(total * share)])

    def _fit_detail(self, kind: str) -> None:
        """Under the grid, give the detail room for all its parts (up to a bit over half)
        when a file of another kind is first shown; scrolling covers the rest."""
        if kind == self._fitted_kind or self.splitter.orientation() != Qt.Orientation.Vertical:
            return
        self._fitted_kind = kind
        grid, detail = self.splitter.sizes()
        self.detail.layout().activate()  # the parts just shown count in its minimum
        # word-wrapped labels: the scroll area lays the detail out at its height for width
        need = max(self.detail.minimumSizeHint().height(),
                   self.detail.heightForWidth(self.detail_scroll.viewport().width()))
        want = min(need, int((grid + detail) * 0.55))
        if detail < want:
            self.splitter.setSizes([grid + detail - want, want])

    def closeEvent(self, event) -> None:
        self.cancel_scan()
        super().closeEvent(event)


def _detach(unsubscribers, state: DatasetState):
    """What to do when the pane is destroyed (holds no reference to the pane itself)."""
    def run(*_):
        for u in unsubscribers:
            u()
        state.close()  # cancels a scan
    return run


__all__ = ["DatasetPane", "DatasetModel", "DatasetDelegate", "DetailView", "ThumbnailCache"]
