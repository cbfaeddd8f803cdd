"""The main window: drag and drop, projects, run controls, failure, closing, layout."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from studio.core import events as ev
from studio.state.project import Project
from tests.qt.conftest import requires_engine, wait_event

WAIT = 20_000


def file_mime(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def test_dropping_a_folder_adds_it_to_the_dataset(make_window, text_folder, tmp_path):
    win = make_window()
    other = tmp_path / "one.txt"
    other.write_text("hello", encoding="utf-8")
    mime = file_mime(text_folder, other)
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, drop)
    assert drop.isAccepted()
    assert win.project.dataset_paths == (str(text_folder.resolve()), str(other.resolve()))
    assert win.project.dirty and win.isWindowModified()
    # dropping the same folder again does not add it twice
    QApplication.sendEvent(win, QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction,
                                           file_mime(text_folder), Qt.MouseButton.LeftButton,
                                           Qt.KeyboardModifier.NoModifier))
    assert len(win.project.dataset_paths) == 2


def test_a_drag_without_local_files_is_refused(make_window):
    win = make_window()
    mime = QMimeData()
    mime.setText("just text")
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter)
    assert not enter.isAccepted()


def test_add_folder_menu(make_window, text_folder, monkeypatch):
    win = make_window()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: str(text_folder)))
    win.act_add_folder.trigger()
    assert win.project.dataset_paths == (str(text_folder.resolve()),)


def test_train_runs_to_completion_from_the_gui(make_window, fake_engine, text_folder, qtbot):
    engine = fake_engine(steps=12)
    win = make_window(engine_fn=engine)
    win.add_paths([text_folder])
    assert win.act_train.isEnabled() and not win.act_pause.isEnabled()
    with qtbot.waitSignal(win.host.run_ended, timeout=WAIT) as ended:
        win.act_train.trigger()
        assert not win.act_train.isEnabled() and win.act_stop.isEnabled()
    assert ended.args == ["completed"]
    assert engine.calls[0]["cfg"].data.paths == (str(text_folder.resolve()),)
    assert win.curves is not None  # Train builds the curves if the first paint has not yet
    win.curves.refresh()
    assert win.curves.raw.getOriginalDataset()[0].tolist() == list(range(1, 13))
    assert win.gallery.steps == [0, 4, 8, 12]
    assert win.gallery_pane.current_column.step == 12
    win.run_status.refresh(force=True)
    assert "Completed" in win.run_status.state_label.text()
    assert win.run_status.progress.format() == "step 12/12"
    assert win.act_train.isEnabled() and not win.act_stop.isEnabled()
    assert "Finished (completed)" in win.log_pane.plain_text()


def test_excluded_files_are_left_out_of_the_run(make_window, fake_engine, text_folder, qtbot):
    engine = fake_engine(steps=2)
    win = make_window(engine_fn=engine)
    win.add_paths([text_folder])
    win.project.set_excluded(str(text_folder / "poem1.txt"), True)
    with qtbot.waitSignal(win.host.run_ended, timeout=WAIT):
        win.act_train.trigger()
    cfg = engine.calls[0]["cfg"]  # the engine leaves data.exclude out
    assert cfg.data.paths == (str(text_folder.resolve()),)
    assert cfg.data.exclude == (str(text_folder / "poem1.txt"),)


def test_train_with_an_invalid_config_explains_and_does_not_start(make_window, dialogs):
    win = make_window()  # no dataset paths
    win.act_train.trigger()
    assert not win.host.running
    assert dialogs.titles("warning") == ["Cannot start training"]
    # in the window's words: the field and where to fix it, not the config key
    text = dialogs.calls[0][2]
    assert "Training files" in text and "Add folder" in text and "data.paths" not in text


def test_pause_resume_stop_from_the_run_menu(make_window, fake_engine, text_folder, qtbot):
    win = make_window(engine_fn=fake_engine(steps=100_000, delay=0.002, sample_every=0))
    win.add_paths([text_folder])
    with wait_event(qtbot, win.host, ev.StepLogged, timeout=WAIT):
        win.act_train.trigger()
    assert win.act_pause.isEnabled() and not win.act_resume.isEnabled()
    with wait_event(qtbot, win.host, ev.RunPaused, timeout=WAIT):
        win.act_pause.trigger()
    assert win.act_resume.isEnabled() and not win.act_pause.isEnabled()
    assert win.act_sample_now.isEnabled() and win.act_save_now.isEnabled()
    with wait_event(qtbot, win.host, ev.SampleReady, timeout=WAIT):
        win.act_sample_now.trigger()
    with wait_event(qtbot, win.host, ev.CheckpointSaved, timeout=WAIT):
        win.act_save_now.trigger()
    win.run_status.refresh(force=True)
    assert "Paused" in win.run_status.state_label.text()
    with wait_event(qtbot, win.host, ev.RunResumed, timeout=WAIT):
        win.act_resume.trigger()
    with qtbot.waitSignal(win.host.run_ended, timeout=WAIT) as ended:
        win.act_stop.trigger()
    assert ended.args == ["stopped"]
    win.run_status.refresh(force=True)
    assert "Stopped" in win.run_status.state_label.text()


def test_run_shortcuts():
    from studio.qt.main_window import SHORTCUTS

    assert SHORTCUTS == {"train": "F5", "pause": "F6", "resume": "F7", "stop": "Shift+F5",
                         "save_now": "F8", "sample_now": "F9"}


def test_actions_carry_their_shortcuts(make_window):
    win = make_window()
    assert win.act_train.shortcut() == QKeySequence("F5")
    assert win.act_stop.shortcut() == QKeySequence("Shift+F5")
    assert win.act_sample_now.shortcut() == QKeySequence("F9")
    assert "(F5)" in win.act_train.toolTip()


def test_f5_starts_training(make_window, fake_engine, text_folder, qtbot):
    win = make_window(engine_fn=fake_engine(steps=3))
    win.add_paths([text_folder])
    with qtbot.waitActive(win):
        win.activateWindow()
    with qtbot.waitSignal(win.host.run_ended, timeout=WAIT):
        qtbot.keyClick(win, Qt.Key.Key_F5)


def test_a_failed_run_shows_a_dialog_and_the_log(make_window, fake_engine, text_folder, qtbot):
    win = make_window(engine_fn=fake_engine(steps=10, fail_at=4))
    win.add_paths([text_folder])
    with qtbot.waitSignal(win.host.run_ended, timeout=WAIT) as ended:
        win.act_train.trigger()
    assert ended.args == ["failed"]
    box = win.error_dialog
    assert box is not None and box.isVisible()  # non-blocking: the window keeps working
    assert box.windowTitle() == "The run failed"
    assert "loss exploded" in box.text() and "Traceback" in box.detailedText()
    assert "Run failed: RuntimeError: the loss exploded" in win.log_pane.plain_text()
    win.run_status.refresh(force=True)
    assert "Failed" in win.run_status.state_label.text()
    assert win.act_train.isEnabled()
    box.close()


def test_closing_during_a_run_asks_then_stops_and_joins(make_window, fake_engine, text_folder,
                                                       qtbot, dialogs):
    win = make_window(engine_fn=fake_engine(steps=100_000, delay=0.002))
    win.add_paths([text_folder])
    win.project.dirty = False
    with wait_event(qtbot, win.host, ev.StepLogged, timeout=WAIT):
        win.act_train.trigger()
    dialogs.answer = QMessageBox.StandardButton.No
    assert not win.close()
    assert dialogs.titles("question") == ["A run is training"] and win.host.running
    dialogs.answer = QMessageBox.StandardButton.Yes
    with qtbot.waitSignal(win.host.run_ended, timeout=WAIT) as ended:
        assert not win.close()  # it closes once the run has stopped
    assert ended.args == ["stopped"]
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=WAIT)
    assert not win.host.running


def test_unsaved_changes_prompt(make_window, dialogs, text_folder):
    win = make_window()
    win.add_paths([text_folder])
    first = win.project
    dialogs.answer = QMessageBox.StandardButton.Cancel
    win.act_new.trigger()
    assert win.project is first and dialogs.titles("question") == ["Unsaved changes"]
    dialogs.answer = QMessageBox.StandardButton.Discard
    win.act_new.trigger()
    assert win.project is not first and win.project.dataset_paths == ()
    # the panes now show the new project
    assert win.dataset_pane.project is win.project
    assert win.settings_pane.project is win.project


def test_save_open_and_recent_projects(make_window, dialogs, text_folder, tmp_path, monkeypatch):
    win = make_window()
    win.add_paths([text_folder])
    target = tmp_path / "poems.toml"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(tmp_path / "poems"), "")))
    win.act_save.trigger()  # untitled: Save asks for a file
    assert target.is_file() and not win.project.dirty and not win.isWindowModified()
    assert win.project.name == "poems"
    assert win.files.recent() == [str(target.resolve())]
    loaded = Project.load(target)
    assert loaded.dataset_paths == (str(text_folder.resolve()),)

    win.act_new.trigger()
    assert win.project.path is None
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(target), "")))
    win.act_open.trigger()
    assert win.project.path == target and win.project.dataset_paths == loaded.dataset_paths
    recent = [a for a in win.files.recent_menu.actions() if a.text().startswith("&1")]
    assert recent and "poems.toml" in recent[0].text()
    # a recent project that went missing is reported and forgotten
    win.set_project(Project(name="x"))
    target.unlink()
    assert not win.files.open(target)
    assert dialogs.titles("warning") == ["Cannot open project"]
    assert win.files.recent() == []


def test_layout_is_remembered(make_window, qtbot):
    win = make_window()
    assert win.docks["log"].isVisible()
    win.docks["log"].hide()
    win.project.dirty = False
    win.close()
    again = make_window()
    assert not again.docks["log"].isVisible() and again.docks["curves"].isVisible()
    again.reset_layout()
    assert again.docks["log"].isVisible()


def test_view_menu_toggles_every_pane(make_window):
    win = make_window()
    view = next(m for m in win.menuBar().actions() if m.text() == "&View").menu()
    titles = [a.text() for a in view.actions() if a.text()]
    for name in ("Dataset", "Model", "Settings", "Curves", "Gallery", "Log", "Runs"):
        assert name in titles
    toggle = next(a for a in view.actions() if a.text() == "Gallery")
    toggle.trigger()
    assert not win.docks["gallery"].isVisible()


def test_about(make_window):
    win = make_window()
    win.act_about.trigger()  # the dialog itself: tests/qt/test_dialogs.py
    assert win.tools.about_dialog.windowTitle() == "About Fine-Tuning Studio"


def test_clicking_a_curve_jumps_the_gallery(make_window, fake_engine, text_folder, qtbot):
    win = make_window(engine_fn=fake_engine(steps=12))
    win.add_paths([text_folder])
    with qtbot.waitSignal(win.host.run_ended, timeout=WAIT):
        win.act_train.trigger()
    win.curves.step_clicked.emit(5)
    assert win.gallery.selected == 4 and win.gallery_pane.current_column.step == 4
    assert all(line.value() == 4 for line in win.curves._sample_markers)


def _interrupted_run(runs_dir: Path) -> Path:
    run = runs_dir / "20250101-000000-old"
    (run / "checkpoints" / "step_000003").mkdir(parents=True)
    (run / "checkpoints" / "step_000003" / "state.json").write_text("{}", encoding="utf-8")
    (run / "config.toml").write_text("", encoding="utf-8")
    status = {"state": "running", "pid": 999_999_999, "host": "elsewhere", "name": "old",
              "heartbeat": time.time() - 3600, "started": time.time() - 4000, "step": 3,
              "total_steps": 8}
    (run / "status.json").write_text(json.dumps(status), encoding="utf-8")
    rec = {"event": "StepLogged", "step": 1, "epoch": 0, "loss": 2.0, "lr": 1e-3,
           "grad_norm": 1, "throughput": 10, "throughput_unit": "tok", "elapsed_s": 1,
           "eta_s": 1, "total_steps": 8}
    (run / "metrics.jsonl").write_text(json.dumps(rec) + "\n", encoding="utf-8")
    return run


def test_runs_pane_shows_an_interrupted_run_and_resumes_it(make_window, fake_engine, tmp_path,
                                                          qtbot):
    run = _interrupted_run(tmp_path / "runs")
    engine = fake_engine(steps=8, run_dir=str(run))
    win = make_window(engine_fn=engine)
    pane = win.runs_pane
    pane.refresh()
    assert [i.state for i in pane.infos] == ["interrupted"]
    assert pane.tree.topLevelItem(0).text(1) == "interrupted"
    pane.select(run)
    assert pane.resume_button.isEnabled() and pane.open_button.isEnabled()
    with qtbot.waitSignal(win.host.run_ended, timeout=WAIT):
        pane.resume_button.click()
        assert not pane.resume_button.isEnabled()  # one run at a time
    assert engine.calls[0]["resume"] == str(run)
    assert win.history.train.column("step").tolist() == [1, 4, 5, 6, 7, 8]


def test_open_and_overlay_a_past_run(make_window, tmp_path, qtbot):
    run = _interrupted_run(tmp_path / "runs")
    win = make_window()
    win.runs_pane.select(run)
    win.runs_pane.open_button.click()
    assert win.history.train.column("step").tolist() == [1]
    assert win.history.label == run.name
    win.ensure_curves()
    win.runs_pane.overlay_button.click()
    assert len(win.curves.overlays) == 1
    assert win.curves.overlay_items(0)[0].getOriginalDataset()[0].tolist() == [1]


def _panes_idle() -> bool:
    from studio.qt.widgets import tasks
    return not getattr(tasks, "_LIVE", ())


@requires_engine
def test_a_tiny_model_trains_to_completion_from_the_gui(make_window, tiny_run_config, qtbot):
    project = Project.load(tiny_run_config(train={"max_steps": 6}))
    win = make_window(project=project)  # the real engine
    # the Model pane loads the model in the background; two concurrent from_pretrained
    # calls race (see test_train_while_the_model_pane_is_still_loading), so Train waits for it here
    qtbot.waitUntil(_panes_idle, timeout=60_000)
    with qtbot.waitSignal(win.host.run_ended, timeout=120_000) as ended:
        win.act_train.trigger()
    assert ended.args == ["completed"], win.session.error_message
    assert win.history.train.column("step").tolist() == [1, 2, 3, 4, 5, 6]
    assert win.gallery.steps[0] == 0 and win.gallery.steps[-1] == 6
    assert win.gallery_pane.current_column.cards[0].sample.prompt == "Shall I"
    win.runs_pane.refresh()
    assert [i.state for i in win.runs_pane.infos] == ["completed"]
    assert win.session.device == "cpu"


def test_log_pane_shows_levels_and_filters_problems(qtbot):
    from studio.qt.panes.log import LogPane
    from studio.state.session import RunSession

    session = RunSession()
    session.add_log("info", "Started run")
    pane = LogPane(session)
    qtbot.addWidget(pane)
    session.add_log("warning", "skipped a.bin: unsupported")
    session.add_log("error", "Run failed: boom")
    text = pane.plain_text()
    assert "Started run" in text and "WARNING: skipped a.bin" in text and "ERROR: Run failed" in text
    assert pane.count.text() == "2 warnings or errors"
    pane.problems_only.setChecked(True)
    assert "Started run" not in pane.plain_text() and "boom" in pane.plain_text()
    session.add_log("info", "later")
    assert "later" not in pane.plain_text()
    pane.problems_only.setChecked(False)
    assert "later" in pane.plain_text()


def test_the_first_paint_comes_before_the_heavier_panes(qtbot, tmp_path):
    from studio.qt.main_window import MainWindow

    project = Project(name="p")
    project.replace_section("run", runs_dir=str(tmp_path / "runs"))
    project.dirty = False  # closing must not ask
    win = MainWindow(project)
    qtbot.addWidget(win)
    # before the window paints: the Dataset pane, and placeholders for what can wait
    assert win.dataset_pane is not None
    assert win.model_pane is None and win.settings_pane is None and win.curves is None
    with qtbot.waitSignal(win.first_painted, timeout=30_000):
        win.show()
    qtbot.waitUntil(lambda: win.curves is not None and win.model_pane is not None, timeout=30_000)
    assert win.docks["settings"].widget() is win.settings_pane
    assert win.settings_pane.project is project
    assert win.docks["curves"].widget() is win.curves


@requires_engine
def test_train_while_the_model_pane_is_still_loading(make_window, tiny_run_config, qtbot):
    """from_pretrained is not thread-safe (it patches torch globally while it builds on the
    meta device): the Model pane's load and the run's load take turns (models.base
    LOAD_LOCK), so training at once never meets 'Cannot copy out of meta tensor'."""
    project = Project.load(tiny_run_config(train={"max_steps": 3}))
    win = make_window(project=project)
    with qtbot.waitSignal(win.host.run_ended, timeout=120_000) as ended:
        win.act_train.trigger()  # at once, while the Model pane inspects the model
    assert ended.args == ["completed"], win.session.error_message


def test_while_training_the_runs_pane_rereads_only_live_rows(tmp_path, qtbot, monkeypatch):
    """Past runs are not re-read every tick (a folder of hundreds of runs must not stall the
    window); the running row follows its status file."""
    from studio.qt.panes import runs as runs_mod
    old = _interrupted_run(tmp_path / "runs")
    live = tmp_path / "runs" / "20260101-000000-live"
    live.mkdir()
    (live / "config.toml").write_text("", encoding="utf-8")
    status = {"state": "running", "pid": os.getpid(), "host": socket.gethostname(),
              "name": "live", "heartbeat": time.time(), "started": time.time(), "step": 2,
              "total_steps": 8}
    (live / "status.json").write_text(json.dumps(status), encoding="utf-8")
    pane = runs_mod.RunsPane(tmp_path / "runs")
    qtbot.addWidget(pane)
    pane.show()
    pane.set_busy(True)
    assert [i.state for i in pane.infos] == ["running", "interrupted"]
    (live / "status.json").write_text(json.dumps({**status, "step": 5,
                                                  "heartbeat": time.time()}), encoding="utf-8")
    read = []
    real = runs_mod.run_info
    monkeypatch.setattr(runs_mod, "run_info", lambda p: read.append(p) or real(p))
    monkeypatch.setattr(runs_mod, "list_runs", lambda *_: pytest.fail("full rescan"))
    pane._tick()
    assert read == [live]
    assert pane.tree.topLevelItem(0).text(2) == "5/8"
    assert pane.tree.topLevelItem(1).text(1) == "interrupted" and old.exists()


def test_the_default_layout_fits_a_small_laptop_screen(make_window, qtbot):
    """Every default dock shown, the window still shrinks to 1024x640 (a 1366x768 laptop
    with its taskbar); the Queue pane's grid row once forced ~1080 px."""
    win = make_window()
    # once it shows the model, the Model pane's boxes once held the window at ~1165x728
    qtbot.waitUntil(lambda: win.model_pane.layer_tree.tree.topLevelItemCount() > 0,
                    timeout=30_000)
    hint = win.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 640, hint
    win.resize(1024, 640)
    qtbot.wait(20)
    assert (win.width(), win.height()) == (1024, 640)


def test_a_restored_floating_dock_comes_up_above_the_window(make_window, qtbot, monkeypatch):
    from PySide6.QtWidgets import QDockWidget

    win = make_window()
    win.docks["dataset"].setFloating(True)
    win.project.dirty = False
    win.close()
    raised = []
    real = QDockWidget.raise_
    def spy(dock):   # raised while floating, with its window shown
        if dock.isFloating() and dock.parentWidget().isVisible():
            raised.append(dock.objectName())
        real(dock)

    monkeypatch.setattr(QDockWidget, "raise_", spy)
    again = make_window()
    assert again.docks["dataset"].isFloating() and again.docks["dataset"].isVisible()
    qtbot.waitUntil(lambda: "dock_dataset" in raised)


def test_floating_docks_come_back_above_the_window_when_it_is_activated(make_window,
                                                                         monkeypatch):
    """Under openbox, closing the Open dialog activated the window over the floating
    Gallery, which then sat hidden behind it for the rest of the session."""
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication, QDockWidget

    win = make_window()
    win.docks["gallery"].setFloating(True)
    win.docks["gallery"].show()
    raised = []
    real = QDockWidget.raise_
    monkeypatch.setattr(QDockWidget, "raise_",
                        lambda dock: raised.append(dock.objectName()) or real(dock))
    QApplication.sendEvent(win, QEvent(QEvent.Type.WindowActivate))
    assert raised == ["dock_gallery"]  # the floating one only
