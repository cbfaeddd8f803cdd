"""The text-to-image family end to end on a tiny SD-1.5-architecture pipeline: LoRA trains
through the real engine, latents and text embeddings are cached (a caption edit misses
exactly once), both LoRA exports load in diffusers and draw what the studio's sampler
draws, a run resumes mid-way with the same losses, and a single-file checkpoint without
its configs says what to provide."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from studio.config import dumps_toml, families, load_config
from studio.core import events as ev
from studio.core.errors import ConfigError
from studio.core.sinks import ListSink
from studio.engine import run
from studio.models.base import get_family
from tests.tinymodels import make_tiny_sd, write_captioned_dataset

PROMPT = "a red circle on a blue background"
TRIGGER = "sks"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2i")
    model = make_tiny_sd(root / "sd")
    data = write_captioned_dataset(root / "data", n=6)
    base = {
        "run": {"name": "t2i", "runs_dir": str(root / "runs"), "family": "text_to_image"},
        "model": {"source": str(model)},
        "data": {"paths": [str(data)], "val_fraction": 0.2, "trigger_word": TRIGGER, "resolution": 32,
                 "latents_cache": str(root / "cache")},
        # rank 4 with alpha 16: an export read with alpha = rank would draw differently
        "train": {"max_steps": 4, "batch_size": 2, "lr": 3e-2, "device": "cpu",
                  "warmup_steps": 0, "schedule": "constant"},
        "eval": {"every": 2},
        "sample": {"every": 0, "prompts": [PROMPT], "num_images": 1, "inference_steps": 3,
                   "guidance_scale": 3.0},
        "checkpoint": {"every": 2, "keep_last": 3},
        "freeze": {"lora_rank": 4, "lora_alpha": 16.0},
    }
    cfg_path = root / "t2i.toml"
    cfg_path.write_text(dumps_toml(base), encoding="utf-8")
    sink = ListSink()
    result = run(load_config(cfg_path), sink)
    return {"root": root, "model": model, "data": data, "cfg": cfg_path, "result": result,
            "sink": sink}


def test_trains_lora_on_attention_and_samples_with_and_without_trigger(setup):
    res, sink = setup["result"], setup["sink"]
    assert res.state == "completed" and res.step == 4
    started = sink.of(ev.RunStarted)[0]
    assert 0 < started.trainable_params < started.total_params / 5
    assert [e.step for e in sink.of(ev.EvalLogged)] == [0, 2, 4]
    samples = [s for e in sink.of(ev.SampleReady) for s in e.samples]
    assert {s.step for s in samples} == {0, 4}
    first = [s for s in samples if s.step == 0]
    assert [(s.prompt, s.meta["trigger"]) for s in first] == [
        (f"{TRIGGER}, {PROMPT}", True), (PROMPT, False)]
    assert all(Path(s.path).is_file() and s.kind == "image" for s in samples)
    assert (Path(first[0].path).parent / first[0].meta["grid"]).is_file()
    # the defaults put LoRA on the attention projections only; the VAE never trains
    ck = Path(res.run_dir) / "checkpoints" / "step_000004" / "model.safetensors"
    from safetensors import safe_open
    with safe_open(str(ck), "pt") as f:
        names = list(f.keys())
    assert names and all(".lora_" in n and n.startswith("unet.") for n in names)
    assert all(n.split(".lora_")[0].endswith(("to_q", "to_k", "to_v", "to_out.0"))
               for n in names)


def test_family_spec_claims_sd_folders(setup):
    assert families.family_of_folder(str(setup["model"])) == "text_to_image"
    spec = families.get("text_to_image")
    assert spec.default_exports == ("diffusers_lora", "kohya")
    groups = get_family("text_to_image").layer_groups(
        get_family("text_to_image").load(str(setup["model"]), "cpu"))
    names = [g.name for g in groups]
    assert names[0] == "text_encoder" and names[-1] == "vae"
    assert {"down.0", "mid", "up.1"} <= set(names)


def test_latent_and_text_caches_hit_and_a_caption_edit_misses_once(setup, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(setup["data"], data)
    cfg = load_config(setup["cfg"], [f'data.paths=["{data}"]'])
    fam = get_family("text_to_image")
    loaded = fam.load(str(setup["model"]), "cpu")
    first = fam.datasets(loaded, cfg)
    # same bytes as the trained run's files: every latent comes from the cache
    assert first.cache_stats["latents_encoded"] == 0
    assert first.cache_stats["latent_hits"] == 6
    assert first.cache_stats["text_cache"].misses == 0
    (data / "shape_0000.txt").write_text("a green star on a white background\n",
                                         encoding="utf-8")
    second = fam.datasets(loaded, cfg)
    assert second.cache_stats["latents_encoded"] == 0
    assert second.cache_stats["text_cache"].misses == 1
    batch = second.val_batch(0, 4)
    assert "embeds" in batch.parts[0] and len(batch) == second.n_val
    # shuffled tags are not static: no embedding cache, the text encoder runs each step
    shuffled = fam.datasets(loaded, load_config(setup["cfg"], [f'data.paths=["{data}"]',
                                                               "data.shuffle_tags=true"]))
    assert shuffled.embed is None
    batch = shuffled.train_batch(torch.tensor([0, 1]), seed=3)
    assert "ids0" in batch.parts[0] and torch.isfinite(fam.loss(loaded, batch))


def _studio_image(run_dir: str, seed: int = 7) -> torch.Tensor:
    from studio.engine.restore import load_run_model

    r = load_run_model(run_dir, "latest")
    return r.family.generate(r.loaded, PROMPT, [seed], steps=3, guidance=3.0,
                             size=(32, 32))[0].float()


def _diffusers_image(model: Path, lora: Path | None, seed: int = 7) -> torch.Tensor:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(model), safety_checker=None,
                                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    if lora is not None:
        pipe.load_lora_weights(str(lora))
    img = pipe(PROMPT, num_inference_steps=3, guidance_scale=3.0, height=32, width=32,
               generator=torch.Generator().manual_seed(seed), output_type="pt").images[0]
    return (img.clamp(0, 1) * 255).round().float()


def test_both_lora_exports_load_in_diffusers_and_match_the_studio(setup, tmp_path):
    from studio.cli.main import main

    run_dir = setup["result"].run_dir
    out = tmp_path / "export"
    assert main(["export", run_dir, str(out), "--weights", "latest"]) == 0
    kohya = out / "t2i.safetensors"
    assert (out / "pytorch_lora_weights.safetensors").is_file() and kohya.is_file()
    from safetensors import safe_open
    with safe_open(str(kohya), "pt") as f:
        keys = list(f.keys())
        alpha = f.get_tensor(next(k for k in keys if k.endswith(".alpha")))
    assert all(k.startswith("lora_unet_") for k in keys)
    assert float(alpha) == 16.0

    studio = _studio_image(run_dir)
    base = _diffusers_image(setup["model"], None)
    assert (studio - base).abs().max() > 8  # the LoRA changed the picture
    for lora in (out, kohya):  # (a) the folder; (b) the kohya file, diffusers' converter
        got = _diffusers_image(setup["model"], lora)
        assert (got - studio).abs().mean() < 1.0, lora
        assert (got - studio).abs().max() <= 4, lora


def test_resume_mid_run_replays_the_same_losses(setup, tmp_path):
    from tests.test_engine import losses

    full = Path(setup["result"].run_dir)
    copy = tmp_path / full.name
    shutil.copytree(full, copy)
    shutil.rmtree(copy / "checkpoints" / "step_000004")
    second = ListSink()
    res = run(None, second, resume=str(copy))
    assert res.state == "completed" and res.step == 4
    want = losses(setup["sink"].events)
    got = losses(second.events)
    assert sorted(got) == [3, 4]
    torch.testing.assert_close(torch.tensor([got[3], got[4]]), torch.tensor([want[3], want[4]]))


def test_single_file_checkpoint_offline_says_what_to_provide(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ckpt = tmp_path / "my_model.safetensors"
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(8, 4, 3, 3)},
              str(ckpt))
    with pytest.raises(ConfigError) as err:
        get_family("text_to_image").load(str(ckpt), "cpu")
    text = str(err.value)
    assert "model_index.json" in text and "my_model.config" in text
