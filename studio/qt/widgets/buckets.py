"""The bucket preview: which aspect-ratio bucket each image trains in and how it is cut.

Each image is shown whole, with the part that training keeps outlined and the part cut off
shaded (always equal strips on both sides: ``studio.data.captioned.fit_to_bucket`` crops
the centre). Images are read off the GUI thread through the image family's reader, so a
bad image shows its reason instead of a crop.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.data import captioned
from studio.data.captioned import Bucket, BucketPreview
from studio.qt.widgets.tasks import Task, run_in_background

TILE = 168                      # the thumbnail's box, pixels
KEPT = QColor("#2e9bff")        # outline of what training keeps
CUT = QColor(0, 0, 0, 150)      # shade over what is cut off
ERROR = QColor("#d64541")


def overlay(preview: BucketPreview, side: int = TILE) -> QPixmap:
    """The image scaled into a ``side`` square, the cut-off strips shaded and the kept box
    outlined; a red cross for an image that cannot be used."""
    pix = QPixmap(side, side)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    image = QImage.fromData(preview.thumbnail) if preview.thumbnail else QImage()
    if image.isNull() or not preview.size[0]:
        p.setPen(QPen(ERROR, 3))
        p.drawLine(side // 3, side // 3, 2 * side // 3, 2 * side // 3)
        p.drawLine(2 * side // 3, side // 3, side // 3, 2 * side // 3)
        p.end()
        return pix
    w, h = preview.size
    k = min(side / w, side / h)
    target = QRectF((side - w * k) / 2, (side - h * k) / 2, w * k, h * k)
    p.drawImage(target, image)
    left, top, right, bottom = preview.crop
    kept = QRectF(target.x() + left * k, target.y() + top * k, (right - left) * k,
                  (bottom - top) * k)
    # shade everything outside the kept box (the strips that are cut off)
    for strip in (QRectF(target.left(), target.top(), kept.left() - target.left(), target.height()),
                  QRectF(kept.right(), target.top(), target.right() - kept.right(),
                         target.height()),
                  QRectF(kept.left(), target.top(), kept.width(), kept.top() - target.top()),
                  QRectF(kept.left(), kept.bottom(), kept.width(),
                         target.bottom() - kept.bottom())):
        if strip.width() > 0.5 and strip.height() > 0.5:
            p.fillRect(strip, CUT)
    p.setPen(QPen(KEPT, 2))
    p.drawRect(kept.adjusted(1, 1, -1, -1))
    p.end()
    return pix


def compute(paths: Sequence[str], buckets: Sequence[Bucket]) -> list[BucketPreview]:
    return [captioned.preview_bucket(p, buckets) for p in paths]


def keep_together(text: str) -> str:
    """A number stays on the line of the word before it ("upscaled ×5.3", "to 36%"):
    a narrow cell wrapped "×5.3" onto a line of its own."""
    return re.sub(r" ([×~]?[\d.]+%?)(?=$| ·)", "\u00a0\\1", text)


def summary(previews: Sequence[BucketPreview]) -> str:
    """"512×512: 12 images · 640×384: 5 · 2 cannot be used"."""
    counts = Counter(p.bucket for p in previews if not p.problem)
    parts = [f"{w}×{h}: {n} image{'s' if n != 1 else ''}"
             for (w, h), n in sorted(counts.items(), key=lambda kv: -kv[1])]
    bad = sum(bool(p.problem) for p in previews)
    if bad:
        parts.append(f"{bad} cannot be used")
    up = sum(p.scale > 1.001 for p in previews if not p.problem)
    if up:
        parts.append(f"{up} smaller than their bucket (upscaled, softer)")
    return " · ".join(parts) or "No images."


class BucketPreviewDialog(QDialog):
    """``paths``: the images; ``resolution`` / ``bucketing``: the project's data settings."""

    def __init__(self, paths: Sequence[str], resolution: int, bucketing: bool = True,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Aspect-ratio buckets")
        self.resize(900, 640)
        self.buckets = captioned.buckets_of(resolution, bucketing)
        self.previews: list[BucketPreview] = []
        self._task: Task | None = None
        sizes = ", ".join(f"{w}×{h}" for w, h in self.buckets)
        how = ("each image trains in the bucket closest to its shape" if bucketing else
               "bucketing is off: every image is cut to one square")
        self.intro = QLabel(
            f"<b>Buckets at {resolution} px</b> ({sizes}): {how}. Images are scaled to cover "
            f"their bucket and the small remainder is cut equally from both sides — the "
            f"<span style='color:{KEPT.name()}'>outlined</span> part is what training sees, "
            f"the shaded strips are cut off.", self)
        self.intro.setWordWrap(True)
        self.counts = QLabel("Reading the images…", self)
        self.counts.setWordWrap(True)
        self.counts.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.grid = QListWidget(self)
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setIconSize(QSize(TILE, TILE))
        self.grid.setGridSize(QSize(TILE + 44, TILE + 66))
        self.grid.setWordWrap(True)
        self.grid.setSpacing(6)
        # nothing acts on a selection here: a click must not look like it picked a cell
        self.grid.setSelectionMode(QListView.SelectionMode.NoSelection)
        self.grid.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.intro)
        lay.addWidget(self.counts)
        lay.addWidget(self.grid, 1)
        lay.addWidget(buttons)
        self._paths = list(paths)

    def load(self) -> Task:
        """Read the images off the GUI thread; the grid fills when they are done."""
        self._task = run_in_background(compute, self._paths, self.buckets,
                                       done=self.set_previews, error=self._failed)
        return self._task

    def _failed(self, exc: BaseException) -> None:
        self.counts.setText(f"The preview failed: {exc}")

    def set_previews(self, previews: list[BucketPreview]) -> None:
        self.previews = list(previews)
        self.grid.clear()
        # grouped by bucket, widest first, so like shapes sit together
        order = sorted(self.previews, key=lambda p: (bool(p.problem),
                                                     -(p.bucket[0] / max(1, p.bucket[1]))))
        for p in order:
            name = p.path.replace("\\", "/").rsplit("/", 1)[-1]
            item = QListWidgetItem(QIcon(overlay(p)), f"{name}\n{keep_together(p.describe())}")
            tip = f"{p.path}\n{p.describe()}"
            if p.scale > 1.001 and not p.problem:
                tip += ("\nSmaller than its bucket: upscaled, so it trains a little soft "
                        "(a lower data.resolution, or a larger original, avoids that).")
            item.setToolTip(tip)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            if p.problem:
                item.setForeground(ERROR)
            self.grid.addItem(item)
        self.counts.setText(summary(self.previews))
