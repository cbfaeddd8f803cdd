"""The shipped audio starter (resources/starters/audio): it loads through the audio family
and the plain transformers classes, its codec rebuilds held-out sounds measurably better
than silence, its prompts make different sounds, its numbers match its card; and its build
script runs end to end on a few files with tiny budgets."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from studio.data.audio import AudioSpec, load_audio_corpus
from studio.models.base import get_family
from studio.starters import audio as builder

ROOT = Path(__file__).resolve().parent.parent
STARTER = ROOT / "resources" / "starters" / "audio"
REFERENCE = ROOT / "resources" / "reference" / "music"
DEMO_LOOPS = ROOT / "resources" / "demo" / "loops"

needs_starter = pytest.mark.skipif(not (STARTER / "config.json").is_file(),
                                   reason="the audio starter is not built")


@pytest.fixture(scope="module")
def info() -> dict:
    return json.loads((STARTER / "starter_info.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def loaded():
    return get_family("audio").load("starter:audio", device="cpu")


def _clips(folder: Path, sample_rate: int) -> torch.Tensor:
    spec = AudioSpec(sample_rate=sample_rate, channels=1, clip_seconds=2.0, overlap=0.0,
                     loudness_db=-20.0)
    corpus = load_audio_corpus(folder, spec)
    x = torch.zeros(len(corpus.clips), 1, spec.clip_samples)
    for k, c in enumerate(corpus.clips):
        a = torch.from_numpy(c.audio())
        x[k, :, :a.shape[-1]] = a[:, :spec.clip_samples]
    return x


@needs_starter
def test_starter_loads_and_its_parts_match_the_card(loaded, info):
    from transformers import AutoProcessor, MusicgenForConditionalGeneration

    model = loaded.model
    assert sum(p.numel() for p in model.parameters()) == info["parameters"]
    assert model.config.audio_encoder.sampling_rate == info["audio"]["sample_rate"]
    assert model.decoder.config.num_codebooks == info["audio"]["codebooks"]
    plain = MusicgenForConditionalGeneration.from_pretrained(STARTER)
    processor = AutoProcessor.from_pretrained(STARTER)
    assert processor.feature_extractor.sampling_rate == info["audio"]["sample_rate"]
    assert sum(p.numel() for p in plain.parameters()) == info["parameters"]
    card = (STARTER / "STARTER.md").read_text(encoding="utf-8")
    c = info["codec"]
    assert f"signal-to-noise ratio {c['snr_db']:.1f} dB" in card
    assert f"{info['decoder']['val_code_loss_after']:.2f}" in card
    # the decoder predicts held-out codes clearly better than guessing, and the kept
    # weights are the best held-out step, not the memorised last one
    d = info["decoder"]
    assert d["val_code_loss_after"] < d["uniform_code_loss"] - 0.5, d
    assert d["val_code_loss_after"] == min(v for _, v in d["val_curve"])
    assert d["kept_step"] in [s for s, _ in d["val_curve"]]
    # the loops demo's files were left out of pre-training, so the demo teaches it
    assert sorted(info["data"]["excluded"]) == sorted(
        p.name for p in DEMO_LOOPS.glob("*.flac"))
    for name, path in info["samples"].items():
        assert (STARTER / path).is_file(), name
    for desc in info["roundtrips"]:
        stem = f"samples/roundtrip_{desc.replace(' ', '_')}"
        assert (STARTER / f"{stem}_original.wav").is_file()
        assert (STARTER / f"{stem}_codec.wav").is_file()


@needs_starter
def test_the_codec_rebuilds_sounds_it_never_trained_on_better_than_silence(loaded, info):
    """The demo loops were left out of the starter's pre-training: their round trip
    through the shipped codec keeps their spectrum (log-spectral distance well under what
    silence scores) and some of the waveform (SNR above 0 dB)."""
    codec = loaded.model.audio_encoder
    x = _clips(DEMO_LOOPS, info["audio"]["sample_rate"])
    assert len(x) >= 10
    with torch.no_grad():
        codes = codec.encode(x).audio_codes
        y = codec.decode(codes, [None])[0][..., :x.shape[-1]]
    snr = builder.snr_db(y, x)
    lsd = builder.log_spectral_distance(y, x)
    silence = builder.log_spectral_distance(torch.zeros_like(x), x)
    assert snr > 1.0, snr
    assert lsd < silence - 5.0, (lsd, silence)
    # the codes are varied, not a collapsed codebook
    used = [int(codes[0, :, k].unique().numel()) for k in range(codes.shape[2])]
    assert min(used) >= 32, used


@needs_starter
def test_prompts_make_audible_different_sounds(loaded, info):
    from types import SimpleNamespace

    fam = get_family("audio")
    scfg = SimpleNamespace(guidance_scale=3.0, temperature=1.0, top_k=50, top_p=1.0)
    prompts = ["bass drum kick", "ambient pad"]
    waves = fam.generate(loaded, prompts, [0, 0], 1.0, scfg)
    sounds = [builder.describe_sound(w, info["audio"]["sample_rate"]) for w in waves]
    for s in sounds:
        assert s["rms_dbfs"] > -45, sounds  # audible, not a near-silent hum
    kick, pad = waves
    assert not np.allclose(kick, pad, atol=1e-3)


def test_describe_sound_measures_level_centroid_and_swing():
    sr = 8000
    t = np.arange(sr) / sr
    tone = 0.1 * np.sin(2 * np.pi * 500 * t)
    d = builder.describe_sound(tone, sr)
    assert d["rms_dbfs"] == pytest.approx(20 * math.log10(0.1 / math.sqrt(2)), abs=0.2)
    assert d["centroid_hz"] == pytest.approx(500, abs=10)
    assert d["level_swing_db"] < 1
    bursts = tone * (np.arange(sr) % 2000 < 400)
    assert builder.describe_sound(bursts, sr)["level_swing_db"] > 20
    x = torch.from_numpy(tone).float()
    assert builder.snr_db(torch.zeros_like(x), x) == pytest.approx(0.0, abs=1e-6)
    assert builder.snr_db(0.9 * x, x) == pytest.approx(20.0, abs=0.01)  # error 0.1 x x


def test_build_script_runs_end_to_end_on_a_few_files(tmp_path):
    """The real recipe with tiny budgets on the eight reference samples: a folder that
    MusicgenForConditionalGeneration loads, its card, samples and round trips."""
    from transformers import MusicgenForConditionalGeneration

    parser = argparse.ArgumentParser()
    builder.add_arguments(parser)
    out = tmp_path / "starter"
    args = parser.parse_args(["--data", str(REFERENCE), "--out", str(out),
                              "--codec-minutes", "0.05", "--decoder-minutes", "0.03",
                              "--codec-batch", "4", "--batch-size", "4", "--val-every", "4",
                              "--sample-seconds", "0.5", "--exclude"])
    args.argv = ["build", "audio", "--codec-minutes", "0.05"]
    info = builder.build(args)
    model = MusicgenForConditionalGeneration.from_pretrained(out)
    assert sum(p.numel() for p in model.parameters()) == info["parameters"]
    assert info["data"]["files"] >= 6 and info["data"]["excluded"] == []  # usable ones
    assert info["codec"]["steps"] >= 1 and info["decoder"]["steps"] >= 1
    assert set(info["samples"]) == set(builder.SAMPLE_PROMPTS)
    for path in info["samples"].values():
        assert sf.info(out / path).samplerate == 8000
    assert info["roundtrips"]  # one per held-out description
    card = (out / "STARTER.md").read_text(encoding="utf-8")
    assert "python -m studio.starters build audio --codec-minutes 0.05" in card
    assert not (tmp_path / ".tmp-starter").exists()
    d = info["decoder"]
    assert d["val_code_loss_after"] <= d["val_code_loss_before"]
    assert d["val_curve"][0] == (0, d["val_code_loss_before"])

    # a second build reuses that codec (only the text encoder and decoder train again)
    again = tmp_path / "again"
    args2 = parser.parse_args(["--data", str(REFERENCE), "--out", str(again),
                               "--codec-from", str(out), "--decoder-minutes", "0.02",
                               "--batch-size", "4", "--val-every", "4", "--val-steps", "2",
                               "--sample-seconds", "0.5", "--exclude"])
    info2 = builder.build(args2)
    reused = MusicgenForConditionalGeneration.from_pretrained(again)
    for (name, a), b in zip(model.audio_encoder.state_dict().items(),
                            reused.audio_encoder.state_dict().values()):
        assert torch.equal(a, b), name
    assert info2["codec"]["reused_from"] == str(out)
    assert info2["codec"]["steps"] == info["codec"]["steps"]  # the record travels with it
    assert info2["codec"]["snr_db"] == info["codec"]["snr_db"]
