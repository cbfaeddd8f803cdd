"""The engine host: a worker on a QThread, one cross-thread signal per event, state fed on
the GUI thread, control by flags, errors come home."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.config import load_config
from studio.core import events as ev
from studio.qt.engine_host import EngineHost
from studio.state.project import Project
from tests.qt.conftest import requires_engine, wait_event

WAIT = 20_000


def _cfg(tmp_path):
    p = Project(name="t")
    p.add_dataset_path(str(tmp_path))
    return p.config


def test_a_run_feeds_history_gallery_and_session(qtbot, fake_engine, tmp_path):
    engine = fake_engine(steps=12, sample_every=4, eval_every=4, unfreeze_at=6)
    host = EngineHost(engine_fn=engine)
    seen_steps = []
    host.event.connect(lambda e: seen_steps.append(e.step)
                      if isinstance(e, ev.StepLogged) else None)
    states = []
    host.state_changed.connect(states.append)
    with qtbot.waitSignal(host.run_ended, timeout=WAIT) as blocker:
        host.start(_cfg(tmp_path))
        assert host.running
    assert blocker.args == ["completed"]
    assert not host.running
    assert seen_steps == list(range(1, 13))
    assert list(host.history.train.column("step")) == list(range(1, 13))
    assert list(host.history.val.column("step")) == [4, 8, 12]
    assert [u.step for u in host.history.unfreezes] == [6]
    assert host.gallery.steps == [0, 4, 8, 12]
    assert host.gallery.selected == 12
    assert host.session.state == "completed"
    assert host.session.step == 12 and host.session.total_steps == 12
    assert states[0] == "starting" and "running" in states and states[-1] == "completed"
    assert host.result.state == "completed"
    assert any("Finished (completed)" in line.text for line in host.session.log)


def test_pause_sample_while_paused_resume_then_stop(qtbot, fake_engine, tmp_path):
    engine = fake_engine(steps=100_000, sample_every=0, eval_every=0, delay=0.002)
    host = EngineHost(engine_fn=engine)
    with wait_event(qtbot, host, ev.StepLogged, timeout=WAIT):
        host.start(_cfg(tmp_path))
    with wait_event(qtbot, host, ev.RunPaused, timeout=WAIT) as paused:
        host.pause()
        assert host.session.state == "pausing"
    assert host.session.state == "paused"
    paused_step = paused.args[0].step
    # the model stays loaded: samples and a checkpoint while paused, at the paused step
    with wait_event(qtbot, host, ev.SampleReady, timeout=WAIT,
                    check=lambda e: e.step == paused_step):
        host.sample_now()
    with wait_event(qtbot, host, ev.CheckpointSaved, timeout=WAIT,
                    check=lambda e: e.reason == "manual"):
        host.save_now()
    qtbot.wait(50)
    assert host.history.last_step == paused_step  # no training while paused
    with wait_event(qtbot, host, ev.RunResumed, timeout=WAIT):
        host.resume()
    with wait_event(qtbot, host, ev.StepLogged, timeout=WAIT,
                    check=lambda e: e.step > paused_step):
        pass
    with qtbot.waitSignal(host.run_ended, timeout=WAIT) as ended:
        host.stop()
        assert host.session.state == "stopping"
    assert ended.args == ["stopped"]
    assert host.session.state == "stopped"
    assert host.result.state == "stopped"


def test_stop_while_paused_ends_the_run(qtbot, fake_engine, tmp_path):
    host = EngineHost(engine_fn=fake_engine(steps=100_000, delay=0.002))
    with wait_event(qtbot, host, ev.StepLogged, timeout=WAIT):
        host.start(_cfg(tmp_path))
    with wait_event(qtbot, host, ev.RunPaused, timeout=WAIT):
        host.pause()
    with qtbot.waitSignal(host.run_ended, timeout=WAIT) as ended:
        host.stop()
    assert ended.args == ["stopped"]


def test_failure_announced_by_the_engine_is_reported_once(qtbot, fake_engine, tmp_path):
    host = EngineHost(engine_fn=fake_engine(steps=10, fail_at=5))
    failures = []
    host.run_failed.connect(lambda m, tb: failures.append((m, tb)))
    with qtbot.waitSignal(host.run_ended, timeout=WAIT) as ended:
        host.start(_cfg(tmp_path))
    assert ended.args == ["failed"]
    assert len(failures) == 1 and "loss exploded" in failures[0][0]
    assert "Traceback" in failures[0][1]
    assert host.session.state == "failed"
    assert host.session.error_message == failures[0][0]
    assert host.result is None  # the engine raised: no result, never "completed"
    assert any(line.level == "error" for line in host.session.log)


def test_an_unannounced_exception_still_fails_the_run(qtbot, fake_engine, tmp_path):
    host = EngineHost(engine_fn=fake_engine(steps=10, raise_at=3))
    with qtbot.waitSignal(host.run_failed, timeout=WAIT) as failed:
        host.start(_cfg(tmp_path))
    assert failed.args[0] == "ValueError: unannounced failure"
    assert "ValueError" in failed.args[1]
    qtbot.waitUntil(lambda: not host.running, timeout=WAIT)
    assert host.session.state == "failed"


def test_only_one_run_at_a_time(qtbot, fake_engine, tmp_path):
    host = EngineHost(engine_fn=fake_engine(steps=100_000, delay=0.002))
    host.start(_cfg(tmp_path))
    with pytest.raises(RuntimeError):
        host.start(_cfg(tmp_path))
    assert host.shutdown(WAIT)
    qtbot.waitUntil(lambda: not host.running, timeout=WAIT)


def test_shutdown_stops_and_joins_the_thread(qtbot, fake_engine, tmp_path):
    host = EngineHost(engine_fn=fake_engine(steps=100_000, delay=0.002))
    with wait_event(qtbot, host, ev.StepLogged, timeout=WAIT):
        host.start(_cfg(tmp_path))
    assert host.shutdown(WAIT)          # returns once the worker thread has finished
    with qtbot.waitSignal(host.run_ended, timeout=WAIT) as ended:
        pass
    assert ended.args == ["stopped"]


def test_resume_passes_the_folder_and_continues_the_curves(qtbot, fake_engine, tmp_path):
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    lines = [ev.StepLogged(s, 0, 2.0 - s * 0.1, 1e-3, 1, 100, "tok", s, 1, 10) for s in (1, 2, 3, 4)]
    import json

    from studio.core.sinks import event_to_dict
    (run_dir / "metrics.jsonl").write_text(
        "".join(json.dumps(event_to_dict(e)) + "\n" for e in lines), encoding="utf-8")
    engine = fake_engine(steps=8, run_dir=str(run_dir))
    host = EngineHost(engine_fn=engine)
    with qtbot.waitSignal(host.run_ended, timeout=WAIT):
        host.start(None, resume=run_dir)
    assert engine.calls[0]["resume"] == str(run_dir) and engine.calls[0]["cfg"] is None
    # steps 1..3 from the file, step 4 forgotten (after the checkpoint at 3), 4..8 re-run
    assert list(host.history.train.column("step")) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert host.history.train.column("loss")[0] == pytest.approx(1.9)


@requires_engine
def test_real_engine_trains_a_tiny_model(qtbot, tiny_run_config):
    cfg = load_config(tiny_run_config(train={"max_steps": 6}))
    host = EngineHost()  # the real studio.engine.run, imported by the worker
    with qtbot.waitSignal(host.run_ended, timeout=120_000) as ended:
        host.start(cfg)
    assert ended.args == ["completed"], host.session.error_message
    assert list(host.history.train.column("step")) == [1, 2, 3, 4, 5, 6]
    assert len(host.history.val) >= 2
    assert host.gallery.first_step == 0 and host.gallery.latest_step == 6
    sample = host.gallery.samples(0)[0]
    assert sample.kind == "text" and sample.prompt == "Shall I"
    run_dir = Path(host.session.run_dir)
    from studio.runs import read_status
    assert read_status(run_dir)["state"] == "completed"
    # a past run opens with the same curves
    again = EngineHost()
    again.open_run(run_dir)
    assert list(again.history.train.column("step")) == [1, 2, 3, 4, 5, 6]
    assert again.gallery.steps == host.gallery.steps
