"""Never lose a run: out-of-memory fits, diverged losses, full disks during a save."""

from __future__ import annotations

import errno
import math
import threading

import pytest
import torch

from studio.config import load_config
from studio.core import events as ev
from studio.core.control import RunControl
from studio.core.errors import RunError
from studio.core.sinks import ListSink
from studio.engine import run
from studio.models.text import TextFamily
from studio.runs import RunFolder, read_status

QUIET = {"eval": {"every": 0}, "sample": {"every": 0}}


@pytest.fixture
def oom_above(monkeypatch):
    """Make any micro-batch larger than ``limit`` examples raise a (CPU) OutOfMemoryError."""
    limit = {"n": 2}
    real = TextFamily.loss

    def loss(self, loaded, batch):
        if len(batch) > limit["n"]:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, loaded, batch)

    monkeypatch.setattr(TextFamily, "loss", loss)
    return limit


def test_auto_fit_halves_the_micro_batch_and_keeps_the_effective_batch(tiny_run_config, oom_above):
    path = tiny_run_config(train={"max_steps": 4, "batch_size": 8, "grad_accum": 1},
                           checkpoint={"every": 2}, **QUIET)
    sink = ListSink()
    res = run(load_config(path), sink)
    assert res.state == "completed" and res.step == 4
    logs = [e.text for e in sink.of(ev.LogMessage) if "out of memory" in e.text]
    assert len(logs) == 2 and "halved to 4" in logs[0] and "halved to 2" in logs[1]
    assert "effective batch stays 8" in logs[1]
    saved = load_config(RunFolder(res.run_dir).config_path)
    assert (saved.train.batch_size, saved.train.grad_accum) == (2, 4)
    # 8 examples per optimizer step, as asked
    steps = sink.of(ev.StepLogged)
    assert all(math.isfinite(s.loss) for s in steps) and len(steps) == 4


def test_oom_on_the_cli_stops_with_a_checkpoint_and_advice(tiny_run_config, oom_above):
    path = tiny_run_config(train={"max_steps": 6, "batch_size": 2, "on_oom": "pause"},
                           checkpoint={"every": 2}, **QUIET)
    sink = ListSink()
    real_limit = oom_above["n"]

    class Grow:  # memory "shrinks" after step 3: micro-batches of 2 stop fitting
        def emit(self, e):
            sink.emit(e)
            if isinstance(e, ev.StepLogged) and e.step == 3:
                oom_above["n"] = 1

    res = run(load_config(path), Grow())
    assert res.state == "stopped" and res.step == 3
    err = [e.text for e in sink.of(ev.LogMessage) if e.level == "error"][0]
    assert "out of memory at step 3" in err and "train.batch_size=1" in err
    assert "studio resume" in err
    oom_above["n"] = real_limit
    assert read_status(res.run_dir)["state"] == "stopped"


def test_oom_in_the_gui_pauses_with_choices_then_fits(tiny_run_config, oom_above):
    path = tiny_run_config(train={"max_steps": 3, "batch_size": 4, "on_oom": "pause"}, **QUIET)
    control = RunControl(interactive=True)
    sink = ListSink()
    paused = threading.Event()

    class Watch:
        def emit(self, e):
            sink.emit(e)
            if isinstance(e, ev.RunPaused):
                paused.set()

    out = {}
    th = threading.Thread(target=lambda: out.update(r=run(load_config(path), Watch(), control)))
    th.start()
    assert paused.wait(60)
    p = sink.of(ev.RunPaused)[0]
    assert p.reason == "out_of_memory" and "halve the micro-batch" in p.message
    assert read_status(sink.of(ev.RunStarted)[0].run_dir)["state"] == "paused"
    control.request_fit("halve_batch")
    control.resume()
    th.join(60)
    assert out["r"].state == "completed" and out["r"].step == 3


def _nan_after(monkeypatch, step_holder):
    real = TextFamily.loss

    def loss(self, loaded, batch):
        value = real(self, loaded, batch)
        if step_holder["poison"]:
            return value * float("nan")
        return value

    monkeypatch.setattr(TextFamily, "loss", loss)


def test_a_diverged_loss_keeps_the_last_good_checkpoint(tiny_run_config, monkeypatch):
    holder = {"poison": False}
    _nan_after(monkeypatch, holder)
    path = tiny_run_config(train={"max_steps": 10}, checkpoint={"every": 2}, **QUIET)
    sink = ListSink()

    class PoisonAt5:
        def emit(self, e):
            sink.emit(e)
            if isinstance(e, ev.StepLogged) and e.step == 4:
                holder["poison"] = True

    res = run(load_config(path), PoisonAt5())
    assert res.state == "stopped"
    fin = sink.of(ev.RunFinished)[0]
    assert fin.reason == "diverged"
    err = [e.text for e in sink.of(ev.LogMessage) if e.level == "error"][0]
    assert "became nan at step 5" in err and "restored from step_000004" in err
    assert "train.lr=" in err
    folder = RunFolder(res.run_dir)
    assert folder.latest_checkpoint().name == "step_000004"  # the NaN state was never saved
    status = read_status(res.run_dir)
    assert status["state"] == "stopped" and "nan" in status["message"]
    # the user lowers the rate and resumes: training goes on from step 4
    holder["poison"] = False
    again = ListSink()
    res2 = run(None, again, resume=res.run_dir, overrides=("train.lr=0.0005",))
    assert res2.state == "completed" and again.of(ev.RunStarted)[0].start_step == 4
    assert all(math.isfinite(e.loss) for e in again.of(ev.StepLogged))


def test_a_diverged_loss_in_the_gui_pauses_and_resumes_at_a_lower_rate(tiny_run_config,
                                                                       monkeypatch):
    holder = {"poison": False}
    _nan_after(monkeypatch, holder)
    path = tiny_run_config(train={"max_steps": 6, "schedule": "constant"},
                           checkpoint={"every": 2}, **QUIET)
    control = RunControl(interactive=True)
    sink = ListSink()
    paused = threading.Event()

    class Watch:
        def emit(self, e):
            sink.emit(e)
            if isinstance(e, ev.StepLogged) and e.step == 2:
                holder["poison"] = True
            if isinstance(e, ev.RunPaused):
                paused.set()

    out = {}
    th = threading.Thread(target=lambda: out.update(r=run(load_config(path), Watch(), control)))
    th.start()
    assert paused.wait(60)
    assert sink.of(ev.RunPaused)[0].reason == "diverged"
    holder["poison"] = False
    control.scale_lr(0.5)
    control.resume()
    th.join(60)
    assert out["r"].state == "completed"
    lrs = {e.step: e.lr for e in sink.of(ev.StepLogged)}
    assert lrs[6] == pytest.approx(lrs[2] * 0.5)  # step 1 is still warming up
    assert load_config(RunFolder(out["r"].run_dir).config_path).train.lr == pytest.approx(
        load_config(path).train.lr * 0.5)


def test_a_full_disk_during_a_save_keeps_the_previous_checkpoint(tiny_run_config, monkeypatch):
    import studio.engine.checkpoint as ck
    path = tiny_run_config(train={"max_steps": 6}, checkpoint={"every": 2}, **QUIET)
    real = ck.save_file

    def flaky(tensors, filename, *a, **kw):
        if "step_000004" in str(filename):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(tensors, filename, *a, **kw)

    monkeypatch.setattr(ck, "save_file", flaky)
    sink = ListSink()
    with pytest.raises(RunError, match="disk is full.*previous checkpoint is intact"):
        run(load_config(path), sink)
    failed = sink.of(ev.RunFailed)[0]
    folder = RunFolder(failed.run_dir)
    assert [p.name for p in folder.checkpoints()] == ["step_000002"]
    assert not [p for p in folder.checkpoints_dir.iterdir() if p.name.startswith(".tmp")]
    assert read_status(folder.path)["state"] == "failed"
    monkeypatch.setattr(ck, "save_file", real)
    res = run(None, ListSink(), resume=folder.path)
    assert res.state == "completed" and res.step == 6
