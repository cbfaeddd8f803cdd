"""SDXL end to end on a tiny StableDiffusionXLPipeline (two CLIP text encoders, the UNet's
"text_time" added conditioning): the studio's loader, its layer groups, LoRA on the UNet and
the second text encoder through the real engine, the conditioning it trains with (joined
penultimate states, pooled projection, size/crop time ids) against diffusers' own, resume,
and both LoRA exports loaded by ``StableDiffusionXLPipeline.load_lora_weights``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from studio.config import dumps_toml, families, load_config
from studio.core import events as ev
from studio.core.sinks import ListSink
from studio.engine import run
from studio.models.base import get_family
from tests.tinymodels import make_tiny_sdxl, write_captioned_dataset

PROMPT = "a red circle on a blue background"
TRIGGER = "sks"


@pytest.fixture(scope="module")
def xl(tmp_path_factory):
    root = tmp_path_factory.mktemp("sdxl")
    model = make_tiny_sdxl(root / "sdxl")
    data = write_captioned_dataset(root / "data", n=6)
    base = {
        "run": {"name": "xl", "runs_dir": str(root / "runs"), "family": "text_to_image"},
        "model": {"source": str(model)},
        "data": {"paths": [str(data)], "val_fraction": 0.2, "trigger_word": TRIGGER,
                 "latents_cache": str(root / "cache")},  # resolution: the model's (32)
        "train": {"max_steps": 4, "batch_size": 2, "lr": 3e-2, "device": "cpu",
                  "warmup_steps": 0, "schedule": "constant"},
        "eval": {"every": 2},
        "sample": {"every": 0, "prompts": [PROMPT], "num_images": 1, "inference_steps": 3,
                   "guidance_scale": 3.0},
        "checkpoint": {"every": 2, "keep_last": 3},
        # rank 4, alpha 16: an export read with alpha = rank would draw differently; the
        # second text encoder trains LoRA too (kohya's lora_te2_ keys)
        "freeze": {"lora_rank": 4, "lora_alpha": 16.0,
                   "groups": [{"name": "text_encoder_2", "mode": "lora"}]},
    }
    cfg_path = root / "xl.toml"
    cfg_path.write_text(dumps_toml(base), encoding="utf-8")
    sink = ListSink()
    result = run(load_config(cfg_path), sink)
    return {"root": root, "model": model, "data": data, "cfg": cfg_path, "result": result,
            "sink": sink}


def _pipe(model: Path):
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(str(model))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _image(pipe, seed: int = 7) -> torch.Tensor:
    img = pipe(f"{TRIGGER}, {PROMPT}", num_inference_steps=3, guidance_scale=3.0, height=32,
               width=32, generator=torch.Generator().manual_seed(seed),
               output_type="pt").images[0]
    return (img.clamp(0, 1) * 255).round().float()


def test_loads_as_sdxl_with_both_text_encoders_in_the_layer_tree(xl):
    assert families.family_of_folder(str(xl["model"])) == "text_to_image"
    fam = get_family("text_to_image")
    loaded = fam.load(str(xl["model"]), "cpu")
    assert loaded.extras["xl"] and loaded.extras["pipeline_class"] == \
        "StableDiffusionXLPipeline"
    assert fam.resolution(loaded, load_config(xl["cfg"])) == 32
    groups = fam.layer_groups(loaded)
    names = [g.name for g in groups]
    assert names[:2] == ["text_encoder", "text_encoder_2"] and names[-1] == "vae"
    assert {"time_embedding", "added_cond", "down.0", "down.1", "mid", "up.0", "up.1",
            "out"} <= set(names)
    assert "other" not in names  # SDXL's add_embedding has its own, named group
    assert names.index("added_cond") == names.index("time_embedding") + 1
    added = groups[names.index("added_cond")]
    assert added.params and all(p.startswith("unet.add_embedding.") for p in added.params)
    vae = groups[-1]
    assert vae.params == [] and "always frozen" in vae.note
    assert not any(p.requires_grad for p in loaded.model.vae.parameters())


def test_conditioning_is_what_the_sdxl_pipeline_computes(xl):
    """The joined penultimate states, the pooled projection and the time ids the UNet
    trains on equal diffusers' own (encode_prompt, _get_add_time_ids)."""
    fam = get_family("text_to_image")
    loaded = fam.load(str(xl["model"]), "cpu")
    pipe = fam.pipeline(loaded)
    with torch.no_grad():
        want, _, want_pooled, _ = pipe.encode_prompt(PROMPT, device="cpu",
                                                     do_classifier_free_guidance=False)
        got, pooled = fam.encode_text(loaded, fam.tokenize(loaded, [PROMPT]))
    assert got.shape[-1] == 16 + 32 and pooled.shape == (1, 24)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(pooled, want_pooled)
    # frozen text encoders: the cached embeddings carry the pooled output and the ids
    cfg = load_config(xl["cfg"], ["freeze.groups=[]"])
    data = fam.datasets(loaded, cfg)
    part = data.val_batch(0, 4).parts[0]
    time_ids = pipe._get_add_time_ids((32, 32), (0, 0), (32, 32), torch.float32,
                                      text_encoder_projection_dim=24)
    torch.testing.assert_close(part["time_ids"], time_ids.expand(len(part["latents"]), -1))
    assert part["embeds"].shape[-1] == 48 and part["pooled"].shape[-1] == 24


def test_trains_lora_on_the_unet_and_the_second_text_encoder(xl):
    res, sink = xl["result"], xl["sink"]
    assert res.state == "completed" and res.step == 4
    # no data.resolution in the file: the run trained (and says it did) at the model's 32
    assert load_config(Path(res.run_dir) / "config.toml").data.resolution == 32
    assert [e.step for e in sink.of(ev.EvalLogged)] == [0, 2, 4]
    assert all(torch.isfinite(torch.tensor(e.val_loss)) for e in sink.of(ev.EvalLogged))
    samples = [s for e in sink.of(ev.SampleReady) for s in e.samples]
    assert {s.step for s in samples} == {0, 4}
    assert all(Path(s.path).is_file() for s in samples)
    from safetensors import safe_open
    ck = Path(res.run_dir) / "checkpoints" / "step_000004" / "model.safetensors"
    with safe_open(str(ck), "pt") as f:
        names = list(f.keys())
    assert all(".lora_" in n for n in names)
    assert {n.split(".")[0] for n in names} == {"unet", "text_encoder_2"}


def test_both_lora_exports_load_in_the_sdxl_pipeline_and_match_the_studio(xl, tmp_path):
    from studio.cli.main import main
    from studio.engine.restore import load_run_model

    run_dir = xl["result"].run_dir
    out = tmp_path / "export"
    assert main(["export", run_dir, str(out), "--weights", "latest"]) == 0
    kohya = out / "xl.safetensors"
    from safetensors import safe_open
    with safe_open(str(kohya), "pt") as f:
        keys = list(f.keys())
        assert f.metadata()["ss_base_model_version"] == "sdxl_base_v1-0"
    assert {k.split("_")[1] for k in keys} == {"unet", "te2"}

    r = load_run_model(run_dir, "latest")
    studio = r.family.generate(r.loaded, f"{TRIGGER}, {PROMPT}", [7], steps=3, guidance=3.0,
                               size=(32, 32))[0].float()
    pipe = _pipe(xl["model"])
    base = _image(pipe)
    assert (studio - base).abs().max() > 8  # the LoRA changed the picture
    for lora in (out, kohya):  # (a) the folder; (b) kohya's file via diffusers' converter
        pipe.load_lora_weights(str(lora))
        got = _image(pipe)
        pipe.unload_lora_weights()
        assert (got - studio).abs().mean() < 1.0, lora
        assert (got - studio).abs().max() <= 4, lora
    assert (_image(pipe) - base).abs().max() == 0  # unloaded: the base again


def test_resume_mid_run_replays_the_same_losses(xl, tmp_path):
    from tests.test_engine import losses

    full = Path(xl["result"].run_dir)
    copy = tmp_path / full.name
    shutil.copytree(full, copy)
    shutil.rmtree(copy / "checkpoints" / "step_000004")
    second = ListSink()
    res = run(None, second, resume=str(copy))
    assert res.state == "completed" and res.step == 4
    want, got = losses(xl["sink"].events), losses(second.events)
    assert sorted(got) == [3, 4]
    torch.testing.assert_close(torch.tensor([got[3], got[4]]), torch.tensor([want[3], want[4]]))
