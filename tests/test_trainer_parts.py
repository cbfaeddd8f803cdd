"""The trainer's parts on their own, with tiny fakes (no model is trained here): the progress
a checkpoint saves, the loop's policies, the event codec and the shared freeze formulas."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest

from studio.config import freeze_plan
from studio.config.schema import TrainConfig
from studio.core import events as ev
from studio.core.errors import RunError
from studio.engine import loop, policies
from studio.engine.checkpoint import Progress
from studio.models import freeze as fz
from studio.state import freeze_tree

# -- progress ---------------------------------------------------------------------------------


def test_progress_round_trips_through_state_json():
    p = Progress(step=7, pos=56, total_steps=40, best_val_loss=2.5, best_step=6,
                 evals_since_best=1, last_val_loss=2.75, tokens_seen=3584, elapsed_s=12.5,
                 active_groups=["lm_head", "block.1"],
                 probes={"overfit": {"streak": 1}, "ref_start": 3.0, "ref_n": 2})
    back = Progress()
    back.restore(json.loads(json.dumps(p.to_state())))
    assert back == p
    assert Progress.of(p.to_state()) == p


def test_progress_restores_an_older_state_json():
    """A checkpoint written before a field existed keeps that field's default; keys that
    are not progress (the format version, saved_at, the batch shape) are ignored."""
    old = {"step": 3, "pos": 24, "best_val_loss": None, "format": 1, "saved_at": 1.0,
           "batch_size": 8}
    p = Progress.of(old)
    assert (p.step, p.pos, p.evals_since_best, p.active_groups) == (3, 24, 0, None)


# -- out of memory ----------------------------------------------------------------------------

def test_fit_halves_the_micro_batch_and_keeps_the_effective_batch():
    train, message = policies.fit(TrainConfig(batch_size=8, grad_accum=2), "halve_batch",
                                  lambda: pytest.fail("not asked"))
    assert (train.batch_size, train.grad_accum) == (4, 4) and "stays 16" in message
    assert policies.fit(TrainConfig(batch_size=1), "halve_batch", lambda: True) is None


def test_fit_turns_on_checkpointing_only_where_the_model_can():
    train, _ = policies.fit(TrainConfig(), "gradient_checkpointing", lambda: True)
    assert train.gradient_checkpointing
    assert policies.fit(TrainConfig(), "gradient_checkpointing", lambda: False) is None
    already = TrainConfig(gradient_checkpointing=True)
    assert policies.fit(already, "gradient_checkpointing", lambda: True) is None
    assert policies.fit(TrainConfig(), "buy_a_bigger_gpu", lambda: True) is None


def test_auto_fit_tries_the_actions_in_order():
    asked = []

    def can() -> bool:
        asked.append(1)
        return True

    train, _ = policies.auto_fit(TrainConfig(batch_size=4), can)
    assert train.batch_size == 2 and not asked  # halving came first
    train, _ = policies.auto_fit(TrainConfig(batch_size=1), can)
    assert train.gradient_checkpointing and asked == [1]
    assert policies.auto_fit(TrainConfig(batch_size=1), lambda: False) is None


# -- divergence -------------------------------------------------------------------------------

class _Folder:
    def __init__(self, latest: Path | None) -> None:
        self.latest, self.truncated = latest, []

    def latest_checkpoint(self) -> Path | None:
        return self.latest

    def truncate_metrics_after(self, step: int) -> int:
        self.truncated.append(step)
        return 0


def test_roll_back_returns_to_the_last_good_checkpoint():
    progress = Progress(step=9, pos=72, best_val_loss=1.5, best_step=8, tokens_seen=99)
    folder = _Folder(Path("checkpoints/step_000006"))
    loaded = []

    def load(ckpt: Path) -> Progress:
        loaded.append(ckpt)
        return Progress(step=6, pos=48, best_val_loss=2.0, best_step=4)

    assert policies.roll_back(progress, folder, load, "boom") == folder.latest
    assert loaded == [folder.latest] and folder.truncated == [6]
    assert (progress.step, progress.pos) == (6, 48)
    assert (progress.best_val_loss, progress.best_step) == (1.5, 8)  # best/ holds those


def test_roll_back_without_a_checkpoint_fails_the_run():
    with pytest.raises(RunError, match="boom .before the first checkpoint"):
        policies.roll_back(Progress(step=2), _Folder(None), lambda c: pytest.fail(), "boom")


# -- early stopping ---------------------------------------------------------------------------

def test_early_stopping_counts_evaluations_without_a_better_loss():
    stop, p = policies.EarlyStopping(patience=2), Progress()
    seen = []
    for step, val in ((10, 3.0), (20, 2.0), (30, 2.5), (40, 2.1), (50, 2.2)):
        p.step = step
        seen.append((stop.record(p, val), stop.why_stop(p) != ""))
    assert seen == [(True, False), (True, False), (False, False), (False, True), (False, True)]
    assert (p.best_val_loss, p.best_step, p.last_val_loss) == (2.0, 20, 2.2)
    assert "in 2 evaluations" in stop.why_stop(p)
    assert "overfitting" in stop.why_stop(p, overfitting=True)


def test_early_stopping_off_never_stops():
    stop, p = policies.EarlyStopping(patience=0), Progress(evals_since_best=99)
    assert stop.record(p, 1.0) and stop.why_stop(p, overfitting=True) == ""


# -- events -----------------------------------------------------------------------------------

def _one_of_each() -> list:
    text = ev.Sample("text", 5, 0, prompt="Once", text=" upon", seed=1)
    image = ev.Sample("image", 5, 1, path="samples/step_000005/1.png", meta={"w": 8})
    return [
        ev.RunStarted("runs/r", "r", "text", "cpu", "fp32", 40, 0, 10, 20, 30, 4, True),
        ev.StepLogged(3, 0.5, 2.25, 1e-3, 0.75, 512.0, "tok", 1.5, 20.0, 40, 1024),
        ev.EvalLogged(4, 2.5, 12.2, 2.4, False, {"ref_loss": 3.0}),
        ev.EvalLogged(4, 2.5, None, 2.5, True),
        ev.OverfitWarning(30, 3, 2.0, 2.25, 1.5, 1.25),
        ev.UnfreezeApplied(6, ("block.1", "block.0")),
        ev.SampleReady(5, (text, image)),
        ev.CheckpointSaved(8, "runs/r/checkpoints/step_000008", "interval"),
        ev.LogMessage("warning", "careful"),
        ev.RunPaused(9, "out_of_memory", "halve the batch"),
        ev.RunResumed(9),
        ev.RunFinished(40, "early_stopping", 2.0, 20, "runs/r"),
        ev.RunFinished(40, "stopped", None, None, "runs/r"),
        ev.RunFailed(3, "boom", "Traceback ...", "runs/r"),
    ]


def test_every_event_decodes_to_itself():
    events = _one_of_each()
    assert {type(e) for e in events} == set(typing.get_args(ev.Event))
    for e in events:
        line = json.loads(json.dumps({"t": 1.0, **ev.to_dict(e)}))  # a metrics.jsonl line
        assert ev.from_dict(ev.to_dict(e)) == e
        assert ev.from_dict(line) == e
    back = ev.from_dict(ev.to_dict(events[6]))
    assert [s.meta for s in back.samples] == [{}, {"w": 8}]  # meta does not take part in ==
    assert ev.from_dict(ev.to_dict(events[2])).metrics == {"ref_loss": 3.0}


def test_from_dict_skips_what_is_not_an_event_and_fills_what_is_missing():
    assert ev.from_dict({"event": "Nonsense", "step": 1}) is None
    assert ev.from_dict({"step": 1}) is None
    assert ev.from_dict({"event": "StepLogged", "loss": 1.0}) is None  # no step
    assert ev.from_dict({"event": "StepLogged", "step": "not a number"}) is None
    old = ev.from_dict({"event": "StepLogged", "step": 2, "loss": 1.5, "lr": None})
    assert old.step == 2 and old.loss == 1.5 and old.gpu_mem_bytes == 0 and old.lr != old.lr
    sample = ev.from_dict({"event": "SampleReady", "step": 4, "samples": [{"index": 2}]})
    assert sample.samples == (ev.Sample("text", 4, 2),)


# -- the freeze formulas: one copy --------------------------------------------------------------

def test_the_layer_tree_and_the_engine_share_the_freeze_formulas():
    assert freeze_tree.discriminative_factor is freeze_plan.discriminative_factor
    assert fz.discriminative_factor is freeze_plan.discriminative_factor
    assert freeze_tree.run_length is freeze_plan.run_length
    assert loop.run_length is freeze_plan.run_length
    assert freeze_tree.preset_plan is fz.preset_plan is freeze_plan.preset_plan


# -- what differs between processes -----------------------------------------------------------

def test_rank_differences_sit_behind_dist(tmp_path):
    from studio.core.sinks import ListSink
    from studio.engine.dist import Dist
    from studio.runs import RunFolder

    folder, sink = RunFolder.create(tmp_path, "r"), ListSink()
    one, other = Dist(), Dist(rank=1, world=2)
    assert one.view(folder, sink) == (folder, sink) and one.takes_part
    rank_folder, rank_sink = other.view(folder, sink)
    rank_folder.write_status("running", step=3)
    rank_sink.emit(ev.LogMessage("info", "from rank 1"))
    assert not rank_folder.status_path.exists() and sink.events == []
    assert not other.takes_part and Dist(rank=1, world=2, fsdp=True).takes_part
    with one.output_dir(tmp_path / "samples") as out:
        assert out == tmp_path / "samples"
    with other.output_dir(tmp_path / "samples") as out:
        assert out != tmp_path / "samples" and out.is_dir()
    model = object()
    assert one.wrap(model, None) is model and one.agree(2.5) == 2.5
    with one.grad_sync(model, last=False):
        pass
