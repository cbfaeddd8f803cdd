"""Freeze plans: requires_grad and optimizer groups at each unfreeze point, frozen weights
untouched, LoRA adapters that peft reloads, discriminative rates, resume across unfreezes."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from studio.config import load_config
from studio.config.schema import FreezeConfig, GroupPlan
from studio.core import events as ev
from studio.core.errors import ConfigError
from studio.core.sinks import ListSink
from studio.engine import run
from studio.engine.restore import export_run, load_run_model
from studio.models import freeze as fz
from studio.models.base import get_family
from studio.runs import RunFolder

QUIET = {"eval": {"every": 0}, "sample": {"every": 0}}


@pytest.fixture
def loaded(tiny_text_model):
    return get_family("text").load(str(tiny_text_model), "cpu")


def test_layer_groups_cover_every_parameter_once(loaded):
    groups = get_family("text").layer_groups(loaded)
    names = [g.name for g in groups]
    assert names == ["embeddings", "block.0", "block.1", "final_norm", "lm_head"]
    listed = [p for g in groups for p in g.params]
    assert sorted(listed) == sorted(n for n, _ in loaded.model.named_parameters())
    assert sum(g.count for g in groups) == sum(p.numel() for p in loaded.model.parameters())
    head = groups[-1]
    assert head.count == 0 and "tied" in head.note and "tied" in groups[0].note


def test_presets_and_discriminative_rates(loaded):
    groups = get_family("text").layer_groups(loaded)
    gradual = fz.resolve_plan(groups, FreezeConfig(preset="gradual", gradual_every=5))
    starts = {s.group.name: s.start_step for s in gradual}
    assert starts == {"lm_head": 0, "final_norm": 0, "block.1": 5, "block.0": 10,
                      "embeddings": 15}
    head_only = fz.resolve_plan(groups, FreezeConfig(preset="head_only"))
    modes = {s.group.name: s.mode for s in head_only}
    # the tied head has no weights of its own, so it trains through the embeddings
    assert modes["final_norm"] == "full" and modes["embeddings"] == "full"
    assert modes["block.0"] == modes["block.1"] == "frozen"
    disc = fz.resolve_plan(groups, FreezeConfig(lr_first_ratio=0.01,
                                                groups=(GroupPlan("block.1", lr_scale=2.0),)))
    scales = [s.lr_scale for s in disc]
    assert scales[0] == pytest.approx(0.01) and scales[-1] == pytest.approx(1.0)
    assert scales[2] == pytest.approx(2.0 * 0.01 ** (2 / 4))
    plain = [scales[i] for i in (0, 1, 3, 4)]
    assert plain == sorted(plain)  # geometric, rising toward the head


def test_unknown_group_is_named(tiny_run_config):
    cfg = load_config(tiny_run_config(), ['freeze.groups=[{name = "block.9", mode = "frozen"}]'])
    with pytest.raises(ConfigError) as info:
        run(cfg, None)
    assert info.value.field == "freeze.groups[0].name" and "block.0" in str(info.value)


def test_gradual_unfreezing_grows_grads_and_optimizer_groups(tiny_run_config, tiny_text_model):
    path = tiny_run_config(train={"max_steps": 7}, checkpoint={"every": 1, "keep_last": 10},
                           freeze={"preset": "gradual", "gradual_every": 2,
                                   "unfreeze_warmup_steps": 2}, **QUIET)
    sink = ListSink()
    res = run(load_config(path), sink)
    unfreezes = [(e.step, e.groups) for e in sink.of(ev.UnfreezeApplied)]
    assert unfreezes == [(2, ("block.1",)), (4, ("block.0",)), (6, ("embeddings",))]
    folder = RunFolder(res.run_dir)
    prefix = {"embeddings": ("transformer.wte", "transformer.wpe"), "block.1": ("transformer.h.1.",),
              "block.0": ("transformer.h.0.",), "final_norm": ("transformer.ln_f",)}

    def groups_in(step):
        keys = load_file(str(folder.checkpoint_dir(step) / "model.safetensors")).keys()
        return {g for g, pre in prefix.items() if any(k.startswith(pre) for k in keys)}

    def opt_groups(step):
        opt = torch.load(folder.checkpoint_dir(step) / "optimizer.pt", weights_only=True)
        pg = opt["optimizer"]["param_groups"]
        state_ids = set(opt["optimizer"]["state"])
        return [g["group"] for g in pg], state_ids, pg

    # step N's checkpoint is taken after N updates; update k uses the groups due at k
    assert groups_in(1) == groups_in(2) == {"final_norm"}
    assert groups_in(3) == groups_in(4) == {"final_norm", "block.1"}
    assert groups_in(5) == {"final_norm", "block.1", "block.0"}
    assert groups_in(7) == set(prefix)
    names, state_ids, _ = opt_groups(2)
    assert set(names) == {"final_norm"}
    n_params_2 = len(state_ids)
    names, state_ids, pg = opt_groups(3)
    assert set(names) == {"final_norm", "block.1"} and len(state_ids) > n_params_2
    # optimizer state exists only for parameters that have trained
    assert len(state_ids) == sum(len(g["params"]) for g in pg)
    # a late group warms up: its rate at its first update is below the schedule's
    names, _, pg = opt_groups(5)
    b0 = [g for g in pg if g["group"] == "block.0"]
    fn = [g for g in pg if g["group"] == "final_norm"]
    assert b0[0]["lr"] < fn[0]["lr"] and b0[0]["start_step"] == 4

    # frozen-until-later weights were bit-identical to the base until their start
    base = get_family("text").load(str(tiny_text_model), "cpu").model
    r3 = load_run_model(res.run_dir, "step_000003")
    for n, p in r3.loaded.model.named_parameters():
        if n.startswith(("transformer.h.0.", "transformer.wte", "transformer.wpe")):
            assert torch.equal(p, dict(base.named_parameters())[n]), n


def test_frozen_parameters_are_bit_identical_after_training(tiny_run_config, tiny_text_model):
    path = tiny_run_config(train={"max_steps": 4, "weight_decay": 0.1},
                           freeze={"groups": [{"name": "block.0", "mode": "frozen"},
                                              {"name": "embeddings", "mode": "frozen"}]},
                           **QUIET)
    sink = ListSink()
    res = run(load_config(path), sink)
    started = sink.of(ev.RunStarted)[0]
    assert started.trainable_params < started.total_params
    base = dict(get_family("text").load(str(tiny_text_model), "cpu").model.named_parameters())
    trained = dict(load_run_model(res.run_dir, "latest").loaded.model.named_parameters())
    changed = set()
    for n, p in trained.items():
        if n.startswith(("transformer.h.0.", "transformer.wte", "transformer.wpe")):
            assert torch.equal(p, base[n]), n
        elif not torch.equal(p, base[n]):
            changed.add(n.split(".")[2] if n.startswith("transformer.h.") else n)
    assert "1" in changed  # block 1 did train


def test_resume_across_an_unfreeze_reproduces_losses(tiny_run_config):
    path = tiny_run_config(train={"max_steps": 6}, checkpoint={"every": 0},
                           freeze={"preset": "gradual", "gradual_every": 2}, **QUIET)
    full = ListSink()
    run(load_config(path), full)
    from studio.core.control import RunControl
    from tests.test_engine import StopAt, losses
    control = RunControl()
    first = StopAt(control, 3)
    res = run(load_config(path), first, control)
    second = ListSink()
    run(None, second, resume=res.run_dir)
    got = {**losses(first.events), **losses(second.events)}
    want = losses(full.events)
    torch.testing.assert_close(torch.tensor([got[s] for s in range(1, 7)]),
                               torch.tensor([want[s] for s in range(1, 7)]))
    assert [e.step for e in second.of(ev.UnfreezeApplied)] == [4]


def test_lora_adapter_exports_and_reloads_in_peft(tiny_run_config, tiny_text_model, tmp_path):
    plan = [{"name": "block.0", "mode": "lora"}, {"name": "block.1", "mode": "lora"}]
    path = tiny_run_config(train={"max_steps": 4, "lr": 1e-2}, **QUIET,
                           freeze={"default_mode": "frozen", "groups": plan, "lora_rank": 4,
                                   "lora_alpha": 8.0})
    sink = ListSink()
    res = run(load_config(path), sink)
    started = sink.of(ev.RunStarted)[0]
    assert 0 < started.trainable_params < started.total_params / 4
    restored = load_run_model(res.run_dir, "latest")
    assert any(".lora_A" in n for n, _ in restored.loaded.model.named_parameters())

    adapter = export_run(res.run_dir, tmp_path / "adapter", weights="latest", fmt="adapter")
    assert (adapter / "adapter_config.json").is_file()
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    base = AutoModelForCausalLM.from_pretrained(tiny_text_model)
    peft_model = PeftModel.from_pretrained(base, adapter).eval()
    ids = torch.tensor([[5, 17, 42, 9, 3, 77]])
    with torch.no_grad():
        want = restored.loaded.model(input_ids=ids).logits
        got = peft_model(input_ids=ids).logits
        plain = AutoModelForCausalLM.from_pretrained(tiny_text_model)(input_ids=ids).logits
    torch.testing.assert_close(got, want)
    assert not torch.allclose(plain, want)  # the adapter changed something

    merged = export_run(res.run_dir, tmp_path / "merged", weights="latest", fmt="full")
    m = AutoModelForCausalLM.from_pretrained(merged).eval()
    assert not any("lora" in n for n, _ in m.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(m(input_ids=ids).logits, want, atol=1e-4, rtol=1e-4)


def test_adapter_export_refuses_a_run_without_lora(tiny_run_config, tmp_path):
    res = run(load_config(tiny_run_config(train={"max_steps": 1}, **QUIET)), None)
    from studio.core.errors import StudioError
    with pytest.raises(StudioError, match="no LoRA"):
        export_run(res.run_dir, tmp_path / "a", fmt="adapter")


def test_memory_estimate_parts_follow_the_plan():
    full = fz.estimate_memory(1000, 1000, optimizer="adamw", momentum=0.9, batch=2, block=8,
                              n_layer=2, d_model=16, vocab=50)
    frozen = fz.estimate_memory(1000, 100, optimizer="adamw", momentum=0.9, batch=2, block=8,
                                n_layer=2, d_model=16, vocab=50, frozen_below_blocks=1)
    sgd = fz.estimate_memory(1000, 1000, optimizer="sgd", momentum=0.0, batch=2, block=8,
                             n_layer=2, d_model=16, vocab=50)
    assert full.optimizer == 1000 * 8 and sgd.optimizer == 0
    assert frozen.gradients == 400 and frozen.activations < full.activations
    assert full.total > frozen.total > 0 and math.isfinite(full.total)


@pytest.mark.parametrize("plan", ["full", "lower_half_frozen"])
def test_memory_estimate_within_25_percent_of_measured_peak(plan, capsys):
    """Tensor memory measured by torch's MemTracker over two AdamW steps on the CPU."""
    from torch.distributed._tools.mem_tracker import MemTracker
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_embd=192, n_layer=4, n_head=4, vocab_size=4096,
                                       n_positions=128, bos_token_id=0, eos_token_id=0))
    from studio.models.text import text_layer_groups
    fc = FreezeConfig(preset="none" if plan == "full" else plan)
    states = fz.resolve_plan(text_layer_groups(model), fc)
    fz.apply_plan(model, states, fc)
    for st in states:
        if st.mode != "frozen":
            fz.activate(model, st, None, 0.0, 0)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x = torch.randint(0, 4096, (8, 128))
    est = fz.estimate_for(model, states, optimizer="adamw", momentum=0.9, batch=8, block=128)
    class Tracker(MemTracker):
        """MemTracker hooks every parameter's gradient; frozen ones have none to hook."""

        def _track_module_params_and_buffers(self, module, install_grad_hooks=True):
            out = super()._track_module_params_and_buffers(module, install_grad_hooks=False)
            for p in module.parameters():
                if p.requires_grad and self._param_to_grad_hook_handles.get(p) is None:
                    def hook(g):
                        self._update_and_maybe_create_winfos(g, _MemRefType.GRAD)

                    h = p.register_hook(hook)
                    self._param_to_grad_hook_handles[p] = (h, h)
            return out

    from torch.distributed._tools.mem_tracker import _MemRefType
    tracker = Tracker()
    tracker.track_external(model, opt, x)
    with tracker:
        for _ in range(2):
            tracker.reset_mod_stats()
            model(input_ids=x, labels=x).loss.backward()
            opt.step()
            opt.zero_grad()
    peak = sum(v["Total"] for v in tracker.get_tracker_snapshot("peak").values())
    with capsys.disabled():
        print(f"\n[memory {plan}] estimate {est.total / 2**20:.1f} MiB, "
              f"measured peak {peak / 2**20:.1f} MiB")
    assert abs(est.total - peak) / peak < 0.25
