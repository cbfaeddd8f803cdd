"""The dataset browser pane: scanning off the GUI thread (progress, cancel), the grid,
problems, include/exclude through the project, the detail view, captions, the split."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from studio.data import scan as scanmod
from studio.data.text import _split_indices
from studio.qt.panes.dataset import DatasetDelegate, DatasetPane, ItemRole
from studio.qt.widgets.tasks import wait_all
from studio.state.project import Project
from tests.test_scan import make_dataset


@pytest.fixture(autouse=True)
def _join_workers():
    yield
    assert wait_all(20_000)


@pytest.fixture
def dataset(tmp_path, shared_data) -> Path:
    return make_dataset(tmp_path, shared_data)


def make_pane(qtbot, *paths) -> DatasetPane:
    project = Project()
    for p in paths:
        project.add_dataset_path(str(p))
    pane = DatasetPane(project)
    qtbot.addWidget(pane)
    pane.resize(1200, 800)
    pane.show()
    return pane


def scanned_pane(qtbot, *paths) -> DatasetPane:
    project = Project()
    pane = DatasetPane(project)
    qtbot.addWidget(pane)
    pane.resize(1200, 800)
    pane.show()
    with qtbot.waitSignal(pane.scan_finished, timeout=60_000) as sig:
        for p in paths:
            project.add_dataset_path(str(p))
    assert sig.args == [False]
    return pane


def row_of(pane: DatasetPane, name: str):
    for r in range(pane.proxy.rowCount()):
        ix = pane.proxy.index(r, 0)
        if ix.data(ItemRole).name == name:
            return ix
    raise AssertionError(f"{name} is not in the grid")


def test_scan_fills_the_grid_with_stats_problems_and_split(qtbot, dataset):
    pane = scanned_pane(qtbot, dataset)
    st = pane.state
    names = {it.name for it in st.items}
    assert {"astronaut.png", "ambi_choir.flac", "genesis.txt", "corrupt.png", "empty.txt",
            "data.xyz", "日本 語 notes.txt"} <= names
    assert "red.txt" not in names  # a caption, not a document
    assert pane.model.rowCount() == len(st.items) == pane.proxy.rowCount()
    assert not pane.progress_row.isVisible()
    # the stats line and the split preview
    assert "image" in pane.stats_label.text() and "tokens" in pane.stats_label.text()
    assert "unusable" in pane.stats_label.text()
    sp = st.split()
    assert sp.documents > 1 and f"{sp.train:,} train" in pane.split_label.text()
    # problems are flagged per file, with the reason in the tooltip
    corrupt = row_of(pane, "corrupt.png")
    assert "unreadable image" in corrupt.data(Qt.ItemDataRole.ToolTipRole)
    assert "Cannot be used" in corrupt.data(Qt.ItemDataRole.ToolTipRole)
    dup = row_of(pane, "genesis.txt")
    assert "duplicate of" in dup.data(Qt.ItemDataRole.ToolTipRole)
    pane.filter_combo.setCurrentText("Problems")
    assert pane.proxy.rowCount() == len(st.problems) >= 5
    pane.filter_combo.setCurrentText("Audio")
    assert pane.proxy.rowCount() == 3
    pane.filter_combo.setCurrentText("All files")
    pane.search.setText("astro")
    assert pane.proxy.rowCount() == 1


def test_thumbnails_are_decoded_off_the_gui_thread(qtbot, dataset):
    pane = scanned_pane(qtbot, dataset / "images")
    item = pane.state.item(str(dataset / "images" / "astronaut.png"))
    qtbot.waitUntil(lambda: pane.thumbs.get(item) is not None, timeout=10_000)
    image = pane.thumbs.get(item)
    assert max(image.width(), image.height()) == scanmod.THUMB_SIZE
    pane.view.viewport().grab()  # paints every kind of cell without error


def test_cancel_mid_scan(qtbot, tmp_path, monkeypatch):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"{i:03d}.txt").write_text(f"text file number {i} with some words", "utf-8")
    gate = threading.Event()
    real = scanmod.scan_file

    def slow(path, **kw):
        if path.endswith("010.txt"):
            gate.wait(10)
        return real(path, **kw)

    monkeypatch.setattr(scanmod, "scan_file", slow)
    monkeypatch.setattr("studio.qt.app.BATCH_SECONDS", 0.0)
    pane = make_pane(qtbot)
    with qtbot.waitSignal(pane.scan_finished, timeout=20_000) as sig:
        pane.project.add_dataset_path(str(folder))
        qtbot.waitUntil(lambda: pane.state.done >= 10, timeout=10_000)
        assert pane.progress_row.isVisible() and pane.cancel_button.isEnabled()
        assert "of 40 files" in pane.progress_label.text()
        qtbot.mouseClick(pane.cancel_button, Qt.MouseButton.LeftButton)
        gate.set()
    assert sig.args == [True]
    assert 10 <= len(pane.state.items) < 40
    assert "cancelled" in pane.stats_label.text()
    assert not pane.progress_row.isVisible()


def test_include_exclude_writes_to_the_project(qtbot, dataset):
    pane = scanned_pane(qtbot, dataset / "texts")
    project = pane.project
    ix = row_of(pane, "notes.md")
    path = ix.data(ItemRole).path
    tokens_before = pane.state.stats.tokens
    # click the checkbox drawn in the cell
    rect = pane.view.visualRect(ix)
    box = DatasetDelegate.checkbox_rect(rect)
    qtbot.mouseClick(pane.view.viewport(), Qt.MouseButton.LeftButton, pos=box.center())
    assert path in project.excluded and project.dirty
    assert ix.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    assert pane.state.stats.tokens < tokens_before
    # the detail view's checkbox does the same
    pane.select_path(path)
    assert pane.detail.item.path == path and not pane.detail.include.isChecked()
    pane.detail.include.setChecked(True)
    assert path not in project.excluded
    # Space toggles the selected files
    pane.view.setFocus()
    qtbot.keyClick(pane.view, Qt.Key.Key_Space)
    assert path in project.excluded
    pane.filter_combo.setCurrentText("Excluded")
    assert pane.proxy.rowCount() == 1


def test_detail_views_and_caption_sidecar(qtbot, dataset):
    pane = scanned_pane(qtbot, dataset / "images", dataset / "audio")
    red = str(dataset / "images" / "red.png")
    with qtbot.waitSignal(pane.detail.image_view.loaded, timeout=10_000):
        assert pane.select_path(red)
    view = pane.detail.image_view
    assert pane.detail.stack.currentWidget() is view
    before = view.zoom()
    view.zoom_in()
    assert view.zoom() == pytest.approx(before * 1.25)
    view.actual_size()
    assert view.zoom() == pytest.approx(1.0)
    # the caption sidecar is shown, edited and saved to red.txt
    assert pane.detail.caption_box.isVisible()
    assert pane.detail.caption_edit.toPlainText() == "a red rectangle"
    pane.detail.caption_edit.setPlainText("a red rectangle on white")
    assert pane.detail.caption_save.isEnabled()
    qtbot.mouseClick(pane.detail.caption_save, Qt.MouseButton.LeftButton)
    assert (dataset / "images" / "red.txt").read_text("utf-8") == "a red rectangle on white\n"
    assert pane.state.item(red).caption == "a red rectangle on white"
    # a new caption creates the sidecar
    astro = str(dataset / "images" / "astronaut.png")
    pane.select_path(astro)
    assert "no caption file yet" in pane.detail.caption_status.text()
    pane.detail.caption_edit.setPlainText("an astronaut")
    assert pane.detail.save_caption()
    assert (dataset / "images" / "astronaut.txt").read_text("utf-8") == "an astronaut\n"

    # audio: waveform + spectrogram computed off the GUI thread, then play / stop
    choir = str(dataset / "audio" / "ambi_choir.flac")
    audio = pane.detail.audio_view
    with qtbot.waitSignal(audio.analysed, timeout=10_000):
        pane.select_path(choir)
    assert pane.detail.stack.currentWidget() is audio
    x, _ = audio._top.getData()
    assert len(x) > 100 and x[-1] == pytest.approx(audio.duration, rel=0.01)
    assert audio._image.image is not None
    audio.play()
    assert audio.player is not None
    assert audio.player.source().toLocalFile() == choir
    assert audio.play_button.text().endswith("Stop")
    audio.stop()
    assert audio.play_button.text().endswith("Play") and not audio.is_playing()


def test_text_detail_shows_the_whole_file(qtbot, dataset):
    pane = scanned_pane(qtbot, dataset / "texts")
    path = str(dataset / "texts" / "notes.md")
    pane.select_path(path)
    qtbot.waitUntil(lambda: "Some words about the thing." in
                    pane.detail.text_view.toPlainText(), timeout=10_000)
    assert not pane.detail.caption_box.isVisible()


def test_changing_the_projects_paths_rescans(qtbot, dataset):
    pane = scanned_pane(qtbot, dataset / "texts")
    n = len(pane.state.items)
    with qtbot.waitSignal(pane.scan_finished, timeout=30_000):
        pane.project.add_dataset_path(str(dataset / "audio"))
    assert len(pane.state.items) == n + 3
    assert "Sources (2)" == pane.sources_button.text()
    with qtbot.waitSignal(pane.scan_finished, timeout=30_000):
        pane.remove_path(str(dataset / "texts"))
    assert {it.kind for it in pane.state.items} == {"audio"}


def test_drop_a_folder_on_the_grid(qtbot, dataset):
    pane = make_pane(qtbot)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dataset / "texts"))])
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(pane.scan_finished, timeout=30_000):
        pane.view.dropEvent(event)
    assert pane.project.dataset_paths == (str(dataset / "texts"),)
    assert any(it.name == "notes.md" for it in pane.state.items)


def test_split_seed_writes_to_the_project(qtbot, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(10):
        (folder / f"d{i}.txt").write_text(f"document number {i} " * 5, "utf-8")
    pane = scanned_pane(qtbot, folder)
    assert "9 train · 1 validation" in pane.split_label.text()
    pane.seed_spin.setValue(3)
    assert pane.project.config.data.split_seed == 3
    _, val = _split_indices(10, 0.1, 3)
    held_out = [p for p, r in pane.state.split().roles.items() if r == "validation"]
    assert held_out == [str(folder / f"d{i}.txt") for i in val]
    pane.project.replace_section("data", val_fraction=0.3, split_seed=5)
    assert pane.seed_spin.value() == 5 and "7 train · 3 validation" in pane.split_label.text()


def test_an_image_shows_a_strip_of_augmented_previews(qtbot, tmp_path):
    from PIL import Image

    from studio.qt.panes.dataset import DatasetPane
    from studio.state.project import Project

    img = tmp_path / "pic.png"
    Image.new("RGB", (80, 60), (200, 30, 30)).save(img)
    project = Project()
    project.replace_section("augment", hflip=1.0, noise_std=0.3, noise_p=1.0)
    pane = DatasetPane(project)
    qtbot.addWidget(pane)
    with qtbot.waitSignal(pane.scan_finished, timeout=60_000):
        pane.add_paths([str(tmp_path)])
    pane.select_path(str(img))
    detail = pane.detail
    assert detail.aug_box.isVisibleTo(pane)
    qtbot.waitUntil(lambda: detail.aug_labels[0].pixmap() is not None
                    and not detail.aug_labels[0].pixmap().isNull(), timeout=30_000)
    first = detail.aug_labels[0].pixmap().toImage()
    assert first.width() > 0 and "crops" in detail.aug_status.text()


def test_the_detail_parts_never_overlap_in_a_narrow_dock(qtbot, dataset):
    """In a narrow, short dock (the detail under the grid) the image or spectrogram, the
    augmented previews and the caption box keep their minimum sizes, one under the other;
    the detail scrolls when there is less room (it used to draw them over each other)."""
    from studio.qt.panes.dataset import STACK_MIN_H

    pane = scanned_pane(qtbot, dataset / "images", dataset / "audio")
    pane.resize(460, 640)
    qtbot.waitUntil(lambda: pane.splitter.orientation() == Qt.Orientation.Vertical)
    d = pane.detail
    for name in ("red.png", "ambi_choir.flac"):
        path = str(next(dataset.rglob(name)))
        pane.select_path(path)
        qtbot.waitUntil(lambda: d.item is not None and d.item.path == path)
        qtbot.wait(50)
        parts = [w for w in (d.stack, d.aug_box, d.caption_box) if w.isVisible()]
        assert len(parts) >= 2
        for w in parts:
            assert w.height() >= w.minimumSizeHint().height() - 1, w
        assert d.stack.height() >= STACK_MIN_H
        for upper, lower in zip(parts, parts[1:]):
            assert upper.geometry().bottom() < lower.geometry().top()
        assert d.height() >= d.minimumSizeHint().height()  # the scroll area holds the rest


def test_a_narrow_pane_keeps_the_grid_its_share_until_a_file_is_shown(qtbot, tmp_path):
    """Under the grid (a narrow dock), the empty detail area does not take the grid's room
    as the pane grows (at 1024 x 640 the grid had 130 px and "Select a file" 200); a
    handle the user dragged keeps their sizes."""
    pane = make_pane(qtbot, tmp_path)
    pane.resize(400, 300)
    qtbot.wait(20)
    pane.resize(400, 700)
    qtbot.wait(20)
    assert pane.splitter.orientation() == Qt.Orientation.Vertical
    grid, detail = pane.splitter.sizes()
    assert grid >= 0.55 * (grid + detail)
    pane.splitter.splitterMoved.emit(100, 1)  # as a drag does
    pane.splitter.setSizes([150, grid + detail - 150])
    pane.resize(400, 760)
    qtbot.wait(20)
    grid, detail = pane.splitter.sizes()
    assert grid < 0.4 * (grid + detail)  # not put back to the default share
