"""Qt-free GUI state: run history buffers, the gallery by step, the run session."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from studio.core import events as ev
from studio.core.sinks import event_to_dict
from studio.core.units import clock as fmt_duration
from studio.core.units import size as fmt_bytes
from studio.state.gallery import GalleryState, export_samples
from studio.state.run_history import RunHistory, Series
from studio.state.session import RunSession


def step(s: int, loss: float, lr: float = 1e-3, total: int = 100) -> ev.StepLogged:
    return ev.StepLogged(step=s, epoch=s / 10, loss=loss, lr=lr, grad_norm=1.0,
                         throughput=500.0 + s, throughput_unit="tok", elapsed_s=s,
                         eta_s=total - s, total_steps=total)


def ema_reference(losses, beta):
    out, e, n = [], 0.0, 0
    for x in losses:
        if math.isfinite(x):
            e = beta * e + (1 - beta) * x
            n += 1
        out.append(e / (1 - beta ** n) if n else math.nan)
    return out


# -- Series ---------------------------------------------------------------------------------

def test_series_grows_by_doubling_and_keeps_rows():
    s = Series(("step", "loss"), capacity=2)
    for i in range(100):
        s.append(step=i, loss=i * 0.5)
    assert len(s) == 100
    assert s.column("step").tolist() == list(range(100))
    assert s.column("loss")[-1] == 49.5
    s.truncate_from_step(40)
    assert len(s) == 40 and s.last("step") == 39


def test_series_missing_values_are_nan():
    s = Series(("step", "a", "b"))
    s.append(step=1, a=2.0)
    s.append(step=2, a=None, b=3.0)
    assert np.isnan(s.column("b")[0]) and np.isnan(s.column("a")[1])


# -- RunHistory -------------------------------------------------------------------------------

def test_ema_is_bias_corrected():
    h = RunHistory(smoothing=0.9)
    losses = [4.0, 3.0, 3.5, 2.0, 2.5]
    for i, x in enumerate(losses, 1):
        h.feed(step(i, x))
    ema = h.train.column("ema")
    # the first point equals the first loss (no pull toward zero), then the EMA follows
    assert ema[0] == pytest.approx(4.0)
    np.testing.assert_allclose(ema, ema_reference(losses, 0.9))
    assert h.train.column("loss").tolist() == losses


def test_non_finite_losses_are_kept_raw_and_skipped_by_the_ema():
    h = RunHistory(smoothing=0.5)
    for i, x in enumerate([2.0, float("nan"), 1.0], 1):
        h.feed(step(i, x))
    assert np.isnan(h.train.column("loss")[1])
    np.testing.assert_allclose(h.train.column("ema"), ema_reference([2.0, math.nan, 1.0], 0.5))


def test_changing_smoothing_recomputes_the_ema():
    h = RunHistory(smoothing=0.9)
    losses = [5.0, 4.0, 1.0, 2.0]
    for i, x in enumerate(losses, 1):
        h.feed(step(i, x))
    v = h.version
    h.set_smoothing(0.0)
    assert h.train.column("ema").tolist() == losses
    assert h.version > v
    h.set_smoothing(0.6)
    np.testing.assert_allclose(h.train.column("ema"), ema_reference(losses, 0.6))
    with pytest.raises(ValueError):
        h.set_smoothing(1.0)


def test_eval_unfreeze_and_reset():
    h = RunHistory()
    changes = []
    h.subscribe(changes.append)
    h.feed(step(1, 2.0))
    h.feed(ev.EvalLogged(step=1, val_loss=2.5, perplexity=12.18, best_val_loss=2.5, is_best=True))
    h.feed(ev.EvalLogged(step=2, val_loss=2.4, perplexity=None, best_val_loss=2.4, is_best=True))
    h.feed(ev.UnfreezeApplied(step=2, groups=("block 1", "block 2")))
    assert h.val.column("val_loss").tolist() == [2.5, 2.4]
    assert h.val.column("ppl")[0] == pytest.approx(12.18) and np.isnan(h.val.column("ppl")[1])
    assert h.unfreezes[0].step == 2 and h.unfreezes[0].groups == ("block 1", "block 2")
    h.reset("again")
    assert len(h.train) == len(h.val) == 0 and h.unfreezes == [] and h.label == "again"
    assert "reset" in changes


def test_a_resumed_run_replaces_the_steps_after_its_checkpoint():
    h = RunHistory(smoothing=0.5)
    for i in range(1, 7):
        h.feed(step(i, 10.0 - i))
    h.feed(ev.EvalLogged(5, 3.0, None, 3.0, True))
    h.feed(ev.RunStarted(run_dir="r", run_id="r", family="text", device="cpu", precision="fp32",
                         total_steps=10, start_step=4, trainable_params=1, total_params=1,
                         train_examples=1, val_examples=1, resumed=True))
    assert h.train.column("step").tolist() == [1, 2, 3, 4]
    assert len(h.val) == 0
    h.feed(step(5, 1.0))
    np.testing.assert_allclose(h.train.column("ema"),
                               ema_reference([9.0, 8.0, 7.0, 6.0, 1.0], 0.5))
    # a step that goes back (a second resume without RunStarted) also truncates
    h.feed(step(3, 0.5))
    assert h.train.column("step").tolist() == [1, 2, 3]


def test_metrics_records_give_the_same_curves_as_events():
    events = [step(i, 3.0 / i) for i in range(1, 6)]
    events += [ev.EvalLogged(5, 1.5, 4.48, 1.5, True), ev.UnfreezeApplied(3, ("head",)),
               ev.LogMessage("info", "hello")]
    live = RunHistory()
    for e in events:
        live.feed(e)
    records = [json.loads(json.dumps({"t": 0.0, **event_to_dict(e)})) for e in events]
    records.append({"event": "StepLogged", "step": "not a number"})  # skipped, not fatal
    loaded = RunHistory()
    loaded.load_records(records)
    for name in ("step", "loss", "ema", "lr", "throughput"):
        np.testing.assert_allclose(loaded.train.column(name), live.train.column(name))
    np.testing.assert_allclose(loaded.val.column("val_loss"), live.val.column("val_loss"))
    assert loaded.unfreezes == live.unfreezes
    assert loaded.throughput_unit == "tok"


def test_from_run_reads_metrics_jsonl(tmp_path):
    lines = [json.dumps(event_to_dict(step(i, 1.0 / i))) for i in (1, 2, 3)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n{\"event\": \"Step",
                                            encoding="utf-8")  # a torn last line
    h = RunHistory.from_run(tmp_path)
    assert h.train.column("step").tolist() == [1, 2, 3]
    assert h.label == tmp_path.name


def test_value_at_finds_the_nearest_rows():
    h = RunHistory()
    for i in (10, 20, 30):
        h.feed(step(i, i / 10))
    h.feed(ev.EvalLogged(20, 5.0, 148.4, 5.0, True))
    v = h.value_at(24)
    assert v["step"] == 20 and v["loss"] == 2.0 and v["val_loss"] == 5.0 and v["val_step"] == 20
    assert h.value_at(26)["step"] == 30
    assert RunHistory().value_at(3) == {}


# -- GalleryState ------------------------------------------------------------------------------

def text_samples(s: int, n: int = 2):
    return tuple(ev.Sample("text", s, i, prompt="P", text=f" t{s}.{i}") for i in range(n))


def test_gallery_groups_by_step_and_follows_the_latest():
    g = GalleryState()
    changes = []
    g.subscribe(changes.append)
    for s in (0, 50, 100):
        g.feed(ev.SampleReady(s, text_samples(s)))
    assert g.steps == [0, 50, 100] and g.selected == 100
    assert g.first_step == 0 and g.latest_step == 100 and len(g) == 6
    g.select(40)             # nearest sampled step; looking back stops following
    assert g.selected == 50 and not g.follow
    g.feed(ev.SampleReady(150, text_samples(150)))
    assert g.selected == 50
    g.select(1000)           # the newest: following again
    assert g.selected == 150 and g.follow
    g.feed(ev.SampleReady(200, text_samples(200)))
    assert g.selected == 200
    assert "samples" in changes and "selected" in changes


def test_nearest_step():
    g = GalleryState()
    assert g.nearest_step(5) is None
    for s in (0, 10, 30):
        g.add(s, text_samples(s))
    assert [g.nearest_step(x) for x in (-5, 4, 5, 6, 19, 21, 99)] == [0, 0, 0, 10, 10, 30, 30]


def test_a_second_batch_at_the_same_step_replaces_by_index():
    g = GalleryState()
    g.add(10, text_samples(10, 3))
    g.add(10, (ev.Sample("text", 10, 1, prompt="P", text=" new"),))
    assert [s.text for s in g.samples(10)] == [" t10.0", " new", " t10.2"]
    assert g.steps == [10]


def test_gallery_from_metrics_records_resolves_relative_paths(tmp_path):
    img = ev.Sample("image", 5, 0, path="samples/step_000005/0.png")
    records = [{"event": "SampleReady", **event_to_dict(ev.SampleReady(5, (img,)))},
               {"event": "SampleReady", "step": "bad"}]
    g = GalleryState()
    g.load_records(records, tmp_path)
    assert g.samples(5)[0].path == str(tmp_path / "samples/step_000005/0.png")
    assert g.samples(5)[0].kind == "image"


def test_export_samples_writes_text_and_copies_files(tmp_path):
    src = tmp_path / "a.png"
    src.write_bytes(b"\x89PNG fake")
    samples = [ev.Sample("text", 20, 0, prompt="Shall I", text=" compare"),
               ev.Sample("image", 20, 1, path=str(src))]
    out = export_samples(samples, tmp_path / "out")
    assert [p.name for p in out] == ["step_000020_00.txt", "step_000020_01.png"]
    assert out[0].read_text(encoding="utf-8") == "Shall I compare"
    assert out[1].read_bytes() == b"\x89PNG fake"
    with pytest.raises(FileNotFoundError):
        export_samples([ev.Sample("audio", 1, 0, path=str(tmp_path / "gone.wav"))], tmp_path)


def test_resumed_run_forgets_later_samples():
    g = GalleryState()
    for s in (0, 10, 20):
        g.add(s, text_samples(s))
    g.feed(ev.RunStarted("r", "r", "text", "cpu", "fp32", 30, 10, 1, 1, 1, 1, True))
    assert g.steps == [0, 10] and g.selected == 10


# -- RunSession --------------------------------------------------------------------------------

def started(total=10, start=0):
    return ev.RunStarted("runs/r", "r", "text", "cuda:0", "bf16", total, start, 5, 10, 8, 2)


def test_session_states_and_progress():
    s = RunSession()
    states = []
    s.subscribe(lambda what: what == "state" and states.append(s.state))
    s.begin("demo")
    s.feed(started())
    s.feed(ev.StepLogged(3, 0.3, 2.0, 1e-3, 1.0, 12_345.0, "tok", 3.0, 7.0, 10,
                         gpu_mem_bytes=3 * 1024 ** 3))
    assert s.progress_text() == "step 3/10"
    assert s.throughput_text() == "12.3k tok/s"
    assert s.eta_text() == "ETA 00:07"
    assert s.gpu_text() == "GPU mem 3.0 GB"
    s.feed(ev.RunPaused(3))
    s.set_state("stopping")
    s.feed(ev.RunResumed(3))         # a stop wakes the pause: still stopping
    assert s.state == "stopping"
    s.feed(ev.RunFinished(3, "stopped", None, None, "runs/r"))
    assert states == ["starting", "running", "paused", "stopping", "stopped"]
    assert not any("Resumed" in x.text for x in s.log)


def test_session_failure_is_logged_once():
    s = RunSession()
    s.begin("demo")
    s.feed(ev.RunFailed(2, "boom", "Traceback", "runs/r"))
    s.fail("boom", "Traceback")
    assert s.state == "failed" and s.error_message == "boom" and s.run_dir == "runs/r"
    assert sum(1 for x in s.log if x.level == "error") == 1


def test_session_log_is_capped_and_readable_incrementally():
    s = RunSession()
    s.MAX_LOG = 5
    for i in range(8):
        s.add_log("info", f"line {i}")
    assert [x.text for x in s.log] == [f"line {i}" for i in range(3, 8)]
    assert [x.text for x in s.log_since(6)] == ["line 6", "line 7"]
    assert len(s.log_since(0)) == 5 and s.log_since(8) == []


def test_formatting():
    assert fmt_duration(3725) == "1:02:05" and fmt_duration(65) == "01:05"
    assert fmt_duration(float("nan")) == "--:--"
    assert fmt_bytes(512) == "512 B" and fmt_bytes(1536) == "1.5 KB"
