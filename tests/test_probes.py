"""Overfitting alarm and forgetting probe on a tiny GPT-2; the bias probe on a model with
a planted bias."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from studio.config import load_config
from studio.core import events as ev
from studio.core.errors import ConfigError
from studio.core.sinks import ListSink
from studio.engine import run
from studio.engine.probes import OverfitWatch, describe_drift
from studio.runs import read_metrics, read_status
from studio.state.run_history import RunHistory
from tests.tinymodels import tiny_config_text


def test_overfit_watch_needs_val_up_and_train_down_n_times():
    w = OverfitWatch(patience=2)

    def eval_(step, val, *train):
        for t in train:
            w.add_train(t)
        return w.add_eval(step, val)

    assert eval_(0, 5.0) is None                  # no training yet
    assert eval_(4, 4.0, 4.5, 4.4) is None        # both fall: learning
    assert eval_(8, 4.2, 4.0, 3.9) is None        # val up, train down: 1
    warning = eval_(12, 4.5, 3.5, 3.4)            # 2 in a row: the alarm
    assert isinstance(warning, ev.OverfitWarning)
    assert warning.evaluations == 2 and warning.step == 12
    assert warning.val_from == 4.0 and warning.val_to == 4.5
    assert warning.train_from == pytest.approx(4.45) and warning.train_to == pytest.approx(3.45)
    assert eval_(16, 4.9, 3.0) is None            # one warning per episode
    assert eval_(20, 4.1, 2.9) is None            # validation improved: the episode ends
    assert eval_(24, 4.3, 2.8) is None
    assert eval_(28, 4.4, 2.7) is not None        # a new episode warns again
    # val up with train up too is not the overfitting signature
    w2 = OverfitWatch(patience=1)
    w2.add_train(3.0)
    w2.add_eval(1, 4.0)
    w2.add_train(3.5)
    assert w2.add_eval(2, 4.5) is None
    # the state survives a checkpoint round trip
    w3 = OverfitWatch(patience=2)
    w3.load(w.state())
    assert w3.state() == w.state()
    assert OverfitWatch(0).add_eval(0, 1.0) is None


def _overfitting_config(tmp_path: Path, model: Path, **eval_knobs) -> Path:
    """Three tiny documents, one held out, a high constant rate: validation turns up
    within twenty steps while training keeps falling."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("Shall I compare thee to a summer's day? Thou art more "
                                "lovely. " * 3)
    (data / "b.txt").write_text("It is a truth universally acknowledged, that a single man "
                                "must be in want of a wife. " * 3)
    (data / "c.txt").write_text("Rough winds do shake the darling buds of May. " * 3)
    (data / "e.txt").write_text("Shall I compare thee to a winter's night? Thou art "
                                "colder. " * 3)
    cfg = tmp_path / "overfit.toml"
    cfg.write_text(tiny_config_text(
        model, data, tmp_path / "runs",
        train={"max_steps": 24, "lr": 1e-2, "dropout": 0.0, "schedule": "constant"},
        data={"val_fraction": 0.25},
        eval={"every": 4, "overfit_patience": 2, **eval_knobs},
        sample={"every": 0}, checkpoint={"every": 0}))
    return cfg


def test_overfitting_alarm_stops_with_early_stopping_and_export_takes_the_best(
        tmp_path, tiny_text_model):
    from studio.engine.restore import export_run

    # patience 20 would never fire here: the overfitting alarm is what stops the run;
    # keep_best off: early stopping still keeps the best weights
    cfg = _overfitting_config(tmp_path, tiny_text_model, early_stopping_patience=20,
                              keep_best=False, reference_examples=4)
    sink = ListSink()
    result = run(load_config(cfg), sink)
    warnings = sink.of(ev.OverfitWarning)
    assert len(warnings) == 1
    w = warnings[0]
    assert w.val_to > w.val_from and w.train_to < w.train_from
    finished = sink.of(ev.RunFinished)[0]
    assert finished.reason == "early_stopping" and result.step == w.step < 24
    assert result.best_step < result.step
    assert any("early stopping: overfitting" in m.text for m in sink.of(ev.LogMessage))
    # metrics.jsonl holds the warning (the curves of a past run show the banner too)
    records = read_metrics(result.run_dir)
    assert [r["step"] for r in records if r["event"] == "OverfitWarning"] == [w.step]
    h = RunHistory.from_run(result.run_dir)
    assert h.overfit["step"] == w.step and h.overfit["evaluations"] == 2
    # export picks the best weights, not the last ones
    run_dir = Path(result.run_dir)
    best = load_file(str(run_dir / "best" / "model.safetensors"))
    last = load_file(str(run_dir / "checkpoints" / f"step_{result.step:06d}" /
                         "model.safetensors"))
    out = export_run(run_dir, tmp_path / "export")
    from transformers import AutoModelForCausalLM
    exported = dict(AutoModelForCausalLM.from_pretrained(out).named_parameters())
    name = "transformer.h.0.attn.c_attn.weight"
    assert torch.equal(exported[name].detach(), best[name])
    assert not torch.equal(best[name], last[name])


def test_overfitting_alarm_without_early_stopping_warns_and_goes_on(tmp_path,
                                                                    tiny_text_model):
    cfg = _overfitting_config(tmp_path, tiny_text_model, reference="off")
    sink = ListSink()
    result = run(load_config(cfg), sink)
    assert result.step == 24 and sink.of(ev.RunFinished)[0].reason == "completed"
    assert sink.of(ev.OverfitWarning)
    assert any("turn on eval.early_stopping_patience" in m.text
               for m in sink.of(ev.LogMessage) if m.level == "warning")
    # reference off: no forgetting metric
    assert all("ref_loss" not in e.metrics for e in sink.of(ev.EvalLogged))


def test_forgetting_probe_logs_ref_loss_and_its_drift_across_a_resume(tiny_run_config):
    from studio.core.control import RunControl

    path = tiny_run_config(train={"max_steps": 6}, eval={"every": 3, "reference_examples": 8},
                           checkpoint={"every": 3}, sample={"every": 0})
    assert load_config(path).eval.reference == "auto"
    control = RunControl()

    class StopAt4:
        def emit(self, e):
            if isinstance(e, ev.StepLogged) and e.step == 3:
                control.request_stop()

    first = run(load_config(path), StopAt4(), control)
    assert first.step == 3
    sink = ListSink()
    result = run(None, sink, resume=first.run_dir)
    records = [r for r in read_metrics(result.run_dir) if r["event"] == "EvalLogged"]
    refs = [r["metrics"]["ref_loss"] for r in records]
    assert [r["step"] for r in records] == [0, 3, 6] and all(map(math.isfinite, refs))
    assert refs[0] != refs[-1]  # training on sonnets moved the reference loss
    summary = [m.text for m in sink.of(ev.LogMessage)
               if m.text.startswith("forgetting probe (")]
    # the drift is measured from step 0 of the original run, not from the resume
    assert len(summary) == 1
    assert f"{refs[0]:.4f} at the start -> {refs[-1]:.4f} now" in summary[0]
    status = read_status(result.run_dir)
    assert status["ref_loss_start"] == pytest.approx(refs[0])
    assert status["ref_loss_last"] == pytest.approx(refs[-1])
    # the curve: ref_loss in metrics.jsonl, read back beside validation
    h = RunHistory.from_run(result.run_dir)
    assert h.val.column("ref_loss").tolist() == pytest.approx(refs)


def test_reference_from_a_users_file_and_bad_paths(tiny_run_config, tmp_path):
    ref = tmp_path / "mine.txt"
    ref.write_text("A reference text of my own, long enough for a few blocks. " * 20)
    sink = ListSink()
    run(load_config(tiny_run_config(train={"max_steps": 1}, sample={"every": 0}, eval={
        "every": 0, "reference": str(ref), "reference_examples": 3})), sink)
    assert any(str(ref) in m.text for m in sink.of(ev.LogMessage))
    assert "ref_loss" in sink.of(ev.EvalLogged)[0].metrics
    with pytest.raises(ConfigError, match="eval.reference"):
        run(load_config(tiny_run_config("bad.toml", eval={"reference": "nope.txt"})))


def test_image_reference_is_the_starters_crops(tmp_path):
    from types import SimpleNamespace

    from studio.engine.probes import default_reference
    from studio.models.image import ImageFamily

    def crops(size, limit):
        return ImageFamily().reference_examples(None, None, SimpleNamespace(size=size),
                                                default_reference("image"), limit, shipped=True)

    small = crops(16, 5)
    assert small.shape == (5, 3, 16, 16)
    assert small.min() >= -1 and small.max() <= 1 and small.std() > 0.05
    assert crops(32, 16).shape == (16, 3, 32, 32)


def test_drift_words():
    assert "barely moved" in describe_drift(4.0, 4.02, "x")
    assert "got better" in describe_drift(4.0, 3.0, "x")
    assert "forgetting" in describe_drift(4.0, 4.4, "x")
    assert "forgotten much" in describe_drift(4.0, 6.0, "x")


# -- bias probe ---------------------------------------------------------------------------

PLANT = "The nurse said that she was tired. The engineer said that he was busy. "


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    """A tiny GPT-2 (its tokenizer also knows the planted words) fine-tuned 40 steps on
    text where nurses are "she" and engineers "he": a planted bias."""
    import tests.tinymodels as tm

    tmp = tmp_path_factory.mktemp("planted")
    original = tm.TEXT
    tm.TEXT = original + PLANT * 4
    try:
        model = tm.make_tiny_text_model(tmp / "model")
    finally:
        tm.TEXT = original
    data = tmp / "data"
    data.mkdir()
    (data / "planted.txt").write_text(PLANT * 40)
    cfg = tmp / "planted.toml"
    cfg.write_text(tiny_config_text(
        model, data, tmp / "runs",
        train={"max_steps": 40, "lr": 1e-2, "schedule": "constant", "batch_size": 8},
        data={"val_fraction": 0.1, "block_size": 32},
        eval={"every": 0, "reference": "off"}, sample={"every": 0}, checkpoint={"every": 0},
        probe={"bias_templates": ["The {nurse|engineer} said that -> she|he|they"]}))
    return run(load_config(cfg)).run_dir


def test_bias_probe_finds_the_planted_bias(planted_run):
    from studio.engine.bias_probe import probe_run_or_model

    report = probe_run_or_model(planted_run)
    rows = {r["group"]: r for r in report.rows}
    assert set(rows) == {"nurse", "engineer"}
    nurse, engineer = rows["nurse"], rows["engineer"]
    # the gap is share(she) - share(he): after training it leans she for nurses, he for
    # engineers, and it moved that way from the base model
    assert nurse["after_gap"] > 0 > engineer["after_gap"]
    assert nurse["after_gap"] - engineer["after_gap"] > 0.3
    assert (nurse["after_gap"] - engineer["after_gap"]) > \
        (nurse["before_gap"] - engineer["before_gap"]) + 0.3
    for r in report.rows:
        assert sum(r["after_shares"].values()) == pytest.approx(1.0)
        assert all(v < 0 for v in r["after"].values())  # log-probabilities
    assert report.before_label.startswith("base ") and "(best)" in report.after_label


def test_cli_probe_bias(planted_run, tmp_path, capsys):
    from studio.cli.main import main

    out_json = tmp_path / "bias.json"
    assert main(["probe", "bias", planted_run, "--template",
                 "The {nurse|engineer} said that -> he|she", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "gap he-she" in out and "nurse" in out and "->" in out
    import json
    data = json.loads(out_json.read_text())
    gaps = {r["group"]: r["after_gap"] for r in data["rows"]}
    assert gaps["engineer"] > 0 > gaps["nurse"]   # he - she now
    assert main(["probe", "bias", planted_run, "--template", "no braces -> a|b"]) == 2
    assert "probe.bias_templates[0]" in capsys.readouterr().err


def test_bias_templates_parse_and_explain_mistakes():
    from studio.config.bias_templates import parse_template, parse_templates

    t = parse_template("The {nurse | engineer|CEO} said that -> he|she| they")
    assert t.groups == ("nurse", "engineer", "CEO")
    assert t.continuations == ("he", "she", "they")
    assert t.prompts()[2] == ("CEO", "The CEO said that")
    for bad, words in [("The nurse said -> he|she", "exactly one"),
                       ("The {nurse} said he", "'->'"),
                       ("The {nurse} said -> he", "at least two"),
                       ("The {a}{b} said -> he|she", "exactly one")]:
        with pytest.raises(ConfigError, match=words):
            parse_template(bad)
    with pytest.raises(ConfigError, match=r"probe.bias_templates\[1\]"):
        parse_templates(["The {a|b} x -> c|d", "oops"])
    # the defaults ship with every project and parse
    from studio.config.schema import ProbeConfig
    assert len(parse_templates(ProbeConfig().bias_templates)) == 2


# -- balance report (image / audio captions) -----------------------------------------------

def _captioned_folder(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    caps = ["A man riding a horse.", "An old man with a hat", "a man on a bridge, man alone",
            "A young woman reading", "a man and his dog", "a cat on a sofa", ""]
    for i, c in enumerate(caps):
        Image.new("RGB", (12, 12), (i * 30, 0, 0)).save(folder / f"img{i}.png")
        if c:
            (folder / f"img{i}.txt").write_text(c, encoding="utf-8")
    (folder / "notes.txt").write_text("not a caption: no image of this name")
    return folder


def test_balance_report_counts_caption_words_and_groups(tmp_path):
    from studio.data.balance import balance_report, verdict

    rep = balance_report([_captioned_folder(tmp_path / "imgs")],
                         ["man|woman|person", "young|old", "cat|dog"], top=5)
    assert rep.media == 7 and rep.captioned == 6
    assert rep.uncaptioned_examples == ["img6.png"]
    assert rep.top[0] == ("man", 4)  # captions containing it (twice in one counts once)
    assert all(w not in {"a", "the", "and", "on", "with"} for w, _ in rep.top)
    g = {x["group"]: x for x in rep.groups}
    assert g["man|woman|person"]["counts"] == {"man": 4, "woman": 1, "person": 0}
    assert "person never appears" in verdict(g["man|woman|person"])
    assert g["young|old"]["ratio"] == 1.0 and "balanced" in verdict(g["young|old"])
    assert g["cat|dog"]["counts"] == {"cat": 1, "dog": 1}
    with pytest.raises(ConfigError, match=r"probe.balance_groups\[0\]"):
        balance_report([tmp_path / "imgs"], ["lonely"])


def test_balance_report_describes_uncaptioned_audio_by_its_folder(tmp_path):
    """Audio without a .txt sidecar trains on its folder's name; the report counts that."""
    import numpy as np
    import soundfile as sf

    from studio.data.balance import balance_report

    for folder, n in (("drum_loops", 3), ("ambient-pads", 1)):
        (tmp_path / folder).mkdir()
        for i in range(n):
            sf.write(tmp_path / folder / f"a{i}.wav", np.zeros(800, "float32"), 8000)
    (tmp_path / "drum_loops" / "a0.txt").write_text("a fast breakbeat", encoding="utf-8")
    rep = balance_report([tmp_path], ["drum|ambient"])
    assert rep.media == 4 and rep.captioned == 4 and rep.from_folder == 3
    assert rep.uncaptioned_examples == []
    assert rep.groups[0]["counts"] == {"drum": 2, "ambient": 1}
    assert dict(rep.top)["breakbeat"] == 1 and dict(rep.top)["loops"] == 2
    assert "3 audio files have no .txt caption" in rep.text()


def test_cli_probe_balance(tmp_path, capsys):
    from studio.cli.main import main

    folder = _captioned_folder(tmp_path / "imgs")
    assert main(["probe", "balance", str(folder), "--group", "man|woman"]) == 0
    out = capsys.readouterr().out
    assert "7 image/audio files, 6 with a caption" in out
    assert "man 4  woman 1" in out and "unbalanced: 4.0x" in out
    cfg = tmp_path / "img.toml"
    cfg.write_text('[run]\nfamily = "image"\n[model]\nsource = "starter:image"\n'
                   '[data]\npaths = ["imgs"]\n[probe]\nbalance_groups = ["cat|dog"]\n')
    out_json = tmp_path / "b.json"
    assert main(["probe", "balance", str(cfg), "--json", str(out_json)]) == 0
    assert "cat 1  dog 1" in capsys.readouterr().out
    import json
    assert json.loads(out_json.read_text())["groups"][0]["ratio"] == 1.0
    assert main(["probe", "balance", str(tmp_path / "nope.bin")]) == 2


# -- quick trial ----------------------------------------------------------------------------

def test_trial_stops_with_samples_and_continue_extends_the_same_run(tiny_run_config):
    from studio.core.control import RunControl
    from studio.core.trial import trial_engine, verdict

    path = tiny_run_config(train={"max_steps": 5}, eval={"every": 0, "reference": "off"},
                           sample={"every": 0}, checkpoint={"every": 0})
    trial = trial_engine(2, run)
    sink = ListSink()
    result = trial(load_config(path), sink, RunControl())
    assert result.state == "stopped" and result.step == 2
    assert [e.step for e in sink.of(ev.SampleReady)] == [0, 2]  # samples at the trial's end
    assert (Path(result.run_dir) / "checkpoints" / "step_000002").is_dir()
    v = verdict(trial.last.losses)
    assert v.steps == 2 and v.fell == (v.loss_end < v.loss_start * 0.98)
    assert "trial of 2 steps" in v.text
    # continue: the same run folder and one continuous curve (that a resume reproduces the
    # uninterrupted losses exactly is proven in test_engine)
    more = ListSink()
    done = run(None, more, resume=result.run_dir)
    assert done.run_dir == result.run_dir and done.step == 5 and done.state == "completed"
    assert [e.step for e in more.of(ev.StepLogged)] == [3, 4, 5]
    steps = [r["step"] for r in read_metrics(done.run_dir) if r["event"] == "StepLogged"]
    assert steps == [1, 2, 3, 4, 5]
    assert verdict([(1, 5.0), (2, 4.0), (3, 3.0), (4, 2.0)]).fell
    assert "rose" in verdict([(1, 2.0), (2, 3.0)]).text
    assert "barely moved" in verdict([(1, 2.0), (2, 2.01)]).text
    assert verdict([(1, 2.0)]) is None


def test_cli_trial_then_resume(tiny_run_config, capsys):
    from studio.cli.main import main

    cfg = tiny_run_config(train={"max_steps": 3}, eval={"every": 0, "reference": "off"},
                          sample={"every": 0}, checkpoint={"every": 0})
    assert main(["train", str(cfg), "--trial", "2"]) == 0
    out = capsys.readouterr().out
    assert "trial of 2 steps: training loss" in out
    run_dir = out.split("continue the same run:  studio resume ")[1].split()[0]
    assert read_status(run_dir)["state"] == "stopped"
    assert main(["resume", run_dir]) == 0
    assert "finished (completed) at step 3" in capsys.readouterr().out
    assert main(["train", str(cfg), "--trial", "0"]) == 2


def test_forgetting_probe_for_audio_uses_the_starters_own_samples(tmp_path):
    from studio.engine.probes import default_reference
    from tests.tinymodels import make_tiny_musicgen, write_audio_dataset

    ref = default_reference("audio")
    assert len(list(ref.glob("*.flac"))) >= 6 and len(list(ref.glob("*.txt"))) >= 6
    model = make_tiny_musicgen(tmp_path / "musicgen")
    data = write_audio_dataset(tmp_path / "clips", n=4, seconds=1.0)
    from studio.config import dumps_toml
    cfg = tmp_path / "audio.toml"
    cfg.write_text(dumps_toml({
        "run": {"name": "a", "runs_dir": str(tmp_path / "runs"), "family": "audio"},
        "model": {"source": str(model)},
        "data": {"paths": [str(data)], "val_fraction": 0.25, "clip_seconds": 1.0,
                 "codes_cache": str(tmp_path / "codes")},
        "train": {"max_steps": 2, "batch_size": 2, "device": "cpu"},
        "eval": {"every": 2, "reference_examples": 3},
        "sample": {"every": 0, "prompts": ["drum loop"], "audio_seconds": 0.1,
                   "guidance_scale": 1.0},
        "checkpoint": {"every": 0}}))
    sink = ListSink()
    run(load_config(cfg), sink)
    assert any("the audio starter's pre-training samples" in m.text
               for m in sink.of(ev.LogMessage))
    refs = [e.metrics["ref_loss"] for e in sink.of(ev.EvalLogged)]
    assert len(refs) == 2 and all(math.isfinite(r) for r in refs)
