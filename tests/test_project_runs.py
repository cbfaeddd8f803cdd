"""Runs stay with their project: one rule for where they go, named after what they are,
listed per project, moved on first save, and one training process per project."""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import sys
import time

import pytest

from studio.config import dumps_toml, load_config, save_config
from studio.config.naming import run_name
from studio.config.schema import RunConfig
from studio.core.errors import RunError
from studio.runs.lock import ProjectLock, holder
from studio.runs.store import RunFolder, list_runs
from studio.state.project import Project


@pytest.fixture
def data_dir(user_data_dir):
    return user_data_dir


def test_runs_are_named_after_the_project_and_what_differs():
    cfg = RunConfig()
    assert run_name(cfg, "My Sonnets") == "My-Sonnets"
    tuned = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, lr=3e-4,
                                                                max_steps=500))
    assert run_name(tuned, "sonnets") == "sonnets-lr3e-4-steps500"
    lora = dataclasses.replace(tuned, freeze=dataclasses.replace(
        tuned.freeze, default_mode="lora", lora_rank=16))
    assert run_name(lora, "sonnets", previous=tuned) == "sonnets-lora-r16"
    assert run_name(lora, "") == "text-lr3e-4-lora-r16"  # untitled: the family
    mine = dataclasses.replace(lora, run=dataclasses.replace(lora.run, name="my try"))
    assert run_name(mine, "sonnets") == "my try"  # the user's own name wins


def test_an_unsaved_projects_runs_go_to_the_user_data_folder_then_move_on_save(
        tmp_path, data_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the process's folder must never collect runs
    project = Project(name="poems")
    assert project.runs_dir() == data_dir / "unsaved-project-runs"
    cfg = project.run_config()
    assert cfg.run.runs_dir == str(data_dir / "unsaved-project-runs")
    assert cfg.run.name == "poems" and cfg.run.project == ""
    run = RunFolder.create(cfg.run.runs_dir, cfg.run.name)
    save_config(cfg, run.config_path)
    run.write_status("completed", step=3)
    project.note_run(run.path)
    assert [i.path for i in list_runs(project.runs_dir(), project="")] == [run.path]

    (tmp_path / "work").mkdir()
    saved = project.save(tmp_path / "work" / "poems.toml")
    assert project.runs_dir() == (tmp_path / "work" / "runs").resolve()
    assert not run.path.exists() and project.moved_runs == [project.runs_dir() / run.path.name]
    mine = list_runs(project.runs_dir(), project=str(saved.resolve()))
    assert [i.id for i in mine] == [run.path.name]
    assert not (tmp_path / "runs").exists()


def test_only_the_projects_own_runs_are_listed(tmp_path):
    runs = tmp_path / "runs"
    for name, owner in (("a", tmp_path / "a.toml"), ("b", tmp_path / "b.toml"), ("c", "")):
        folder = RunFolder.create(runs, name)
        cfg = RunConfig()
        save_config(dataclasses.replace(cfg, run=dataclasses.replace(
            cfg.run, name=name, project=str(owner))), folder.config_path)
    assert [i.name for i in list_runs(runs, project=str(tmp_path / "a.toml"))] == ["a"]
    assert len(list_runs(runs)) == 3


def test_a_project_file_names_itself_as_the_runs_project(tmp_path):
    p = tmp_path / "sonnets.toml"
    p.write_text(dumps_toml({"project": {"name": "sonnets"}, "data": {"paths": ["x"]}}))
    assert load_config(p).run.project == str(p.resolve())
    loaded = Project.load(p)
    assert loaded.config.run.project == str(p.resolve())
    assert "project" not in loaded.to_toml().split("[run]")[1].split("[")[0]


@contextlib.contextmanager
def held_elsewhere(project_file, what: str = "the other window"):
    """Another process holds ``project_file``'s training lock until the block ends (then
    it dies without releasing it, as a crashed window would)."""
    code = ("import time; from studio.runs.lock import ProjectLock; "
            f"ProjectLock({str(project_file)!r}, {what!r}).acquire(); "
            "print('held', flush=True); time.sleep(120)")
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        yield
    finally:
        other.kill()
        other.wait()


def test_two_processes_cannot_train_one_project(tmp_path):
    project_file = tmp_path / "p.toml"
    with held_elsewhere(project_file):
        with pytest.raises(RunError, match="already training in the other window"):
            ProjectLock(project_file, "this window").acquire()
    time.sleep(0.1)
    assert holder(project_file) is None  # its process died: the lock is stale
    with ProjectLock(project_file, "this window") as lock:
        assert holder(project_file)["what"] == "this window" and lock.held
    assert holder(project_file) is None
