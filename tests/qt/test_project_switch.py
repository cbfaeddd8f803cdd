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
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


def _tools_for_a_real_window() -> bool:
    return all(shutil.which(t) for t in ("Xvfb", "openbox", "xdotool"))


@pytest.mark.skipif(not _tools_for_a_real_window(),
                    reason="needs Xvfb, openbox and xdotool (make sysdeps installs them)")
def test_ctrl_n_in_a_real_window_while_the_model_loads(tmp_path):
    """The same in a real X window (Xvfb + a window manager): the layout is saved by a
    first start, the second start (`studio gui`) gets Ctrl+N pressed by xdotool again
    and again while its Model pane loads, then Ctrl+Q; the exit status is 0."""
    display = f":{40 + os.getpid() % 50}"
    env = dict(os.environ)
    env.update(DISPLAY=display, QT_QPA_PLATFORM="xcb", HF_HUB_OFFLINE="1",
               PYTHONFAULTHANDLER="1", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"),
               STUDIO_RUNS_DIR=str(tmp_path / "runs"), PYTHONPATH=str(ROOT))
    env.pop("WAYLAND_DISPLAY", None)
    started: list[subprocess.Popen] = []

    def start(*cmd, **kw) -> subprocess.Popen:
        p = subprocess.Popen(list(cmd), env=env, cwd=tmp_path, **kw)
        started.append(p)
        return p

    def xdo(*args) -> str:
        return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True,
                              timeout=60).stdout.strip()

    try:
        start("Xvfb", display, "-screen", "0", "1600x1000x24", stdout=subprocess.DEVNULL,
              stderr=subprocess.DEVNULL)
        time.sleep(1)
        start("openbox", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        layout = subprocess.run([sys.executable, str(DRIVER), "layout"], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)
        assert "layout saved" in layout.stdout, layout.stderr
        log = open(tmp_path / "app.log", "w")
        app = start(sys.executable, "-m", "studio", "gui", stdout=log, stderr=log)
        window = xdo("search", "--sync", "--name", "Sonnets demo").splitlines()[0]
        time.sleep(3)
        for w in xdo("search", "--name", "System check").splitlines():  # the first-run check
            xdo("windowclose", w)
        for _ in range(12):
            if app.poll() is not None:
                break
            xdo("windowactivate", "--sync", window)
            xdo("windowfocus", "--sync", window)
            xdo("keydown", "ctrl", "key", "n", "keyup", "ctrl")
            time.sleep(0.5)
            xdo("key", "Return")  # New project asks what it fine-tunes: the first, Text
            time.sleep(0.4)
        time.sleep(2)
        if app.poll() is None:
            assert xdo("getwindowname", window).startswith("Untitled")  # the keys arrived
            xdo("windowactivate", "--sync", window)
            xdo("keydown", "ctrl", "key", "q", "keyup", "ctrl")
        code = app.wait(timeout=120)
        log.close()
        out = (tmp_path / "app.log").read_text(errors="replace")
        assert code == 0 and "Fatal Python error" not in out, f"exit {code}\n{out[-3000:]}"
    finally:
        for p in reversed(started):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
