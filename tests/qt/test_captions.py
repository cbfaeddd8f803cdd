"""Captioned images in the dataset pane (a family whose spec says ``reads_captions``): the
missing-caption warning, the caption editor (edit, find/replace, prepend, undo) and the
bucket preview."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from studio.config import families
from studio.data import captioned, shapes
from studio.qt.panes.dataset import DatasetPane, ItemRole
from studio.qt.widgets import buckets as bucketmod
from studio.qt.widgets.tasks import wait_all
from studio.state.project import Project

SKETCHES = families.FamilySpec(
    name="sketches", title="Sketches", summary="captioned images (test family)",
    implementation="studio.models.image:ImageFamily", file_kinds=("image",),
    sample_kind="image", has_perplexity=False, export_loader="sketches.load(folder)",
    reads_captions=True, extra_knobs=("data.trigger_word", "data.resolution", "data.bucketing"),
)


@pytest.fixture(autouse=True)
def _sketches_and_workers():
    """The test family stays registered until the test's widgets are gone (autouse: set up
    before qtbot, so torn down after it)."""
    families.register(SKETCHES)
    yield
    assert wait_all(20_000)
    families.unregister(SKETCHES.name)


@pytest.fixture
def folder(tmp_path) -> Path:
    """6 captioned shapes and 2 wide images without a caption, in kohya's 10_my_style."""
    root = tmp_path / "10_my_style"
    shapes.write_folder(root, 6, size=64, seed=0)
    for name in ("wide_a.png", "wide_b.png"):
        Image.new("RGB", (200, 100), (30, 120, 200)).save(root / name)
    return root


def captioned_pane(qtbot, folder: Path, family: str = "sketches") -> DatasetPane:
    project = Project()
    project.replace_section("run", family=family)
    pane = DatasetPane(project)
    qtbot.addWidget(pane)
    pane.resize(1100, 760)
    pane.show()
    with qtbot.waitSignal(pane.scan_finished, timeout=60_000):
        project.add_dataset_path(str(folder))
    return pane


def test_pane_warns_about_images_without_captions(qtbot, folder):
    pane = captioned_pane(qtbot, folder)
    bar = pane.captions_bar
    assert bar.isVisible()
    assert ("2 of 8 images have no caption: they train as 'my_style' (the folder's name)"
            in bar.label.text())
    bar.label.linkActivated.emit("missing")     # "show them": the grid lists the two
    assert pane.filter_combo.currentText() == "No caption"
    assert sorted(pane.proxy.index(r, 0).data(ItemRole).name
                  for r in range(pane.proxy.rowCount())) == ["wide_a.png", "wide_b.png"]
    pane.filter_combo.setCurrentText("All files")
    pane.project.replace_section("data", trigger_word="sks")
    assert "they train as 'sks' (the trigger word)" in bar.label.text()
    # the detail view names the file the caption came from
    (folder / "shape_0001.txt").rename(folder / "shape_0001.caption")
    pane.rescan(force=True)
    qtbot.waitUntil(lambda: not pane.state.scanning, timeout=30_000)
    item = pane.state.item(str(folder / "shape_0001.png"))
    assert item.caption_path.endswith("shape_0001.caption") and item.caption
    assert pane.select_path(item.path)
    assert pane.detail.caption_box.title() == "Caption — shape_0001.caption"
    # a family that does not read captions: no captions row
    pane.project.replace_section("run", family="image")
    assert not bar.isVisible()


def test_editor_find_replace_prepend_edit_and_undo(qtbot, folder):
    pane = captioned_pane(qtbot, folder)
    editor = pane.captions_bar.open_editor()
    qtbot.addWidget(editor)
    before = {p: p.read_text(encoding="utf-8") for p in folder.glob("*.txt")}
    assert editor.table.rowCount() == 8
    assert editor.save_button.text() == "Save edits" and not editor.save_button.isEnabled()
    # find/replace: the preview counts what changes before anything is written
    editor.find_edit.setText("background")
    editor.replace_edit.setText("backdrop")
    assert "6 captions change" in editor.replace_preview.text()
    assert editor.replace_button.text() == "Replace in 6"
    assert {p: p.read_text(encoding="utf-8") for p in folder.glob("*.txt")} == before
    editor.replace_button.click()
    assert all("backdrop" in p.read_text(encoding="utf-8") for p in before)
    assert "No caption changes." in editor.replace_preview.text()
    # the pane shows the new captions
    assert "backdrop" in pane.state.item(str(folder / "shape_0000.png")).caption
    # prepend the trigger word
    editor.trigger_edit.setText("sks")
    assert editor.prepend_button.text() == "Prepend to 6"
    editor.prepend_button.click()
    assert all(p.read_text(encoding="utf-8").startswith("sks, a ") for p in before)
    # edit one caption in the table (an image that had none gets its own .txt)
    row = next(r for r in range(editor.table.rowCount())
               if editor.table.item(r, 0).text() == "wide_a.png")
    editor.table.item(row, 1).setText("a wide blue field")
    assert editor.save_button.text() == "Save 1 edit"
    editor.save_button.click()
    assert (folder / "wide_a.txt").read_text(encoding="utf-8") == "a wide blue field\n"
    assert "1 of 8 images has no caption" in pane.captions_bar.label.text()
    # undo, step by step, back to the files as they were
    for _ in range(3):
        assert editor.undo_button.isEnabled()
        editor.undo_button.click()
    assert not (folder / "wide_a.txt").exists()
    assert {p: p.read_text(encoding="utf-8") for p in folder.glob("*.txt")} == before
    assert not editor.undo_button.isEnabled()
    assert "2 of 8 images have no caption" in pane.captions_bar.label.text()


def test_detail_save_goes_through_the_undo_journal(qtbot, folder):
    pane = captioned_pane(qtbot, folder)
    path = str(folder / "shape_0002.png")
    old = (folder / "shape_0002.txt").read_text(encoding="utf-8")
    assert pane.select_path(path)
    pane.detail.caption_edit.setPlainText("a new caption")
    assert pane.detail.save_caption()
    assert (folder / "shape_0002.txt").read_text(encoding="utf-8") == "a new caption\n"
    pane.captions_bar.edits.undo()
    assert (folder / "shape_0002.txt").read_text(encoding="utf-8") == old


def test_a_legacy_caption_is_rewritten_as_utf8_by_saving_it(qtbot, folder):
    (folder / "wide_a.txt").write_bytes("café crème".encode("cp1252"))
    pane = captioned_pane(qtbot, folder)
    assert pane.select_path(str(folder / "wide_a.png"))
    assert "not UTF-8" in pane.detail.caption_status.text()
    assert "1 caption file to check: wide_a.txt is not UTF-8" in pane.captions_bar.label.text()
    pane.captions_bar.label.linkActivated.emit("problems")   # its "show them": Problems lists it
    assert pane.filter_combo.currentText() == "Problems"
    listed = [pane.proxy.index(r, 0).data(ItemRole) for r in range(pane.proxy.rowCount())]
    assert "wide_a.png" in [it.name for it in listed]   # its own image is fine
    row = next(r for r, it in enumerate(listed) if it.name == "wide_a.png")
    tip = pane.proxy.index(row, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "Caption file:</b> wide_a.txt is not UTF-8" in tip      # the card says why
    assert not pane.state.item(str(folder / "wide_a.png")).problem
    pane.filter_combo.setCurrentText("All files")
    assert pane.detail.caption_save.isEnabled()          # nothing typed: saving converts
    assert pane.detail.save_caption()
    assert (folder / "wide_a.txt").read_text(encoding="utf-8") == "café crème\n"
    assert "1 caption file to check" not in pane.captions_bar.label.text()
    pane.captions_bar.edits.undo()
    assert (folder / "wide_a.txt").read_bytes() == "café crème".encode("cp1252")


def test_bucket_preview_groups_and_draws_the_centre_crop(qtbot, tmp_path, shared_data):
    wide = tmp_path / "wide.png"
    Image.new("RGB", (1200, 600), (0, 200, 0)).save(wide)
    tall = tmp_path / "tall.png"
    Image.new("RGB", (300, 700), (200, 0, 0)).save(tall)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    photos = sorted((shared_data / "images").glob("*.png"))[:1]
    paths = [str(p) for p in (wide, tall, bad, *photos)]
    dialog = bucketmod.BucketPreviewDialog(paths, resolution=512, bucketing=True)
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.load().done, timeout=30_000):
        pass
    assert dialog.grid.count() == len(paths)
    by_path = {p.path: p for p in dialog.previews}
    w = by_path[str(wide)]
    assert w.bucket[0] > w.bucket[1] and "cut from the sides" in w.describe()
    left, top, right, bottom = w.crop
    assert abs(left - (1200 - right)) <= 1 and (top, bottom) == (0, 600)
    assert by_path[str(tall)].bucket[1] > by_path[str(tall)].bucket[0]
    assert "not a readable image" in by_path[str(bad)].problem
    assert "1 cannot be used" in dialog.counts.text()
    # the overlay shades the cut-off strips and leaves the kept middle bright
    image = bucketmod.overlay(w).toImage()
    mid = image.pixelColor(84, 84)
    edge = image.pixelColor(1, 84)
    assert mid.green() > 150 and edge.green() < mid.green() - 40
    # bucketing off: one square bucket for everything
    square = bucketmod.BucketPreviewDialog(paths[:2], resolution=512, bucketing=False)
    qtbot.addWidget(square)
    square.set_previews(bucketmod.compute(paths[:2], square.buckets))
    assert {p.bucket for p in square.previews} == {(512, 512)}


def test_settings_show_the_caption_knobs_only_where_they_apply(qtbot):
    from studio.qt.panes.settings import SettingsPane

    project = Project()
    pane = SettingsPane(project)
    qtbot.addWidget(pane)
    pane.show()
    project.replace_section("run", family="sketches")
    assert pane.editors["data.trigger_word"].isVisible()
    assert not pane.editors["data.caption_dropout"].isVisible()
    project.replace_section("run", family="text")
    assert not pane.editors["data.trigger_word"].isVisible()


def test_shapes_copy_reads_back(tmp_path):
    # the shared demo photos and shapes mix in one folder through the reader
    shapes.write_folder(tmp_path, 2, size=32)
    shutil.copy(tmp_path / "shape_0000.png", tmp_path / "plain.png")
    items = captioned.read_captions(sorted(tmp_path.glob("*.png")), trigger="sks")
    assert [i.source for i in items] == ["trigger word", "shape_0000.txt", "shape_0001.txt"]


def test_detail_view_follows_the_editor_and_names_the_size_once(qtbot, folder):
    """The detail view shows a caption the editor just rewrote (prepend, then undo), not
    the old text a Save caption would write back; its meta line says the size once."""
    pane = captioned_pane(qtbot, folder)
    path = str(folder / "shape_0000.png")
    assert pane.select_path(path)
    meta = pane.detail.meta_label.text()
    assert meta.count(" KB") + meta.count(" B ·") == 1, meta
    old = pane.detail.caption_edit.toPlainText()
    editor = pane.captions_bar.open_editor()
    qtbot.addWidget(editor)
    editor.trigger_edit.setText("sks")
    editor.prepend_button.click()
    assert pane.detail.caption_edit.toPlainText() == "sks, " + old
    assert not pane.detail.caption_save.isEnabled()
    editor.undo_button.click()
    assert pane.detail.caption_edit.toPlainText() == old
    # a caption being typed in the detail view is left alone
    pane.detail.caption_edit.setPlainText("my own words")
    editor.prepend_button.click()
    assert pane.detail.caption_edit.toPlainText() == "my own words"
    assert pane.detail.caption_revert.isEnabled()


def test_closing_the_editor_asks_about_captions_typed_but_not_saved(qtbot, folder, dialogs):
    """A caption typed in the table and the editor closed (Close, Esc, X): the studio asks
    (Save / Discard / Cancel) instead of dropping the words."""
    pane = captioned_pane(qtbot, folder)
    editor = pane.captions_bar.open_editor()
    qtbot.addWidget(editor)
    row = next(r for r in range(editor.table.rowCount())
               if editor.table.item(r, 0).text() == "wide_a.png")
    editor.table.item(row, 1).setText("a wide blue field")
    dialogs.answer = QMessageBox.StandardButton.Cancel
    editor.reject()
    assert editor.isVisible() and dialogs.titles("question") == ["Unsaved captions"]
    assert "1 caption typed in the table is not saved yet. Save it to its caption file?" \
        in dialogs.calls[-1][2]
    dialogs.answer = QMessageBox.StandardButton.Save
    editor.reject()
    assert not editor.isVisible()
    assert (folder / "wide_a.txt").read_text(encoding="utf-8") == "a wide blue field\n"
    # nothing typed: Close just closes
    editor = pane.captions_bar.open_editor()
    qtbot.addWidget(editor)
    editor.reject()
    assert not editor.isVisible() and len(dialogs.titles("question")) == 2


def test_editor_names_an_empty_caption_file_instead_of_none(qtbot, folder):
    (folder / "wide_a.txt").write_text("", encoding="utf-8")
    pane = captioned_pane(qtbot, folder)
    editor = pane.captions_bar.open_editor()
    qtbot.addWidget(editor)
    source = {editor.table.item(r, 0).text(): editor.table.item(r, 2).text()
              for r in range(editor.table.rowCount())}
    assert source["wide_a.png"].startswith("wide_a.txt is empty: trains as 'my_style'")
    assert source["wide_b.png"] == "none: trains as 'my_style'"


def test_show_them_lists_the_images_without_a_caption_not_the_audio_beside_them(qtbot, folder):
    import wave
    with wave.open(str(folder / "birdsong.wav"), "wb") as w:   # no caption either
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 8000)
    pane = captioned_pane(qtbot, folder)
    assert "2 of 8 images have no caption" in pane.captions_bar.label.text()
    pane.captions_bar.label.linkActivated.emit("missing")
    assert sorted(pane.proxy.index(r, 0).data(ItemRole).name
                  for r in range(pane.proxy.rowCount())) == ["wide_a.png", "wide_b.png"]


def test_captions_row_stacks_its_buttons_in_a_narrow_dock(qtbot, folder):
    pane = captioned_pane(qtbot, folder)
    bar = pane.captions_bar
    edit, buckets = bar.edit_button, bar.buckets_button
    assert edit.y() == buckets.y() and edit.x() < buckets.x()     # wide: side by side
    pane.resize(480, 760)
    qtbot.waitUntil(lambda: buckets.y() > edit.y())               # narrow: stacked
    assert abs(edit.x() - buckets.x()) < 4
    assert bar.label.width() > 240    # the warning keeps room for its words


def test_captions_row_waits_for_the_scan_instead_of_saying_no_images(qtbot, folder):
    pane = captioned_pane(qtbot, folder)
    bar = pane.captions_bar
    pane.state.begin_scan()
    assert bar.label.text() == "counted when the scan is done…"
    assert not bar.edit_button.isEnabled() and not bar.buckets_button.isEnabled()
    pane.cancel_scan()
    pane.rescan(force=True)
    qtbot.waitUntil(lambda: not pane.state.scanning, timeout=30_000)
    assert "2 of 8 images have no caption" in bar.label.text() and bar.edit_button.isEnabled()


def test_prepend_preview_says_what_images_without_a_caption_train_as(qtbot, folder):
    """Prepending writes caption files; the images without one train as the project's
    trigger word only when data.trigger_word is that word (else as the folder's name)."""
    pane = captioned_pane(qtbot, folder)
    editor = pane.captions_bar.open_editor()
    qtbot.addWidget(editor)
    editor.trigger_edit.setText("sks")
    text = editor.prepend_preview.text()
    assert "6 captions do not start with 'sks' yet." in text
    assert ("2 images without a caption still train as 'my_style': set data.trigger_word to "
            "'sks' (Settings) to train them as 'sks'.") in text
    editor.close()
    pane.project.replace_section("data", trigger_word="sks")
    editor = pane.captions_bar.open_editor()
    qtbot.addWidget(editor)
    editor.trigger_edit.setText("sks")
    assert "Images without a caption train as the trigger word already." in \
        editor.prepend_preview.text()


def test_new_open_and_quit_ask_the_caption_editor_first(qtbot, folder, make_window, dialogs):
    """Captions typed and not saved are not lost to File > New / Open / Quit: the editor
    asks first, and its Cancel stops the command."""
    win = make_window()
    pane = captioned_pane(qtbot, folder)
    pane.setParent(win, Qt.WindowType.Window)  # the editor lives inside the window
    editor = pane.captions_bar.open_editor()
    editor.table.item(0, 1).setText("typed and not saved")
    dialogs.answer = QMessageBox.StandardButton.Cancel
    assert not win.files.maybe_save()
    assert editor.isVisible() and dialogs.titles("question") == ["Unsaved captions"]
    dialogs.answer = QMessageBox.StandardButton.Discard
    assert win.files.maybe_save()
    assert not editor.isVisible()


def test_buckets_button_only_for_a_family_that_buckets(qtbot, folder):
    """A captioning family reads captions but trains no aspect buckets: no Buckets… button."""
    tags = dataclasses.replace(SKETCHES, name="tags", extra_knobs=("data.trigger_word",))
    families.register(tags)
    try:
        assert captioned_pane(qtbot, folder).captions_bar.buckets_button.isVisible()
        bar = captioned_pane(qtbot, folder, family="tags").captions_bar
        assert bar.edit_button.isVisible() and not bar.buckets_button.isVisible()
    finally:
        families.unregister("tags")


def test_bucket_cells_keep_the_factor_with_its_words_and_are_not_selectable(qtbot, tmp_path):
    small = tmp_path / "small.png"
    Image.new("RGB", (96, 96), (0, 0, 200)).save(small)
    dialog = bucketmod.BucketPreviewDialog([str(small)], resolution=512, bucketing=True)
    qtbot.addWidget(dialog)
    dialog.set_previews(bucketmod.compute([str(small)], dialog.buckets))
    text = dialog.grid.item(0).text()
    assert "upscaled\u00a0×" in text and "upscaled ×" not in text
    dialog.grid.setCurrentRow(0)
    assert not dialog.grid.selectedItems()
