"""Text dataset layer: finding files, decoding, jsonl/csv, splitting and packing."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.errors import DataError
from studio.data.text import (
    TEXT_EXTENSIONS,
    Document,
    TextCorpus,
    build_text_splits,
    collect_files,
    describe,
    read_text_corpus,
    split_documents,
)

EOS = 256
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"


def encode(s: str) -> list[int]:
    return list(s.encode("utf-8"))


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_bytes(data.encode("utf-8"))
    else:
        path.write_bytes(data)
    return path


def reasons(corpus: TextCorpus) -> dict[str, str]:
    return {Path(s.path).name: s.reason for s in corpus.skipped}


def corpus_of(*texts: str) -> TextCorpus:
    docs = [Document(f"doc{i}.txt", t) for i, t in enumerate(texts)]
    return TextCorpus(documents=docs, skipped=[], files=[d.path for d in docs])


# -- reading the four formats -------------------------------------------------------------


def test_reads_txt_md_jsonl_csv(tmp_path):
    write(tmp_path / "a.txt", "Shall I compare thee\r\nto a summer's day?\r\n")
    write(tmp_path / "b.md", "# Title\n\nSome *markdown*.\n")
    write(tmp_path / "c.jsonl", "\n".join(json.dumps({"text": t, "id": i})
                                          for i, t in enumerate(["one", "two\r\nlines"])) + "\n")
    write(tmp_path / "d.csv", 'id,text\n1,"first, with comma"\n2,"multi\nline ""quoted"""\n')
    corpus = read_text_corpus([tmp_path])
    got = [(Path(d.path).name, d.text, d.index) for d in corpus.documents]
    assert got == [
        ("a.txt", "Shall I compare thee\nto a summer's day?\n", 0),
        ("b.md", "# Title\n\nSome *markdown*.\n", 0),
        ("c.jsonl", "one", 1),
        ("c.jsonl", "two\nlines", 2),
        ("d.csv", "first, with comma", 1),
        ("d.csv", 'multi\nline "quoted"', 2),
    ]
    assert corpus.skipped == []
    assert [Path(f).name for f in corpus.files] == ["a.txt", "b.md", "c.jsonl", "d.csv"]
    assert TEXT_EXTENSIONS == (".txt", ".md", ".jsonl", ".csv")


def test_custom_text_field_and_csv_column(tmp_path):
    write(tmp_path / "r.jsonl", '{"body": "hello"}\n{"body": "world"}\n')
    write(tmp_path / "r.csv", "title,poem\nA,roses are red\n")
    corpus = read_text_corpus([tmp_path], text_field="body", csv_column="poem")
    assert [d.text for d in corpus.documents] == ["roses are red", "hello", "world"]


def test_folder_walk_nested_sorted_hidden_and_unsupported(tmp_path):
    write(tmp_path / "z.txt", "z")
    write(tmp_path / "b" / "deep" / "x.md", "x")
    write(tmp_path / "a.txt", "a")
    write(tmp_path / "b" / "photo.JPG", b"\xff\xd8\xff\xe0")
    write(tmp_path / "b" / "noext", "text but no extension")
    write(tmp_path / ".git" / "HEAD.txt", "hidden dir")
    write(tmp_path / ".secret.txt", "hidden file")
    write(tmp_path / "UPPER.TXT", "upper-case extension")
    files, skipped = collect_files([tmp_path])
    rel = [f.relative_to(tmp_path).as_posix() for f in files]
    assert rel == ["UPPER.TXT", "a.txt", "b/deep/x.md", "z.txt"]
    by_name = {Path(s.path).name: s.reason for s in skipped}
    assert set(by_name) == {"photo.JPG", "noext"}
    assert by_name["photo.JPG"] == ("unsupported file type .jpg; text datasets read "
                                    ".txt, .md, .jsonl, .csv")
    assert "(no extension)" in by_name["noext"]
    # deterministic: same answer twice
    assert collect_files([tmp_path])[0] == files


def test_explicit_files_dedup_and_unsupported(tmp_path):
    a = write(tmp_path / "a.txt", "a")
    pdf = write(tmp_path / "paper.pdf", b"%PDF-1.4")
    files, skipped = collect_files([a, tmp_path, str(pdf)])
    assert files == [a]                                   # a.txt read once
    # (was: named twice; the one walker reports a file reached twice once)
    assert [Path(s.path).name for s in skipped] == ["paper.pdf"]
    assert "unsupported file type .pdf" in skipped[0].reason


def test_missing_path_raises(tmp_path):
    with pytest.raises(DataError) as err:
        collect_files([tmp_path / "nope"])
    assert err.value.path.endswith("nope")
    assert "does not exist" in str(err.value)
    with pytest.raises(DataError, match="does not exist"):
        read_text_corpus([str(tmp_path / "nope.txt")])


def test_unicode_and_spaces_in_paths(tmp_path):
    p = write(tmp_path / "mes poèmes" / "été à Paris — 夏.txt", "Le soleil. 太陽。\n")
    corpus = read_text_corpus([tmp_path / "mes poèmes"])
    assert corpus.documents == [Document(str(p), "Le soleil. 太陽。\n", 0)]
    assert corpus.files == [str(p)]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_symlink_loop_terminates(tmp_path):
    root = tmp_path / "loop"
    write(root / "sub" / "poem.txt", "a poem")
    os.symlink(root, root / "sub" / "back")        # sub/back -> loop  (a cycle)
    os.symlink(root / "sub", root / "again")       # a second way into sub
    os.symlink(root / "self", root / "self")       # a link to itself
    corpus = read_text_corpus([root])
    assert [d.text for d in corpus.documents] == ["a poem"]
    assert any("broken link" in s.reason for s in corpus.skipped)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no fifos")
def test_fifo_is_skipped_not_read(tmp_path):
    write(tmp_path / "ok.txt", "fine")
    os.mkfifo(tmp_path / "pipe.txt")               # reading it would block forever
    corpus = read_text_corpus([tmp_path])
    assert [d.text for d in corpus.documents] == ["fine"]
    assert "not a regular file" in reasons(corpus)["pipe.txt"]


# -- decoding -----------------------------------------------------------------------------


def test_binary_files_skipped_with_reason(tmp_path):
    write(tmp_path / "image.txt", PNG)
    write(tmp_path / "nul.txt", b"abc\x00def" * 10)
    write(tmp_path / "zip.md", b"PK\x03\x04\x14\x00\x00\x00")
    write(tmp_path / "good.txt", "good")
    corpus = read_text_corpus([tmp_path])
    r = reasons(corpus)
    assert r["image.txt"].startswith("binary file, not text")
    assert "PNG" in r["image.txt"]
    assert r["nul.txt"].startswith("binary file, not text")
    assert "NUL" in r["nul.txt"]
    assert "ZIP" in r["zip.md"]
    assert [d.text for d in corpus.documents] == ["good"]


def test_latin1_read_with_a_note(tmp_path):
    # (was: skipped as "not valid UTF-8"; the issue asked for legacy encodings to be read)
    write(tmp_path / "latin.txt", "Caf\u00e9 cr\u00e8me".encode("latin-1"))
    write(tmp_path / "ok.txt", "ok")
    corpus = read_text_corpus([tmp_path])
    assert "latin.txt" not in reasons(corpus)
    assert "Caf\u00e9 cr\u00e8me" in [d.text for d in corpus.documents]
    assert [Path(n.path).name for n in corpus.notes] == ["latin.txt"]
    assert "Latin-1" in corpus.notes[0].reason


def test_bytes_no_encoding_explains_skipped_with_resave_fix(tmp_path):
    import random
    rng = random.Random(0)
    write(tmp_path / "noise.txt", b"ok " + bytes(rng.randrange(0x80, 0x100) for _ in range(2000)))
    write(tmp_path / "ok.txt", "ok")
    reason = reasons(read_text_corpus([tmp_path]))["noise.txt"]
    assert "not valid UTF-8" in reason
    assert "at offset 3" in reason
    assert "re-save it as UTF-8" in reason


def test_utf16_with_bom_read(tmp_path):
    text = "Sonnet 18 — \u00e9t\u00e9 \u590f\r\nline two\r\n"
    write(tmp_path / "le.txt", b"\xff\xfe" + text.encode("utf-16-le"))
    write(tmp_path / "be.txt", b"\xfe\xff" + text.encode("utf-16-be"))
    corpus = read_text_corpus([tmp_path])
    expected = "Sonnet 18 — \u00e9t\u00e9 \u590f\nline two\n"
    assert [d.text for d in corpus.documents] == [expected, expected]


def test_utf16_without_bom_explained(tmp_path):
    write(tmp_path / "u16.txt", "plain ascii words".encode("utf-16-le"))
    write(tmp_path / "ok.txt", "ok")
    reason = reasons(read_text_corpus([tmp_path]))["u16.txt"]
    assert "UTF-16" in reason and "re-save it as UTF-8" in reason


def test_utf8_bom_stripped_and_cr_normalised(tmp_path):
    write(tmp_path / "bom.txt", b"\xef\xbb\xbfhello\rold mac\r\nwindows\n")
    write(tmp_path / "bom.csv", b"\xef\xbb\xbftext,n\r\nrow one,1\r\n")
    write(tmp_path / "bom.jsonl", b'\xef\xbb\xbf{"text": "rec"}\r\n')
    corpus = read_text_corpus([tmp_path])
    assert [d.text for d in corpus.documents] == ["row one", "rec", "hello\nold mac\nwindows\n"]
    assert not corpus.skipped


def test_empty_and_whitespace_files_skipped(tmp_path):
    write(tmp_path / "empty.txt", b"")
    write(tmp_path / "blank.md", " \n\t\r\n")
    write(tmp_path / "empty.csv", b"")
    write(tmp_path / "ok.txt", "ok")
    corpus = read_text_corpus([tmp_path])
    r = reasons(corpus)
    assert r == {"empty.txt": "empty file", "blank.md": "empty file", "empty.csv": "empty file"}


def test_unreadable_file_skipped_with_os_reason(tmp_path, monkeypatch):
    bad = write(tmp_path / "locked.txt", "secret")
    write(tmp_path / "ok.txt", "ok")
    real = Path.read_bytes

    def read_bytes(self):
        if self.name == bad.name:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    corpus = read_text_corpus([tmp_path])
    assert "Permission denied" in reasons(corpus)["locked.txt"]
    assert [d.text for d in corpus.documents] == ["ok"]


# -- jsonl and csv problems ---------------------------------------------------------------


def test_jsonl_bad_lines_summarised(tmp_path):
    lines = [json.dumps({"text": f"record {i}"}) for i in range(10)]
    lines[2] = "{not json"
    lines[4] = json.dumps(["a", "list"])
    lines[6] = json.dumps({"text": 42})
    lines[7] = json.dumps({"text": "   "})
    lines.insert(5, "")                                       # blank lines are not records
    write(tmp_path / "data.jsonl", "\n".join(lines) + "\n")
    corpus = read_text_corpus([tmp_path / "data.jsonl"])
    assert len(corpus.documents) == 6
    assert corpus.documents[0].index == 1
    assert [d.index for d in corpus.documents] == [1, 2, 4, 7, 10, 11]
    [skip] = corpus.skipped
    assert skip.reason.startswith("4 of 10 lines skipped: line 3 is not JSON; "
                                  "line 5 is not a JSON object; line 8: \"text\" is int")
    assert "and 1 more" in skip.reason
    assert corpus.files == [str(tmp_path / "data.jsonl")]


def test_jsonl_field_missing_everywhere_names_fields(tmp_path):
    write(tmp_path / "wrong.jsonl", '{"body": "a", "id": 1}\n{"body": "b", "title": "t"}\n')
    write(tmp_path / "ok.txt", "ok")
    reason = reasons(read_text_corpus([tmp_path]))["wrong.jsonl"]
    assert 'no record has the field "text"' in reason
    assert '"body", "id", "title"' in reason
    assert "set data.text_field" in reason


def test_jsonl_lone_surrogate_rejected(tmp_path):
    write(tmp_path / "s.jsonl", '{"text": "bad \\ud800 escape"}\n{"text": "fine"}\n')
    corpus = read_text_corpus([tmp_path])
    assert [d.text for d in corpus.documents] == ["fine"]
    assert "invalid escaped character" in corpus.skipped[0].reason


def test_csv_missing_column_names_available(tmp_path):
    write(tmp_path / "poems.csv", "title,body,year\nA,roses,1600\n")
    write(tmp_path / "ok.txt", "ok")
    reason = reasons(read_text_corpus([tmp_path]))["poems.csv"]
    assert 'no column "text"' in reason
    assert '"title", "body", "year"' in reason
    assert "set data.csv_column" in reason


def test_csv_rows_large_fields_and_semicolons(tmp_path):
    big = "word " * 100_000                                  # beyond csv's default 128 KB limit
    write(tmp_path / "big.csv", f'text\n"{big}"\n,\nshort\n')
    write(tmp_path / "euro.csv", "id;text\n1;bonjour\n2;\n")
    corpus = read_text_corpus([tmp_path], csv_column="text")
    texts = [d.text for d in corpus.documents]
    assert texts == [big, "short", "bonjour"]
    r = reasons(corpus)
    assert r["euro.csv"].startswith("1 of 2 rows skipped: row 2 has an empty \"text\" cell")


# -- nothing usable -----------------------------------------------------------------------


def test_nothing_usable_raises_naming_files(tmp_path):
    write(tmp_path / "pic.txt", PNG)
    write(tmp_path / "empty.md", "")
    write(tmp_path / "notes.docx", b"PK\x03\x04")
    with pytest.raises(DataError) as err:
        read_text_corpus([tmp_path])
    msg = str(err.value)
    assert str(tmp_path) in msg
    assert "pic.txt: binary file, not text" in msg
    assert "empty.md: empty file" in msg
    assert "notes.docx: unsupported file type .docx" in msg


def test_empty_folder_raises(tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="no text files found"):
        read_text_corpus([tmp_path / "nothing"])
    with pytest.raises(DataError, match="data.paths"):
        read_text_corpus([])


def test_real_sonnets_is_one_document(shared_data):
    path = shared_data / "text" / "sonnets.txt"
    corpus = read_text_corpus([path])
    assert len(corpus.documents) == 1
    doc = corpus.documents[0]
    assert doc.path == str(path)
    assert "\r" not in doc.text
    assert "summer" in doc.text
    assert len(doc.text) > 50_000
    assert corpus.files == [str(path)] and not corpus.skipped


@pytest.mark.parametrize("suffix", TEXT_EXTENSIONS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=2048),
                      st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")),
                      st.sampled_from([b"\xff\xfe", b"\xfe\xff\x00", b"\xef\xbb\xbf",
                                       b"\xff\xfe\x00\x00a", b"RIFF\x00\x00\x00\x00WAVE",
                                       b'{"text": "\\udc80"}', b"text\n\"unterminated",
                                       b"[" * 5000])))
def test_any_bytes_give_corpus_or_data_error(suffix, data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(data)
        try:
            corpus = read_text_corpus([path])
        except DataError as e:
            assert str(path) in str(e)
        else:
            assert corpus.documents
            for doc in corpus.documents:
                assert doc.text.strip()
                doc.text.encode("utf-8")                       # always encodable


# -- splitting ----------------------------------------------------------------------------


def test_split_documents_deterministic_and_disjoint():
    docs = [Document(f"d{i}.txt", f"text {i}") for i in range(20)]
    train, val = split_documents(docs, 0.25, seed=7)
    assert (train, val) == split_documents(docs, 0.25, seed=7)
    assert len(val) == 5 and len(train) == 15
    assert sorted(train + val, key=lambda d: d.path) == sorted(docs, key=lambda d: d.path)
    assert [d for d in docs if d in val] == val                      # reading order kept
    other = [split_documents(docs, 0.25, seed=s)[1] for s in range(5)]
    assert any(o != val for o in other)                              # the seed matters


def test_split_documents_edges():
    two = [Document("a", "a"), Document("b", "b")]
    assert split_documents(two, 0.01, 0)[1] != []                    # at least one val doc
    assert len(split_documents(two, 0.9, 0)[0]) == 1                 # at least one train doc
    assert split_documents(two, 0.0, 0) == (two, [])
    assert split_documents(two[:1], 0.5, 0) == (two[:1], [])


def test_packing_by_document_contiguous_blocks():
    texts = [f"document number {i} " * (i + 3) for i in range(10)]
    corpus = corpus_of(*texts)
    s = build_text_splits(corpus, encode, EOS, block_size=16, val_fraction=0.2, seed=3)
    assert s.split_by == "document"
    assert s.train.dtype == np.int64 and s.val.dtype == np.int64
    assert s.train.shape[1] == 16 and s.val.shape[1] == 16
    train_docs, val_docs = split_documents(corpus.documents, 0.2, 3)
    assert (s.train_docs, s.val_docs) == (8, 2)
    for blocks, docs, n_tokens in ((s.train, train_docs, s.train_tokens),
                                   (s.val, val_docs, s.val_tokens)):
        stream = [t for d in docs for t in encode(d.text) + [EOS]]
        assert n_tokens == len(stream)
        assert blocks.shape[0] == len(stream) // 16
        assert blocks.reshape(-1).tolist() == stream[: blocks.size]   # contiguous slices
    assert (s.train == EOS).sum() >= 1


def test_one_document_splits_by_block():
    def positions(s: str) -> list[int]:                 # token = position: every block differs
        return list(range(len(s)))

    text = "abcdefghij" * 40                            # 400 tokens + EOS
    s = build_text_splits(corpus_of(text), positions, EOS, block_size=20, val_fraction=0.1,
                          seed=0)
    assert s.split_by == "block"
    assert s.train.shape == (18, 20) and s.val.shape == (2, 20)
    got = np.concatenate([s.train, s.val])
    starts = got[:, 0]
    assert sorted(starts.tolist()) == list(range(0, 400, 20))     # each block exactly once
    assert np.array_equal(got, starts[:, None] + np.arange(20))  # contiguous slices
    assert np.all(np.diff(s.train[:, 0]) > 0)                     # reading order kept
    again = build_text_splits(corpus_of(text), positions, EOS, 20, 0.1, 0)
    assert np.array_equal(again.train, s.train) and np.array_equal(again.val, s.val)
    other = build_text_splits(corpus_of(text), positions, EOS, 20, 0.1, 1)
    assert not np.array_equal(other.val, s.val)                   # the seed matters
    assert (s.train_docs, s.val_docs) == (1, 1)
    assert (s.train_tokens, s.val_tokens) == (360, 40)


def test_val_too_short_falls_back_to_blocks():
    # one long document and many tiny ones: a document split leaves val under one block
    texts = ["x" * 500] + ["hi"] * 3
    s = build_text_splits(corpus_of(*texts), encode, None, block_size=64, val_fraction=0.25,
                          seed=0)
    assert s.split_by == "block"
    assert len(s.val) >= 1 and len(s.train) >= 1
    assert s.val_tokens == 64 * len(s.val)


def test_no_validation_when_fraction_zero():
    s = build_text_splits(corpus_of("hello world " * 10, "more"), encode, None, 8, 0.0, 0)
    assert s.val.shape == (0, 8)
    assert s.train.shape == (len("hello world " * 10 + "more") // 8, 8)
    assert (s.val_docs, s.val_tokens) == (0, 0)
    assert "No validation split" in describe(corpus_of("a"), s)


def test_too_little_text_error():
    with pytest.raises(DataError) as err:
        build_text_splits(corpus_of("tiny"), encode, EOS, 64, 0.1, 0)
    msg = str(err.value)
    assert "only 5 tokens" in msg and "128" in msg and "data.block_size" in msg
    with pytest.raises(DataError, match="only 5 tokens.*lower data.block_size"):
        build_text_splits(corpus_of("tiny"), encode, EOS, 64, 0.0, 0)


def test_describe_mentions_the_numbers(tmp_path):
    write(tmp_path / "a.txt", "the quick brown fox " * 20)
    write(tmp_path / "b.txt", "jumps over the lazy dog " * 20)
    write(tmp_path / "c.png", PNG)
    corpus = read_text_corpus([tmp_path])
    s = build_text_splits(corpus, encode, EOS, 32, 0.5, 0)
    text = describe(corpus, s)
    assert "2 documents from 2 files" in text
    assert "Skipped 1" in text
    assert f"{len(s.train)} blocks of 32 tokens" in text
    assert "Split by document: 1 for training, 1 held out." in text
    assert describe(corpus).startswith("Read 2 documents")
