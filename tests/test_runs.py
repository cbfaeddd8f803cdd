"""The run store: honest status, heartbeat, metrics that survive a torn line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from studio.runs import RunFolder, list_runs, read_metrics, read_status
from studio.runs.store import HEARTBEAT_STALE_S


def test_metrics_reader_skips_a_torn_last_line(tmp_path):
    f = RunFolder.create(tmp_path, "m")
    for i in range(3):
        f.append_metric({"event": "StepLogged", "step": i, "loss": 1.0 / (i + 1)})
    f.close()
    with open(f.metrics_path, "ab") as fh:
        fh.write(b'{"event": "StepLogged", "step": 3, "lo')  # killed mid-write
    recs = read_metrics(f.path)
    assert [r["step"] for r in recs] == [0, 1, 2]
    with open(f.metrics_path, "ab") as fh:
        fh.write(b"\nnot json\n" + json.dumps({"step": 4}).encode() + b"\n")
    assert [r["step"] for r in read_metrics(f.metrics_path)] == [0, 1, 2, 4]


def test_status_is_honest_about_dead_and_silent_runs(tmp_path):
    f = RunFolder.create(tmp_path, "s")
    f.write_status("running", step=5, total_steps=10)
    assert read_status(f.path)["state"] == "running"  # our own pid, fresh heartbeat
    # silent: heartbeat too old
    assert read_status(f.path, now=time.time() + HEARTBEAT_STALE_S + 1)["state"] == "interrupted"
    # dead: a pid that has exited
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    st = json.loads(f.status_path.read_text())
    st["pid"] = p.pid
    f.status_path.write_text(json.dumps(st))
    s = read_status(f.path)
    assert s["state"] == "interrupted" and s["recorded_state"] == "running"
    f.write_status("completed", step=10)
    assert read_status(f.path)["state"] == "completed"


def test_heartbeat_keeps_a_live_run_fresh(tmp_path):
    f = RunFolder.create(tmp_path, "hb")
    f.write_status("running", step=1)
    before = json.loads(f.status_path.read_text())["heartbeat"]
    f.start_heartbeat(interval=0.05)
    time.sleep(0.3)
    f.stop_heartbeat()
    assert json.loads(f.status_path.read_text())["heartbeat"] > before


def test_list_runs_newest_first_with_states(tmp_path):
    a = RunFolder.create(tmp_path, "first")
    a.write_status("completed", step=3, total_steps=3)
    time.sleep(0.01)
    b = RunFolder.create(tmp_path, "second run / with ünïcode")
    b.write_status("running", step=1, total_steps=3)
    st = json.loads(b.status_path.read_text())
    st["heartbeat"] -= 3600
    b.status_path.write_text(json.dumps(st))
    (b.checkpoints_dir / "step_000001").mkdir()
    (b.checkpoints_dir / "step_000001" / "state.json").write_text("{}")
    (b.checkpoints_dir / ".tmp-step_000002-1").mkdir()  # a torn save is not a checkpoint
    runs = list_runs(tmp_path)
    assert [r.path for r in runs] == [b.path, a.path]
    assert runs[0].state == "interrupted" and runs[0].resumable
    assert runs[1].state == "completed" and not runs[1].resumable
    assert b.latest_checkpoint().name == "step_000001"
    assert "/" not in b.id and os.path.isdir(b.path)


def test_run_ids_are_unique(tmp_path):
    ids = {RunFolder.create(tmp_path, "same").id for _ in range(5)}
    assert len(ids) == 5
