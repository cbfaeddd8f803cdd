"""Audio datasets: every odd file is read (and converted) or skipped with a reason, long
files become overlapping clips, silence is dropped, augmentation is seeded, and the codes
cache is keyed by the file's content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from studio.core.errors import DataError
from studio.data.audio import (
    AudioAugment,
    AudioSpec,
    CodesCache,
    augment_clip,
    collect_audio,
    describe_file,
    load_audio_corpus,
    pitch_shift,
    read_clips,
    split_clips,
)
from tests.make_hostile_audio import SR, make_hostile_audio, tone


@pytest.fixture
def odd_folder(tmp_path) -> Path:
    """One file of each kind of trouble the issue names, and a normal one."""
    return make_hostile_audio(tmp_path / "odd")


def test_each_odd_file_is_read_or_skipped_with_a_reason(odd_folder):
    spec = AudioSpec(sample_rate=SR, channels=1, clip_seconds=1.0)
    corpus = load_audio_corpus(odd_folder, spec)
    read = {Path(f.path).name for f in corpus.files}
    assert read == {"normal.flac", "eight_bit.wav", "hi_res.wav", "surround.wav",
                    "mp3_named.wav"}
    skipped = {Path(s.path).name: s.reason for s in corpus.skipped}
    assert set(skipped) == {"blip.wav", "silence.wav", "truncated.wav", "notes.wav",
                            "empty.ogg"}
    assert "too short (50 ms" in skipped["blip.wav"]
    assert "silent" in skipped["silence.wav"] and "remove it" in skipped["silence.wav"]
    assert "not readable audio" in skipped["truncated.wav"]
    assert "re-export" in skipped["truncated.wav"]
    assert "is a text file, not audio" in skipped["notes.wav"]   # (was: "not readable audio")
    assert "empty (0 bytes)" in skipped["empty.ogg"]
    notes = {}
    for n in corpus.notes:
        notes.setdefault(Path(n.path).name, []).append(n.reason)
    assert any("8-bit" in r for r in notes["eight_bit.wav"])
    assert any("resampled from 96000 Hz to 8000 Hz" in r for r in notes["hi_res.wav"])
    assert any("6 channels mixed to 1" in r for r in notes["surround.wav"])
    assert any("MP3 audio despite its .wav name" in r for r in notes["mp3_named.wav"])
    # every clip is at the codec's rate and channel count, within [-1, 1], never silent
    for c in corpus.clips:
        assert c.pcm.shape[0] == 1 and c.pcm.dtype == np.int16
        assert 0 < c.samples <= spec.clip_samples
        assert np.abs(c.audio()).max() > 0.01
    # the 96 kHz file became 1.5 s at 8 kHz: one full clip and a half clip
    hi = [c for c in corpus.clips if corpus.files[c.file].path.endswith("hi_res.wav")]
    assert [c.samples for c in hi] == [SR, SR // 2]


def test_nothing_usable_names_the_reasons(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    sf.write(d / "silence.wav", np.zeros((SR, 1), np.float32), SR)
    (d / "x.mp3").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError) as e:
        load_audio_corpus(d, AudioSpec(sample_rate=SR))
    assert "no usable audio among 2 files" in str(e.value)
    assert "silence.wav: is silent" in str(e.value)
    with pytest.raises(DataError, match="does not exist"):
        load_audio_corpus(tmp_path / "nowhere", AudioSpec(sample_rate=SR))


def test_ten_minutes_become_overlapping_clips_read_piecewise(tmp_path):
    path = tmp_path / "long.wav"
    minutes = 10
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:
        for k in range(minutes * 6):  # 10 s blocks: never the whole file in memory
            f.write(tone(10.0, f0=200 + 10 * k))
    clips, notes, silent, info = read_clips(path, AudioSpec(sample_rate=SR, clip_seconds=5.0,
                                                            overlap=0.5))
    assert info.duration == pytest.approx(600.0)
    assert len(clips) == 240                  # a new clip every 2.5 s
    assert [s for s, _ in clips[:3]] == [0.0, 2.5, 5.0]
    assert all(x.shape == (1, 5 * SR) for _, x in clips[:-1])
    assert clips[-1][0] == 597.5 and clips[-1][1].shape == (1, 2.5 * SR)  # the tail
    assert notes == [] and silent == 0


def test_loudness_is_normalised_and_silent_clips_dropped(tmp_path):
    quiet = np.concatenate([tone(1.0, amp=0.01), np.zeros((SR, 1), np.float32),
                            tone(1.0, amp=0.01)])
    sf.write(tmp_path / "quiet.wav", quiet, SR)
    clips, _, silent, _ = read_clips(tmp_path / "quiet.wav",
                                     AudioSpec(sample_rate=SR, clip_seconds=1.0,
                                               loudness_db=-20.0))
    assert silent == 1 and len(clips) == 2
    # the file's RMS is set to -20 dBFS overall: the tone parts are a little louder
    rms = [20 * np.log10(np.sqrt(np.mean(x ** 2))) for _, x in clips]
    assert all(-20 < r < -16 for r in rms)
    raw, _, _, _ = read_clips(tmp_path / "quiet.wav",
                              AudioSpec(sample_rate=SR, clip_seconds=1.0, loudness_db=0.0))
    assert np.abs(raw[0][1]).max() == pytest.approx(0.01, rel=0.02)  # 0: levels kept


def test_descriptions_come_from_sidecars_or_the_folder(tmp_path):
    d = tmp_path / "drum_loops"
    d.mkdir()
    sf.write(d / "a.wav", tone(0.5), SR)
    sf.write(d / "b.wav", tone(0.5), SR)
    (d / "b.txt").write_text("  funky\nbreakbeat  ", encoding="utf-8")
    (d / "readme.md").write_text("hello", encoding="utf-8")
    files, skipped = collect_audio(d)
    assert [f.name for f in files] == ["a.wav", "b.wav"]           # b.txt is a sidecar
    assert [Path(s.path).name for s in skipped] == ["readme.md"]
    assert "unsupported file type .md" in skipped[0].reason
    assert describe_file(d / "a.wav") == "drum loops"
    assert describe_file(d / "b.wav") == "funky breakbeat"


def test_split_is_by_file_so_overlapping_clips_never_straddle(tmp_path):
    for i in range(5):
        sf.write(tmp_path / f"f{i}.wav", tone(3.0, f0=300 + 50 * i), SR)
    corpus = load_audio_corpus(tmp_path, AudioSpec(sample_rate=SR, clip_seconds=1.0,
                                                   overlap=0.5))
    train, val = split_clips(corpus, 0.2, seed=0)
    assert val and train
    assert not ({corpus.clips[i].file for i in train} & {corpus.clips[i].file for i in val})
    assert split_clips(corpus, 0.2, seed=0) == (train, val)


def test_augmentation_is_seeded_and_does_what_it_says():
    x = torch.from_numpy(tone(1.0).T.copy())
    off = AudioAugment()
    assert not off.active
    y, changed = augment_clip(x, SR, off, np.random.default_rng(0))
    assert not changed and torch.equal(x, y)
    gain = AudioAugment(gain_db=6.0, gain_p=1.0)
    a, ch_a = augment_clip(x, SR, gain, np.random.default_rng(1))
    b, _ = augment_clip(x, SR, gain, np.random.default_rng(1))
    assert ch_a and torch.equal(a, b)
    ratio = float(a.abs().max() / x.abs().max())
    assert 0.5 - 1e-3 <= ratio <= 2.0 + 1e-3 and abs(ratio - 1) > 1e-4
    shift, _ = augment_clip(x, SR, AudioAugment(shift_seconds=0.1, shift_p=1.0),
                            np.random.default_rng(2))
    assert sorted(shift[0].tolist()) == pytest.approx(sorted(x[0].tolist()))  # circular
    noisy, _ = augment_clip(x, SR, AudioAugment(noise_snr_db=20.0, noise_p=1.0),
                            np.random.default_rng(3))
    snr = 10 * torch.log10(x.pow(2).mean() / (noisy - x).pow(2).mean())
    assert float(snr) == pytest.approx(20.0, abs=1.0)
    # pitch: a 440 Hz tone up two semitones peaks near 494 Hz, same length
    up = pitch_shift(x, SR, 2.0)
    assert up.shape == x.shape
    peak = float(torch.fft.rfft(up[0]).abs().argmax()) * SR / x.shape[-1]
    assert peak == pytest.approx(440 * 2 ** (2 / 12), abs=6)


def test_codes_cache_round_trip_and_keys(tmp_path):
    spec = {"sample_rate": SR, "clip_seconds": 1.0}
    cache = CodesCache(tmp_path, {**spec, "codec": "abc"})
    assert cache.get("digest1", 0) is None
    codes = np.arange(12, dtype=np.int16).reshape(2, 6)
    cache.put("digest1", 0, codes)
    assert np.array_equal(cache.get("digest1", 0), codes)
    assert cache.get("digest2", 0) is None                 # other content: other key
    other = CodesCache(tmp_path, {**spec, "codec": "xyz"})
    assert other.get("digest1", 0) is None                 # other codec: other key
    assert not list(cache.dir.rglob(".tmp-*"))             # atomic writes leave no temp
