"""A caption sample in the gallery: the held-out image, the caption the model wrote and
the true one, side by side; a click enlarges the image with both captions under it."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio.core.events import Sample
from studio.qt.widgets.image_view import enlarged

THUMB = 96


class _Thumb(QLabel):
    clicked = Signal()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt name
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mouseReleaseEvent(event)


def captions_html(sample: Sample, palette: QPalette) -> str:
    """The generated caption (bold) over the true one (dimmed), labelled."""
    dim = palette.color(QPalette.ColorRole.PlaceholderText).name()
    generated = html.escape(sample.text) if sample.text else "<i>(empty caption)</i>"
    out = f"<div><span style='color:{dim}'>model:</span> <b>{generated}</b></div>"
    reference = sample.meta.get("reference", "")
    if reference:
        same = " ".join(sample.text.lower().split()) == " ".join(reference.lower().split())
        mark = " ✓" if same else ""
        out += (f"<div style='margin-top:4px'><span style='color:{dim}'>true:</span> "
                f"{html.escape(reference)}{mark}</div>")
    return out


def _pixmap(path: str, side: int) -> QPixmap | None:
    pix = QPixmap(path)
    if pix.isNull():
        return None
    small = max(pix.width(), pix.height()) < side
    mode = (Qt.TransformationMode.FastTransformation if small
            else Qt.TransformationMode.SmoothTransformation)
    return pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, mode)


def caption_card_body(sample: Sample, parent: QWidget) -> QWidget:
    """The body of a gallery card for a ``kind="caption"`` sample."""
    body = QWidget()
    row = QHBoxLayout(body)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(8)
    thumb = _Thumb()
    thumb.setFixedSize(THUMB, THUMB)
    thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
    pix = _pixmap(sample.path, THUMB)
    if pix is None:
        thumb.setText("missing\nimage")
    else:
        thumb.setPixmap(pix)
        thumb.setCursor(Qt.CursorShape.PointingHandCursor)
        thumb.setToolTip(f"{sample.path}\nClick to enlarge")
        thumb.clicked.connect(lambda: enlarge(sample, parent))
    row.addWidget(thumb, 0, Qt.AlignmentFlag.AlignTop)
    text = QLabel(captions_html(sample, parent.palette()))
    text.setObjectName("captions")
    text.setTextFormat(Qt.TextFormat.RichText)
    text.setWordWrap(True)
    text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
    row.addWidget(text, 1)
    return body


class CaptionDialog(QDialog):
    """The image enlarged (pixel-crisp when small), both captions below."""

    def __init__(self, sample: Sample, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Step {sample.step} · {sample.meta.get('image', sample.path)}")
        scroll = enlarged(sample.path, 448)
        captions = QLabel(captions_html(sample, self.palette()))
        captions.setTextFormat(Qt.TextFormat.RichText)
        captions.setWordWrap(True)
        captions.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(captions)
        path = QLabel(sample.path)
        path.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(path)
        self.resize(560, 620)


def enlarge(sample: Sample, parent: QWidget) -> CaptionDialog:
    dialog = CaptionDialog(sample, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog
