"""The image family end to end on a tiny UNet: training lowers the fixed-noise validation
loss, samples are fixed-seed PNG grids, export loads in diffusers, LoRA on a UNet."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from studio.config import dumps_toml, load_config
from studio.core import events as ev
from studio.core.sinks import ListSink
from studio.engine import run
from studio.engine.restore import export_run, load_run_model
from studio.models.base import get_family
from tests.tinymodels import make_tiny_unet, write_image_dataset


@pytest.fixture(scope="module")
def tiny_unet(tmp_path_factory) -> Path:
    return make_tiny_unet(tmp_path_factory.mktemp("tiny-unet"))


@pytest.fixture
def image_config(tmp_path, tiny_unet):
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
    data = write_image_dataset(tmp_path / "imgs", shared if shared.is_dir() else None, n=10)

    def make(**sections) -> Path:
        base = {
            "run": {"name": "img", "runs_dir": str(tmp_path / "runs"), "family": "image"},
            "model": {"source": str(tiny_unet)},
            "data": {"paths": [str(data)], "val_fraction": 0.3, "crop": "random"},
            "train": {"max_steps": 30, "batch_size": 4, "lr": 2e-3, "device": "cpu",
                      "warmup_steps": 2},
            "eval": {"every": 0},
            "sample": {"every": 0, "num_images": 4, "inference_steps": 3},
            "checkpoint": {"every": 0},
            "augment": {"hflip": 0.5, "vflip": 0.5},
        }
        for k, v in sections.items():
            base.setdefault(k, {}).update(v)
        p = tmp_path / "img.toml"
        p.write_text(dumps_toml(base), encoding="utf-8")
        return p

    return make


def test_layer_groups_cover_the_unet(tiny_unet):
    fam = get_family("image")
    loaded = fam.load(str(tiny_unet), "cpu")
    groups = fam.layer_groups(loaded)
    names = [g.name for g in groups]
    assert names == ["time_embedding", "input", "down.0", "down.1", "mid", "up.0", "up.1", "out"]
    listed = sorted(p for g in groups for p in g.params)
    assert listed == sorted(n for n, _ in loaded.model.named_parameters())


def test_training_lowers_the_fixed_noise_validation_loss(image_config):
    sink = ListSink()
    res = run(load_config(image_config(eval={"every": 15})), sink)
    assert res.state == "completed"
    started = sink.of(ev.RunStarted)[0]
    assert started.family == "image" and started.val_examples == 3
    evals = sink.of(ev.EvalLogged)
    assert [e.step for e in evals] == [0, 15, 30] and evals[0].perplexity is None
    # the fixed-noise validation loss is deterministic: evaluating the base model twice agrees
    fam = get_family("image")
    cfg = load_config(image_config())
    loaded = fam.load(cfg.model.source, "cpu")
    data = fam.datasets(loaded, cfg)
    with torch.no_grad():
        a = fam.val_loss(loaded, data.val_batch(0, 4), 0)
        b = fam.val_loss(loaded, data.val_batch(0, 4), 0)
    assert float(a) == float(b)
    assert evals[-1].val_loss < float(a) * 0.8  # a short run lowers it clearly
    step = sink.of(ev.StepLogged)[-1]
    assert step.throughput_unit == "img" and step.throughput > 0


def test_samples_are_fixed_seed_grids_and_export_loads_in_diffusers(image_config, tmp_path):
    sink = ListSink()
    res = run(load_config(image_config(train={"max_steps": 2})), sink)
    ready = sink.of(ev.SampleReady)
    assert [r.step for r in ready] == [0, 2]
    first = ready[0].samples
    assert len(first) == 4 and all(s.kind == "image" for s in first)
    img = Image.open(first[0].path)
    assert img.size == (16, 16) and img.mode == "RGB"
    assert (Path(first[0].path).parent / "grid.png").is_file()
    # same seeds, same weights -> the same picture
    r = load_run_model(res.run_dir, "latest")
    again = r.family.generate(r.loaded, [first[0].seed], 3)
    assert again.shape == (1, 3, 16, 16)

    out = export_run(res.run_dir, tmp_path / "pipe", weights="latest")
    from diffusers import DDPMPipeline
    pipe = DDPMPipeline.from_pretrained(out)
    images = pipe(batch_size=2, num_inference_steps=2, output_type="np",
                  generator=torch.Generator().manual_seed(0)).images
    assert images.shape == (2, 16, 16, 3)
    torch.testing.assert_close(dict(pipe.unet.named_parameters())["conv_out.weight"],
                               dict(r.loaded.model.named_parameters())["conv_out.weight"])


def test_lora_on_the_unet_and_resume(image_config, tmp_path):
    from studio.core.control import RunControl
    from tests.test_engine import StopAt, losses
    plan = [{"name": "mid", "mode": "lora"}, {"name": "up.0", "mode": "lora"}]
    path = image_config(train={"max_steps": 6}, freeze={"default_mode": "frozen",
                                                        "groups": plan, "lora_rank": 4})
    full = ListSink()
    run(load_config(path), full)
    control = RunControl()
    first = StopAt(control, 3)
    res = run(load_config(path), first, control)
    second = ListSink()
    run(None, second, resume=res.run_dir)
    got = {**losses(first.events), **losses(second.events)}
    want = losses(full.events)
    # augmentation, noise and timesteps all replay identically after resume
    torch.testing.assert_close(torch.tensor([got[s] for s in range(1, 7)]),
                               torch.tensor([want[s] for s in range(1, 7)]))
    started = full.of(ev.RunStarted)[0]
    assert started.trainable_params < started.total_params / 3
