"""The engine on a CUDA GPU: precision choice, the fp16 grad scaler, resume.

Marked ``gpu`` and skipped without CUDA; ``bench/gpu_check.sh`` runs them on a lent
machine (``python -m pytest -m gpu ...``).
"""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from studio.config import load_config
from studio.core import events as ev
from studio.core.control import RunControl
from studio.core.sinks import ListSink
from studio.engine import run
from studio.runs.store import RunFolder

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

# a run long enough for the loss to fall on the tiny model's repetitive text
TRAIN = {"device": "cuda", "max_steps": 12, "batch_size": 8, "lr": 3e-3, "warmup_steps": 1}
QUIET = {"eval": {"every": 0}, "sample": {"every": 0}, "checkpoint": {"every": 0}}


def step_losses(events) -> dict[int, float]:
    return {e.step: e.loss for e in events if isinstance(e, ev.StepLogged)}


def test_auto_precision_on_cuda_picks_bf16_and_trains(tiny_run_config):
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16 (auto picks fp16 there)")
    sink = ListSink()
    result = run(load_config(tiny_run_config(train={**TRAIN, "precision": "auto"}, **QUIET)),
                 sink)
    assert result.state == "completed" and result.step == TRAIN["max_steps"]
    started = sink.of(ev.RunStarted)[0]
    assert started.device.startswith("cuda") and started.precision == "bf16"
    logged = sink.of(ev.StepLogged)
    assert [e.step for e in logged] == list(range(1, TRAIN["max_steps"] + 1))
    assert all(math.isfinite(e.loss) and math.isfinite(e.grad_norm) for e in logged)
    assert all(e.gpu_mem_bytes > 0 for e in logged)
    assert logged[-1].loss < logged[0].loss
    # the weights stay fp32 under autocast: the checkpoint is fp32
    ckpt = RunFolder(result.run_dir).latest_checkpoint()
    weights = load_file(str(ckpt / "model.safetensors"))
    assert {t.dtype for t in weights.values()} == {torch.float32}


def test_fp16_uses_the_grad_scaler_and_trains(tiny_run_config, monkeypatch):
    scaler_steps = []
    real_step = torch.amp.GradScaler.step

    def counting_step(self, optimizer, *args, **kwargs):
        scaler_steps.append(self.get_scale())
        return real_step(self, optimizer, *args, **kwargs)

    monkeypatch.setattr(torch.amp.GradScaler, "step", counting_step)
    sink = ListSink()
    result = run(load_config(tiny_run_config(train={**TRAIN, "precision": "fp16"}, **QUIET)),
                 sink)
    assert result.state == "completed"
    assert sink.of(ev.RunStarted)[0].precision == "fp16"
    # every optimizer step went through the scaler
    assert len(scaler_steps) == TRAIN["max_steps"]
    assert all(s > 0 and math.isfinite(s) for s in scaler_steps)
    logged = sink.of(ev.StepLogged)
    assert all(math.isfinite(e.loss) for e in logged)
    assert logged[-1].loss < logged[0].loss
    # the scaler's state is part of the checkpoint, so a resumed fp16 run keeps its scale
    ckpt = RunFolder(result.run_dir).latest_checkpoint()
    opt = torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=True)
    assert opt["scaler"]["scale"] > 0


def test_resume_on_cuda_reproduces_the_losses(tiny_run_config):
    # dropout stays on (GPT-2's 0.1), so the CUDA RNG state must come back too
    path = tiny_run_config(train={**TRAIN, "max_steps": 8, "precision": "auto"}, **QUIET)
    full = ListSink()
    run(load_config(path), full)

    control = RunControl()

    class StopAt4:
        def __init__(self) -> None:
            self.events: list = []

        def emit(self, e) -> None:
            self.events.append(e)
            if isinstance(e, ev.StepLogged) and e.step == 4:
                control.request_stop()

    first = StopAt4()
    res1 = run(load_config(path), first, control)
    assert res1.state == "stopped" and res1.step == 4
    second = ListSink()
    res2 = run(None, second, resume=res1.run_dir)
    assert res2.state == "completed" and res2.step == 8
    assert second.of(ev.RunStarted)[0].start_step == 4

    expected = step_losses(full.events)
    got = {**step_losses(first.events), **step_losses(second.events)}
    assert sorted(got) == list(range(1, 9))
    # GPU kernels (atomics in the embedding and attention backward) are not bit-exact run
    # to run, and bf16 autocast rounds to 8 bits of mantissa: compare with torch's own
    # bf16 tolerance. A lost RNG or optimizer state moves the losses by far more.
    torch.testing.assert_close(torch.tensor([got[s] for s in range(1, 9)]),
                               torch.tensor([expected[s] for s in range(1, 9)]),
                               rtol=1.6e-2, atol=1e-5)
