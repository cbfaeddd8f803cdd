"""The layer tree's state (Qt-free): the plan it shows is the plan the engine resolves, edits
write small readable FreezeConfigs into the project, and nothing is lost on a round trip."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.config.schema import FREEZE_PRESETS, FreezeConfig, GroupPlan, TrainConfig
from studio.models import freeze as fz
from studio.models.base import LayerGroup
from studio.state.freeze_tree import (
    ROOT_KEY,
    FreezeTree,
    GroupInfo,
    approx_lora_per_rank,
    preset_plans,
    run_length,
    spread,
)
from studio.state.project import Project


def layer_groups(n_blocks: int = 4, tied: bool = True) -> list[LayerGroup]:
    """The shape text_layer_groups gives a GPT-2 (d=32, vocab 320)."""
    def g(name, title, count, note=""):
        return LayerGroup(name, title, [f"{name}.weight"] if count else [], count=count,
                          note=note)
    groups = [g("embeddings", "Embeddings", 320 * 32 + 64 * 32,
                "shared with the LM head (tied weights)" if tied else "")]
    groups += [g(f"block.{i}", f"Block {i}", 12_704) for i in range(n_blocks)]
    groups.append(g("final_norm", "Final norm", 64))
    groups.append(g("lm_head", "LM head", 0 if tied else 320 * 32,
                    "tied to the embeddings: trains with them" if tied else ""))
    return groups


def engine_plan(groups, fc: FreezeConfig) -> list[tuple[str, str, float, int]]:
    return [(s.group.name, s.mode, s.lr_scale, s.start_step) for s in fz.resolve_plan(groups, fc)]


def tree_plan(tree: FreezeTree) -> list[tuple[str, str, float, int]]:
    return [(r.name, r.mode, r.lr_scale, r.start_step) for r in tree.rows()]


def assert_same_plan(a, b):
    assert [(n, m, s) for n, m, _, s in a] == [(n, m, s) for n, m, _, s in b]
    for (n, _, x, _), (_, _, y, _) in zip(a, b):
        assert x == pytest.approx(y, rel=1e-9), n


# -- presets and resolution are the engine's -------------------------------------------------

@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("preset", FREEZE_PRESETS)
def test_presets_match_the_engine(preset, tied):
    groups = layer_groups(5, tied)
    infos = [GroupInfo.of(g) for g in groups]
    assert preset_plans(infos, preset, 7) == fz.preset_plan(groups, preset, 7)
    tree = FreezeTree(groups)
    tree.apply_preset(preset, every=7)
    fc = tree.config
    assert fc.preset == preset and fc.groups == () and fc.gradual_every == 7
    assert_same_plan(tree_plan(tree), engine_plan(groups, FreezeConfig(preset=preset,
                                                                       gradual_every=7)))


plans = st.builds(
    lambda name, mode, lr, start: GroupPlan(name, mode, lr, start),
    st.sampled_from(["embeddings", "block.0", "block.1", "block.2", "final_norm", "lm_head"]),
    st.sampled_from(["full", "lora", "frozen"]),
    st.sampled_from([1.0, 0.5, 2.0, 0.1]),
    st.integers(0, 300))
configs = st.builds(
    lambda preset, every, default, entries, ratio: FreezeConfig(
        preset=preset, gradual_every=every, default_mode=default,
        groups=tuple({gp.name: gp for gp in entries}.values()), lr_first_ratio=ratio),
    st.sampled_from(FREEZE_PRESETS), st.integers(1, 100), st.sampled_from(["full", "lora",
                                                                            "frozen"]),
    st.lists(plans, max_size=4), st.sampled_from([1.0, 0.1, 0.01]))
edits = st.lists(st.one_of(
    st.tuples(st.just("trains"), st.sampled_from(["embeddings", "block.0", "block.2",
                                                  "final_norm", "block.*", ROOT_KEY]),
              st.booleans()),
    st.tuples(st.just("mode"), st.sampled_from(["block.1", "final_norm", "block.*", ROOT_KEY]),
              st.sampled_from(["full", "lora", "frozen"])),
    st.tuples(st.just("lr"), st.sampled_from(["block.0", "lm_head", "embeddings"]),
              st.sampled_from([0.3, 1.0, 2.5])),
    st.tuples(st.just("start"), st.sampled_from(["block.0", "block.2", "final_norm"]),
              st.integers(0, 500)),
    st.tuples(st.just("preset"), st.sampled_from(FREEZE_PRESETS), st.integers(1, 60)),
    st.tuples(st.just("disc"), st.sampled_from([1.0, 0.25, 0.01]), st.none()),
), max_size=8)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fc=configs, steps=edits)
def test_the_tree_always_shows_what_the_engine_resolves(fc, steps):
    groups = layer_groups(3)
    tree = FreezeTree(groups, fc)
    assert tree.config == fc  # nothing is rewritten by looking
    assert_same_plan(tree_plan(tree), engine_plan(groups, tree.config))
    for kind, key, value in steps:
        if kind == "trains":
            tree.set_trains(key, value)
            if tree.check_state(key) is not None:
                assert tree.check_state(key) == ("checked" if value else "unchecked")
        elif kind == "mode":
            tree.set_mode(key, value)
            if key == "final_norm" and value == "lora":
                pass  # no linear layers (the test groups carry no LoRA sizes: allowed)
        elif kind == "lr":
            before = tree.row(key)
            tree.set_lr(key, value)
            if before.mode != "frozen":  # own lr_scale is capped at 100 (the schema's max)
                cap = 100 * before.lr_scale / before.own_lr
                assert tree.row(key).lr_scale == pytest.approx(min(value, cap), rel=1e-3)
        elif kind == "start":
            before = tree.row(key)
            tree.set_start_step(key, value)
            if before.mode != "frozen":
                assert tree.row(key).start_step == value
        elif kind == "preset":
            tree.apply_preset(key, value)
        elif kind == "disc":
            tree.set_discriminative(key)
            assert tree.config.lr_first_ratio == key
        assert_same_plan(tree_plan(tree), engine_plan(groups, tree.config))
        # entries written here stay minimal: none restates what the preset already gives
        presets = fz.preset_plan(groups, tree.config.preset, tree.config.gradual_every)
        for gp in tree.config.groups:
            if gp in fc.groups:
                continue  # untouched entries are kept verbatim
            base = presets.get(gp.name, GroupPlan(gp.name, tree.config.default_mode))
            if gp.mode == "frozen":
                assert base.mode != "frozen" and gp == GroupPlan(gp.name, "frozen")
            else:
                assert not (gp.mode == base.mode and gp.start_step == base.start_step
                            and gp.lr_scale == pytest.approx(base.lr_scale))


# -- the tree's shape and ticks ---------------------------------------------------------------

def test_nodes_gather_blocks_under_tri_state_parents():
    tree = FreezeTree(layer_groups(4))
    (root,) = tree.nodes
    assert root.key == ROOT_KEY and root.title == "All layers"
    assert [c.title for c in root.children] == ["Embeddings", "Transformer blocks",
                                                 "Final norm", "LM head"]
    blocks = tree.node("block.*")
    assert blocks.members() == [f"block.{i}" for i in range(4)]
    assert tree.check_state(ROOT_KEY) == "checked"
    assert tree.check_state("lm_head") is None  # tied: nothing of its own to tick
    tree.set_trains("block.1", False)
    assert tree.check_state("block.1") == "unchecked"
    assert tree.check_state("block.*") == "partial" and tree.check_state(ROOT_KEY) == "partial"
    assert tree.config.groups == (GroupPlan("block.1", "frozen"),)
    tree.set_trains("block.*", False)
    assert tree.check_state("block.*") == "unchecked"
    assert [gp.name for gp in tree.config.groups] == [f"block.{i}" for i in range(4)]
    tree.set_trains(ROOT_KEY, True)  # back to the preset: no entries at all
    assert tree.config == FreezeConfig() and tree.check_state(ROOT_KEY) == "checked"


def test_unticking_then_ticking_restores_the_plan_it_had():
    groups = layer_groups(4)
    tree = FreezeTree(groups)
    tree.apply_preset("gradual", every=20)
    tree.set_start_step("block.2", 5)
    tree.set_lr("block.2", 3.0)
    plan = tree.row("block.2")
    tree.set_trains("block.2", False)
    assert tree.row("block.2").mode == "frozen"
    assert GroupPlan("block.2", "frozen") in tree.config.groups
    tree.set_trains("block.2", True)
    assert tree.row("block.2") == plan
    # a group ticked back to exactly what the preset gives leaves no entry behind
    tree.set_start_step("block.2", 40)
    tree.set_lr("block.2", 1.0)
    assert tree.config.groups == ()


def test_mode_on_a_parent_uses_lora_where_it_can():
    infos = [GroupInfo.of(g) for g in layer_groups(3)]
    infos = [dataclasses.replace(g, lora_per_rank=approx_lora_per_rank(g.name, g.count, 32, 320),
                                 lora_exact=False) for g in infos]
    tree = FreezeTree(infos)
    tree.set_mode(ROOT_KEY, "lora")
    modes = {r.name: r.mode for r in tree.rows() if not r.info.tied}
    assert modes == {"embeddings": "frozen", "block.0": "lora", "block.1": "lora",
                     "block.2": "lora", "final_norm": "frozen"}
    assert tree.config.default_mode == "lora"  # said once, with the exceptions listed
    assert tree.config.groups == (GroupPlan("embeddings", "frozen"),
                                  GroupPlan("final_norm", "frozen"))
    assert tree.mode_of("block.*") == "lora" and tree.mode_of(ROOT_KEY) is None
    with pytest.raises(ValueError, match="no linear"):
        tree.set_mode("embeddings", "lora")
    n, approx = tree.trainable_params()
    assert n == 3 * 16 * 32 * tree.config.lora_rank and approx
    tree.set_lora(rank=4)
    assert tree.trainable_params()[0] == 3 * 16 * 32 * 4


def test_discriminative_rates_spread_geometrically():
    groups = layer_groups(3)
    tree = FreezeTree(groups, FreezeConfig(groups=(GroupPlan("block.1", lr_scale=2.0),)))
    tree.set_discriminative(0.01)
    assert tree.config.lr_first_ratio == 0.01 and tree.config.groups == ()
    rates = [r.lr_scale for r in tree.rows()]
    assert rates == pytest.approx(spread(6, 0.01))
    assert rates[0] == pytest.approx(0.01) and rates[-1] == pytest.approx(1.0)
    assert all(b / a == pytest.approx(0.01 ** -0.2) for a, b in zip(rates, rates[1:]))
    tree.set_lr("block.0", 0.5)  # an effective value: the entry holds value / factor
    (gp,) = tree.config.groups
    assert gp.lr_scale == pytest.approx(0.5 / 0.01 ** 0.8, rel=1e-3)
    assert tree.row("block.0").lr_scale == pytest.approx(0.5, rel=1e-3)
    assert_same_plan(tree_plan(tree), engine_plan(groups, tree.config))


def test_problems_name_what_the_engine_would_refuse():
    tree = FreezeTree(layer_groups(2), FreezeConfig(groups=(GroupPlan("block.9", "frozen"),)))
    assert any("block.9" in p for p in tree.problems())
    tree.remove_unknown()
    assert tree.problems() == []
    tree.set_trains(ROOT_KEY, False)
    assert tree.problems() == ["Nothing trains: tick at least one group"]
    tree.set_trains(ROOT_KEY, True)
    for r in tree.rows():
        tree.set_start_step(r.name, 30)
    assert tree.problems() == ["No group trains before step 30: let at least one start at "
                               "step 0"]


def test_counts_and_activation_cut_follow_the_estimate_rules():
    groups = layer_groups(4)
    tree = FreezeTree(groups)
    assert tree.trainable_params() == (tree.total_params, False)
    tree.apply_preset("lower_half_frozen")
    frozen = {"embeddings", "block.0", "block.1"}
    assert tree.trainable_params()[0] == sum(g.count for g in groups if g.name not in frozen)
    assert tree.frozen_below_blocks() == 2
    # the same rule as estimate_for on the engine's side
    states = fz.resolve_plan(groups, tree.config)
    blocks = [s for s in states if s.group.name.startswith("block.")]
    assert tree.frozen_below_blocks() == next(k for k, s in enumerate(blocks)
                                              if s.mode != "frozen")


def test_run_length_is_the_engines():
    assert run_length(TrainConfig(max_steps=300)) == 300
    assert run_length(TrainConfig(max_steps=0, epochs=2.0)) is None
    t = TrainConfig(max_steps=0, epochs=1.5, batch_size=8, grad_accum=2)
    assert run_length(t, 100) == math.ceil(1.5 * math.ceil(100 / 8) / 2)


# -- the project ---------------------------------------------------------------------------------

def test_edits_write_the_project_and_follow_it(tmp_path):
    project = Project()
    project.replace_section("freeze", preset="head_only")
    project.dirty = False
    tree = FreezeTree(layer_groups(3), project=project)
    seen = []
    tree.subscribe(seen.append)
    tree.set_trains("block.2", True)
    assert project.config.freeze.groups == (GroupPlan("block.2", "full"),)
    assert project.dirty and seen == ["plan"]
    # a change made elsewhere (the settings pane) shows in the tree
    project.replace_section("freeze", preset="none", groups=())
    assert tree.row("block.0").mode == "full" and seen == ["plan", "plan"]
    tree.detach()
    project.replace_section("freeze", preset="head_only")
    assert tree.row("block.0").mode == "full"  # detached


def test_round_trip_and_save_load_keep_the_plan(tmp_path):
    fc = FreezeConfig(preset="gradual", gradual_every=25, lr_first_ratio=0.1,
                      groups=(GroupPlan("block.0", "lora", 2.0, 60),
                              GroupPlan("final_norm", "full", 1.0, 0),  # restates the preset
                              GroupPlan("embeddings", "frozen")),
                      lora_rank=4, lora_alpha=8.0, unfreeze_warmup_steps=3)
    project = Project()
    project.replace_section("freeze", **{f.name: getattr(fc, f.name)
                                         for f in dataclasses.fields(fc)})
    groups = layer_groups(3)
    tree = FreezeTree(groups, project=project)
    assert tree.config == fc and project.config.freeze == fc  # identity, verbatim
    tree.set_start_step("block.2", 7)  # an edit touches only its own entry
    assert tree.config.groups[:3] == fc.groups[:1] + (GroupPlan("block.2", "full", 1.0, 7),) + \
        fc.groups[1:2]
    path = project.save(tmp_path / "p.toml")
    loaded = Project.load(path)
    assert loaded.config.freeze == project.config.freeze
    again = FreezeTree(groups, project=loaded)
    assert_same_plan(tree_plan(again), tree_plan(tree))


def test_one_mode_for_everything_is_written_once():
    infos = [dataclasses.replace(GroupInfo.of(g), lora_exact=True, lora_per_rank=0 if g.name in (
        "embeddings", "final_norm") else 100) for g in layer_groups(2, tied=False)]
    tree = FreezeTree(infos)
    tree.set_mode(ROOT_KEY, "lora")
    assert tree.config.default_mode == "lora"
    assert tree.config.groups == (GroupPlan("embeddings", "frozen"), GroupPlan("final_norm",
                                                                             "frozen"))
    assert {r.name for r in tree.rows() if r.mode == "lora"} == {"block.0", "block.1",
                                                                 "lm_head"}
    tree.set_mode("block.0", "full")
    assert GroupPlan("block.0", "full") in tree.config.groups
    tree.set_trains("embeddings", True)  # no linear layers: it trains in full, not LoRA
    assert tree.row("embeddings").mode == "full"
