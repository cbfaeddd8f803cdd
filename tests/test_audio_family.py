"""The audio family end to end on a tiny MusicGen: the layer tree and its default freeze,
a short run lowers the validation loss and writes WAV samples, export reloads in
MusicgenForConditionalGeneration and generates, the codes cache skips the codec and is
invalidated when a file changes, and the batch lays codes out in the delay pattern."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from studio.config import dumps_toml, load_config
from studio.config.schema import FreezeConfig, GroupPlan
from studio.core import events as ev
from studio.core.sinks import ListSink
from studio.engine import run
from studio.engine.restore import export_run
from studio.models import freeze as fz
from studio.models.audio import delayed_labels
from studio.models.base import get_family
from tests.tinymodels import make_tiny_musicgen, write_audio_dataset


@pytest.fixture(scope="module")
def tiny_musicgen(tmp_path_factory) -> Path:
    return make_tiny_musicgen(tmp_path_factory.mktemp("tiny-musicgen"))


@pytest.fixture
def audio_config(tmp_path, tiny_musicgen):
    data = write_audio_dataset(tmp_path / "clips", n=6)

    def make(**sections) -> Path:
        base = {
            "run": {"name": "loops", "runs_dir": str(tmp_path / "runs"), "family": "audio"},
            "model": {"source": str(tiny_musicgen)},
            "data": {"paths": [str(data)], "val_fraction": 0.34, "clip_seconds": 1.0,
                     "codes_cache": str(tmp_path / "codes"), "condition_dropout": 0.1},
            "train": {"max_steps": 20, "batch_size": 4, "lr": 8e-3, "device": "cpu",
                      "warmup_steps": 2},
            "eval": {"every": 20},
            "sample": {"every": 0, "prompts": ["drum loop"], "audio_seconds": 0.2,
                       "guidance_scale": 1.0},
            "checkpoint": {"every": 0},
            "augment": {"gain_p": 0.3, "shift_p": 0.3},
        }
        for k, v in sections.items():
            base.setdefault(k, {}).update(v)
        p = tmp_path / "loops.toml"
        p.write_text(dumps_toml(base), encoding="utf-8")
        return p

    return make


def test_layer_tree_shows_the_decoder_and_freezes_text_encoder_and_codec(tiny_musicgen):
    fam = get_family("audio")
    loaded = fam.load(str(tiny_musicgen), "cpu")
    groups = fam.layer_groups(loaded)
    assert [g.name for g in groups] == ["codec", "text_encoder", "text_projection",
                                        "embeddings", "block.0", "block.1", "final_norm",
                                        "lm_head"]
    model = loaded.model
    listed = {p for g in groups for p in g.params}
    every = {n for n, _ in model.named_parameters()}
    assert listed == {n for n in every if not n.startswith("audio_encoder.")}
    assert "always frozen" in groups[0].note and groups[0].count == 0
    states = fz.resolve_plan(groups, FreezeConfig())
    modes = {s.group.name: s.mode for s in states}
    assert modes["text_encoder"] == "frozen" and modes["block.0"] == "full"
    fz.apply_plan(model, states, FreezeConfig())
    for s in fz.trainable_at(states, 0):
        fz.activate(model, s, None, 0.0, 0)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and not any(n.startswith(("audio_encoder.", "text_encoder."))
                                 for n in trainable)
    # a user can still choose to train the text encoder, or LoRA the decoder blocks
    plan = FreezeConfig(groups=(GroupPlan("text_encoder", "full"), GroupPlan("block.1", "lora")),
                        lora_rank=2)
    modes = {s.group.name: s.mode for s in fz.resolve_plan(groups, plan)}
    assert modes["text_encoder"] == "full" and modes["block.1"] == "lora"


def test_memory_estimate_counts_codec_frames_of_the_decoder(tiny_musicgen):
    """The activation term of a MusicGen is the decoder's, over the codec frames of one
    clip (plus the delay pattern), with one logit head per codebook: not data.block_size
    tokens of the composite config's defaults."""
    from types import SimpleNamespace

    loaded = get_family("audio").load(str(tiny_musicgen), "cpu")
    model = loaded.model
    dec, codec = model.config.decoder, model.config.audio_encoder
    shape = fz.model_shape(model)
    frame_rate = codec.sampling_rate / int(np.prod(codec.upsampling_ratios))
    assert shape["audio"] == {"frame_rate": frame_rate, "codebooks": dec.num_codebooks}
    assert shape["n_layer"] == dec.num_hidden_layers and shape["d_model"] == dec.hidden_size
    assert shape["vocab"] == dec.vocab_size * dec.num_codebooks
    for seconds in (1.0, 4.0):
        block, said = fz.positions(shape, SimpleNamespace(clip_seconds=seconds, block_size=7))
        frames = int(np.ceil(seconds * frame_rate))
        assert block == frames + dec.num_codebooks - 1
        assert said == f"{frames} codec frames ({seconds:g} s clips)"
    groups = get_family("audio").layer_groups(loaded)
    states = fz.resolve_plan(groups, FreezeConfig())
    short, long = (fz.estimate_for(model, states, optimizer="adamw", momentum=0.9, batch=2,
                                   block=fz.positions(shape, SimpleNamespace(
                                       clip_seconds=s, block_size=128))[0])
                   for s in (1.0, 4.0))
    assert long.activations > 3 * short.activations  # longer clips, more activations
    assert long.weights == short.weights
    # text models still count data.block_size tokens
    text = fz.positions({"n_layer": 2}, SimpleNamespace(clip_seconds=5.0, block_size=64))
    assert text == (64, "64 tokens")


def test_delay_pattern_labels():
    codes = torch.tensor([[[1, 2, 3], [4, 5, 6]]])  # [B=1, K=2, T=3]
    out = delayed_labels(codes, torch.tensor([2]), pad=9)
    # codebook 1 starts one frame late; frame 2 is past the clip's length: padding
    assert out[0].T.tolist() == [[1, 2, 9, 9], [9, 4, 5, 9]]


def test_short_run_lowers_val_loss_writes_wavs_and_export_generates(audio_config, tmp_path):
    sink = ListSink()
    res = run(load_config(audio_config()), sink)
    assert res.state == "completed"
    started = sink.of(ev.RunStarted)[0]
    assert started.family == "audio" and started.val_examples > 0
    assert started.trainable_params < started.total_params / 2  # codec + text encoder frozen
    evals = sink.of(ev.EvalLogged)
    assert [e.step for e in evals] == [0, 20]
    assert evals[-1].val_loss < evals[0].val_loss - 0.3
    step = sink.of(ev.StepLogged)[-1]
    assert step.throughput_unit == "clip" and step.throughput > 0
    ready = sink.of(ev.SampleReady)
    assert [r.step for r in ready] == [0, 20]
    s = ready[-1].samples[0]
    assert s.kind == "audio" and s.prompt == "drum loop" and s.path.endswith(".wav")
    info = sf.info(s.path)
    assert info.samplerate == 8000 and info.channels == 1
    assert info.frames == pytest.approx(0.2 * 8000, abs=160)
    index = json.loads((Path(s.path).parent / "index.json").read_text())
    assert index[0]["prompt"] == "drum loop"

    out = export_run(res.run_dir, tmp_path / "export")
    from transformers import AutoProcessor, MusicgenForConditionalGeneration
    model = MusicgenForConditionalGeneration.from_pretrained(out)
    processor = AutoProcessor.from_pretrained(out)
    inputs = processor(text=["drum loop", "bell tone"], padding=True, return_tensors="pt")
    torch.manual_seed(0)
    audio = model.generate(**inputs, do_sample=True, max_new_tokens=12, guidance_scale=2.0)
    assert audio.shape[0] == 2 and audio.shape[1] == 1 and audio.shape[2] > 0
    assert torch.isfinite(audio).all()
    wavs = sorted(p.relative_to(out / "samples").as_posix() for p in out.rglob("*.wav"))
    assert wavs == ["step_000000/audio_00_seed1234.wav", "step_000020/audio_00_seed1234.wav"]
    # the exported decoder is the trained one, not the base
    base = MusicgenForConditionalGeneration.from_pretrained(
        load_config(audio_config()).model.source)
    name = "decoder.lm_heads.0.weight"
    assert not torch.equal(dict(model.named_parameters())[name],
                           dict(base.named_parameters())[name])


def test_codes_cache_skips_the_codec_and_follows_file_changes(audio_config):
    cfg = load_config(audio_config(augment={"gain_p": 0.0, "shift_p": 0.0}))
    fam = get_family("audio")
    loaded = fam.load(cfg.model.source, "cpu")

    def encoded_for_all() -> tuple[int, list[np.ndarray]]:
        data = fam.datasets(loaded, cfg)
        ids = list(range(data.n_train))
        batch = data.train_batch(torch.tensor(ids), seed=0)
        data.val_batch(0, 100)
        return data.encoded, batch.codes

    first, codes = encoded_for_all()
    assert first == 12                          # 6 files x 2 clips, all encoded once
    again, codes_again = encoded_for_all()
    assert again == 0                           # a new run reads them from disk
    assert torch.equal(codes, codes_again)
    # change one file's content: only its clips are encoded again
    path = Path(cfg.data.paths[0]) / "clip_0.wav"
    x, sr = sf.read(path, dtype="float32")
    sf.write(path, x[::-1].copy(), sr)
    changed, _ = encoded_for_all()
    assert changed == 2
    # the edited file's old codes stay until the cache is over its limit; then the codes of
    # files no longer used go first, and this dataset's own are kept (nothing re-encoded)
    cache_dir = fam.datasets(loaded, cfg).cache.dir
    assert len(list(cache_dir.iterdir())) == 7  # 6 files + the edited file's old version
    import dataclasses
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, codes_cache_gb=1e-9))
    data = fam.datasets(loaded, cfg)
    assert "deleted the codes of 1 files used longest ago" in data.summary
    assert len(list(cache_dir.iterdir())) == 6
    data.train_batch(torch.tensor(list(range(data.n_train))), seed=0)
    data.val_batch(0, 100)
    assert data.encoded == 0
