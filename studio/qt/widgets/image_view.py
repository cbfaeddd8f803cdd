"""A zoomable, pannable image viewer; the image is decoded off the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.qt.widgets.tasks import Task, run_in_background

_MIN_ZOOM, _MAX_ZOOM = 0.05, 32.0


def enlarged(path: str, target: int) -> QScrollArea:
    """A sample picture scaled up by a whole factor (pixels stay sharp) to about ``target``
    px, in a scroll area; says so when the file cannot be read."""
    label = QLabel()
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    pix = QPixmap(path)
    if pix.isNull():
        label.setText(f"Cannot read {path}")
    else:
        factor = max(1, min(8, target // max(1, max(pix.width(), pix.height()))))
        label.setPixmap(pix.scaled(pix.size() * factor, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.FastTransformation))
    scroll = QScrollArea()
    scroll.setWidget(label)
    scroll.setWidgetResizable(True)
    return scroll


def _read_image(path: str) -> QImage:
    reader = QImageReader(path)
    reader.setAutoTransform(True)      # honour EXIF orientation
    image = reader.read()
    if image.isNull():
        raise OSError(reader.errorString() or "cannot be decoded")
    return image


class _View(QGraphicsView):
    zoomed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self.fit_mode = True

    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, z: float) -> None:
        z = max(_MIN_ZOOM, min(_MAX_ZOOM, z))
        self.resetTransform()
        self.scale(z, z)
        self.zoomed.emit(z)

    def fit(self) -> None:
        self.fit_mode = True
        if not self.item.pixmap().isNull():
            self.fitInView(self.item, Qt.AspectRatioMode.KeepAspectRatio)
            # never blow a small image up past 4x when fitting
            if self.zoom() > 4.0:
                self.set_zoom(4.0)
            self.zoomed.emit(self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.item.pixmap().isNull():
            return
        self.fit_mode = False
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self.set_zoom(self.zoom() * factor)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.fit_mode:
            self.fit()


class ImageView(QWidget):
    """Shows one image file: Fit / 100% / zoom in / zoom out, wheel to zoom, drag to pan."""

    loaded = Signal(str)   # path, once the image is on screen

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = ""
        self._task: Task | None = None
        self.view = _View(self)
        self.message = QLabel("", self)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.zoom_label = QLabel("", self)
        self.zoom_label.setMinimumWidth(48)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for text, tip, slot in (("Fit", "Fit the image in the view", self.fit),
                                ("100%", "Actual pixels", self.actual_size),
                                ("−", "Zoom out (or scroll)", self.zoom_out),
                                ("+", "Zoom in (or scroll)", self.zoom_in)):
            b = QToolButton(self)
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            bar.addWidget(b)
        bar.addWidget(self.zoom_label)
        bar.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.message)
        self.message.hide()
        self.view.zoomed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))

    def set_path(self, path: str) -> None:
        if self._task is not None:
            self._task.cancel()
        self.path = path
        self.view.item.setPixmap(QPixmap())
        self.message.setText("Loading…")
        self.message.show()
        self._task = run_in_background(_read_image, path, done=self._on_image,
                                       error=self._on_error)
        self._task.setProperty("path", path)

    def clear(self) -> None:
        self.path = ""
        self.view.item.setPixmap(QPixmap())
        self.message.hide()

    def _on_image(self, image: QImage) -> None:
        task = self.sender()
        if task is not None and task.property("path") != self.path:
            return  # an older request
        self.message.hide()
        self.view.item.setPixmap(QPixmap.fromImage(image))
        self.view.scene().setSceneRect(self.view.item.boundingRect())
        self.view.fit()
        self.loaded.emit(self.path)

    def _on_error(self, exc: BaseException) -> None:
        self.message.setText(f"Cannot show this image: {exc}")
        self.message.show()

    # zoom controls
    def fit(self) -> None:
        self.view.fit()

    def actual_size(self) -> None:
        self.view.fit_mode = False
        self.view.set_zoom(1.0)

    def zoom_in(self) -> None:
        self.view.fit_mode = False
        self.view.set_zoom(self.view.zoom() * 1.25)

    def zoom_out(self) -> None:
        self.view.fit_mode = False
        self.view.set_zoom(self.view.zoom() * 0.8)

    def zoom(self) -> float:
        return self.view.zoom()
