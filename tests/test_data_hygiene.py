"""Data hygiene: duplicate files are trained on once (and named), text in legacy encodings
is read with a note saying which encoding was assumed, and a file whose name lies about
its content is called what it is."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.data.scan import ERROR, WARNING, scan, scan_file
from studio.data.text import build_text_splits, describe, read_text_corpus

WESTERN = {
    "cp1252": ("Windows-1252", "\u201cSmart quotes\u201d \u2014 a caf\u00e9\u2019s cr\u00e8me "
                               "br\u00fbl\u00e9e\u2026 d\u00e9j\u00e0 vu, na\u00efve fa\u00e7ade.\n"),
    "mac_roman": ("MacRoman", "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, d\u00e9j\u00e0 vu, "
                              "na\u00efve fa\u00e7ade \u2014 \u201cquoted\u201d \u2022 \u0153uvre\n"),
    "latin_1": ("Latin-1", "Il \u00e9tait une fois, \u00e0 Gen\u00e8ve, un gar\u00e7on nomm\u00e9 "
                           "Fran\u00e7ois. \u00bd \u00b0C \u00b1\n"),
}


def encode(s: str) -> list[int]:
    return list(s.encode("utf-8"))


# -- duplicates ---------------------------------------------------------------------------


def test_a_duplicate_text_file_is_trained_on_once_and_named(tmp_path):
    texts = [f"document number {i} " * 40 for i in range(6)]
    for i, t in enumerate(texts):
        (tmp_path / f"{i}.txt").write_text(t)
    shutil.copy(tmp_path / "2.txt", tmp_path / "copy_of_2.txt")
    corpus = read_text_corpus([tmp_path])
    assert len(corpus.documents) == 6
    dup = [s for s in corpus.skipped if s.path.endswith("copy_of_2.txt")]
    assert len(dup) == 1 and "duplicate of" in dup[0].reason
    assert str(tmp_path / "2.txt") in dup[0].reason
    # every split: the text is on one side only
    for seed in range(5):
        s = build_text_splits(corpus, encode, None, 16, 0.3, seed)
        train = bytes(np.asarray(s.train).astype(np.uint8).ravel())
        val = bytes(np.asarray(s.val).astype(np.uint8).ravel())
        marker = b"number 2 document"
        assert not (marker in train and marker in val)


def test_duplicate_images_and_audio_are_kept_once(tmp_path):
    from PIL import Image

    from studio.data.audio import AudioSpec, load_audio_corpus
    from studio.data.image import load_image_corpus

    for name, colour in (("a.png", "red"), ("b.png", "blue")):
        Image.new("RGB", (40, 40), colour).save(tmp_path / name)
    shutil.copy(tmp_path / "a.png", tmp_path / "c.png")
    images = load_image_corpus([tmp_path], 32)
    assert len(images.images) == 2
    assert [Path(s.path).name for s in images.skipped] == ["c.png"]
    assert "duplicate of" in images.skipped[0].reason

    import soundfile as sf
    audio = tmp_path / "audio"
    audio.mkdir()
    t = np.linspace(0, 1, 16000, dtype=np.float32)
    sf.write(audio / "a.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 16000)
    sf.write(audio / "b.wav", 0.5 * np.sin(2 * np.pi * 330 * t), 16000)
    shutil.copy(audio / "a.wav", audio / "c.wav")
    corpus = load_audio_corpus([audio], AudioSpec(16000, clip_seconds=0.5))
    assert [Path(f.path).name for f in corpus.files] == ["a.wav", "b.wav"]
    assert "duplicate of" in corpus.skipped[0].reason


def test_the_scan_says_a_duplicate_is_left_out(tmp_path):
    (tmp_path / "a.txt").write_text("the same words, twice over")
    (tmp_path / "b.txt").write_text("the same words, twice over")
    items = [s.item for s in scan([tmp_path])]
    assert items[1].severity == WARNING and "only one copy is trained on" in items[1].problem


# -- legacy encodings ---------------------------------------------------------------------


@pytest.mark.parametrize("codec", sorted(WESTERN))
def test_legacy_encodings_are_decoded_with_a_note(tmp_path, codec):
    name, text = WESTERN[codec]
    (tmp_path / "old.txt").write_bytes((text * 3).encode(codec))
    (tmp_path / "new.txt").write_text("plain UTF-8 text")
    corpus = read_text_corpus([tmp_path])
    assert not corpus.skipped
    assert text * 3 in [d.text for d in corpus.documents]
    assert len(corpus.notes) == 1 and name in corpus.notes[0].reason
    assert name in describe(corpus)          # the run's log says which encoding
    item = scan_file(str(tmp_path / "old.txt"))
    assert item.severity == WARNING and name in item.problem
    assert item.snippet.startswith(text[:20])


def test_a_large_legacy_file_is_streamed_with_its_encoding(tmp_path, monkeypatch):
    import studio.data.scan as scanmod
    import studio.data.text as textmod

    name, text = WESTERN["cp1252"]
    body = ("Plain ASCII lines come first in this archive.\n" * 3000 + text * 50)
    (tmp_path / "big.txt").write_bytes(body.encode("cp1252"))
    monkeypatch.setattr(textmod, "LARGE_FILE_BYTES", 10_000)
    monkeypatch.setattr(scanmod, "TEXT_SAMPLE_BYTES", 10_000)
    corpus = read_text_corpus([tmp_path])
    assert corpus.documents[0].text == body
    assert name in corpus.notes[0].reason


# -- names that lie -----------------------------------------------------------------------


def test_a_text_file_named_mp3_is_called_a_text_file(tmp_path):
    from studio.data.audio import AudioSpec, load_audio_corpus

    (tmp_path / "song.mp3").write_text("these are lyrics, not audio\n" * 40)
    item = scan_file(str(tmp_path / "song.mp3"))
    assert item.severity == ERROR
    assert "text file" in item.problem and "does not exist" not in item.problem
    with pytest.raises(Exception) as err:
        load_audio_corpus([tmp_path], AudioSpec(16000))
    assert "text file" in str(err.value) and "does not exist" not in str(err.value)
