"""The text-to-image starter's measurement and recipe: the colour measure scores the
generator's own pictures 100% and shuffled captions near chance (three builds once scored
12-19% and the first question was whether the measure was wrong); the zero-SNR,
pooled-text pipeline the build makes runs and loads through the family's real loader."""

from __future__ import annotations

import random

import torch

from studio.data import shapes
from studio.starters import text_to_image as t2i


def _pixels(samples) -> torch.Tensor:
    return ((t2i._to_tensor([s.image for s in samples]) + 1) * 127.5).round().to(torch.uint8)


def test_the_colour_measure_scores_the_truth_fully_and_shuffled_captions_near_chance():
    held = shapes.generate(96, 32, seed=1)
    # striped yellow and white grounds: the corners' median once mixed their two colours
    assert any(s.pattern == "striped" and s.background in ("yellow", "white") for s in held)
    truth = t2i.measure(_pixels(held), held)
    assert truth["shape_colour"] == truth["background_colour"] == truth["both"] == 1.0
    shuffled = held[:]
    random.Random(0).shuffle(shuffled)
    wrong = t2i.measure(_pixels(held), shuffled)
    assert wrong["shape_colour"] < 0.35 and wrong["background_colour"] < 0.35


def test_the_shape_colour_is_read_where_the_caption_puts_the_shape():
    s = shapes.render("circle", "red", "small", "top left", "blue", "plain", 32)
    assert s.centre[0] < 12 and s.centre[1] < 12
    assert t2i.measure(_pixels([s]), [s])["shape_colour"] == 1.0


def test_the_training_mix_holds_the_plain_share_and_is_deterministic():
    a = t2i.training_pictures(40, 32, seed=0, simple=0.5)
    b = t2i.training_pictures(40, 32, seed=0, simple=0.5)
    assert [s.caption for s in a] == [s.caption for s in b]
    plain = [s for s in a if s.size == "medium" and s.position == "centre"
             and s.pattern == "plain"]
    assert len(plain) >= 20
    assert all(s.caption.count(" ") == 6 for s in a[-20:])  # "a red circle on a blue background"


def test_the_recipe_pipeline_samples_and_loads_through_the_family(tmp_path):
    from studio.models.base import get_family

    pipe = t2i.make_pipeline(shapes.vocabulary(), image_size=32, text_dim=32, text_layers=1,
                             unet_channels=(16, 32), vae_channels=(8, 16), seed=0,
                             tokenizer_dir=tmp_path / "tok", attention_below_top=True,
                             zero_snr=True, pooled_text=True)
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert float(pipe.scheduler.alphas_cumprod[-1]) < 1e-6   # the last step is pure noise
    assert pipe.unet.config.addition_embed_type == "text"
    assert pipe.unet.config.down_block_types[0] == "DownBlock2D"
    pipe.set_progress_bar_config(disable=True)
    images = t2i.generate_images(pipe, ["a red circle on a blue background", "a green star "
                                        "on a white background"], 2, 5.0, 32)
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.uint8
    pipe.save_pretrained(tmp_path / "sd")
    loaded = get_family("text_to_image").load(str(tmp_path / "sd"))
    assert loaded.extras["scheduler"].config.prediction_type == "v_prediction"
    assert loaded.model.unet.config.addition_embed_type == "text"
