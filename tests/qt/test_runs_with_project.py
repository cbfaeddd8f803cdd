"""First-hour item 4 in the window: an unsaved project's runs go to the user data folder
(not the process's folder), move beside the project file when it is saved, are named after
the project, and the Runs pane lists only this project's runs; a project another process
trains cannot be trained twice. Item 3: Export from the Runs pane."""

from __future__ import annotations

import dataclasses

from studio.config import save_config
from studio.config.schema import RunConfig
from studio.runs import RunFolder
from studio.state.project import Project
from tests.qt.conftest import requires_engine
from tests.test_project_runs import held_elsewhere


def _other_projects_run(runs_dir, other_file) -> None:
    folder = RunFolder.create(runs_dir, "someone-else")
    cfg = RunConfig()
    save_config(dataclasses.replace(cfg, run=dataclasses.replace(
        cfg.run, project=str(other_file))), folder.config_path)


@requires_engine
def test_runs_stay_with_their_project(make_window, tiny_run_config, qtbot, tmp_path,
                                      user_data_dir, monkeypatch, dialogs):
    monkeypatch.chdir(tmp_path)
    loaded = Project.load(tiny_run_config(train={"max_steps": 2}, run={"name": "run",
                                                                         "runs_dir": "runs"}))
    project = Project(loaded.config, name="Poems")  # a new, unsaved project
    project.replace_section("run", runs_dir="runs")
    win = make_window(project=project)
    assert win.runs_pane.runs_dir == user_data_dir / "unsaved-project-runs"
    with qtbot.waitSignal(win.host.run_ended, timeout=120_000) as ended:
        win.act_train.trigger()
    assert ended.args == ["completed"], win.session.error_message
    run = win.runs_pane.infos[0]
    assert run.name.startswith("Poems") and run.path.parent == user_data_dir / "unsaved-project-runs"
    assert not (tmp_path / "runs").exists()  # never the process's current folder

    (tmp_path / "work").mkdir()
    project_file = tmp_path / "work" / "poems.toml"
    project.save(project_file)
    win._on_project_changed("saved")
    moved = tmp_path / "work" / "runs" / run.path.name
    assert moved.is_dir() and not run.path.exists()
    _other_projects_run(tmp_path / "work" / "runs", tmp_path / "work" / "other.toml")
    win.runs_pane.refresh()
    assert [i.path for i in win.runs_pane.infos] == [moved]  # only this project's
    win.runs_pane.all_runs.setChecked(True)
    assert len(win.runs_pane.infos) == 2
    win.runs_pane.all_runs.setChecked(False)

    # Export from the Runs pane
    win.runs_pane.select(moved)
    assert win.runs_pane.export_button.isEnabled()
    win.runs_pane.export_button.click()
    dialog = win.tools.export_dialog
    assert dialog.run_dir == str(moved) and dialog.isVisible()
    dialog.close()

    # another process trains this project: Train says so and starts nothing
    with held_elsewhere(project_file):
        win.act_train.trigger()
        assert not win.host.running
        warning = [text for kind, _title, text in dialogs.calls if kind == "warning"][-1]
        assert "already training in the other window" in warning
