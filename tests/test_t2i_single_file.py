"""A single-file ``.safetensors`` checkpoint (the original CompVis/A1111 layout artists
download) loads offline through the studio's loader when the architecture's configs sit
beside it as ``<name>.config/``: the same weights as the diffusers folder it was written
from. A file missing a part says so instead of a traceback."""

from __future__ import annotations

import shutil

import pytest
import torch

from studio.core.errors import ModelError
from studio.models.base import get_family
from tests.ldm_checkpoint import write_sd15_checkpoint
from tests.tinymodels import make_tiny_sd


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from diffusers import StableDiffusionPipeline

    root = tmp_path_factory.mktemp("single")
    model = make_tiny_sd(root / "sd")
    pipe = StableDiffusionPipeline.from_pretrained(str(model), safety_checker=None,
                                                   requires_safety_checker=False)
    ckpt = write_sd15_checkpoint(pipe, root / "my_style_v1.safetensors")
    # what the error message asks for: the architecture's JSON and tokenizer files only
    shutil.copytree(model, root / "my_style_v1.config",
                    ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    return {"pipe": pipe, "ckpt": ckpt, "root": root}


def test_a_single_file_checkpoint_loads_offline_with_its_configs_beside_it(checkpoint,
                                                                          monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fam = get_family("text_to_image")
    loaded = fam.load(str(checkpoint["ckpt"]), "cpu")
    assert loaded.extras["pipeline_class"] == "StableDiffusionPipeline"
    assert not loaded.extras["xl"]
    for part in ("unet", "vae", "text_encoder"):
        want = getattr(checkpoint["pipe"], part).state_dict()
        got = getattr(loaded.model, part).state_dict()
        assert got.keys() == want.keys(), part
        assert all(torch.equal(got[k], want[k]) for k in want), part
    names = [g.name for g in fam.layer_groups(loaded)]
    assert names[0] == "text_encoder" and names[-1] == "vae"


def test_a_checkpoint_without_a_text_encoder_says_what_is_missing(checkpoint, tmp_path,
                                                                   monkeypatch):
    from safetensors.torch import load_file, save_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    state = {k: v for k, v in load_file(str(checkpoint["ckpt"])).items()
             if not k.startswith("cond_stage_model.")}
    ckpt = tmp_path / "unet_and_vae.safetensors"
    save_file(state, str(ckpt))
    shutil.copytree(checkpoint["root"] / "my_style_v1.config", tmp_path / "unet_and_vae.config")
    with pytest.raises(ModelError) as err:
        get_family("text_to_image").load(str(ckpt), "cpu")
    text = str(err.value)
    assert "not a whole Stable Diffusion pipeline" in text and "CLIPTextModel" in text
    assert "full checkpoint" in text
