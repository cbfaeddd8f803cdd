"""The demos: each shipped starter, fine-tuned on its demo project, gets better at it
(the sonnets for the text starter; ten drum loops the audio starter never heard)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from studio.config import load_config
from studio.core import events as ev
from studio.core.sinks import ListSink
from studio.engine import run
from studio.models.base import get_family

ROOT = Path(__file__).resolve().parent.parent
DEMOS = ROOT / "resources" / "demo"


def needs_starter(name: str):
    return pytest.mark.skipif(not (ROOT / f"resources/starters/{name}/config.json").is_file(),
                              reason=f"the {name} starter is not built")


def val_loss(fam, loaded, data, bs=16) -> float:
    loaded.model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for b in range(math.ceil(data.n_val / bs)):
            batch = data.val_batch(b, bs)
            total += float(fam.val_loss(loaded, batch, b)) * len(batch)
            n += len(batch)
    return total / n


def fine_tune(demo: str, family: str, steps: int, tmp_path: Path, *overrides: str):
    """(held-out loss of the starter, the last evaluation, all events, the run's result)"""
    q = lambda s: f'"{s}"'  # noqa: E731
    cfg = load_config(DEMOS / demo, [f"run.runs_dir={q(tmp_path / 'runs')}",
                                     f"train.max_steps={steps}", f"eval.every={steps}",
                                     "checkpoint.every=0", 'train.device="cpu"', *overrides])
    fam = get_family(family)
    loaded = fam.load(cfg.model.source, "cpu")
    data = fam.datasets(loaded, cfg, resolve=lambda p: Path(cfg.base_dir) / p)
    before = val_loss(fam, loaded, data)
    del loaded
    sink = ListSink()
    res = run(cfg, sink)
    assert res.state == "completed"
    return before, sink.of(ev.EvalLogged)[-1], sink


@needs_starter("text")
def test_fine_tuning_the_starter_on_sonnets_lowers_sonnet_perplexity(tmp_path, capsys):
    before, after, sink = fine_tune("sonnets.toml", "text", 40, tmp_path,
                                    "train.warmup_steps=5", "sample.every=40")
    with capsys.disabled():
        print(f"\n[demo] sonnet validation perplexity: starter {math.exp(before):.1f} -> "
              f"after 40 steps {after.perplexity:.1f}")
    assert after.val_loss < before - 0.2  # clearly better at sonnets
    samples = sink.of(ev.SampleReady)
    assert samples[0].step == 0 and samples[-1].step == 40
    assert all(s.text for s in samples[-1].samples)


@needs_starter("audio")
def test_fine_tuning_the_audio_starter_on_the_loops_lowers_held_out_code_loss(tmp_path, capsys):
    before, after, _ = fine_tune("loops.toml", "audio", 30, tmp_path, "sample.every=0",
                                 f'data.codes_cache="{tmp_path / "codes"}"')
    with capsys.disabled():
        print(f"\n[demo] loops held-out code loss: starter {before:.3f} -> after 30 steps "
              f"{after.val_loss:.3f}")
    assert after.val_loss < before - 0.1
    # per-code perplexity: how many of the 256 codes it is still choosing among
    assert after.perplexity == pytest.approx(math.exp(after.val_loss))
    assert after.perplexity < 256


@needs_starter("midi")
def test_fine_tuning_the_midi_starter_on_chorales_lowers_held_out_loss(tmp_path, capsys):
    before, after, sink = fine_tune("chorales.toml", "midi", 12, tmp_path, "sample.every=12",
                                    "sample.midi_free=1",
                                    "sample.midi_bars=4", "train.warmup_steps=2")
    with capsys.disabled():
        print(f"\n[demo] chorale held-out token loss: starter {before:.3f} -> after 12 steps "
              f"{after.val_loss:.3f}")
    assert after.val_loss < before - 0.1
    first, last = sink.of(ev.SampleReady)[0], sink.of(ev.SampleReady)[-1]
    assert first.step == 0 and last.step == 12
    assert all(Path(s.path).suffix == ".mid" and {"pc_surprise", "pc_distance"} <= set(s.meta["stats"])
               for s in last.samples)
    # a melody project samples one voice: no two notes share an onset
    import symusic
    for s in first.samples + last.samples:
        onsets = [n.time for track in symusic.Score(s.path).tracks for n in track.notes]
        assert len(onsets) == len(set(onsets)), s.path


@needs_starter("captioning")
def test_fine_tuning_the_captioner_on_labels_moves_held_out_captions_to_the_style(tmp_path,
                                                                                capsys):
    import re

    _, after, sink = fine_tune("labels.toml", "captioning", 200, tmp_path, "sample.every=200")
    start = sink.of(ev.EvalLogged)[0]
    with capsys.disabled():
        print(f"\n[demo] labels, held-out captions: BLEU-4 {start.metrics['BLEU-4']:.3f} -> "
              f"{after.metrics['BLEU-4']:.3f}, CIDEr-D {start.metrics['CIDEr-D']:.3f} -> "
              f"{after.metrics['CIDEr-D']:.3f} after 200 steps")
    assert after.metrics["CIDEr-D"] > start.metrics["CIDEr-D"] + 1.5
    assert after.metrics["BLEU-4"] > start.metrics["BLEU-4"] + 0.2
    # the house style: "Shape, colour. ... Ground: colour." instead of "a red circle on ..."
    label = re.compile(r"^(Circle|Square|Triangle|Star), [a-z]+\.")
    assert not any(label.match(s.text) for s in sink.of(ev.SampleReady)[0].samples)
    assert sum(bool(label.match(s.text)) for s in sink.of(ev.SampleReady)[-1].samples) >= 4
