"""First-hour items 6 and 8: New project asks what it fine-tunes (and starts at that
family's defaults), and leaves the last project's curves, samples and readout behind."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

WAIT = 20_000


def test_new_project_clears_the_curves_gallery_and_readout(make_window, fake_engine,
                                                           text_folder, dialogs, qtbot):
    win = make_window(engine_fn=fake_engine(steps=8))
    win.add_paths([text_folder])
    with qtbot.waitSignal(win.host.run_ended, timeout=WAIT):
        win.act_train.trigger()
    assert win.gallery.steps and len(win.history.train) == 8
    dialogs.answer = QMessageBox.StandardButton.Discard
    win.act_new.trigger()
    assert win.project.dataset_paths == ()
    assert len(win.history.train) == 0 and win.gallery.steps == []
    win.curves.refresh()
    assert len(win.curves.raw.getOriginalDataset()[0] or []) == 0
    win.run_status.refresh(force=True)
    assert "Ready" in win.run_status.state_label.text()
    assert not win.run_status.progress.isVisible() and win.run_status.loss_label.text() == ""


def test_new_project_asks_the_kind_and_takes_its_defaults(make_window, dialogs):
    from studio.qt.panes.settings import family_defaults

    win = make_window()
    first = win.project
    dialogs.item_ok = False  # cancelled: nothing changes
    win.act_new.trigger()
    assert win.project is first
    assert [c[1] for c in dialogs.calls if c[0] == "item"] == ["New project"]
    from studio.config import families

    audio_spec = families.get("audio")
    dialogs.item_ok, dialogs.item = True, f"{audio_spec.title}: {audio_spec.summary}"
    win.act_new.trigger()
    cfg = win.project.config
    audio = family_defaults("audio")
    assert cfg.run.family == "audio" and cfg.model.source == "starter:audio"
    assert cfg.sample.prompts == audio.sample.prompts != ("The",)  # not the text prompt
    assert cfg.train.lr == audio.train.lr and cfg.data.paths == ()
    assert win.settings_pane.project is win.project
    assert "<b>Audio</b>" in win.settings_pane.family_label.text()


def test_a_new_projects_steps_follow_its_data_and_say_the_epochs(make_window, text_folder,
                                                                 dialogs, qtbot):
    win = make_window()
    win.act_new.trigger()
    assert win.project.auto_budget
    win.add_paths([text_folder])
    qtbot.waitUntil(lambda: bool(win.project.data_items), timeout=WAIT)
    cfg = win.project.config
    assert cfg.train.max_steps >= 30 and cfg.eval.early_stopping_patience == 3
    label = win.settings_pane.budget_label
    qtbot.waitUntil(lambda: "epoch" in label.text(), timeout=WAIT)
    assert f"{cfg.train.max_steps} steps ≈" in label.text()
    assert "set from the size of your data" in label.text()


def test_a_new_empty_project_of_every_family_has_no_unsaved_changes(make_window, dialogs):
    # a new Music (MIDI) project read "Untitled*" and asked to be saved at once: its empty
    # dataset counted as one training item and refitted the step budget
    from studio.config import families

    win = make_window()
    for spec in families.all_specs():
        dialogs.answer = QMessageBox.StandardButton.Discard
        dialogs.item_ok, dialogs.item = True, f"{spec.title}: {spec.summary}"
        win.act_new.trigger()
        assert win.project.config.run.family == spec.name
        assert not win.project.dirty, spec.name
