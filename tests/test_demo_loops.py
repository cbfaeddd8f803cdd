"""The loops demo: the shipped audio starter, which never heard these ten loops, fine-tuned
on them predicts their held-out codes better."""

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
DEMO = ROOT / "resources" / "demo" / "loops.toml"

pytestmark = pytest.mark.skipif(not (ROOT / "resources/starters/audio/config.json").is_file(),
                                reason="the audio starter is not built")


def val_loss(fam, loaded, data, bs=16) -> float:
    loaded.model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for b in range(math.ceil(data.n_val / bs)):
            batch = data.val_batch(b, bs)
            total += float(fam.val_loss(loaded, batch, b)) * len(batch)
            n += len(batch)
    return total / n


def test_fine_tuning_the_audio_starter_on_the_loops_lowers_held_out_code_loss(tmp_path, capsys):
    q = lambda s: f'"{s}"'  # noqa: E731
    cfg = load_config(DEMO, [f"run.runs_dir={q(tmp_path / 'runs')}",
                             f"data.codes_cache={q(tmp_path / 'codes')}",
                             "train.max_steps=30", "eval.every=30", "sample.every=0",
                             "checkpoint.every=0", 'train.device="cpu"'])
    fam = get_family("audio")
    loaded = fam.load(cfg.model.source, "cpu")
    data = fam.datasets(loaded, cfg, resolve=lambda p: Path(cfg.base_dir) / p)
    before = val_loss(fam, loaded, data)

    sink = ListSink()
    res = run(cfg, sink)
    after = sink.of(ev.EvalLogged)[-1]
    with capsys.disabled():
        print(f"\n[demo] loops held-out code loss: starter {before:.3f} -> after 30 steps "
              f"{after.val_loss:.3f}")
    assert res.state == "completed"
    assert after.val_loss < before - 0.1
    # per-code perplexity: how many of the 256 codes it is still choosing among
    assert after.perplexity == pytest.approx(math.exp(after.val_loss))
    assert after.perplexity < 256
