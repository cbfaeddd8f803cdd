"""train.ema_decay: an EMA of the weights that train, for every family. Off changes nothing;
on, the shadow is the hand-computed average (groups joining when they unfreeze), training
itself is untouched, evaluation/samples/exports use the average, and a resume reproduces
the uninterrupted run's average."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from studio.config import load_config
from studio.core import events as ev
from studio.core.control import RunControl
from studio.core.sinks import ListSink
from studio.engine import run
from studio.engine.ema import EMA, FILE, decay_at
from studio.engine.restore import export_run, load_run_model
from tests.test_engine import StopAt, losses

# block.0 trains LoRA from the start; block.1's LoRA joins at step 2 (and its shadow then)
PLAN = {"default_mode": "frozen", "lora_rank": 4, "lora_alpha": 8.0,
        "groups": [{"name": "block.0", "mode": "lora"},
                   {"name": "block.1", "mode": "lora", "start_step": 2}]}


def hand_ema(history: list[dict[str, torch.Tensor]], decay: float) -> dict[str, torch.Tensor]:
    """The average by the book: update k (0-based) uses min(decay, (1+k)/(10+k)), 0 at k=0;
    a parameter first seen at update k starts from its value then."""
    shadow: dict[str, torch.Tensor] = {}
    for k, weights in enumerate(history):
        d = 0.0 if k == 0 else min(decay, (1 + k) / (10 + k))
        for n, w in weights.items():
            shadow[n] = w.clone() if n not in shadow else d * shadow[n] + (1 - d) * w
    return shadow


def test_ema_unit_matches_the_formula_and_swaps_back_exactly():
    assert decay_at(0.999, 0) == 0.0 and decay_at(0.999, 1) == pytest.approx(2 / 11)
    assert decay_at(0.5, 100) == 0.5
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    model[1].requires_grad_(False)  # a group that unfreezes after two steps
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ema, history = EMA(0.8), []
    for step in range(5):
        if step == 2:
            model[1].requires_grad_(True)
        model(torch.randn(8, 3)).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
        ema.update(model)
        history.append({n: p.detach().clone() for n, p in model.named_parameters()
                        if p.requires_grad})
    want = hand_ema(history, 0.8)
    assert set(ema.shadow) == set(want) == {n for n, _ in model.named_parameters()}
    for n in want:
        torch.testing.assert_close(ema.shadow[n], want[n], rtol=1e-6, atol=1e-7)
    # a late group's shadow starts from its value when it joined, not from step 0
    assert not torch.equal(ema.shadow["1.weight"], history[-1]["1.weight"])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with ema.applied(model):
        for n, p in model.named_parameters():
            assert torch.equal(p, ema.shadow[n])
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n])  # bit for bit


def _record_updates(monkeypatch) -> list[dict[str, torch.Tensor]]:
    """The training weights the engine's EMA saw at each update."""
    history: list[dict[str, torch.Tensor]] = []
    original = EMA.update

    def update(self, model):
        history.append({n: p.detach().clone() for n, p in model.named_parameters()
                        if p.requires_grad})
        original(self, model)

    monkeypatch.setattr(EMA, "update", update)
    return history


def test_engine_ema_is_the_average_and_leaves_training_alone(tiny_run_config, monkeypatch,
                                                             tmp_path):
    sections = dict(train={"max_steps": 6, "lr": 1e-2}, freeze=PLAN,
                    eval={"every": 3}, sample={"every": 0}, checkpoint={"every": 3})
    off = ListSink()
    res_off = run(load_config(tiny_run_config("off.toml", **sections)), off)
    assert not list((tmp_path / "runs").rglob(FILE))  # off: no EMA anywhere

    history = _record_updates(monkeypatch)
    on = ListSink()
    sections["train"] = {**sections["train"], "ema_decay": 0.9}
    res = run(load_config(tiny_run_config("on.toml", **sections)), on)
    # the training losses are bit-identical: the average never feeds back into training
    assert losses(on.events) == losses(off.events)
    # evaluation at step 0 is the base model either way; later it uses the average
    val_on = {e.step: e.val_loss for e in on.of(ev.EvalLogged)}
    val_off = {e.step: e.val_loss for e in off.of(ev.EvalLogged)}
    assert val_on[0] == val_off[0] and val_on[6] != val_off[6]
    assert any("evaluating with EMA weights" in e.text for e in on.of(ev.LogMessage))

    assert len(history) == 6
    want = hand_ema(history, 0.9)
    saved = load_file(f"{res.run_dir}/checkpoints/step_000006/{FILE}")
    assert int(saved.pop("__updates__")) == 6
    assert set(saved) == set(want) and any(".h.1." in n for n in saved)
    for n in want:
        torch.testing.assert_close(saved[n], want[n], rtol=1e-5, atol=1e-7)
    # the checkpoint still holds the training weights (what a resume continues from)
    raw = load_file(f"{res.run_dir}/checkpoints/step_000006/model.safetensors")
    assert any(not torch.equal(raw[n], saved[n]) for n in saved)

    # sample/export take the average: the restored model and the exported adapter
    restored = dict(load_run_model(res.run_dir, "latest").loaded.model.named_parameters())
    for n in want:
        assert torch.equal(restored[n], saved[n]), n
    adapter = load_file(str(export_run(res.run_dir, tmp_path / "adapter", weights="latest",
                                       fmt="adapter") / "adapter_model.safetensors"))
    ema_values = sorted(round(float(t.double().sum()), 6) for t in saved.values())
    assert sorted(round(float(t.double().sum()), 6) for t in adapter.values()) == ema_values
    assert res_off.state == "completed"


def test_resume_with_ema_reproduces_the_uninterrupted_average(tiny_run_config):
    path = tiny_run_config(train={"max_steps": 6, "ema_decay": 0.9},
                           freeze={"preset": "gradual", "gradual_every": 2},
                           checkpoint={"every": 0}, eval={"every": 3}, sample={"every": 0})
    full = ListSink()
    res_full = run(load_config(path), full)
    control = RunControl()
    first = StopAt(control, 3)
    res1 = run(load_config(path), first, control)
    second = ListSink()
    res2 = run(None, second, resume=res1.run_dir)
    assert res2.step == 6
    want = load_file(f"{res_full.run_dir}/checkpoints/step_000006/{FILE}")
    got = load_file(f"{res2.run_dir}/checkpoints/step_000006/{FILE}")
    assert set(got) == set(want) and int(got["__updates__"]) == 6
    for n in want:
        torch.testing.assert_close(got[n], want[n])
    val = {e.step: e.val_loss for e in full.of(ev.EvalLogged)}
    assert second.of(ev.EvalLogged)[-1].val_loss == pytest.approx(val[6])
