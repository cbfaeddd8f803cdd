"""A returning user (the saved layout shows the Model pane) switches projects while the
pane loads its model on a worker: the studio survives, every time.

The crash this pins: torch work on a reused QThreadPool thread (the one-thread "model"
pool ran one load after another) acquired the GIL through a Python thread state PySide had
destroyed after the previous job, and the process died (SIGSEGV). Model loads now run on a
long-lived Python thread (``studio.qt.torch_thread``). The real app runs in a subprocess
with its own settings folder; ``switch_driver.py`` presses New / Open many times, each
while a load is running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("switch_driver.py")


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", PYTHONFAULTHANDLER="1",
               HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), STUDIO_RUNS_DIR=str(tmp_path / "runs"),
               PYTHONPATH=str(ROOT), LINGER_MS="1500")
    return subprocess.run([sys.executable, str(DRIVER), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def _survived(result: subprocess.CompletedProcess, n: int) -> None:
    out = result.stdout + result.stderr
    assert result.returncode == 0, f"exit status {result.returncode}\n{out[-4000:]}"
    assert f"switched {n}" in result.stdout and "Fatal Python error" not in out


def test_new_and_open_while_the_model_pane_loads(tmp_path):
    layout = _run(tmp_path, "layout")
    assert layout.returncode == 0 and "layout saved" in layout.stdout, layout.stderr
    assert any((tmp_path / "config").rglob("*.conf"))  # the layout a returning user has
    _survived(_run(tmp_path, "new", "6"), 6)
    _survived(_run(tmp_path, "keys", "3"), 3)
    project = str(ROOT / "resources" / "demo" / "sonnets.toml")
    _survived(_run(tmp_path, "open", "6", project), 6)
