"""The captioning family: metrics against hand-checked values, the reader (through
studio.data.captioned), caption-safe augmentation, training / resume / export through the
real engine with a tiny BLIP built from configs, and auto-captioning never clobbering a
caption file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from studio.config import dumps_toml, load_config
from studio.core import events as ev
from studio.core.sinks import ListSink
from studio.engine import run
from studio.models.base import get_family


def make_tiny_captioner(out: Path, size: int = 32) -> Path:
    """A tiny BLIP (+ processor) from configs, through the starter's own builders."""
    from studio.starters.captioning import add_arguments, make_model, make_processor

    if (out / "config.json").exists():
        return out
    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--width", "32", "--image-size", str(size), "--vision-layers", "1",
                         "--text-layers", "1"])
    proc = make_processor(out, size)
    model = make_model(args, proc.tokenizer)
    model.save_pretrained(out)
    proc.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_captioner(tmp_path_factory.mktemp("tiny-blip"))


@pytest.fixture
def shapes(tmp_path) -> Path:
    from studio.data.shapes import write_folder

    folder = tmp_path / "shapes"
    write_folder(folder, 12, 32, seed=3)
    return folder


def config(tmp_path, tiny, folder, **sections) -> Path:
    base = {
        "run": {"name": "cap", "runs_dir": str(tmp_path / "runs"), "family": "captioning"},
        "model": {"source": str(tiny)},
        "data": {"paths": [str(folder)], "val_fraction": 0.25},
        "train": {"max_steps": 6, "batch_size": 4, "lr": 2e-3, "device": "cpu",
                  "warmup_steps": 1},
        "eval": {"every": 3},
        "sample": {"every": 3, "max_new_tokens": 8},
        "checkpoint": {"every": 3},
    }
    for k, v in sections.items():
        base.setdefault(k, {}).update(v)
    p = tmp_path / "cap.toml"
    p.write_text(dumps_toml(base), encoding="utf-8")
    return p


# -- metrics --------------------------------------------------------------------------------

def test_bleu4_and_cider_d_match_hand_computed_values():
    from studio.models.caption_metrics import caption_scores, tokenize

    # one word differs in 7: n-gram precisions 6/7, 4/6, 3/5, 2/4, equal lengths (no
    # brevity penalty): BLEU-4 = (6/7 * 4/6 * 3/5 * 2/4) ** (1/4)
    s = caption_scores(["a red circle on a blue background"],
                       ["a red circle on a green background"])
    assert s["BLEU-4"] == pytest.approx((6 / 7 * 4 / 6 * 3 / 5 * 2 / 4) ** 0.25, abs=1e-6)
    # CIDEr-D of exact matches: cosine 1 for every n-gram order the caption has, x10; a
    # 3-word caption has no 4-grams, so it scores 10 * 3/4. Mean over the two images.
    s = caption_scores(["a red circle on a blue background", "a small star"],
                       ["a red circle on a blue background", "a small star"])
    assert s["CIDEr-D"] == pytest.approx((10 + 7.5) / 2)
    assert s["BLEU-4"] == pytest.approx(1.0)
    nothing = caption_scores(["x y z w", ""], ["a red circle on a blue background",
                                               "a small star"])
    assert nothing["CIDEr-D"] == 0.0 and nothing["BLEU-4"] < 1e-9
    assert tokenize("Circle, red. Ground: blue.") == "circle red ground blue"


# -- data -----------------------------------------------------------------------------------

def test_augmentation_never_contradicts_captions():
    from studio.data.captioned import CaptionedImage
    from studio.data.captioning import caption_safe
    from studio.data.image import AugmentSpec

    def items(*captions):
        return [CaptionedImage(Path(f"{k}.png"), c, f"{k}.txt") for k, c in enumerate(captions)]

    spec = AugmentSpec(hflip=0.5, vflip=0.5, color_jitter=0.3, color_p=0.5)
    safe, notes = caption_safe(spec, items("a star on the left on a black background",
                                           "a cat at the top"))
    assert safe.hflip == 0 and safe.vflip == 0 and safe.color_jitter == 0.3
    assert any("augment.hflip turned off" in n and "left" in n for n in notes)
    same, none = caption_safe(spec, items("a white cat", "a black dog"))
    assert same == spec and none == []
    red, _ = caption_safe(spec, items("a red circle"))
    assert red.color_jitter == 0 and red.hflip == 0.5


def test_reader_truncation_and_uncaptioned_images(tiny, shapes):
    fam = get_family("captioning")
    loaded = fam.load(str(tiny), "cpu")
    cap = loaded.extras["captioner"]
    (shapes / "shape_0001.txt").write_text("a red circle " * 40, encoding="utf-8")  # too long
    (shapes / "shape_0002.txt").unlink()   # no caption: left out, not trained as "shapes"
    cfg = load_config(config(shapes.parent, tiny, shapes, augment={"hflip": 0.5}))
    data = fam.datasets(loaded, cfg)
    assert data.n_train + data.n_val == 11
    assert all(len(t) <= cap.max_tokens for t in data.tokens)
    assert "1 caption(s) were longer than the decoder's limit of 40 tokens" in data.summary
    assert "1 image(s) have no caption file and were left out" in data.summary
    # the captions come from the sidecars, as studio.data.captioned reads them
    k = data.paths.index(shapes / "shape_0000.png")
    assert data.captions[k] == (shapes / "shape_0000.txt").read_text().strip()
    batch = data.train_batch(torch.arange(4), seed=1)
    assert batch.pixel_values.shape == (4, 3, 32, 32) and (batch.labels[:, 0] != -100).all()
    # BLIP decodes from [DEC]: training starts each caption with it too
    assert (batch.input_ids[:, 0] == cap.model.config.text_config.bos_token_id).all()


def test_layer_groups_and_frozen_vision_encoder(tiny):
    from studio.config.schema import FreezeConfig
    from studio.models.freeze import resolve_plan

    fam = get_family("captioning")
    loaded = fam.load(str(tiny), "cpu")
    groups = fam.layer_groups(loaded)
    names = [g.name for g in groups]
    assert names[:3] == ["vision_encoder", "projection", "embeddings"]
    assert "block.0" in names and "lm_head" in names
    listed = sorted(p for g in groups for p in g.params)
    assert listed == sorted(n for n, _ in loaded.model.named_parameters())
    plan = {s.group.name: s.mode for s in resolve_plan(groups, FreezeConfig())}
    assert plan["vision_encoder"] == "frozen" and plan["block.0"] == "full"
    lora = resolve_plan(groups, FreezeConfig(default_mode="lora"))
    assert {s.group.name: s.mode for s in lora}["projection"] == "lora"


# -- training, resume, export ----------------------------------------------------------------

def test_training_scores_samples_resume_and_pipeline_export(tiny, shapes, tmp_path):
    from studio.core.control import RunControl
    from studio.engine.restore import export_run
    from tests.test_engine import StopAt, losses

    path = config(tmp_path, tiny, shapes)
    full = ListSink()
    res = run(load_config(path), full)
    assert res.state == "completed"
    evals = full.of(ev.EvalLogged)
    assert [e.step for e in evals] == [0, 3, 6]
    assert set(evals[0].metrics) >= {"BLEU-4", "CIDEr-D"} and evals[0].perplexity is None
    ready = full.of(ev.SampleReady)
    assert [r.step for r in ready] == [0, 3, 6]
    s = ready[0].samples[0]
    assert s.kind == "caption" and Path(s.path).is_file() and s.meta["reference"]
    assert s.meta["seeded"] is False  # the card shows no seed for a greedy caption
    assert s.meta["reference"] == Path(s.path).with_suffix(".txt").read_text().strip()
    # the curves' history keeps the scores
    from studio.state.run_history import RunHistory

    h = RunHistory.from_run(res.run_dir)
    assert list(h.extras) == ["BLEU-4", "CIDEr-D"] and len(h.extras["CIDEr-D"]) == 3

    # stopped at step 3 and resumed: the same losses as the uninterrupted run
    control = RunControl()
    first = StopAt(control, 3)
    stopped = run(load_config(path), first, control)
    second = ListSink()
    run(None, second, resume=stopped.run_dir)
    got = {**losses(first.events), **losses(second.events)}
    want = losses(full.events)
    torch.testing.assert_close(torch.tensor([got[k] for k in range(1, 7)]),
                               torch.tensor([want[k] for k in range(1, 7)]))

    out = export_run(res.run_dir, tmp_path / "export", weights="latest")
    from transformers import pipeline

    captioner = pipeline("image-to-text", model=str(out))
    said = captioner(Image.open(s.path), text="", max_new_tokens=6)
    assert isinstance(said[0]["generated_text"], str)
    assert get_family("captioning").load(str(out), "cpu").extras["captioner"].kind == "blip"


# -- auto-captioning -----------------------------------------------------------------------

def _cli(*argv: str) -> int:
    from studio.cli.main import main

    return main(list(argv))


def test_studio_caption_never_clobbers_a_caption_file(tiny, shapes, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data-dir"))
    for i in (1, 2):
        (shapes / f"shape_000{i}.txt").unlink()
    mine = shapes / "shape_0000.txt"
    mine.write_text("my own words\n", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in shapes.glob("*.txt")}

    assert _cli("caption", str(shapes), "--model", str(tiny), "--max-new-tokens", "5") == 0
    assert (shapes / "shape_0001.txt").is_file() and (shapes / "shape_0002.txt").is_file()
    assert mine.read_bytes() == b"my own words\n"
    assert all((shapes / n).read_bytes() == b for n, b in before.items())

    review = tmp_path / "review.jsonl"
    snapshot = {p.name: p.read_bytes() for p in shapes.glob("*.txt")}
    assert _cli("caption", str(shapes), "--model", str(tiny), "--all", "--review",
                str(review), "--max-new-tokens", "5") == 0
    assert {p.name: p.read_bytes() for p in shapes.glob("*.txt")} == snapshot  # nothing written
    records = [json.loads(x) for x in review.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 12
    mine_rec = next(r for r in records if r["image"].endswith("shape_0000.png"))
    assert mine_rec["current"] == "my own words"
    mine_rec["caption"] = "edited by hand"
    review.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")

    assert _cli("caption", str(shapes), "--accept", str(review)) == 0
    assert mine.read_bytes() == b"my own words\n"     # no --overwrite: kept
    assert _cli("caption", str(shapes), "--accept", str(review), "--overwrite") == 0
    assert mine.read_text(encoding="utf-8").strip() == "edited by hand"
    # the old text is recoverable from the undo journal
    journal = (tmp_path / "data-dir" / "caption-journal.jsonl").read_text(encoding="utf-8")
    import base64

    olds = [f["old"] for line in journal.splitlines() for f in json.loads(line)["files"]
            if f["path"] == str(mine)]
    assert base64.b64decode(olds[-1]) == b"my own words\n"


def test_a_vision_encoder_decoder_trains_captions_and_exports(tmp_path, shapes):
    """ViT + GPT-2 (VisionEncoderDecoderModel) from configs: loaded, trained one step,
    captioning, exported and reloaded by its own class."""
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    from tests.tinymodels import make_tiny_text_model

    text = make_tiny_text_model(tmp_path / "gpt2")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(text)
    enc = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                    num_attention_heads=2, intermediate_size=64)
    dec = GPT2Config(vocab_size=len(tok), n_positions=24, n_embd=32, n_layer=1, n_head=2,
                     add_cross_attention=True, bos_token_id=tok.eos_token_id,
                     eos_token_id=tok.eos_token_id)
    model = VisionEncoderDecoderModel(
        VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec))
    folder = tmp_path / "ved"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)

    fam = get_family("captioning")
    loaded = fam.load(str(folder), "cpu")
    cap = loaded.extras["captioner"]
    assert cap.kind == "ved" and cap.image_size == 32 and cap.max_tokens == 24
    names = [g.name for g in fam.layer_groups(loaded)]
    assert names[:2] == ["vision_encoder", "projection"] and "block.0" in names
    data = fam.datasets(loaded, load_config(config(tmp_path, folder, shapes)))
    loss = fam.loss(loaded, data.train_batch(torch.arange(3), seed=0))
    loss.backward()
    assert torch.isfinite(loss)
    said = cap.caption(data.val_pixels([0]), 4)
    assert len(said) == 1 and isinstance(said[0], str)
    fam.export(loaded, tmp_path / "out")
    again = VisionEncoderDecoderModel.from_pretrained(tmp_path / "out")
    assert again.config.decoder_start_token_id == tok.eos_token_id
    assert fam.load(str(tmp_path / "out"), "cpu").extras["captioner"].kind == "ved"


def test_the_memory_estimate_says_image_size_and_caption_length(tiny, shapes, tmp_path):
    """Not a text model's "128 tokens": a captioner's example is an image at the vision
    encoder's size and a caption up to the decoder's limit, through the family's
    memory_shape hook (what the layer tree and `studio inspect` show)."""
    from studio.config.schema import DataConfig
    from studio.models import freeze as fz
    from studio.models.inspect import inspect_model

    info = inspect_model(str(tiny), "captioning").info
    block, per_example = fz.positions(info, DataConfig())
    assert block == 40 and per_example == "32x32 px image + a caption of up to 40 tokens"
    assert "128" not in per_example
    assert info["d_model"] == 32 and info["n_layer"] == 1  # the text decoder's sizes
    # a text model still says its block size
    assert fz.positions({"n_layer": 2}, DataConfig(block_size=64)) == (64, "64 tokens")


def test_caption_scores_honour_eval_max_batches(tiny, shapes, tmp_path, monkeypatch):
    """eval.max_batches caps the held-out images captioned for BLEU / CIDEr (batches x
    batch size); 0 scores every held-out image (it was a fixed 64)."""
    import studio.models.caption_metrics as cm

    fam = get_family("captioning")
    loaded = fam.load(str(tiny), "cpu")
    scored: list[int] = []
    monkeypatch.setattr(cm, "caption_scores",
                        lambda generated, refs: scored.append(len(generated)) or {})
    for max_batches, want in ((1, 2), (0, 6)):
        cfg = load_config(config(tmp_path, tiny, shapes, train={"batch_size": 2},
                                 eval={"max_batches": max_batches}, data={"val_fraction": 0.5}))
        data = fam.datasets(loaded, cfg)
        assert data.n_val == 6
        fam.eval_metrics(loaded, data)
        assert scored[-1] == want
