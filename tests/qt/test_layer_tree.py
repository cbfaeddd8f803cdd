"""The layer tree pane over a tiny GPT-2: ticks, tri-state parents, modes, presets, the
timeline's handles, the live trainable/memory line, and the plan kept in the project."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

from studio.config.schema import FREEZE_PRESETS, FreezeConfig, GroupPlan
from studio.models import freeze as fz
from studio.models.base import get_family
from studio.models.inspect import describe_model
from studio.qt.layer_tree import LayerTreePane
from studio.qt.layer_tree.pane import COL_GROUP
from studio.state.freeze_tree import ROOT_KEY
from studio.state.project import Project

CHECKED, UNCHECKED, PARTIAL = (Qt.CheckState.Checked, Qt.CheckState.Unchecked,
                               Qt.CheckState.PartiallyChecked)


@pytest.fixture(scope="module")
def model(tiny_text_model):
    fam = get_family("text")
    loaded = fam.load(str(tiny_text_model), "cpu")
    groups = fam.layer_groups(loaded)
    return loaded, groups, describe_model(loaded.model, groups)


@pytest.fixture
def make_pane(qtbot, model):
    def make(project: Project | None = None, **train) -> LayerTreePane:
        if project is None:
            project = Project()
            project.replace_section("train", max_steps=train.pop("max_steps", 200), **train)
            project.dirty = False
        pane = LayerTreePane(project)
        qtbot.addWidget(pane)
        pane.resize(1100, 520)
        pane.show()
        _, groups, info = model
        pane.set_groups(groups, info)
        qtbot.waitUntil(lambda: pane.timeline.track("block.0") is not None)
        return pane
    return make


def click_check(pane: LayerTreePane, key: str) -> None:
    """A real mouse click on a row's check box."""
    tree = pane.tree
    item = pane.item(key)
    tree.scrollToItem(item)
    index = tree.indexFromItem(item, COL_GROUP)
    opt = QStyleOptionViewItem()
    tree.initViewItemOption(opt)
    opt.rect = tree.visualRect(index)
    opt.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    rect = tree.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, opt, tree)
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     rect.center())


def plan(groups, fc):
    return [(s.group.name, s.mode, round(s.lr_scale, 9), s.start_step)
            for s in fz.resolve_plan(groups, fc)]


def test_ticking_a_group_writes_the_freeze_config(make_pane, model):
    pane = make_pane()
    project = pane.project
    assert pane.item("block.0").checkState(COL_GROUP) == CHECKED
    click_check(pane, "block.0")
    assert project.config.freeze.groups == (GroupPlan("block.0", "frozen"),)
    assert project.dirty
    assert pane.item("block.0").checkState(COL_GROUP) == UNCHECKED
    assert pane.mode_combo("block.0").currentData() == "frozen"
    assert not pane.start_spin("block.0").isEnabled()
    click_check(pane, "block.0")
    assert project.config.freeze == FreezeConfig()  # back to the preset: no entry left


def test_parents_are_tri_state(make_pane):
    pane = make_pane()
    click_check(pane, "block.1")
    assert pane.item("block.*").checkState(COL_GROUP) == PARTIAL
    assert pane.item(ROOT_KEY).checkState(COL_GROUP) == PARTIAL
    click_check(pane, "block.*")  # partial -> everything under it trains
    assert pane.item("block.*").checkState(COL_GROUP) == CHECKED
    assert pane.item(ROOT_KEY).checkState(COL_GROUP) == CHECKED
    click_check(pane, ROOT_KEY)
    assert {r.mode for r in pane.state.rows() if not r.info.tied} == {"frozen"}
    assert all(pane.item(k).checkState(COL_GROUP) == UNCHECKED
               for k in ("embeddings", "block.0", "block.1", "final_norm", "block.*"))
    assert "Nothing trains" in pane.problems_label.text() and pane.problems_label.isVisible()
    # the tied head has nothing of its own to tick and says why
    head = pane.item("lm_head")
    assert not head.flags() & Qt.ItemFlag.ItemIsUserCheckable and "tied" in head.text(0)


def test_mode_combo_sets_lora_and_counts_adapters_exactly(make_pane, model, tiny_text_model):
    pane = make_pane()
    combo = pane.mode_combo("block.1")
    combo.setFocus()
    QTest.keyClick(combo, Qt.Key.Key_Down)  # Full -> LoRA
    fc = pane.project.config.freeze
    assert fc.groups == (GroupPlan("block.1", "lora"),)
    # embeddings have no linear layers: LoRA is offered but disabled there
    emb = pane.mode_combo("embeddings")
    assert not emb.model().item(1).isEnabled()
    # the parent's combo: LoRA where possible, the rest frozen
    parent = pane.mode_combo(ROOT_KEY)
    assert parent.currentIndex() == -1 and parent.placeholderText() == "Mixed"
    parent.activated.emit(1)
    modes = {r.name: r.mode for r in pane.state.rows() if not r.info.tied}
    assert modes == {"embeddings": "frozen", "block.0": "lora", "block.1": "lora",
                     "final_norm": "frozen"}
    # the trainable count is what peft really adds
    loaded = get_family("text").load(str(tiny_text_model), "cpu")
    _, groups, _ = model
    states = fz.resolve_plan(groups, pane.project.config.freeze)
    fz.apply_plan(loaded.model, states, pane.project.config.freeze)
    real = sum(dict(loaded.model.named_parameters())[n].numel() for s in states for n in s.params)
    trainable, approx = pane.state.trainable_params()
    assert trainable == real and not approx
    assert f"Trainable {real:,} of" in pane.estimate_label.text()
    # freeze.lora_targets narrows LoRA to some layers: the tree counts what the engine adapts
    pane.project.replace_section("freeze", lora_targets=("c_attn",))
    fc = pane.project.config.freeze
    loaded = get_family("text").load(str(tiny_text_model), "cpu")
    states = fz.resolve_plan(groups, fc)
    fz.apply_plan(loaded.model, states, fc)
    narrowed = sum(dict(loaded.model.named_parameters())[n].numel() for s in states
                   for n in s.params)
    assert 0 < narrowed < real
    assert pane.state.trainable_params() == (narrowed, False)


@pytest.mark.parametrize("preset", FREEZE_PRESETS)
def test_presets_give_the_engines_plan(make_pane, model, preset):
    pane = make_pane()
    _, groups, _ = model
    pane.gradual_every_spin.setValue(30)
    pane.preset_buttons[preset].click()
    fc = pane.project.config.freeze
    assert fc.preset == preset and fc.groups == ()
    assert plan(groups, fc) == plan(groups, FreezeConfig(preset=preset, gradual_every=30))
    assert pane.preset_buttons[preset].isChecked()
    for r in pane.state.rows():
        if r.info.tied:
            continue
        want = CHECKED if r.mode != "frozen" else UNCHECKED
        assert pane.item(r.name).checkState(COL_GROUP) == want
        assert pane.start_spin(r.name).value() == r.start_step


def test_gradual_every_spin_moves_the_plan_live(make_pane, model):
    pane = make_pane()
    _, groups, _ = model
    pane.preset_buttons["gradual"].click()
    pane.gradual_every_spin.setValue(40)
    assert pane.project.config.freeze.gradual_every == 40
    assert pane.start_spin("embeddings").value() == 3 * 40
    assert plan(groups, pane.project.config.freeze) == plan(
        groups, FreezeConfig(preset="gradual", gradual_every=40))


def test_dragging_a_handle_changes_the_start_step(make_pane):
    pane = make_pane(max_steps=200)
    pane.preset_buttons["gradual"].click()  # every 50: block.1 at 50, block.0 at 100
    tl = pane.timeline
    assert pane.state.row("block.0").start_step == 100
    start = tl.handle_pos("block.0")
    target = tl.pos_for("block.0", 150)
    QTest.mousePress(tl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(tl, QPoint((start.x() + target.x()) // 2, start.y()))
    QTest.mouseMove(tl, target)
    assert tl.dragging
    assert pane.project.config.freeze.groups == ()  # written on release, not per pixel
    assert pane.start_spin("block.0").value() == pytest.approx(150, abs=tl.snap())
    QTest.mouseRelease(tl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, target)
    step = pane.state.row("block.0").start_step
    assert abs(step - 150) <= tl.snap() and step % tl.snap() == 0
    assert pane.project.config.freeze.groups == (GroupPlan("block.0", "full", 1.0, step),)
    assert pane.start_spin("block.0").value() == step
    assert abs(tl.handle_pos("block.0").x() - target.x()) <= 2
    # the keyboard: select the track, arrows move by one step (Shift: ten), Home to 0
    tl.setFocus()
    QTest.keyClick(tl, Qt.Key.Key_Right)
    assert pane.state.row("block.0").start_step == step + 1
    QTest.keyClick(tl, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert pane.state.row("block.0").start_step == step - 9
    QTest.keyClick(tl, Qt.Key.Key_Home)
    assert pane.state.row("block.0").start_step == 0
    # Down selects the next group's track, and the tree follows
    QTest.keyClick(tl, Qt.Key.Key_Down)
    assert tl.selected == "block.1" and pane.tree.currentItem() is pane.item("block.1")


def test_frozen_tracks_have_no_handle(make_pane):
    pane = make_pane()
    click_check(pane, "block.1")
    tl = pane.timeline
    track = tl.track("block.1")
    assert track.mode == "frozen" and not track.editable
    before = pane.project.config.freeze
    pos = tl.pos_for("block.1", 0)
    QTest.mousePress(tl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    QTest.mouseMove(tl, tl.pos_for("block.1", 100))
    QTest.mouseRelease(tl, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       tl.pos_for("block.1", 100))
    assert pane.project.config.freeze == before


def test_tracks_stay_aligned_with_the_tree_rows(make_pane):
    pane = make_pane()
    tl, tree = pane.timeline, pane.tree

    def aligned():
        for key in ("embeddings", "block.0", "block.1", "final_norm", "lm_head"):
            rect = tree.visualItemRect(pane.item(key))
            top = tl.mapFrom(pane, tree.viewport().mapTo(pane, rect.topLeft())).y()
            t = tl.track(key)
            assert (t.top, t.height) == (top, rect.height()), key
        return True

    assert aligned()
    before = tl.track("block.1").top
    pane.item("block.0").setExpanded(True)  # its parameters open under it
    QTest.qWait(10)
    assert tl.track("block.1").top > before and aligned()


def test_the_live_line_changes_when_a_group_is_unticked(make_pane, model):
    pane = make_pane()
    loaded, groups, _ = model
    text = pane.estimate_label.text()
    total = sum(p.numel() for p in loaded.model.parameters())
    assert text.startswith(f"Trainable {total:,} of {total:,} parameters")
    assert "est. training memory ≈" in text and "optimizer" in pane.estimate_detail.text()
    before = pane.estimate
    click_check(pane, "block.0")
    assert pane.estimate_label.text() != text
    trainable = total - next(g.count for g in groups if g.name == "block.0")
    assert pane.estimate_label.text().startswith(f"Trainable {trainable:,} of {total:,}")
    assert pane.estimate.total < before.total
    # the same arithmetic as the engine's estimate for the same plan
    cfg = pane.project.config
    states = fz.resolve_plan(groups, cfg.freeze)
    est = fz.estimate_for(loaded.model, states, optimizer=cfg.train.optimizer,
                          momentum=cfg.train.momentum, batch=cfg.train.batch_size,
                          block=cfg.data.block_size)
    assert dataclasses.astuple(pane.estimate) == dataclasses.astuple(est)
    # training settings move it too
    pane.project.replace_section("train", batch_size=32)
    assert pane.estimate.activations > est.activations


def test_rates_and_discriminative_dialog(make_pane, qtbot):
    pane = make_pane()
    spin = pane.lr_spin("block.1")
    spin.setValue(2.5)
    assert pane.project.config.freeze.groups == (GroupPlan("block.1", "full", 2.5, 0),)
    dlg = pane.open_discriminative()
    dlg.ratio_spin.setValue(0.01)
    assert dlg.preview.topLevelItem(0).text(1) == "0.01"
    dlg.accept()
    fc = pane.project.config.freeze
    assert fc.lr_first_ratio == 0.01 and fc.groups == ()  # own multipliers back to 1
    assert pane.lr_spin("embeddings").value() == pytest.approx(0.01)
    assert pane.lr_spin("lm_head" if "lm_head" in pane._lr_spins else "final_norm").value() \
        == pytest.approx(0.01 ** (1 / 4))
    assert "0.01" in pane.disc_label.text() and pane.disc_label.isVisible()


def test_round_trip_is_identity_and_follows_outside_edits(make_pane, model):
    fc = FreezeConfig(preset="gradual", gradual_every=20, lr_first_ratio=0.5,
                      groups=(GroupPlan("block.1", "lora", 2.0, 5),
                              GroupPlan("final_norm", "full", 1.0, 0),
                              GroupPlan("embeddings", "frozen")),
                      lora_rank=4, unfreeze_warmup_steps=3)
    project = Project()
    project.replace_section("freeze", **{f.name: getattr(fc, f.name)
                                         for f in dataclasses.fields(fc)})
    project.dirty = False
    pane = make_pane(project)
    assert project.config.freeze == fc and not project.dirty
    assert pane.lora_rank_spin.value() == 4 and pane.warmup_spin.value() == 3
    assert pane.mode_combo("block.1").currentData() == "lora"
    assert pane.preset_buttons["gradual"].text().endswith("+3")
    # the settings pane (or anyone) edits the project: the tree follows
    project.replace_section("freeze", groups=(GroupPlan("block.0", "frozen"),))
    assert pane.item("block.0").checkState(COL_GROUP) == UNCHECKED
    assert pane.mode_combo("block.1").currentData() == "full"


def test_a_saved_and_loaded_project_keeps_the_plan(make_pane, model, tmp_path):
    pane = make_pane()
    _, groups, _ = model
    pane.preset_buttons["gradual"].click()
    click_check(pane, "block.1")
    pane.lora_rank_spin.setValue(16)
    QTest.keyClick(pane.mode_combo("block.0"), Qt.Key.Key_Down)  # LoRA
    pane.start_spin("block.0").setValue(7)
    saved = pane.project.config.freeze
    path = pane.project.save(tmp_path / "plan.project.toml")
    loaded = Project.load(path)
    assert loaded.config.freeze == saved
    again = make_pane(loaded)
    assert plan(groups, again.project.config.freeze) == plan(groups, saved)
    assert again.item("block.1").checkState(COL_GROUP) == UNCHECKED
    assert again.mode_combo("block.0").currentData() == "lora"
    assert again.start_spin("block.0").value() == 7 and again.lora_rank_spin.value() == 16


def test_axis_follows_the_run_length(make_pane):
    pane = make_pane(max_steps=0, epochs=2.0, batch_size=4)
    assert pane.timeline.axis.total is None and "epochs" in pane.axis_label.text()
    pane.set_train_examples(40)  # 10 micro-batches an epoch
    assert pane.timeline.axis.total == 20 and "20 steps" in pane.axis_label.text()
    pane.preset_buttons["gradual"].click()  # every 50: past the end of a 20-step run
    assert "never trains" in pane.start_spin("block.1").toolTip().lower()
    assert "after the run ends" in pane.estimate_detail.text()
    pane.project.replace_section("train", max_steps=500)
    assert pane.timeline.axis.total == 500 and pane.timeline.axis.maximum == 500


def test_clear_goes_back_to_the_placeholder(make_pane, model):
    pane = make_pane()
    pane.clear("Cannot load the model")
    assert pane.placeholder.isVisible() and not pane.body.isVisible()
    assert pane.placeholder.text() == "Cannot load the model"
    pane.project.replace_section("freeze", preset="head_only")  # nothing listens any more
    _, groups, info = model
    pane.set_groups(groups, info)
    assert pane.body.isVisible() and pane.preset_buttons["head_only"].isChecked()


def test_the_group_names_are_never_squeezed_in_a_narrow_dock(qtbot, model):
    """A docked Model pane is ~400 px wide: the Group column keeps its names whole ("Block
    0", not "Blo…") and the tree scrolls sideways instead."""
    pane = LayerTreePane(Project())
    qtbot.addWidget(pane)
    pane.resize(400, 520)
    pane.show()
    _, groups, info = model
    pane.set_groups(groups, info)
    qtbot.waitUntil(lambda: pane.timeline.track("block.0") is not None)
    tree = pane.tree
    tree.expandAll()
    QTest.qWait(100)
    need = tree.sizeHintForColumn(COL_GROUP)
    assert need > 0 and tree.header().sectionSize(COL_GROUP) >= need
