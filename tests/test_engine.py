"""The engine end to end on a tiny GPT-2: resume reproduces losses, events, controls."""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch

from studio.config import load_config
from studio.config.schema import TrainConfig
from studio.core import events as ev
from studio.core.control import RunControl
from studio.core.errors import ConfigError, RunError
from studio.core.sinks import ListSink
from studio.engine import run
from studio.engine.optim import lr_multiplier
from studio.runs import read_metrics, read_status


class StopAt:
    """A sink that asks the run to stop once step ``n`` is logged."""

    def __init__(self, control: RunControl, n: int):
        self.control, self.n, self.events = control, n, []

    def emit(self, event):
        self.events.append(event)
        if isinstance(event, ev.StepLogged) and event.step == self.n:
            self.control.request_stop()


def losses(events) -> dict[int, float]:
    return {e.step: e.loss for e in events if isinstance(e, ev.StepLogged)}


def test_run_completes_and_emits_the_whole_story(tiny_run_config):
    cfg = load_config(tiny_run_config())
    sink = ListSink()
    result = run(cfg, sink)
    assert result.state == "completed" and result.step == 6
    kinds = [type(e).__name__ for e in sink.events]
    assert kinds.index("RunStarted") < kinds.index("StepLogged") < kinds.index("RunFinished")
    assert [e.step for e in sink.of(ev.StepLogged)] == [1, 2, 3, 4, 5, 6]
    assert [e.step for e in sink.of(ev.EvalLogged)] == [0, 3, 6]  # 0: the base model
    assert [e.step for e in sink.of(ev.SampleReady)] == [0, 3, 6]
    for e in sink.of(ev.StepLogged):
        assert math.isfinite(e.loss) and e.throughput > 0 and e.throughput_unit == "tok"
    ev_ = sink.of(ev.EvalLogged)[-1]
    assert ev_.perplexity == pytest.approx(math.exp(ev_.val_loss))
    sample = sink.of(ev.SampleReady)[0].samples[0]
    assert sample.kind == "text" and sample.prompt == "Shall I" and sample.text
    # the run folder tells the same story
    status = read_status(result.run_dir)
    assert status["state"] == "completed" and status["step"] == 6
    records = read_metrics(result.run_dir)
    assert [r["step"] for r in records if r["event"] == "StepLogged"] == [1, 2, 3, 4, 5, 6]
    idx = json.loads((tmp := __import__("pathlib").Path(result.run_dir))
                     .joinpath("samples/step_000003/index.json").read_text())
    assert idx[0]["prompt"] == "Shall I"
    assert (tmp / "checkpoints" / "step_000006" / "state.json").is_file()
    assert (tmp / "best" / "model.safetensors").is_file()
    # config.toml is exactly what ran, self-contained (absolute paths)
    saved = load_config(tmp / "config.toml")
    assert saved.train == cfg.train and all(p.startswith("/") for p in saved.data.paths)


def test_resume_reproduces_the_uninterrupted_losses(tiny_run_config):
    # dropout on (GPT-2 default 0.1) so the RNG state must be restored too
    path = tiny_run_config(train={"max_steps": 8}, checkpoint={"every": 0},
                           eval={"every": 4}, sample={"every": 0})
    full = ListSink()
    run(load_config(path), full)

    control = RunControl()
    first = StopAt(control, 4)
    res1 = run(load_config(path), first, control)
    assert res1.state == "stopped" and res1.step == 4
    assert read_status(res1.run_dir)["state"] == "stopped"
    second = ListSink()
    res2 = run(None, second, resume=res1.run_dir)
    assert res2.state == "completed" and res2.step == 8
    assert second.of(ev.RunStarted)[0].start_step == 4 and second.of(ev.RunStarted)[0].resumed

    expected = losses(full.events)
    got = {**losses(first.events), **losses(second.events)}
    assert sorted(got) == list(range(1, 9))
    torch.testing.assert_close(torch.tensor([got[s] for s in range(1, 9)]),
                               torch.tensor([expected[s] for s in range(1, 9)]))
    # curves stay continuous in the run folder: each step logged once
    steps = [r["step"] for r in read_metrics(res1.run_dir) if r["event"] == "StepLogged"]
    assert steps == list(range(1, 9))


def test_resume_can_extend_a_finished_run(tiny_run_config):
    res = run(load_config(tiny_run_config(train={"max_steps": 3})), None)
    sink = ListSink()
    res2 = run(None, sink, resume=res.run_dir, overrides=("train.max_steps=5",))
    assert res2.step == 5 and [e.step for e in sink.of(ev.StepLogged)] == [4, 5]


def test_pause_allows_sampling_and_saving_then_resumes(tiny_run_config):
    control = RunControl()
    sink = ListSink()
    paused = threading.Event()

    class PauseAt2:
        def emit(self, e):
            sink.emit(e)
            if isinstance(e, ev.StepLogged) and e.step == 2:
                control.pause()
            if isinstance(e, ev.RunPaused):
                paused.set()

    result = {}
    t = threading.Thread(target=lambda: result.update(r=run(
        load_config(tiny_run_config(sample={"every": 0}, checkpoint={"every": 0})),
        PauseAt2(), control)))
    t.start()
    assert paused.wait(60)
    control.request_sample()
    control.request_save()
    deadline = 0
    while not sink.of(ev.CheckpointSaved) and deadline < 600:
        threading.Event().wait(0.05)
        deadline += 1
    assert read_status(sink.of(ev.RunStarted)[0].run_dir)["state"] == "paused"
    control.resume()
    t.join(60)
    assert result["r"].state == "completed"
    samples = [e.step for e in sink.of(ev.SampleReady)]
    assert 2 in samples  # sampled while paused, at the paused step
    # "Sample now" takes new seeds (the fixed ones would repeat the step-0 samples of a
    # paused run exactly) and says so; the step's fixed-seed samples are not replaced
    (now,) = [e for e in sink.of(ev.SampleReady) if e.step == 2]
    fixed = [e for e in sink.of(ev.SampleReady) if e.step == 0][0].samples
    assert all(s.meta.get("fresh") == 1 for s in now.samples)
    assert [s.meta["number"] for s in now.samples] == [s.index for s in fixed]
    assert {s.seed for s in now.samples}.isdisjoint({s.seed for s in fixed})
    assert {s.index for s in now.samples}.isdisjoint({s.index for s in fixed})
    assert sink.of(ev.CheckpointSaved)[0].reason == "manual"
    assert sink.of(ev.CheckpointSaved)[0].step == 2
    assert len(sink.of(ev.RunPaused)) == 1 and len(sink.of(ev.RunResumed)) == 1


def test_early_stopping_and_keep_best(tiny_run_config):
    # a huge learning rate makes validation worse after the first evaluation
    path = tiny_run_config(train={"max_steps": 40, "lr": 5.0, "grad_clip": 0.0,
                                  "optimizer": "sgd", "momentum": 0.0, "schedule": "constant"},
                           eval={"every": 1, "early_stopping_patience": 2},
                           sample={"every": 0}, checkpoint={"every": 0})
    sink = ListSink()
    try:
        res = run(load_config(path), sink)
    except RunError as exc:  # diverged to NaN first: also a correct, named outcome
        assert "became" in str(exc) and "lower train.lr" in str(exc)
        return
    assert res.state == "completed"
    fin = sink.of(ev.RunFinished)[0]
    assert fin.reason == "early_stopping" and res.step < 40
    evals = sink.of(ev.EvalLogged)
    assert fin.best_val_loss == min(e.val_loss for e in evals)


@pytest.mark.parametrize("optimizer,schedule", [("adamw", "cosine"), ("adam", "linear"),
                                                ("sgd", "one_cycle"), ("rmsprop", "constant")])
def test_each_optimizer_and_schedule_trains(tiny_run_config, optimizer, schedule):
    extra = {"nesterov": True, "momentum": 0.9, "lr": 0.05} if optimizer == "sgd" else {}
    path = tiny_run_config(train={"optimizer": optimizer, "schedule": schedule,
                                  "max_steps": 3, "grad_accum": 2, "weight_decay": 0.01,
                                  "dropout": 0.0, **extra},
                           eval={"every": 0}, sample={"every": 0}, checkpoint={"every": 0})
    sink = ListSink()
    assert run(load_config(path), sink).state == "completed"
    assert all(math.isfinite(e.loss) for e in sink.of(ev.StepLogged))


def test_schedules_have_warmup_and_reach_the_floor():
    for sched in ("linear", "cosine", "one_cycle"):
        t = TrainConfig(schedule=sched, warmup_steps=5, min_lr_ratio=0.1)
        m = [lr_multiplier(s, 100, t) for s in range(100)]
        assert m[0] < m[4] < m[5] == pytest.approx(1.0)
        assert m[-1] == pytest.approx(0.1, abs=0.02) and min(m) >= 0.1 - 1e-9
    t = TrainConfig(schedule="constant", warmup_steps=2)
    assert [lr_multiplier(s, 10, t) for s in (0, 1, 2, 9)] == pytest.approx([1 / 3, 2 / 3, 1, 1])


def test_epochs_decide_the_length_when_max_steps_is_zero(tiny_run_config):
    path = tiny_run_config(train={"max_steps": 0, "epochs": 0.01, "batch_size": 4},
                           eval={"every": 0}, sample={"every": 0}, checkpoint={"every": 0})
    sink = ListSink()
    run(load_config(path), sink)
    started = sink.of(ev.RunStarted)[0]
    assert started.total_steps == max(1, math.ceil(0.01 * math.ceil(started.train_examples / 4)))


def test_failure_is_reported_and_marked(tiny_run_config, tmp_path):
    path = tiny_run_config(model={"source": str(tmp_path / "no-such-model")})
    sink = ListSink()
    with pytest.raises(Exception):
        run(load_config(path), sink)
    failed = sink.of(ev.RunFailed)
    assert failed and "no-such-model" in failed[0].message
    assert read_status(failed[0].run_dir)["state"] == "failed"


def test_block_size_longer_than_context_names_the_field(tiny_run_config):
    with pytest.raises(ConfigError, match="data.block_size"):
        run(load_config(tiny_run_config(data={"block_size": 1000})), None)
