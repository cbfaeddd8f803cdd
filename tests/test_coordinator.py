"""The run coordinator without Qt: a fake launcher stands in for the engine host."""

from __future__ import annotations

import dataclasses
import math

import pytest

from studio.config import RunConfig
from studio.core import events as ev
from studio.core.control import RunControl
from studio.core.errors import ConfigError
from studio.state.coordinator import RunCoordinator
from studio.state.queue import QueueState
from studio.state.run_history import RunHistory
from studio.state.session import RunSession


class FakeLauncher:
    """Starts nothing: records each start and feeds the history like the host would (a
    resume shows the earlier steps first). ``end(state)`` finishes the run."""

    def __init__(self, coordinator_ref: list, history: RunHistory, session: RunSession):
        self.ref, self.history, self.session = coordinator_ref, history, session
        self.running = False
        self.starts: list[dict] = []
        self.stops = 0

    def start(self, cfg, *, resume=None, stop_after=None):
        assert not self.running
        self.running = True
        self.starts.append({"cfg": cfg, "resume": resume, "stop_after": stop_after})
        if resume is None:
            self.history.reset()
        self.session.begin("run", resume_dir=resume or "")
        self.session.run_dir = resume or f"/runs/run-{len(self.starts)}"

    def stop(self):
        self.stops += 1

    def steps(self, first: int, last: int, loss=lambda s: 3.0 / s) -> None:
        for s in range(first, last + 1):
            self.history.feed(ev.StepLogged(step=s, epoch=0.0, loss=loss(s), lr=1e-3,
                                            grad_norm=1.0, throughput=1.0,
                                            throughput_unit="tok", elapsed_s=0.0,
                                            eta_s=0.0, total_steps=20))

    def end(self, state: str, message: str = "") -> None:
        self.running = False
        if message:
            self.session.fail(message)
        else:
            self.session.set_state(state)
        self.ref[0].run_ended(state)


@pytest.fixture
def rig(tmp_path):
    history, session = RunHistory(), RunSession()
    ref: list = []
    launcher = FakeLauncher(ref, history, session)
    queue = QueueState(tmp_path / "queue.json")
    coord = RunCoordinator(launcher, session, history, queue)
    ref.append(coord)
    said = []
    coord.subscribe(said.append)
    return coord, launcher, said


def good_config(tmp_path, **train) -> RunConfig:
    cfg = RunConfig()
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, paths=(str(tmp_path),)),
                               train=dataclasses.replace(cfg.train, **train))


def test_train_validates_then_starts_once(rig, tmp_path):
    coord, launcher, said = rig
    with pytest.raises(ConfigError) as bad:
        coord.train(RunConfig())  # no training files
    assert bad.value.field == "data.paths" and launcher.starts == []
    assert coord.train(good_config(tmp_path))
    assert coord.mode == "run" and "started" in said
    assert not coord.train(good_config(tmp_path))  # one run at a time
    assert len(launcher.starts) == 1
    launcher.end("completed")
    assert coord.mode == "idle" and coord.trial is None


def test_resume_and_stop(rig):
    coord, launcher, _ = rig
    coord.stop()
    assert launcher.stops == 0  # nothing to stop
    assert coord.resume("/runs/old")
    assert launcher.starts[0] == {"cfg": None, "resume": "/runs/old", "stop_after": None}
    coord.stop()
    assert launcher.stops == 1


def test_a_trial_stops_through_run_control_and_judges_then_continues(rig, tmp_path):
    coord, launcher, said = rig
    assert coord.try_steps(good_config(tmp_path), 5)
    assert launcher.starts[0]["stop_after"] == 5 and coord.mode == "trial"
    launcher.steps(1, 5)
    launcher.end("stopped")
    outcome = coord.trial
    assert "trial" in said and outcome.can_continue and outcome.run_dir == "/runs/run-1"
    assert outcome.verdict.fell and "trial of 5 steps" in outcome.text
    assert any("trial of 5 steps" in line.text for line in coord.session.log)
    assert coord.continue_trial()
    assert launcher.starts[-1] == {"cfg": None, "resume": "/runs/run-1", "stop_after": None}
    assert coord.mode == "run" and coord.trial is None


def test_a_trial_of_a_resumed_run_judges_only_its_own_steps(rig):
    coord, launcher, _ = rig
    launcher.steps(1, 10, loss=lambda s: 1.0)  # the earlier run, flat
    assert coord.try_steps(None, 4, resume="/runs/old")
    launcher.steps(11, 14, loss=lambda s: 5.0 / s)
    launcher.end("stopped")
    assert coord.trial.verdict.steps == 4 and coord.trial.verdict.fell


def test_a_failed_or_completed_trial_cannot_continue(rig, tmp_path):
    coord, launcher, _ = rig
    coord.try_steps(good_config(tmp_path), 50)
    launcher.steps(1, 3)
    launcher.end("completed")  # the run was shorter than the trial
    assert not coord.trial.can_continue and not coord.continue_trial()
    coord.try_steps(good_config(tmp_path), 5)
    launcher.end("failed", message="boom")
    assert coord.trial is None


def test_run_control_stops_after_n_steps_from_the_start_point():
    control = RunControl()
    control.stop_after(3)
    control.observe(ev.RunStarted(run_dir="r", run_id="r", family="text", device="cpu",
                                  precision="fp32", total_steps=20, start_step=10,
                                  trainable_params=1, total_params=1, train_examples=1,
                                  val_examples=1, resumed=True))
    for step in (11, 12):
        control.observe(ev.StepLogged(step=step, epoch=0.0, loss=1.0, lr=1.0, grad_norm=1.0,
                                      throughput=1.0, throughput_unit="tok", elapsed_s=0.0,
                                      eta_s=0.0, total_steps=20))
    assert not control.stop_requested
    control.observe(ev.StepLogged(step=13, epoch=0.0, loss=math.nan, lr=1.0, grad_norm=1.0,
                                  throughput=1.0, throughput_unit="tok", elapsed_s=0.0,
                                  eta_s=0.0, total_steps=20))
    assert control.stop_requested and control.take_sample_request() == "fixed"  # vs step 0


def test_the_queue_runs_past_a_bad_item_and_a_failure(rig, tmp_path):
    coord, launcher, said = rig
    coord.queue_sweep(good_config(tmp_path), ["train.lr=1e-3,2e-3"])
    coord.queue_project(good_config(tmp_path))
    with pytest.raises(ConfigError):
        coord.queue_project(RunConfig())
    items = coord.queue.items
    assert len(items) == 3
    save_path = items[1]["config"]
    with open(save_path, "w", encoding="utf-8") as f:
        f.write("[train]\nlr = 'abc'\n")  # a snapshot that no longer loads
    assert coord.run_queue() and coord.mode == "queue"
    assert launcher.starts[0]["cfg"].train.lr == 1e-3
    launcher.end("failed", message="planted")
    # item 2 cannot load: marked failed, item 3 starts at once
    assert len(launcher.starts) == 2 and coord.mode == "queue"
    launcher.end("completed")
    assert [i["state"] for i in coord.queue.items] == ["failed", "failed", "completed"]
    assert "planted" in coord.queue.items[0]["message"]
    assert coord.mode == "idle" and coord.notice == "The queue is done"
    assert not coord.queue.running


def test_stopping_the_queue_or_quitting_starts_nothing_more(rig, tmp_path):
    coord, launcher, _ = rig
    coord.queue_sweep(good_config(tmp_path), ["train.lr=1e-3,2e-3,3e-3"])
    coord.run_queue()
    coord.stop_queue()
    assert launcher.stops == 1
    launcher.end("stopped")
    assert len(launcher.starts) == 1
    assert [i["state"] for i in coord.queue.items] == ["stopped", "pending", "pending"]
    coord.run_queue()
    coord.quit()
    launcher.end("stopped")
    assert len(launcher.starts) == 2 and not coord.queue.running


def test_the_queue_waits_while_a_run_trains(rig, tmp_path):
    coord, launcher, _ = rig
    coord.train(good_config(tmp_path))
    assert not coord.run_queue() and "queue starts after it" in coord.notice
