"""A new project's step budget follows its data (first-hour item 7): the demo's fixed 200
steps were 33 epochs of a 47-block poem folder, and validation rose 1.3 nats."""

from __future__ import annotations

import dataclasses

from studio.config import budget, families
from studio.config.schema import RunConfig
from studio.state.project import Project


def test_a_small_folder_gets_a_few_epochs_with_early_stopping():
    cfg = RunConfig()  # batch 8, validation 10%
    b = budget.suggest(47, cfg)
    assert b.steps_per_epoch == 6  # 42 training blocks in batches of 8
    assert b.max_steps == budget.MIN_STEPS and b.eval_every == 3
    assert b.early_stopping_patience == 3 and 4.9 < b.epochs < 5.1
    big = budget.suggest(200_000, cfg)
    assert big.max_steps == budget.MAX_STEPS and big.epochs < 0.1


def test_the_settings_line_says_what_a_step_count_means():
    demo = dataclasses.replace(RunConfig(), train=dataclasses.replace(RunConfig().train,
                                                                       max_steps=200))
    text = budget.describe(demo, 47)
    assert text.startswith("200 steps ≈ 33.3 epochs") and "memorise" in text
    assert "42 training items" in text
    assert budget.describe(demo, None) == ""
    fitted = budget.apply(demo, budget.suggest(47, demo))
    assert "memorise" not in budget.describe(fitted, 47)


def test_a_new_projects_budget_follows_its_data_until_the_user_sets_it():
    project = Project(families.default_config("text"))
    project.auto_budget = True
    project.set_data_items(47)
    cfg = project.config
    assert cfg.train.max_steps == 30 and cfg.eval.early_stopping_patience == 3
    assert cfg.eval.every == 3 and cfg.eval.keep_best
    project.replace_section("train", batch_size=4)  # still automatic: refitted
    assert project.config.train.max_steps == 33  # 11 steps an epoch, 3 epochs
    project.replace_section("train", max_steps=500)  # the user's own budget
    assert not project.auto_budget
    project.set_data_items(1000)
    assert project.config.train.max_steps == 500
    opened = Project(families.default_config("text"), path="/some/project.toml")
    opened.set_data_items(47)  # a saved project keeps its settings
    assert opened.config.train.max_steps == 0 and not opened.auto_budget
