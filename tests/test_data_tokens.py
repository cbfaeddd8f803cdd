"""Large corpora: scanning reads a bounded sample, training tokenizes in a stream into an
on-disk token cache that the next run reuses, with progress and stop.

Memory is measured with tracemalloc (Python allocations: the decoded text, token lists and
arrays), which is deterministic enough to compare a small file with a four-times larger
one. No timing is asserted.
"""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from studio.data import progress
from studio.data.scan import scan_file
from studio.data.text import build_text_splits, read_text_corpus
from studio.data.tokens import TokenCache

EOS = 256
WORDS = ("the quick brown fox jumps over a lazy dog while seven wizards quietly hum "
         "beside forty jugs of liquid amber under the pale moon").split()


def encode(s: str) -> list[int]:
    return list(s.encode("utf-8"))


def make_text(path: Path, megabytes: float, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines, size = [], 0
    while size < megabytes * 1e6:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))) + ".\n"
        lines.append(line)
        size += len(line)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")
    return path


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def prepare(path: Path, cache_root: Path, encode_fn=encode, block=64):
    corpus = read_text_corpus([path])
    cache = TokenCache(cache_root, tokenizer="bytes-v1")
    return build_text_splits(corpus, encode_fn, EOS, block, 0.1, 0, cache=cache)


def test_scan_memory_does_not_grow_with_file_size(tmp_path):
    small = make_text(tmp_path / "small.txt", 1)
    large = make_text(tmp_path / "large.txt", 4, seed=1)
    p_small = peak_bytes(lambda: scan_file(str(small)))
    p_large = peak_bytes(lambda: scan_file(str(large)))
    assert p_large < 1.5 * p_small + 512 * 1024, (p_small, p_large)


def test_scan_of_a_large_file_estimates_from_a_sample(tmp_path):
    path = make_text(tmp_path / "large.txt", 4)
    item = scan_file(str(path))
    assert not item.tokens_exact
    words = len(path.read_text().split())
    assert 0.8 * words * 1.3 < item.tokens < 1.2 * (words * 1.3 + path.read_text().count("."))
    assert item.chars == pytest.approx(path.stat().st_size, rel=0.05)
    assert "estimated" in item.problem or item.problem == ""


def test_tokenizing_memory_does_not_grow_with_file_size(tmp_path):
    small = make_text(tmp_path / "small.txt", 1)
    large = make_text(tmp_path / "large.txt", 4, seed=1)
    p_small = peak_bytes(lambda: prepare(small, tmp_path / "c1"))
    p_large = peak_bytes(lambda: prepare(large, tmp_path / "c2"))
    # whole-text tokenizing holds every token as a Python int: ~4x more for 4x the text
    assert p_large < 1.5 * p_small + 1024 * 1024, (p_small, p_large)


def test_second_load_reads_the_cache_and_gives_the_same_blocks(tmp_path):
    path = make_text(tmp_path / "a.txt", 0.5)
    first = prepare(path, tmp_path / "cache")
    calls = []
    second = prepare(path, tmp_path / "cache", lambda s: calls.append(1) or encode(s))
    assert calls == []                       # nothing tokenized again
    assert np.array_equal(np.asarray(first.train), np.asarray(second.train))
    assert np.array_equal(np.asarray(first.val), np.asarray(second.val))
    assert second.train.dtype == np.int64 and second.train.shape[1] == 64


def test_cached_splits_match_the_in_memory_ones(tmp_path):
    a = make_text(tmp_path / "d" / "a.txt", 0.05)
    make_text(tmp_path / "d" / "b.txt", 0.05, seed=2)
    make_text(tmp_path / "d" / "c.txt", 0.05, seed=3)
    corpus = read_text_corpus([a.parent])
    plain = build_text_splits(corpus, encode, EOS, 32, 0.34, 5)
    cached = build_text_splits(corpus, encode, EOS, 32, 0.34, 5,
                               cache=TokenCache(tmp_path / "cache", tokenizer="bytes-v1"))
    assert plain.split_by == cached.split_by == "document"
    assert np.array_equal(plain.train, np.asarray(cached.train))
    assert np.array_equal(plain.val, np.asarray(cached.val))
    assert (plain.train_docs, plain.val_docs, plain.train_tokens, plain.val_tokens) == \
        (cached.train_docs, cached.val_docs, cached.train_tokens, cached.val_tokens)


def test_chunked_tokenizing_equals_whole_text_tokenizing(tmp_path):
    """Chunks end before a space between two words, where byte-level BPE pre-tokenizers
    (GPT-2 and kin) never join, so the chunked stream is the whole-text stream."""
    path = make_text(tmp_path / "a.txt", 0.3)
    text = path.read_text()
    s = build_text_splits(read_text_corpus([path]), encode, None, 16, 0.0, 0,
                          cache=TokenCache(tmp_path / "cache", tokenizer="bytes-v1"))
    whole = np.asarray(encode(text))[: len(s.train) * 16].reshape(-1, 16)
    assert np.array_equal(np.asarray(s.train), whole)


def test_another_tokenizer_or_an_edited_file_misses_the_cache(tmp_path):
    path = make_text(tmp_path / "a.txt", 0.05)
    prepare(path, tmp_path / "cache")
    calls = []
    counting = lambda s: calls.append(1) or encode(s)  # noqa: E731
    corpus = read_text_corpus([path])
    build_text_splits(corpus, counting, EOS, 64, 0.1, 0,
                      cache=TokenCache(tmp_path / "cache", tokenizer="other"))
    assert calls
    calls.clear()
    path.write_text(path.read_text() + "one more line.\n")
    prepare(path, tmp_path / "cache", counting)
    assert calls


def test_progress_is_reported_and_stop_is_honoured(tmp_path):
    path = make_text(tmp_path / "a.txt", 2)
    said: list[str] = []
    with progress.reporting(said.append, lambda: False):
        prepare(path, tmp_path / "cache")
    assert any("Tokenizing" in s for s in said), said

    polls = []
    with progress.reporting(said.append, lambda: polls.append(1) or len(polls) > 3):
        with pytest.raises(progress.DataStopped):
            prepare(path, tmp_path / "cache2")
    # a stopped run leaves no half-written entry that a later run would trust
    again = []
    prepare(path, tmp_path / "cache2", lambda s: again.append(1) or encode(s))
    assert again


def test_cache_is_capped_and_keeps_this_runs_entries(tmp_path):
    paths = [make_text(tmp_path / f"{i}.txt", 0.2, seed=i) for i in range(3)]

    def run(path, encode_fn=encode):
        cache = TokenCache(tmp_path / "cache", tokenizer="t", keep_bytes=2_000_000)
        build_text_splits(read_text_corpus([path]), encode_fn, EOS, 64, 0.1, 0, cache=cache)

    for p in paths:          # each run's own entries (tokens, packed blocks) take 2.4 MB
        run(p)
    entries = [e for key in (tmp_path / "cache").iterdir() for e in key.iterdir()]
    assert len(entries) == 2     # only the last run's: the others went to stay under 2 MB
    kept, gone = [], []
    run(paths[-1], lambda s: kept.append(1) or encode(s))
    run(paths[0], lambda s: gone.append(1) or encode(s))
    assert kept == [] and gone


def test_a_large_file_is_streamed_and_gives_the_same_tokens(tmp_path, monkeypatch):
    import studio.data.text as textmod
    from studio.data.text import FileDocument

    path = make_text(tmp_path / "a.txt", 0.3)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))     # line ends normalised
    whole = build_text_splits(read_text_corpus([path]), encode, EOS, 32, 0.1, 0)
    monkeypatch.setattr(textmod, "LARGE_FILE_BYTES", 50_000)
    monkeypatch.setattr(textmod, "_STREAM_BYTES", 4099)             # CRLF split across reads
    corpus = read_text_corpus([path])
    assert isinstance(corpus.documents[0], FileDocument)
    assert corpus.documents[0].text == path.read_text().replace("\r\n", "\n")
    streamed = build_text_splits(corpus, encode, EOS, 32, 0.1, 0,
                                 cache=TokenCache(tmp_path / "cache", tokenizer="bytes-v1"))
    assert np.array_equal(whole.train, np.asarray(streamed.train))
    assert np.array_equal(whole.val, np.asarray(streamed.val))
