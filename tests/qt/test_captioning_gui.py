"""Captioning in the window: gallery caption cards (image, generated vs true caption,
click to enlarge) and the Auto-caption dialog (a real tiny model on the torch thread,
review, edit, accept; an existing caption is replaced only after confirmation; Undo)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio.core import events as ev
from studio.qt.panes.gallery import GalleryPane
from studio.state.gallery import GalleryState
from tests.test_captioning import make_tiny_captioner


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_captioner(tmp_path_factory.mktemp("tiny-blip-gui"))


@pytest.fixture
def shapes(tmp_path) -> Path:
    from studio.data.shapes import write_folder

    folder = tmp_path / "shapes"
    write_folder(folder, 4, 32, seed=5)
    return folder


def test_caption_cards_show_generated_and_true_captions(qtbot, shapes):
    from studio.qt.widgets.caption_card import CaptionDialog

    pane = GalleryPane(GalleryState())
    qtbot.addWidget(pane)
    pane.resize(700, 500)
    pane.show()
    images = sorted(shapes.glob("*.png"))
    samples = tuple(ev.Sample("caption", 10, i, text="a red circle", path=str(p),
                              meta={"reference": p.with_suffix(".txt").read_text().strip()})
                    for i, p in enumerate(images[:2]))
    pane.gallery.feed(ev.SampleReady(10, samples))
    cards = pane.current_column.cards
    assert len(cards) == 2
    from PySide6.QtWidgets import QLabel

    labels = {lab.objectName(): lab for lab in cards[0].body.findChildren(QLabel)}
    shown = labels["captions"].text()
    assert "model:" in shown and "a red circle" in shown
    assert "true:" in shown and samples[0].meta["reference"] in shown
    thumb = [lab for lab in cards[0].body.findChildren(QLabel) if lab.pixmap() and
             not lab.pixmap().isNull()][0]
    qtbot.mouseClick(thumb, Qt.MouseButton.LeftButton)
    dialogs = [w for w in pane.findChildren(CaptionDialog) if w.isVisible()]
    assert len(dialogs) == 1
    dialogs[0].close()


def test_auto_caption_dialog_reviews_confirms_and_undoes(qtbot, tiny, shapes, tmp_path,
                                                         monkeypatch):
    from studio.models.autocaption import edits
    from studio.qt.dialogs.autocaption import COL_ACCEPT, COL_PROPOSED, AutoCaptionDialog
    from studio.qt.torch_thread import wait_idle

    (shapes / "shape_0001.txt").unlink()
    (shapes / "shape_0002.txt").unlink()
    mine = shapes / "shape_0000.txt"
    mine.write_text("my own words\n", encoding="utf-8")
    images = [str(p) for p in sorted(shapes.glob("*.png"))]
    dialog = AutoCaptionDialog(images, None, journal=edits(tmp_path / "journal.jsonl"))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.model_box.setEditText(str(tiny))
    assert "2 without a caption file" in dialog.status.text()

    dialog.start()
    assert wait_idle(120)
    assert dialog.table.rowCount() == 2      # only the images without a caption
    dialog.all_box.setChecked(True)
    dialog.start()
    assert wait_idle(120)
    assert dialog.table.rowCount() == 4
    rows = {p.image.name: r for r, p in enumerate(dialog.proposals)}
    r = rows["shape_0000.png"]
    assert dialog.table.item(r, COL_ACCEPT).checkState() == Qt.CheckState.Unchecked
    dialog.table.item(r, COL_ACCEPT).setCheckState(Qt.CheckState.Checked)
    dialog.table.item(r, COL_PROPOSED).setText("edited in the list")

    monkeypatch.setattr(dialog, "confirm_overwrite", lambda n: False)  # the user says No
    dialog.accept_ticked()
    assert mine.read_bytes() == b"my own words\n"
    assert (shapes / "shape_0001.txt").is_file()
    assert "1 existing caption files left as they were" in dialog.status.text()

    monkeypatch.setattr(dialog, "confirm_overwrite", lambda n: True)   # the user says Yes
    dialog.accept_ticked()
    assert mine.read_text(encoding="utf-8").strip() == "edited in the list"
    assert dialog.undo_button.isEnabled()
    dialog.undo()
    assert mine.read_bytes() == b"my own words\n"
