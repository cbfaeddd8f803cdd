"""The dataset scan (studio.data.scan): kinds, metadata, thumbnails, problems, duplicates,
captions, streaming, cancellation, and the split preview."""

from __future__ import annotations

import io
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from studio.data import scan as scanmod
from studio.data.scan import ERROR, WARNING, scan, scan_file, split_preview
from studio.data.text import _split_indices


def make_dataset(root: Path, shared: Path) -> Path:
    """A folder with one of everything the browser must handle."""
    d = root / "my data"
    (d / "images").mkdir(parents=True)
    (d / "audio").mkdir()
    (d / "texts").mkdir()
    for name in ("astronaut.png", "horse.png", "rocket.jpg", "camera.png"):
        shutil.copy(shared / "images" / name, d / "images" / name)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(d / "images" / "red.png")
    Image.new("L", (8, 8), 128).save(d / "images" / "tiny.png")
    (d / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)
    (d / "images" / "red.txt").write_text("a red rectangle\n", encoding="utf-8")
    for name in ("ambi_choir.flac", "bd_808.flac", "elec_tick.flac"):
        shutil.copy(shared / "audio" / "music" / name, d / "audio" / name)
    (d / "audio" / "bd_808.txt").write_text("an 808 kick", encoding="utf-8")
    shutil.copy(shared / "text" / "genesis.txt", d / "texts" / "genesis.txt")
    shutil.copy(shared / "text" / "genesis.txt", d / "texts" / "genesis copy.txt")
    (d / "texts" / "empty.txt").write_bytes(b"")
    (d / "texts" / "latin1.txt").write_bytes("café au lait, s'il vous plaît".encode("latin-1"))
    (d / "texts" / "notes.md").write_text("# Notes\n\nSome words about the thing.\n", "utf-8")
    (d / "texts" / "records.jsonl").write_text(
        '{"text": "first record of some length"}\n{"text": "second record here"}\n'
        '{"body": "no text field"}\n', encoding="utf-8")
    (d / "texts" / "data.xyz").write_bytes(b"\x00\x01\x02")
    uni = d / "ünï côde folder"
    uni.mkdir()
    (uni / "日本 語 notes.txt").write_text("Unicode names with spaces are fine here.\n", "utf-8")
    (d / ".hidden.txt").write_text("never listed", encoding="utf-8")
    return d


@pytest.fixture
def dataset(tmp_path, shared_data) -> Path:
    return make_dataset(tmp_path, shared_data)


def scan_all(*paths, **kw) -> dict[str, scanmod.ScanItem]:
    return {os.path.relpath(s.item.path, paths[0]) if os.path.isdir(paths[0]) else s.item.name:
            s.item for s in scan([str(p) for p in paths], **kw)}


def test_kinds_metadata_and_problems(dataset):
    items = scan_all(dataset)
    assert ".hidden.txt" not in items
    # captions are attached to their media, not listed as text documents
    assert "images/red.txt" not in items and "audio/bd_808.txt" not in items

    astro = items["images/astronaut.png"]
    assert (astro.kind, astro.width, astro.height, astro.problem) == ("image", 512, 512, "")
    thumb = Image.open(io.BytesIO(astro.thumbnail))
    assert max(thumb.size) == scanmod.THUMB_SIZE and thumb.format == "JPEG"
    horse = items["images/horse.png"]  # RGBA keeps its transparency
    assert Image.open(io.BytesIO(horse.thumbnail)).format == "PNG"
    assert items["images/rocket.jpg"].width == 640
    red = items["images/red.png"]
    assert red.caption == "a red rectangle" and red.caption_path.endswith("red.txt")

    corrupt = items["images/corrupt.png"]
    assert corrupt.severity == ERROR and "unreadable image" in corrupt.problem
    tiny = items["images/tiny.png"]
    assert tiny.severity == WARNING and "too small" in tiny.problem and tiny.usable

    choir = items["audio/ambi_choir.flac"]
    assert choir.kind == "audio" and choir.sample_rate == 44100 and choir.channels == 2
    assert choir.duration == pytest.approx(sf.info(str(dataset / "audio/ambi_choir.flac")).duration)
    assert choir.envelope.shape == (scanmod.ENVELOPE_BINS, 2)
    assert (choir.envelope[:, 0] <= choir.envelope[:, 1]).all()
    assert items["audio/bd_808.flac"].caption == "an 808 kick"
    assert "too short" in items["audio/elec_tick.flac"].problem

    gen = items["texts/genesis.txt"]
    assert gen.kind == "text" and gen.snippet.startswith("In the beginning")
    assert gen.tokens > 100 and not gen.tokens_exact and gen.documents == 1
    dup = items["texts/genesis copy.txt"]
    # "genesis copy.txt" sorts before "genesis.txt": it is the original
    assert gen.severity == WARNING and gen.duplicate_of == dup.path
    assert "duplicate of" in gen.problem and dup.problem == ""
    assert items["texts/empty.txt"].problem == "empty file"
    # (was: an ERROR "not valid UTF-8"; legacy encodings are now read, with a note)
    assert "read as Latin-1" in items["texts/latin1.txt"].problem
    assert items["texts/latin1.txt"].severity == WARNING
    rec = items["texts/records.jsonl"]
    assert rec.documents == 2 and rec.severity == WARNING and "no \"text\" field" in rec.problem
    assert items["texts/notes.md"].problem == ""
    xyz = items["texts/data.xyz"]
    assert xyz.kind == "unsupported" and xyz.severity == ERROR and "unsupported" in xyz.problem
    uni = items[os.path.join("ünï côde folder", "日本 語 notes.txt")]
    assert uni.problem == "" and uni.kind == "text"


def test_same_reading_as_the_text_engine(dataset):
    """The browser flags exactly the text files the engine would skip."""
    from studio.data.text import read_text_corpus

    for caption in ("images/red.txt", "audio/bd_808.txt"):  # captions: not documents here
        (dataset / caption).unlink()
    corpus = read_text_corpus([dataset])
    used = {Path(p).resolve() for p in corpus.files}
    items = [s.item for s in scan([str(dataset)]) if s.item.kind == "text"]
    # a duplicate is usable (a warning) but only its first copy is read
    usable = {Path(it.path).resolve() for it in items if it.usable and not it.duplicate_of}
    assert usable == used
    docs = sum(it.documents for it in items if it.usable and not it.duplicate_of)
    assert docs == len(corpus.documents)


def test_exact_token_counts_with_a_tokenizer(dataset):
    counter = lambda text: len(text.split())  # noqa: E731 - a "tokenizer" of words
    items = scan_all(dataset / "texts" / "notes.md", count_tokens=counter)
    item = items["notes.md"]
    assert item.tokens_exact and item.tokens == len("# Notes\n\nSome words about the thing.\n".split())


def test_token_counter_from_a_model_folder(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "hello": 1, "world": 2}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    count = scanmod.token_counter_for(str(tmp_path))
    assert count("hello world hello") == 3
    assert scanmod.token_counter_for(str(tmp_path / "nothing")) is None
    assert scanmod.token_counter_for("") is None


def test_audio_envelope_reads_in_blocks(tmp_path, monkeypatch):
    sr = 8000
    t = np.arange(sr * 3) / sr
    signal = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    signal[sr:sr * 2] = 0.0  # a silent middle second
    path = tmp_path / "tone.wav"
    sf.write(path, signal, sr)
    monkeypatch.setattr(scanmod, "_AUDIO_BLOCK", 1000)  # many blocks, bins straddling them
    env = scanmod.audio_envelope(str(path), bins=30)
    assert env.shape == (30, 2)
    assert env[:10, 1].max() == pytest.approx(0.5, abs=1e-3)
    assert np.allclose(env[11:19], 0.0)
    spec, rate, duration = scanmod.audio_spectrogram(str(path), columns=50, n_fft=256)
    assert rate == sr and duration == pytest.approx(3.0)
    assert spec.shape == (50, 129)
    peak_bin = int(spec[:10].mean(axis=0).argmax())
    assert abs(peak_bin * sr / 256 - 220) < sr / 256  # the 220 Hz tone


def test_silent_audio_is_flagged(tmp_path):
    sf.write(tmp_path / "quiet.wav", np.zeros(4000, np.float32), 8000)
    item = scan_file(str(tmp_path / "quiet.wav"))
    assert item.severity == WARNING and "silent" in item.problem


def test_decompression_bomb_guard(tmp_path, monkeypatch):
    Image.new("RGB", (300, 300)).save(tmp_path / "big.png")
    monkeypatch.setattr(scanmod, "MAX_IMAGE_PIXELS", 200 * 200)
    item = scan_file(str(tmp_path / "big.png"))
    assert item.severity == ERROR and "too large" in item.problem and not item.thumbnail


def test_missing_path_and_broken_link(tmp_path):
    os.symlink(tmp_path / "nowhere.png", tmp_path / "broken.png")
    items = [s.item for s in scan([str(tmp_path), str(tmp_path / "gone")])]
    by_name = {it.name: it for it in items}
    assert "broken link" in by_name["broken.png"].problem
    assert by_name["gone"].problem == "not found"


def test_symlink_loop_terminates(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.txt").write_text("some text in a loop folder", "utf-8")
    os.symlink(tmp_path / "a", tmp_path / "a" / "b" / "back")
    items = [s.item for s in scan([str(tmp_path)])]
    assert [it.name for it in items] == ["x.txt"]


def test_streams_and_cancels(tmp_path, monkeypatch):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(10_000):
        (folder / f"{i:05d}.txt").write_bytes(b"")
    calls = []
    real = scanmod.scan_file
    monkeypatch.setattr(scanmod, "scan_file", lambda *a, **k: calls.append(1) or real(*a, **k))
    cancel = threading.Event()
    it = scan([str(folder)], cancel=cancel)
    first = next(it)
    # the first result comes before the other 9,999 files are read
    assert first.done == 1 and first.total == 10_000 and len(calls) == 1
    for step in it:
        if step.done == 50:
            cancel.set()
    assert len(calls) == 50  # stopped at the next file boundary


def test_cancel_during_listing(tmp_path):
    cancel = threading.Event()
    cancel.set()
    (tmp_path / "x.txt").write_text("hello there world", "utf-8")
    assert list(scan([str(tmp_path)], cancel=cancel)) == []


def test_write_caption_is_atomic_and_read_back(tmp_path):
    img = tmp_path / "pic.png"
    Image.new("RGB", (40, 40)).save(img)
    path = scanmod.write_caption(str(img), "  a black square  ")
    assert Path(path).read_text("utf-8") == "a black square\n"
    assert not Path(path + ".tmp").exists()
    assert scan_file(str(img), caption_path=path).caption == "a black square"


@pytest.mark.parametrize("n,frac,seed", [(10, 0.1, 0), (7, 0.3, 5), (2, 0.5, 1), (50, 0.2, 42)])
def test_split_preview_matches_the_engine(n, frac, seed):
    p = split_preview(n, frac, seed)
    train, val = _split_indices(n, frac, seed)
    assert p.val_indices == tuple(val) and (p.train, p.val) == (len(train), len(val))
    assert p.train + p.val == n and p.val >= 1


def test_split_preview_edge_cases():
    assert split_preview(0, 0.1, 0).documents == 0
    assert split_preview(5, 0.0, 0).val == 0
    one = split_preview(1, 0.1, 0)
    assert one.by_block and "blocks" in one.describe()
    assert split_preview(10, 0.1, 3).describe() == "9 train / 1 validation documents (seed 3)"
