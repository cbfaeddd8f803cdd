"""The demo: the shipped starter fine-tuned on the sonnets gets better at sonnets."""

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
DEMO = ROOT / "resources" / "demo" / "sonnets.toml"

pytestmark = pytest.mark.skipif(not (ROOT / "resources/starters/text/config.json").is_file(),
                                reason="the text starter is not built")


def val_loss(fam, loaded, data, bs=16) -> float:
    model = loaded.model
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for b in range(math.ceil(data.n_val / bs)):
            batch = data.val_batch(b, bs)
            total += float(fam.val_loss(loaded, batch, b)) * len(batch)
            n += len(batch)
    return total / n


def test_fine_tuning_the_starter_on_sonnets_lowers_sonnet_perplexity(tmp_path, capsys):
    cfg = load_config(DEMO, [f"run.runs_dir={str(tmp_path)!r}".replace("'", '"'),
                             "train.max_steps=40", "train.warmup_steps=5", "eval.every=40",
                             "sample.every=0", "checkpoint.every=0", "train.device=\"cpu\""])
    fam = get_family("text")
    loaded = fam.load(cfg.model.source, "cpu")
    data = fam.datasets(loaded, cfg, resolve=lambda p: Path(cfg.base_dir) / p)
    before = val_loss(fam, loaded, data)

    sink = ListSink()
    res = run(cfg, sink)
    after = sink.of(ev.EvalLogged)[-1]
    with capsys.disabled():
        print(f"\n[demo] sonnet validation perplexity: starter {math.exp(before):.1f} -> "
              f"after 40 steps {after.perplexity:.1f}")
    assert res.state == "completed"
    assert after.val_loss < before - 0.2  # clearly better at sonnets
    samples = sink.of(ev.SampleReady)
    assert samples[0].step == 0 and samples[-1].step == 40
    assert all(s.text for s in samples[-1].samples)
