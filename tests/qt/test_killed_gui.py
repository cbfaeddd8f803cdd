"""A real studio window process, training with the real engine, killed with SIGKILL: the next
window shows the run as interrupted with Resume, and resuming continues it (issue: never
lose a run)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from studio.runs import list_runs, read_metrics, read_status
from studio.state.project import Project
from tests.qt.conftest import requires_engine

ROOT = Path(__file__).resolve().parents[2]
EVERY = 2  # checkpoint interval


def _steps(run_dir) -> list[int]:
    return [r["step"] for r in read_metrics(run_dir) if r["event"] == "StepLogged"]


@requires_engine
def test_a_killed_window_process_loses_at_most_one_interval(make_window, tiny_text_model,
                                                            text_folder, tmp_path, qtbot):
    project = Project(name="Killed")
    project.replace_section("run", runs_dir=str(tmp_path / "runs"), name="killed")
    project.replace_section("model", source=str(tiny_text_model))
    project.replace_section("data", paths=[str(text_folder)], block_size=16)
    project.replace_section("train", max_steps=100_000, batch_size=2, device="cpu")
    project.replace_section("eval", every=0)
    project.replace_section("sample", every=3, max_new_tokens=4)
    project.replace_section("checkpoint", every=EVERY, keep_last=2)
    path = project.save(tmp_path / "killed.toml")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "studio", "gui", str(path), "--train"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 300
        while True:  # until the window's run has written a few checkpoints
            runs = list_runs(tmp_path / "runs")
            if runs and read_status(runs[0].path).get("step", 0) >= 3 * EVERY \
                    and runs[0].path.joinpath("checkpoints").is_dir() \
                    and any(runs[0].path.joinpath("checkpoints").glob("step_*")):
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "the window never got training"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    (info,) = list_runs(tmp_path / "runs")
    killed_at = max(_steps(info.path))
    assert read_status(info.path)["state"] == "interrupted" and info.resumable
    samples_before = sorted(p.name for p in (info.path / "samples").iterdir())
    assert "step_000000" in samples_before

    win = make_window(Project.load(path))  # the next start: the real engine
    pane = win.runs_pane
    pane.refresh()
    item = pane.tree.topLevelItem(0)
    assert item.text(1) == "interrupted"
    pane.select(info.path)
    assert pane.resume_button.isEnabled()
    with qtbot.waitSignal(win.host.run_started, timeout=120_000) as started:
        pane.resume_button.click()
    ev = started.args[0]
    assert ev.resumed and killed_at - ev.start_step <= EVERY + 1  # at most one interval lost
    qtbot.waitUntil(lambda: win.host.session.step >= ev.start_step + 3, timeout=120_000)
    with qtbot.waitSignal(win.host.run_ended, timeout=120_000):
        win.act_stop.trigger()
    status = read_status(info.path)
    assert status["state"] == "stopped" and status["step"] >= ev.start_step + 3
    steps = _steps(info.path)
    assert steps == list(range(1, max(steps) + 1))  # one continuous curve, no repeats
    kept = sorted(p.name for p in (info.path / "samples").iterdir())
    assert set(s for s in samples_before if int(s[5:]) <= ev.start_step) <= set(kept)
