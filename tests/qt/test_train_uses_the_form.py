"""First-hour item 5: invalid settings block Train, with every error on its field at once,
and a run uses exactly what the form shows; the window speaks of fields, not config keys."""

from __future__ import annotations

from tests.qt.conftest import requires_engine  # noqa: F401 - the fixtures' module
from tests.qt.test_settings_pane import type_into

WAIT = 20_000


def test_invalid_settings_block_train_and_the_run_uses_what_the_form_shows(
        make_window, fake_engine, text_folder, dialogs, qtbot):
    engine = fake_engine(steps=2)
    win = make_window(engine_fn=engine)
    win.add_paths([text_folder])
    pane = win.settings_pane
    lr, val = pane.editors["train.lr"], pane.editors["data.val_fraction"]
    type_into(qtbot, lr, "abc")
    type_into(qtbot, val, "1.5")
    # both errors show at once, each on its own field
    assert "expected a number" in lr.error.text() and "at most" in val.error.text()
    assert set(pane.errors) == {"train.lr", "data.val_fraction"}

    win.act_train.trigger()
    assert not win.host.running and engine.calls == []
    assert dialogs.titles("warning") == ["Cannot start training"]
    text = dialogs.calls[-1][2]
    assert "Learning rate (Training)" in text and "Validation fraction (Data)" in text
    assert "train.lr" not in text and "val_fraction" not in text

    type_into(qtbot, lr, "3e-4")  # the rate is fixed; the fraction still is not
    assert set(pane.errors) == {"data.val_fraction"}
    win.act_train.trigger()
    assert not win.host.running and engine.calls == []
    assert "Validation fraction" in dialogs.calls[-1][2] and "Learning rate" not in \
        dialogs.calls[-1][2]

    # the fraction fixed but still being typed (no Enter yet): Train takes it as shown
    val.editor.setFocus()
    val.editor.selectAll()
    qtbot.keyClicks(val.editor, "0.25")
    with qtbot.waitSignal(win.host.run_ended, timeout=WAIT):
        win.act_train.trigger()
    cfg = engine.calls[0]["cfg"]
    assert cfg.train.lr == 3e-4 and cfg.data.val_fraction == 0.25
    assert win.project.config.data.val_fraction == 0.25 and pane.errors == {}
