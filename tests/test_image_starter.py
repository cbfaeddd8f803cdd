"""The shipped image starter (resources/starters/image), its build script and the
"textures" demo project."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

from studio.config.io import load_config, resolve_path
from studio.core.paths import resolve_model_source
from studio.models.base import get_family
from studio.starters import image as builder

ROOT = Path(__file__).resolve().parent.parent
STARTER = ROOT / "resources" / "starters" / "image"
DEMO = ROOT / "resources" / "demo" / "textures.toml"

needs_starter = pytest.mark.skipif(not (STARTER / "model_index.json").is_file(),
                                   reason="the image starter is not built")


@pytest.fixture(scope="module")
def info() -> dict:
    return json.loads((STARTER / "starter_info.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def loaded():
    return get_family("image").load("starter:image", device="cpu")


# -- the shipped starter -------------------------------------------------------------

@needs_starter
def test_starter_loads_through_the_image_family(loaded, info):
    unet, scheduler = loaded.model, loaded.extras["scheduler"]
    assert isinstance(unet, UNet2DModel) and isinstance(scheduler, DDPMScheduler)
    assert {p.dtype for p in unet.parameters()} == {torch.float32}
    shape = info["shape"]
    assert unet.config.sample_size == shape["sample_size"] == 32
    assert tuple(unet.config.block_out_channels) == tuple(shape["block_out_channels"]) \
        == (32, 64, 64)
    assert unet.config.layers_per_block == 1
    assert unet.config.in_channels == unet.config.out_channels == 3
    # one attention block, at the lowest resolution (plus the mid block's)
    assert list(unet.config.down_block_types) == ["DownBlock2D", "DownBlock2D",
                                                  "AttnDownBlock2D"]
    assert list(unet.config.up_block_types) == ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"]
    assert scheduler.config.num_train_timesteps == 1000
    assert scheduler.config.prediction_type == "epsilon"
    n = sum(p.numel() for p in unet.parameters())
    assert n == info["parameters"] and 1_000_000 <= n <= 3_000_000
    names = [g.name for g in get_family("image").layer_groups(loaded)]
    assert names == ["time_embedding", "input", "down.0", "down.1", "down.2", "mid",
                     "up.0", "up.1", "up.2", "out"]


@needs_starter
def test_starter_is_a_diffusers_pipeline_that_samples():
    pipe = DDPMPipeline.from_pretrained(STARTER)
    out = pipe(batch_size=2, num_inference_steps=3, generator=torch.Generator().manual_seed(0),
               output_type="np").images
    assert out.shape == (2, 32, 32, 3)
    assert 0.0 <= out.min() and out.max() <= 1.0


@needs_starter
def test_starter_folder_is_small_and_documented(loaded, info):
    files = {str(f.relative_to(STARTER)): f.stat().st_size
             for f in STARTER.rglob("*") if f.is_file()}
    assert {"model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
            "scheduler/scheduler_config.json", "samples.png", "STARTER.md"} <= set(files)
    assert sum(files.values()) < 8_000_000  # committed to git
    assert info["val_loss"] * 5 < info["untrained_val_loss"]
    card = (STARTER / "STARTER.md").read_text(encoding="utf-8")
    assert "CC0" in card and "public domain" in card and "scikit-image" in card
    assert f"{info['val_loss']:.4f}" in card and f"{info['parameters']:,}" in card
    assert "samples.png" in card
    from PIL import Image
    with Image.open(STARTER / "samples.png") as im:  # 16 images of 32 px in a 4x4 grid
        assert im.size[0] >= 4 * 32 and im.size == (im.size[0], im.size[0])


@needs_starter
def test_starter_denoises_held_out_crops_better_than_an_untrained_unet(loaded, info,
                                                                       shared_data):
    v = info["data"]["validation"]
    photos, _ = builder.read_photos(shared_data / "images", v["val_fraction"], v["min_crop"])
    assert [p.name for p in photos] == [p["file"] for p in info["data"]["photographs"]]
    crops = builder.validation_crops(photos, 2, 32, v["min_crop"], v["seed"])
    unet, scheduler = loaded.model, loaded.extras["scheduler"]
    trained = builder.fixed_noise_loss(unet, scheduler, crops, repeats=2)
    assert trained == builder.fixed_noise_loss(unet, scheduler, crops, repeats=2)  # fixed
    torch.manual_seed(0)
    fresh = UNet2DModel.from_config(unet.config)
    untrained = builder.fixed_noise_loss(fresh, scheduler, crops, repeats=2)
    assert untrained > 0.5  # an untrained UNet predicts next to nothing of the noise
    assert trained * 4 < untrained


# -- the builder ---------------------------------------------------------------------

def test_builder_runs_end_to_end_on_a_tiny_budget(tmp_path, shared_data):
    parser = argparse.ArgumentParser()
    builder.add_arguments(parser)
    out = tmp_path / "starter"
    args = parser.parse_args([
        "--data", str(shared_data / "images"), "--out", str(out), "--steps", "2",
        "--batch-size", "4", "--channels", "8,16", "--norm-groups", "4",
        "--attention-head-dim", "8", "--size", "16", "--min-crop", "16", "--val-crops", "1",
        "--val-timesteps", "1", "--sample-images", "2", "--sample-steps", "2",
        "--threads", "1"])
    args.argv = ["build", "image", "--steps", "2"]
    assert builder.main(args) == 0
    assert not (tmp_path / "starter.building").exists()
    pipe = DDPMPipeline.from_pretrained(out)
    assert pipe.unet.config.sample_size == 16
    assert tuple(pipe.unet.config.block_out_channels) == (8, 16)
    loaded = get_family("image").load(str(out), device="cpu")
    assert loaded.model.config.sample_size == 16
    info = json.loads((out / "starter_info.json").read_text(encoding="utf-8"))
    assert info["training"]["steps"] == 2
    assert info["data"]["validation"]["crops"] == len(info["data"]["photographs"])
    assert info["command"] == "python -m studio.starters build image --steps 2"
    assert (out / "samples.png").is_file() and (out / "STARTER.md").is_file()


def test_training_and_validation_crops_never_share_pixels(shared_data):
    photos, _ = builder.read_photos(shared_data / "images", 0.25, 32)
    photo = photos[0]
    assert photo.split == photo.width - round(photo.width * 0.25)
    # mark the held-out strip, then draw many training crops of a photo whose training
    # part is black: a crop that reached into the strip would contain white
    marked = builder.Photo(photo.name, torch.zeros_like(photo.pixels), photo.split, "", "RGB")
    marked.pixels[:, :, photo.split:] = 255
    gen = torch.Generator().manual_seed(0)
    batch = builder.training_batch([marked], 64, 32, 32, 0.5, gen)
    assert batch.max() == -1.0
    val = builder.validation_crops([marked], 16, 32, 32, 0)
    assert val.min() == 1.0


def test_bad_arguments_are_explained(tmp_path):
    from studio.core.errors import StudioError

    parser = argparse.ArgumentParser()
    builder.add_arguments(parser)
    with pytest.raises(StudioError, match="no usable photographs"):
        (tmp_path / "empty").mkdir()
        builder.build(parser.parse_args(["--data", str(tmp_path / "empty"),
                                         "--out", str(tmp_path / "o")]))
    with pytest.raises(StudioError, match="--channels"):
        builder.make_unet(parser.parse_args(["--channels", "32,x"]))
    with pytest.raises(StudioError, match="--norm-groups"):
        builder.make_unet(parser.parse_args(["--channels", "12,24", "--norm-groups", "8"]))


# -- the demo project ----------------------------------------------------------------

def test_textures_demo_config_validates_and_points_at_real_files():
    cfg = load_config(DEMO)
    assert cfg.run.family == "image"
    assert cfg.model.source == "starter:image"
    assert Path(resolve_model_source(cfg.model.source)).resolve() == STARTER.resolve()
    assert cfg.data.paths == ("textures",)
    folder = resolve_path(cfg, "textures")
    files = sorted(p.name for p in folder.iterdir())
    assert len(files) == 12 and all(f.endswith(".png") for f in files)
    assert {f.split("_")[0] for f in files} == {"brick", "grass", "gravel"}
    runs = resolve_path(cfg, cfg.run.runs_dir).resolve()
    assert runs == (ROOT / "resources" / "demo" / "runs").resolve()
    assert cfg.data.crop == "random" and cfg.augment.hflip > 0 and cfg.augment.vflip > 0
    assert cfg.sample.num_images == 8 and cfg.sample.inference_steps == 25
    assert 0 < cfg.eval.every <= cfg.train.max_steps
    assert 0 < cfg.sample.every <= cfg.train.max_steps
    # the split holds out every texture and leaves exactly one batch to train on (the
    # config's comments say so)
    from studio.data.image import split_images
    train, val = split_images(len(files), cfg.data.val_fraction, cfg.data.split_seed)
    assert {files[i].split("_")[0] for i in val} == {"brick", "grass", "gravel"}
    assert [files[i] for i in val] == ["brick_x016_y016.png", "grass_x368_y040.png",
                                       "gravel_x016_y016.png", "gravel_x368_y040.png"]
    assert len(train) == cfg.train.batch_size
