"""The settings form: generated from the schema, validated by studio.config as you type,
written through to the project; Advanced section; restore defaults; Copy as CLI command."""

from __future__ import annotations

import dataclasses
import shlex

import pytest
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QLineEdit, QSpinBox

from studio.config import apply_overrides
from studio.config.schema import SECTIONS, RunConfig, choices_of
from studio.qt.panes.settings import SettingsPane
from studio.state.project import Project


@pytest.fixture
def pane(qtbot):
    project = Project()
    p = SettingsPane(project)
    qtbot.addWidget(p)
    p.resize(500, 900)
    p.show()
    return p


def type_into(qtbot, ed, text: str) -> None:
    """Type like a person: select all, type, press Enter."""
    w = ed.editor
    w.setFocus()
    w.selectAll()
    qtbot.keyClicks(w, text)
    qtbot.keyClick(w, "\r")


def test_every_field_of_every_section_has_an_editor(pane):
    for section, cls in SECTIONS.items():
        if section == "freeze":  # edited in the layer tree (Model pane)
            assert not [p for p in pane.editors if p.startswith("freeze.")]
            continue
        for f in dataclasses.fields(cls):
            if f.metadata.get("hidden"):  # bookkeeping (run.project): no editor
                assert f"{section}.{f.name}" not in pane.editors
                continue
            ed = pane.editors[f"{section}.{f.name}"]
            assert f.metadata["help"][:30] in ed.editor.toolTip()
            if f.metadata.get("choices"):
                assert isinstance(ed.editor, QComboBox)
                assert [ed.editor.itemData(i) for i in range(ed.editor.count())] == list(
                    choices_of(f.metadata))
            elif f.type in (bool, "bool"):
                assert isinstance(ed.editor, QCheckBox)
            elif f.type in (int, "int"):
                assert isinstance(ed.editor, QSpinBox)
                if f.metadata.get("min") is not None:
                    assert ed.editor.minimum() == f.metadata["min"]
            in_advanced = pane.advanced.body.isAncestorOf(ed)
            assert in_advanced == bool(f.metadata.get("advanced")), ed.path
    assert not pane.advanced.is_open
    pane.advanced.button.click()
    assert pane.advanced.is_open and pane.editors["train.beta2"].isVisible()


def test_values_round_trip_into_the_project(qtbot, pane):
    project = pane.project
    type_into(qtbot, pane.editors["train.lr"], "0.001")
    assert project.config.train.lr == 0.001 and project.dirty
    spin = pane.editors["train.batch_size"].editor
    spin.setValue(16)
    assert project.config.train.batch_size == 16
    combo = pane.editors["train.optimizer"].editor
    combo.setCurrentIndex(combo.findData("sgd"))
    combo.activated.emit(combo.currentIndex())
    assert project.config.train.optimizer == "sgd"
    pane.editors["eval.keep_best"].editor.setChecked(False)
    assert project.config.eval.keep_best is False
    prompts = pane.editors["sample.prompts"].editor
    prompts.setPlainText("Shall I\nWhen I do count")
    prompts.focus_lost.emit()
    assert project.config.sample.prompts == ("Shall I", "When I do count")
    # and the other way: a change elsewhere shows in the form
    project.replace_section("train", lr=0.02)
    assert pane.editors["train.lr"].editor.text() == "0.02"
    assert pane._labels["train.lr"].font().bold()  # differs from the family default


def test_invalid_values_are_rejected_with_a_visible_message(qtbot, pane):
    project = pane.project
    ed = pane.editors["train.lr"]
    type_into(qtbot, ed, "-1")
    assert project.config.train.lr == 5e-4
    assert ed.error.isVisible() and "must be greater than 0" in ed.error.text()
    assert pane.errors == {"train.lr": ed.error.text()}
    type_into(qtbot, ed, "abc")
    assert "expected a number" in ed.error.text() and project.config.train.lr == 5e-4
    type_into(qtbot, ed, "3e-4")
    assert not ed.error.isVisible() and project.config.train.lr == 3e-4
    # validation as you type: the message shows before Enter
    ed.editor.setFocus()
    ed.editor.selectAll()
    qtbot.keyClicks(ed.editor, "20")
    assert "must be at most 10" in ed.error.text() and project.config.train.lr == 3e-4


def test_cross_field_rules_wait_for_a_valid_whole(qtbot, pane):
    project = pane.project
    pane.editors["train.nesterov"].editor.setChecked(True)
    err = pane.editors["train.nesterov"].error
    assert err.isVisible() and "sgd" in err.text()
    assert project.config.train.nesterov is False
    combo = pane.editors["train.optimizer"].editor
    combo.setCurrentIndex(combo.findData("sgd"))
    combo.activated.emit(combo.currentIndex())
    assert project.config.train.optimizer == "sgd" and project.config.train.nesterov is True
    assert pane.errors == {}


def test_copy_cli_command_unsaved_lists_everything(qtbot, pane):
    type_into(qtbot, pane.editors["train.lr"], "0.001")
    cmd = pane.copy_cli_command()
    assert QApplication.clipboard().text() == cmd
    args = shlex.split(cmd)
    assert args[:3] == ["studio", "train", "PROJECT.toml"]
    n_fields = sum(1 for c in SECTIONS.values() for f in dataclasses.fields(c)
                   if not f.metadata.get("hidden"))  # run.project: the project file's own
    assert len(args) - 3 == n_fields
    assert "train.lr=0.001" in args
    # the overrides rebuild exactly the form's settings
    overrides = [a for a in args[3:] if not a.startswith("data.paths=")] + ['data.paths=["x"]']
    rebuilt = apply_overrides(RunConfig(data=dataclasses.replace(RunConfig().data,
                                                                 paths=("x",))), overrides)
    assert dataclasses.replace(rebuilt, data=dataclasses.replace(rebuilt.data, paths=())) == \
        pane.project.config


def test_copy_cli_command_saved_lists_the_differences(qtbot, tmp_path):
    project = Project()
    project.add_dataset_path(str(tmp_path))
    path = project.save(tmp_path / "my project.toml")
    pane = SettingsPane(project)
    qtbot.addWidget(pane)
    assert shlex.split(pane.copy_cli_command()) == ["studio", "train", str(path)]
    type_into(qtbot, pane.editors["train.lr"], "0.002")
    type_into(qtbot, pane.editors["run.name"], "my run")
    prompts = pane.editors["sample.prompts"].editor
    prompts.setPlainText("true\nx = 1")
    prompts.focus_lost.emit()
    args = shlex.split(pane.copy_cli_command())
    assert args[2] == str(path)
    assert sorted(args[3:]) == sorted(["train.lr=0.002", "run.name=my run",
                                       'sample.prompts=["true", "x = 1"]'])
    assert apply_overrides(Project.load(path).config, args[3:]) == project.config


def test_restore_defaults_keeps_identity(qtbot, pane, dialogs):
    project = pane.project
    project.set_model_source("/some/model")
    project.replace_section("train", lr=0.02, batch_size=2)
    project.replace_section("run", name="poems")
    pane.restore_button.click()
    assert dialogs.titles("question") == ["Restore defaults"]
    assert project.config.train.lr == RunConfig().train.lr
    assert project.config.train.batch_size == RunConfig().train.batch_size
    assert project.model_source == "/some/model" and project.config.run.name == "poems"
    assert "Restored 2 settings" in pane.status.text()
    assert isinstance(pane.editors["train.lr"].editor, QLineEdit)


def test_only_the_families_own_settings_are_shown(qtbot, pane):
    pane.show()
    project = pane.project
    assert pane.editors["data.block_size"].isVisible()
    assert not pane.editors["data.crop"].isVisible()
    assert not pane.editors["augment.hflip"].isVisible()
    project.replace_section("run", family="image")
    assert pane.editors["data.crop"].isVisible() and pane.editors["augment.hflip"].isVisible()
    assert not pane.editors["data.block_size"].isVisible()
    assert not pane.editors["sample.prompts"].isVisible()
    assert pane.editors["sample.num_images"].isVisible()


def test_trust_remote_code_asks_first_and_holds_for_that_model_only(pane, monkeypatch):
    from PySide6.QtWidgets import QMessageBox
    asked = []
    answer = [QMessageBox.StandardButton.No]

    def warning(parent, title, text, *args):
        asked.append((title, text))
        return answer[0]

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(warning))
    pane.project.set_model_source("someone/odd-model")
    ed = pane.editors["model.trust_remote_code"]
    ed.editor.setChecked(True)  # the user ticks it... and says No
    assert asked and "someone/odd-model" in asked[0][1] and "your files" in asked[0][1]
    assert not ed.editor.isChecked() and not pane.project.config.model.trust_remote_code
    answer[0] = QMessageBox.StandardButton.Yes
    ed.editor.setChecked(True)
    assert pane.project.config.model.trust_remote_code
    assert len(asked) == 2
    # another model: the trust does not carry over
    pane.project.set_model_source("starter:text")
    assert not pane.project.config.model.trust_remote_code


def _wheel(widget, up: bool = True) -> None:
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent

    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(), QPoint(0, 120 if up else -120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_wheel_over_unfocused_fields_changes_nothing(qtbot, pane):
    """Scrolling the form with the mouse wheel used to change the numbers it passed over."""
    project = pane.project
    spin = pane.editors["train.batch_size"].editor
    combo = pane.editors["train.optimizer"].editor
    before = project.config
    for w in (spin, combo):
        _wheel(w)
        _wheel(w, up=False)
    assert project.config == before
    assert spin.value() == before.train.batch_size
    assert combo.currentData() == before.train.optimizer
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=2000)
    _wheel(spin)  # clicked into: the wheel is the user's intent
    assert spin.value() == before.train.batch_size + 1
