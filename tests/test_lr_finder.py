"""The learning-rate range test on a tiny GPT-2: the curve, the suggestion, the weights
put back, and `studio lr-find`."""

from __future__ import annotations

import json
import math

import pytest
import torch

from studio.cli.main import main
from studio.config import load_config
from studio.core.control import RunControl
from studio.core.errors import ConfigError
from studio.engine.lr_finder import find_lr, suggest


def test_suggest_picks_the_steepest_descent_before_the_minimum():
    lrs = [10 ** (-6 + k * 0.25) for k in range(25)]  # 1e-6 .. 1
    # flat, then falls steeply around 1e-3, bottom at ~1e-2, then blows up
    smooth = [5.0 - 3.0 / (1 + math.exp(-(math.log10(lr) + 3) * 4)) for lr in lrs]
    smooth = [v if lr < 0.05 else v + 40 * (lr - 0.05) for v, lr in zip(smooth, lrs)]
    s, at_min = suggest(lrs, smooth)
    assert 3e-4 < s < 3e-3
    assert s < at_min
    assert suggest(lrs[:3], smooth[:3]) == (None, None)
    flat_then_up = [1.0] * 10 + [1.0 + k for k in range(10)]
    s2, m2 = suggest(lrs[:20], flat_then_up)
    assert m2 == lrs[0] and s2 == pytest.approx(lrs[0] / 10)


def test_range_test_restores_the_weights_and_suggests_a_sane_rate(tiny_run_config):
    from studio.models.base import get_family

    cfg = load_config(tiny_run_config(train={"lr": 1.0, "seed": 3}))
    loaded = get_family("text").load(cfg.model.source, "cpu", torch.float32)
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    rng = torch.get_rng_state()
    points = []
    result = find_lr(cfg, steps=30, start_lr=1e-5, end_lr=3.0, loaded=loaded,
                     progress=lambda i, lr, loss, sm: points.append((i, lr, loss, sm)))
    assert len(points) == len(result.lrs) and points[0][0] == 0
    assert result.lrs[0] == pytest.approx(1e-5)
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:])]
    assert max(ratios) == pytest.approx(min(ratios))  # exponential
    # the tiny model learns: the smoothed loss at its lowest is well below the start
    assert min(result.smoothed) < result.smoothed[0] - 0.3
    assert result.suggestion is not None and 1e-5 < result.suggestion < 1.0
    assert result.suggestion <= result.min_loss_lr
    # nothing changed: weights, and the global random generator
    after = loaded.model.state_dict()
    for k, v in before.items():
        assert torch.equal(after[k], v), k
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in loaded.model.parameters())


def test_range_test_stops_on_request_and_rejects_bad_ranges(tiny_run_config):
    from studio.models.base import get_family

    cfg = load_config(tiny_run_config())
    loaded = get_family("text").load(cfg.model.source, "cpu", torch.float32)
    control = RunControl()

    def stop_at_8(i, *_):
        if i == 7:
            control.request_stop()

    result = find_lr(cfg, steps=50, progress=stop_at_8, control=control, loaded=loaded)
    assert result.reason == "stopped" and len(result.lrs) == 8
    with pytest.raises(ConfigError, match="start"):
        find_lr(cfg, start_lr=1.0, end_lr=1e-3, loaded=loaded)
    with pytest.raises(ConfigError, match="steps"):
        find_lr(cfg, steps=2, loaded=loaded)


def test_cli_lr_find(tiny_run_config, tmp_path, capsys):
    cfg = tiny_run_config()
    out_json = tmp_path / "lr.json"
    code = main(["lr-find", str(cfg), "--steps", "20", "--start", "1e-4", "--end", "3",
                 "--json", str(out_json)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "suggested learning rate" in out and "<- suggested" in out
    assert f"studio train {cfg} train.lr=" in out
    data = json.loads(out_json.read_text())
    assert len(data["lrs"]) == len(data["smoothed"]) and data["suggestion"] > 0
    suggested = out.split("train.lr=")[1].split()[0]
    assert float(suggested) == pytest.approx(data["suggestion"], rel=0.01)
    # a bad override is one line naming the field
    assert main(["lr-find", str(cfg), "train.lr=-1"]) == 2
    assert "train.lr" in capsys.readouterr().err
