"""`studio gui` with no project opens the one the user had open last (File > Open Recent's
first), if it is still there; else the demo. `make run` asks for the demo explicitly."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from studio.qt.app import _parser, startup_project

ROOT = Path(__file__).resolve().parents[2]


def _project_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'[project]\nname = "{name}"\n\n[data]\npaths = []\n', encoding="utf-8")
    return path


def test_no_argument_opens_the_last_project(tmp_path):
    settings = QSettings()
    mine, older = _project_file(tmp_path, "mine"), _project_file(tmp_path, "older")
    settings.setValue("recent_projects", [str(mine), str(older)])
    project, note = startup_project(None, False, settings)
    assert project.path == mine and project.name == "mine" and note == ""
    # --demo (make run) and an explicit file win over the last project
    demo, _ = startup_project(None, True, settings)
    assert demo.name == "Sonnets demo" and demo.path is None
    given, _ = startup_project(str(older), False, settings)
    assert given.path == older


def test_a_first_start_or_a_vanished_last_project_opens_the_demo(tmp_path):
    settings = QSettings()
    project, note = startup_project(None, False, settings)  # nothing remembered yet
    assert project.name == "Sonnets demo" and note == ""
    gone = tmp_path / "deleted.toml"
    settings.setValue("recent_projects", [str(gone)])
    project, note = startup_project(None, False, settings)
    assert project.name == "Sonnets demo" and str(gone) in note and "gone" in note
    broken = tmp_path / "broken.toml"
    broken.write_text("[train\n", encoding="utf-8")
    settings.setValue("recent_projects", [str(broken)])
    project, note = startup_project(None, False, settings)
    assert project.name == "Sonnets demo" and "Could not open the last project" in note


def test_make_run_opens_the_demo_explicitly():
    assert _parser().parse_args(["--demo"]).demo
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "studio gui --demo" in run


def test_a_project_given_on_the_command_line_is_the_next_starts_last(tmp_path):
    """`studio gui chorales.toml` (or a double-click in a file manager) puts the file first
    in Open Recent, so the next `studio gui` opens it (a real-window drive found the demo)."""
    import os
    import subprocess
    import sys

    mine = _project_file(tmp_path, "mine")
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"), QT_QPA_PLATFORM="offscreen",
               HF_HUB_OFFLINE="1")
    subprocess.run([sys.executable, "-m", "studio", "gui", str(mine), "--smoke"], env=env,
                   cwd=ROOT, check=True, timeout=120, capture_output=True)
    conf = tmp_path / "config" / "FineTuningStudio" / "Fine-Tuning Studio.conf"
    settings = QSettings(str(conf), QSettings.Format.IniFormat)
    project, note = startup_project(None, False, settings)
    assert project.path == mine.resolve() and note == ""
