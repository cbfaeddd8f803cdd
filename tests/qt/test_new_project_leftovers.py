"""New project leaves nothing of the last one on screen: the log of its run and the
dataset pane's selected file (image viewer, detail) go too (the curves, gallery and
readout are covered in test_new_project.py)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from studio.qt.widgets.tasks import wait_all

WAIT = 20_000


def test_new_project_clears_the_log_and_the_file_detail(make_window, fake_engine, tmp_path,
                                                         dialogs, qtbot):
    from PySide6.QtGui import QColor, QImage

    images = tmp_path / "pics"
    images.mkdir()
    for name, colour in (("red", "red"), ("blue", "blue")):
        img = QImage(48, 32, QImage.Format.Format_RGB32)
        img.fill(QColor(colour))
        assert img.save(str(images / f"{name}.png"))
    win = make_window(engine_fn=fake_engine(steps=4))
    win.add_paths([images])
    qtbot.waitUntil(lambda: len(win.dataset_pane.state.items) == 2, timeout=WAIT)
    red = str(images / "red.png")
    pane = win.dataset_pane
    with qtbot.waitSignal(pane.detail.image_view.loaded, timeout=WAIT):
        assert pane.select_path(red)
    with qtbot.waitSignal(win.host.run_ended, timeout=WAIT):
        win.act_train.trigger()
    assert "Finished (completed)" in win.log_pane.plain_text()

    dialogs.answer = QMessageBox.StandardButton.Discard
    win.act_new.trigger()
    assert win.project.dataset_paths == ()
    log_text = win.log_pane.plain_text()
    detail = win.dataset_pane.detail
    assert detail.item is None and detail.stack.currentWidget() is detail.empty
    assert detail.image_view.view.item.pixmap().isNull()
    assert not detail.title.isVisible() and not detail.caption_box.isVisible()
    assert wait_all(WAIT)
    assert log_text == "" and win.session.log == []
    assert win.log_pane.count.text() == ""
