"""Start the real app in a subprocess (as `studio gui` does): a broken import or start-up
path fails loudly here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1",
               XDG_CONFIG_HOME=str(tmp_path / "config"),  # QSettings of this start only
               STUDIO_RUNS_DIR=str(tmp_path / "runs"))
    return env


def test_studio_gui_starts_paints_and_exits(tmp_path):
    result = subprocess.run([sys.executable, "-m", "studio", "gui", "--smoke"], cwd=ROOT,
                            env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("first-paint-s "))
    assert float(line.split()[1]) > 0
    assert "Traceback" not in result.stderr


def test_a_project_file_opens(tmp_path):
    project = tmp_path / "p.toml"
    project.write_text('[project]\nname = "mine"\n\n[data]\npaths = []\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "studio", "gui", str(project), "--smoke"],
                            cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_project_file_is_a_plain_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "studio", "gui", str(bad), "--smoke"],
                            cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
