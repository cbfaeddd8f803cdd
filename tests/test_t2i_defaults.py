"""Text-to-image settings that follow the model: a new project's (and a config file's)
``data.resolution`` is the chosen model's own size, read from its folder's JSON (the UNet's
sample size x the VAE's downsampling), until the user sets it; 0 means the same and the
bucket preview says what to set when the model cannot be read yet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.config import dumps_toml, families, load_config
from studio.core.errors import DataError
from studio.data.captioned import buckets_of
from studio.state.project import Project


def sd_folder(root: Path, latent: int, pipeline: str = "StableDiffusionPipeline") -> Path:
    """A diffusers pipeline folder's JSON only (what the settings read; no weights)."""
    root.mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": pipeline}))
    for part, cfg in (("unet", {"_class_name": "UNet2DConditionModel", "sample_size": latent}),
                      ("vae", {"_class_name": "AutoencoderKL",
                               "block_out_channels": [128, 256, 512, 512]})):
        (root / part).mkdir()
        (root / part / "config.json").write_text(json.dumps(cfg))
    return root


@pytest.fixture
def models(tmp_path):
    return {"sd15": str(sd_folder(tmp_path / "sd15", 64)),
            "sdxl": str(sd_folder(tmp_path / "sdxl", 128, "StableDiffusionXLPipeline"))}


def _config_file(tmp_path: Path, source: str, **data) -> Path:
    path = tmp_path / "t2i.toml"
    path.write_text(dumps_toml({"run": {"family": "text_to_image"},
                                "model": {"source": source},
                                "data": {"paths": ["imgs"], **data}}), encoding="utf-8")
    return path


def test_a_config_without_a_resolution_takes_the_models(tmp_path, models):
    # what `studio train FILE` runs: the starter's 32, SD 1.5's 512, SDXL's 1024
    for source, want in (("starter:text_to_image", 32), (models["sd15"], 512),
                         (models["sdxl"], 1024)):
        assert load_config(_config_file(tmp_path, source)).data.resolution == want, source
    # the user's value stays; 0 ("the model's own") is resolved the same way
    assert load_config(_config_file(tmp_path, models["sdxl"], resolution=768)
                       ).data.resolution == 768
    assert load_config(_config_file(tmp_path, models["sd15"], resolution=0)
                       ).data.resolution == 512
    # a hub id cannot be read without loading: 0, resolved by the family at load
    assert load_config(_config_file(tmp_path, "stabilityai/sdxl-turbo")).data.resolution == 0
    # other families never see the knob change
    assert families.default_config("image").data.resolution == 512


def test_a_project_follows_the_model_until_the_user_sets_it(models):
    from studio.qt.project_files import blank_config

    project = Project(blank_config("text_to_image"))
    assert project.config.data.resolution == 32  # the starter's size, not 512
    project.set_model_source(models["sdxl"])
    assert project.config.data.resolution == 1024
    project.set_model_source(models["sd15"])
    assert project.config.data.resolution == 512
    project.replace_section("data", resolution=768)  # the user's own
    project.set_model_source(models["sdxl"])
    assert project.config.data.resolution == 768
    # a text project given an SDXL folder becomes text-to-image at the folder's size
    text = Project(blank_config("text"))
    text.set_model_source(models["sdxl"])
    assert text.config.run.family == "text_to_image"
    assert text.config.data.resolution == 1024


def test_buckets_of_zero_says_what_to_set():
    for bucketing in (True, False):
        with pytest.raises(DataError) as err:
            buckets_of(0, bucketing)
        assert "data.resolution" in str(err.value) and "1024 for SDXL" in str(err.value)
    assert (32, 32) in buckets_of(32)
