"""Text datasets: find the files, read them as documents, split, tokenise and pack into blocks.

Reading never stops at a bad file: each file that cannot be used becomes a ``Skipped`` entry
whose reason says what is wrong and how to fix it, and only when *nothing* is usable does
``read_text_corpus`` raise ``DataError``. The tokenizer is passed in as a plain callable, so
this module needs neither torch nor transformers.

Pipeline::

    corpus = read_text_corpus(cfg.data.paths)             # files -> documents (+ skipped)
    splits = build_text_splits(corpus, encode, eos_id,    # documents -> token blocks
                               block_size, val_fraction, seed)
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
import os
import random
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.core.errors import ConfigError, DataError
from studio.data import progress
from studio.data.files import Skipped, collect, os_reason
from studio.data.tokens import BlockWriter, TokenCache, blocks_in_pieces, load_packed

TEXT_EXTENSIONS = (".txt", ".md", ".jsonl", ".csv")

_SUPPORTED = ".txt, .md, .jsonl, .csv"
_SNIFF_BYTES = 8192          # binary detection looks at this many leading bytes
_STREAM_BYTES = 1 << 20      # large files are read this many bytes at a time
LARGE_FILE_BYTES = 8 << 20   # .txt/.md files above this are streamed, never held whole
_MAX_EXAMPLES = 3            # bad lines / rows named per file in a Skipped summary
_MAX_REASONS = 5             # per-file reasons quoted in the "nothing usable" error
_RESAVE = "re-save it as UTF-8 (in most editors: Save As, Encoding: UTF-8)"


@dataclass(frozen=True)
class Document:
    """One unit of text. ``index`` is 0 for a whole-file document, the 1-based line number
    for a .jsonl record, and the 1-based data row (header not counted) for a .csv row."""

    path: str
    text: str
    index: int = 0


class FileDocument(Document):
    """A whole large .txt/.md file, checked when read but decoded only when used: its text
    is streamed by ``text_chunks`` (tokenizing) and read whole only through ``.text``."""

    def __init__(self, path: str, encoding: str, index: int = 0) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "encoding", encoding)

    @property
    def text(self) -> str:  # type: ignore[override]
        return "".join(text_chunks(self))


@dataclass
class TextCorpus:
    """Everything read from the dataset paths. ``files`` lists the files that gave at least
    one document (a file can be in ``files`` and in ``skipped`` when only some of its
    lines were bad). ``keys`` gives each used file's content key (a hash of its bytes, and
    of the record field it was read by), which names its entry in the token cache."""

    documents: list[Document]
    skipped: list[Skipped]
    files: list[str]
    keys: dict[str, str] = field(default_factory=dict)
    notes: list[Skipped] = field(default_factory=list)  # read, but decoded: which encoding


@dataclass
class TextSplits:
    """Packed token blocks ready for batching.

    ``split_by`` is ``"document"`` when whole documents went to one side (always the case
    when nothing is held out) and ``"block"`` when the blocks of one token stream were
    shared out; then both splits are cut from the same documents, so ``train_docs`` and
    ``val_docs`` both count all of them. ``*_tokens`` count the tokens of the text given to
    each split, including the end-of-document tokens and the partial final block that
    packing drops.
    """

    train: np.ndarray   # int64 [n_train_blocks, block_size]
    val: np.ndarray     # int64 [n_val_blocks, block_size]
    split_by: str
    train_docs: int
    val_docs: int
    train_tokens: int
    val_tokens: int


# -- finding files ----------------------------------------------------------------------------


def collect_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[Skipped]]:
    """Expand files and folders into the list of text files to read, in a stable order
    (``studio.data.files.walk``: sorted names, hidden entries left out, link loops walked
    once, a file reached twice read once). Caption sidecars (``foo.txt`` beside
    ``foo.png`` or ``foo.flac``) found in folders are passed over; anything without a text
    extension, or that is not a regular file, becomes a ``Skipped``. A path that does not
    exist raises ``DataError``."""
    return collect(paths, TEXT_EXTENSIONS, "text", captions_given=False)


# -- decoding ---------------------------------------------------------------------------------


class _Unusable(Exception):
    """A whole file cannot be used; the message is the Skipped reason."""


# Leading bytes of common non-text formats: (prefix, what it is). Checked before decoding so a
# PNG renamed to .txt is called an image, not "invalid UTF-8 at byte 0".
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or .docx/.xlsx/.odt document)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x7fELF", "an ELF program"),
    (b"MZ\x90\x00", "a Windows program"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"fLaC", "a FLAC audio file"),
    (b"OggS", "an Ogg audio/video file"),
    (b"ID3\x02", "an MP3 audio file"),
    (b"ID3\x03", "an MP3 audio file"),
    (b"ID3\x04", "an MP3 audio file"),
    (b"\x00\x00\x00\x18ftyp", "an MP4/MOV video or audio file"),
    (b"\x00\x00\x00\x20ftyp", "an MP4/MOV video or audio file"),
)
_RIFF_KINDS = {b"WAVE": "a WAV audio file", b"WEBP": "a WebP image", b"AVI ": "an AVI video"}

_BOMS: tuple[tuple[bytes, str], ...] = (   # UTF-32 first: its LE BOM starts with UTF-16's
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def _binary_kind(data: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data.startswith(b"RIFF") and data[8:12] in _RIFF_KINDS:
        return _RIFF_KINDS[data[8:12]]
    return None


_AUDIO_KINDS = ("audio", "video")


def sniff_other_content(path: str | Path, expected: str) -> tuple[str, str] | None:
    """(what the file is, what to do) when a file named as ``expected`` media ("audio",
    "image") holds something else, judged by its first bytes: a text file, or another known
    format; None when it may well be what its name says (decoders give the real verdict).
    So a text file named .mp3 is called a text file, not "does not exist" (libsndfile's
    words for what it cannot open)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return None
    suffix = Path(path).suffix
    kind = _binary_kind(head)
    if kind:
        if any(w in kind for w in (_AUDIO_KINDS if expected == "audio" else ("image",))):
            return None
        return (f"is {kind}, not {expected} (despite its {suffix} name)",
                "remove it from the dataset")
    if head and b"\x00" not in head and _utf8_prefix(head):
        return (f"is a text file, not {expected} (despite its {suffix} name)",
                "remove it from the dataset, or rename it to .txt to train a text model on it")
    return None


def _utf8_prefix(head: bytes) -> bool:
    """The bytes are UTF-8 text (a character cut at the end allowed)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return False
    return True


def _looks_like_utf16_without_bom(head: bytes) -> bool:
    """Mostly-ASCII UTF-16 has a NUL in every other byte."""
    if len(head) < 8:
        return False
    even, odd = head[0::2], head[1::2]
    for zeros, other in ((even, odd), (odd, even)):
        if zeros.count(0) >= 0.9 * len(zeros) and other.count(0) <= 0.1 * len(other):
            return True
    return False


def _sniff_encoding(head: bytes) -> str:
    """The encoding a file's first bytes announce (a BOM), else UTF-8. Raises ``_Unusable``
    for binary files (known formats, NUL bytes) and for UTF-16 without a BOM."""
    kind = _binary_kind(head)
    if kind:
        raise _Unusable(f"binary file, not text ({kind}); remove it from the dataset or "
                        f"export its text as a .txt file")
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc
    if b"\x00" in head[:_SNIFF_BYTES]:
        if _looks_like_utf16_without_bom(head[:_SNIFF_BYTES]):
            raise _Unusable(f"looks like UTF-16 text without a byte-order mark; {_RESAVE}")
        raise _Unusable("binary file, not text (it contains NUL bytes); remove it from the "
                        "dataset or export its text as a .txt file")
    return "utf-8"


def _undecodable(encoding: str, bad: bytes, offset: int) -> _Unusable:
    label = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16",
             "utf-32": "UTF-32"}.get(encoding, encoding)
    return _Unusable(f"not valid {label}: byte 0x{bad[:1].hex()} at offset {offset} cannot be "
                     f"decoded (probably another encoding, e.g. Latin-1 or Windows-1252); "
                     f"{_RESAVE}")


def _decode_text(data: bytes) -> str:
    """Bytes of a text file -> str with LF line ends. Raises ``_Unusable`` with the reason."""
    return _decode(data)[0]


def _decode(data: bytes) -> tuple[str, str]:
    """Bytes of a text file -> (str with LF line ends, the legacy encoding assumed or "").

    UTF-8 (a BOM is stripped), or UTF-16/UTF-32 when the file starts with a byte-order mark.
    Bytes that are not UTF-8 are decoded in the legacy encoding that explains them best
    (``legacy_encoding``); only what no encoding explains raises ``_Unusable``.
    """
    encoding = _sniff_encoding(data[:_SNIFF_BYTES])
    try:
        return _normalise_newlines(data.decode(encoding)), ""
    except UnicodeDecodeError as e:
        failure = _undecodable(encoding, data[e.start:e.start + 1], e.start)
    legacy = legacy_encoding(data) if encoding == "utf-8" else None
    if legacy is None:
        raise failure
    return _normalise_newlines(data.decode(legacy)), legacy


# Western legacy encodings first: real archives are mostly these, and a detector left to
# choose among all code pages ranks look-alikes (cp1250, mac_latin2) as high.
_LEGACY_FIRST = ["cp1252", "mac_roman", "latin_1"]
_ENCODING_NAMES = {"cp1252": "Windows-1252", "mac_roman": "MacRoman", "latin_1": "Latin-1",
                   "cp1251": "Windows-1251", "cp1250": "Windows-1250", "shift_jis": "Shift JIS"}
_DETECT_BYTES = 1 << 20      # the detector looks at this much of a file at most


def encoding_name(encoding: str) -> str:
    """A person's name for a Python codec name ("cp1252" -> "Windows-1252")."""
    return _ENCODING_NAMES.get(encoding, encoding.replace("_", "-").upper())


def legacy_encoding(data: bytes) -> str | None:
    """The legacy encoding that best explains ``data`` (not UTF-8), decoding all of it, or
    None when none does. charset-normalizer ranks the candidates by how chaotic the decoded
    text is; ties (``Café`` in MacRoman reads as ``CafŽ`` in Windows-1252 just as calmly)
    go to the text with fewer capitals inside words."""
    from charset_normalizer import from_bytes

    sample = data[:_DETECT_BYTES]
    for isolation in (_LEGACY_FIRST, None):
        matches = list(from_bytes(sample, cp_isolation=isolation))
        ranked = sorted(matches, key=lambda m: (round(m.chaos, 3), _oddities(str(m))))
        for match in ranked:
            try:
                data.decode(match.encoding)
            except (UnicodeDecodeError, LookupError):
                continue
            name = codecs.lookup(match.encoding).name.replace("-", "_")
            if name == "cp1252" and not re.search(rb"[\x80-\x9f]", data):
                name = "latin_1"        # the same text: call it by its plainer name
            return name
    return None


def _oddities(text: str) -> int:
    """Signs of a wrong code page: a capital right after a lowercase letter (``CafŽ``) and
    C1 control characters."""
    odd = sum(1 for a, b in zip(text, text[1:]) if ord(b) > 127 and b.isupper() and a.islower())
    return odd + sum(1 for c in text if "\x80" <= c <= "\x9f")


def _read_blocks(path: Path) -> Iterable[bytes]:
    try:
        with open(path, "rb") as f:
            while block := f.read(_STREAM_BYTES):
                yield block
    except OSError as e:
        raise _Unusable(f"cannot be read: {os_reason(e)}; check that the file is "
                        f"readable by you") from None


def _decoded_blocks(path: Path, encoding: str) -> Iterable[str]:
    """The file's text in pieces, LF line ends (a CR that ends a piece waits for the next)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, held = 0, ""
    for block in _read_blocks(path):
        try:
            piece = held + decoder.decode(block)
        except UnicodeDecodeError as e:
            raise _undecodable(encoding, block[max(e.start, 0):], offset + max(e.start, 0)
                               ) from None
        offset += len(block)
        held = "\r" if piece.endswith("\r") else ""
        yield _normalise_newlines(piece[:-1] if held else piece)
    try:
        yield _normalise_newlines(held + decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        raise _undecodable(encoding, b"?", offset) from None


def _check_large_file(path: Path) -> tuple[str, str, str]:
    """A large plain file, read in a stream: (its encoding, its content digest, the legacy
    encoding assumed or ""). Raises ``_Unusable`` as ``_decode`` would; memory stays one
    block whatever the size."""
    try:
        encoding, digest = _stream_check(path, None)
        return encoding, digest, ""
    except _BadBytes as e:
        failure = _undecodable(e.encoding, e.byte, e.offset)
        if e.encoding != "utf-8":
            raise failure from None
        with open(path, "rb") as f:   # the start, and the bytes where UTF-8 failed
            sample = f.read(_DETECT_BYTES // 2)
            f.seek(max(0, e.offset - _DETECT_BYTES // 4))
            sample += f.read(_DETECT_BYTES // 2)
    legacy = legacy_encoding(sample)
    if legacy is None:
        raise failure
    try:
        return legacy, _stream_check(path, legacy)[1], legacy
    except _BadBytes:
        raise failure from None


class _BadBytes(Exception):
    """Bytes at ``offset`` of a file that ``encoding`` cannot decode."""

    def __init__(self, encoding: str, byte: bytes, offset: int) -> None:
        super().__init__(encoding, offset)
        self.encoding, self.byte, self.offset = encoding, byte, offset


def _stream_check(path: Path, encoding: str | None) -> tuple[str, str]:
    """(encoding, digest) of a file read block by block; ``encoding`` None: sniffed. Raises
    ``_BadBytes`` or ``_Unusable``."""
    digest = hashlib.blake2b(digest_size=16)
    decoder, offset, has_text = None, 0, False
    for block in _read_blocks(path):
        if decoder is None:
            encoding = encoding or _sniff_encoding(block[:_SNIFF_BYTES])
            decoder = codecs.getincrementaldecoder(encoding)()
        digest.update(block)
        try:
            has_text = bool(decoder.decode(block).strip()) or has_text
        except UnicodeDecodeError as e:
            start = max(e.start, 0)
            raise _BadBytes(encoding, block[start:start + 1], offset + start) from None
        offset += len(block)
    try:
        if decoder is not None:
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _BadBytes(encoding, b"?", offset) from None
    if not has_text:
        raise _Unusable("empty file")
    return encoding or "utf-8", digest.hexdigest()


def text_chunks(doc: Document, size: int = 1 << 18) -> Iterable[str]:
    """A document's text in pieces of about ``size`` characters, cut only before a space
    that sits between two non-space characters. Byte-level BPE pre-tokenizers (GPT-2 and
    kin) never join across such a space, so tokenizing the pieces gives the tokens of the
    whole text while no more than a few pieces are ever in memory."""
    pieces = (_decoded_blocks(Path(doc.path), doc.encoding)
              if isinstance(doc, FileDocument) else
              (doc.text[i:i + size] for i in range(0, len(doc.text), size)))
    buf = ""
    for piece in pieces:
        buf += piece
        while len(buf) >= size:
            cut = _cut_point(buf, size // 2)
            if cut < 0:
                if len(buf) < 4 * size:
                    break
                cut = len(buf)       # no space at all (e.g. CJK): a plain cut
            yield buf[:cut]
            buf = buf[cut:]
    if buf:
        yield buf


def _cut_point(buf: str, lo: int) -> int:
    """The last index >= lo of a space between two non-space characters, or -1."""
    i = len(buf) - 2
    while i >= lo:
        i = buf.rfind(" ", lo, i + 1)
        if i <= 0:
            return -1
        if not buf[i - 1].isspace() and not buf[i + 1].isspace():
            return i
        i -= 1
    return -1


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# -- reading ----------------------------------------------------------------------------------


def _quote(names: Iterable[str], limit: int = 12) -> str:
    names = list(names)
    shown = ", ".join(json.dumps(n, ensure_ascii=False) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _summary(problems: list[str], total: int, unit: str) -> str:
    shown = "; ".join(problems[:_MAX_EXAMPLES])
    more = f"; and {len(problems) - _MAX_EXAMPLES} more" if len(problems) > _MAX_EXAMPLES else ""
    return f"{len(problems)} of {total} {unit} skipped: {shown}{more}"


def _valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:     # a lone surrogate from a JSON "\ud800" escape
        return False
    return True


def _read_plain(path: Path, text: str) -> tuple[list[Document], list[Skipped]]:
    return [Document(str(path), text, 0)], []


def _read_jsonl(path: Path, text: str, field: str) -> tuple[list[Document], list[Skipped]]:
    docs: list[Document] = []
    problems: list[str] = []
    total = 0
    objects = 0
    had_field = 0
    fields_seen: dict[str, None] = {}    # insertion-ordered set
    q = json.dumps(field, ensure_ascii=False)
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        total += 1
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            problems.append(f"line {number} is not JSON")
            continue
        if not isinstance(record, dict):
            problems.append(f"line {number} is not a JSON object")
            continue
        objects += 1
        if field not in record:
            for key in record:
                fields_seen.setdefault(str(key))
            problems.append(f"line {number} has no {q} field")
            continue
        had_field += 1
        value = record[field]
        if not isinstance(value, str):
            problems.append(f"line {number}: {q} is {type(value).__name__}, not a string")
        elif not value.strip():
            problems.append(f"line {number}: {q} is empty")
        elif not _valid_unicode(value):
            problems.append(f"line {number}: {q} contains an invalid escaped character")
        else:
            docs.append(Document(str(path), _normalise_newlines(value), number))
    skipped: list[Skipped] = []
    if objects and not had_field and fields_seen:
        skipped.append(Skipped(str(path), f"no record has the field {q}; the records have "
                                          f"{_quote(fields_seen)}; set data.text_field to the "
                                          f"one that holds the text"))
    elif problems:
        skipped.append(Skipped(str(path), _summary(problems, total, "lines") +
                               f"; each line must be a JSON object with a non-empty string "
                               f"{q} field (data.text_field)"))
    return docs, skipped


def _csv_delimiter(header_line: str) -> str:
    """Comma, unless the header has none and uses tabs or semicolons (European Excel)."""
    if "," in header_line:
        return ","
    tabs, semis = header_line.count("\t"), header_line.count(";")
    if tabs or semis:
        return "\t" if tabs >= semis else ";"
    return ","


def _read_csv(path: Path, text: str, column: str) -> tuple[list[Document], list[Skipped]]:
    delimiter = _csv_delimiter(text.split("\n", 1)[0])
    old_limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)     # a long story in one cell is normal here
    try:
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            header = next(rows, None)
            if header is None:
                raise _Unusable("empty file")
            names = [h.strip() for h in header]
            if column in names:
                col = names.index(column)
            else:
                available = _quote(n for n in names if n) or "none (the header row is blank)"
                raise _Unusable(f"no column {json.dumps(column, ensure_ascii=False)}; its "
                                f"columns are {available}; set data.csv_column to the one that "
                                f"holds the text (the first row must name the columns)")
            docs: list[Document] = []
            problems: list[str] = []
            total = 0
            for number, row in enumerate(rows, start=1):
                if not any(cell.strip() for cell in row):
                    continue            # blank line
                total += 1
                if col >= len(row):
                    problems.append(f"row {number} has only {len(row)} column(s)")
                elif not row[col].strip():
                    problems.append(f"row {number} has an empty {json.dumps(column)} cell")
                else:
                    docs.append(Document(str(path), row[col], number))
        except csv.Error as e:
            raise _Unusable(f"not readable as CSV (line {rows.line_num}: {e}); save it from a "
                            f"spreadsheet as \"CSV UTF-8\"") from None
    finally:
        csv.field_size_limit(old_limit)
    skipped = []
    if problems:
        skipped.append(Skipped(str(path), _summary(problems, total, "rows") +
                               f"; column {json.dumps(column)} (data.csv_column) needs text"))
    return docs, skipped


def read_text_corpus(paths: Sequence[str | Path], text_field: str = "text",
                     csv_column: str = "text") -> TextCorpus:
    """Read every text file under ``paths`` into documents.

    .txt/.md give one document per file, .jsonl one per record (its ``text_field``), .csv one
    per row (its ``csv_column``). Unusable files and lines are collected in ``skipped`` with
    a reason; ``DataError`` is raised only when no document at all is usable.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise DataError("data.paths", "is empty", "add a text file or a folder of them")
    files, skipped = collect_files(paths)
    documents: list[Document] = []
    used: list[str] = []
    keys: dict[str, str] = {}
    duplicates = Duplicates()
    notes: list[Skipped] = []
    for path in files:
        try:
            docs, problems, key, legacy = _read_file(path, text_field, csv_column)
        except _Unusable as e:
            skipped.append(Skipped(str(path), str(e)))
            continue
        repeat = duplicates.repeat(path, key)
        if repeat:
            skipped.append(repeat)
            continue
        if legacy:
            notes.append(Skipped(str(path), f"not UTF-8: decoded as {encoding_name(legacy)} "
                                            f"(the encoding that explains its bytes best)"))
        skipped.extend(problems)
        documents.extend(docs)
        if docs:
            used.append(str(path))
            keys[str(path)] = key
    if not documents:
        where = ", ".join(str(p) for p in paths)
        if not files and not skipped:
            raise DataError(where, f"no text files found (text datasets read {_SUPPORTED})",
                            "add text files or point data.paths at another folder")
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:_MAX_REASONS])
        more = (f"; and {len(skipped) - _MAX_REASONS} more"
                if len(skipped) > _MAX_REASONS else "")
        raise DataError(where, f"no usable text ({reasons}{more})",
                        "fix or replace the files named above")
    return TextCorpus(documents=documents, skipped=skipped, files=used, keys=keys,
                      notes=notes)


class Duplicates:
    """Files with the same content, in reading order: the first copy is used and each
    later one becomes a ``Skipped`` naming it (text, image and audio datasets alike), so
    the same example can never sit on both sides of the validation split."""

    def __init__(self) -> None:
        self.first: dict[str, str] = {}      # content key -> the first file that had it

    def repeat(self, path: str | Path, key: str | None) -> Skipped | None:
        """A ``Skipped`` when ``key`` was seen before, else None (and ``path`` is the first
        copy). ``key`` None (the content could not be read) is never a repeat."""
        if key is None:
            return None
        original = self.first.setdefault(key, str(path))
        if original == str(path):
            return None
        return Skipped(str(path), f"duplicate of {original} (the same content): only one "
                                  f"copy is trained on, so it cannot sit on both sides of "
                                  f"the validation split")


def _short_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


def _read_file(path: Path, text_field: str, csv_column: str
               ) -> tuple[list[Document], list[Skipped], str, str]:
    """One file -> (documents, problems with some of its lines, its content key, the legacy
    encoding assumed or ""). A large .txt/.md file becomes one ``FileDocument``, never held
    in memory whole."""
    suffix = path.suffix.lower()
    try:
        size = path.stat().st_size
    except OSError as e:
        raise _Unusable(f"cannot be read: {os_reason(e)}") from None
    if suffix not in (".jsonl", ".csv") and size > LARGE_FILE_BYTES:
        encoding, digest, legacy = _check_large_file(path)
        return [FileDocument(str(path), encoding)], [], digest, legacy
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _Unusable(f"cannot be read: {os_reason(e)}; check that the file is "
                        f"readable by you") from None
    key = hashlib.blake2b(data, digest_size=16).hexdigest()
    text, legacy = _decode(data)
    del data
    if not text.strip():
        raise _Unusable("empty file")
    if suffix == ".jsonl":
        docs, problems = _read_jsonl(path, text, text_field)
        key += "-" + _short_hash(text_field)    # another field gives other documents
    elif suffix == ".csv":
        docs, problems = _read_csv(path, text, csv_column)
        key += "-" + _short_hash(csv_column)
    else:
        docs, problems = _read_plain(path, text)
    return docs, problems, key, legacy


# -- splitting and packing --------------------------------------------------------------------


def _check_fraction(val_fraction: float) -> None:
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError("data.val_fraction", f"must be at least 0 and below 1, "
                                               f"not {val_fraction}", "use e.g. 0.1")


def _split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded split of range(n): at least one on each side when val_fraction > 0 and n >= 2.
    Each side keeps the original order."""
    _check_fraction(val_fraction)
    if val_fraction == 0 or n < 2:
        return list(range(n)), []
    n_val = min(max(1, round(n * val_fraction)), n - 1)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    val = sorted(order[:n_val])
    train = sorted(order[n_val:])
    return train, val


def split_documents(docs: Sequence[Document], val_fraction: float,
                    seed: int) -> tuple[list[Document], list[Document]]:
    """Seeded train/validation split of documents; the same input gives the same split."""
    train, val = _split_indices(len(docs), val_fraction, seed)
    return [docs[i] for i in train], [docs[i] for i in val]


def _too_little(tokens: int, needed: int, block_size: int, why: str) -> DataError:
    return DataError("data", f"only {tokens} tokens of text, but {needed} are needed for {why} "
                             f"of data.block_size = {block_size} tokens",
                     "lower data.block_size or add more text")


def build_text_splits(corpus: TextCorpus, encode: Callable[[str], Sequence[int]],
                      eos_id: int | None, block_size: int, val_fraction: float,
                      seed: int, *, cache: TokenCache | None = None) -> TextSplits:
    """Tokenise, split and pack the corpus into fixed-length blocks.

    Each document is encoded and followed by ``eos_id`` (when given). With two or more
    documents whole documents go to train or validation; each side's documents are
    concatenated in reading order and cut into ``block_size`` blocks (the partial last block
    is dropped). With one document, or when the document split leaves a side too short for
    one block, the blocks of the whole stream are shared out instead (``split_by="block"``).

    Documents are encoded in pieces (``text_chunks``), so no tokenizer ever sees a whole
    large file. With a ``cache`` (``studio.data.tokens.TokenCache``) each file's tokens are
    written to disk as they come and the blocks are packed into files too: the arrays
    returned are memory-mapped, memory stays bounded whatever the corpus size, and the next
    run with the same files and tokenizer reads them back without tokenizing. Progress goes
    to ``studio.data.progress`` (a stop request raises ``DataStopped`` between pieces).
    """
    if block_size < 1:
        raise ConfigError("data.block_size", f"must be at least 1, not {block_size}")
    _check_fraction(val_fraction)
    docs = corpus.documents
    if not docs:
        raise DataError("data", "the corpus has no documents", "add text files to data.paths")
    tokens = _tokenize(corpus, encode, cache)
    lengths = [len(t) + (eos_id is not None) for t in tokens]
    plan = _SplitPlan.make(lengths, block_size, val_fraction, seed)
    if cache is None:
        return plan.pack(tokens, eos_id, None)
    folder = cache.packed_dir({"files": [corpus.keys.get(p) for p in corpus.files],
                               "docs": len(docs), "eos": eos_id, "block": block_size,
                               "val": val_fraction, "seed": seed})
    found = load_packed(folder)
    if found is None:
        tmp = Path(tempfile.mkdtemp(dir=cache.dir, prefix=".tmp-"))
        try:
            plan.pack(tokens, eos_id, tmp)
            os.replace(tmp, folder)
        except OSError:
            pass                 # published by another run meanwhile
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        found = load_packed(folder)
    cache.used.append(folder)
    cache.prune()
    train, val, meta = found
    return TextSplits(train, val, meta["split_by"], meta["train_docs"], meta["val_docs"],
                      meta["train_tokens"], meta["val_tokens"])


def _doc_size(doc: Document) -> int:
    return os.path.getsize(doc.path) if isinstance(doc, FileDocument) else len(doc.text)


def _tokenize(corpus: TextCorpus, encode: Callable[[str], Sequence[int]],
              cache: TokenCache | None) -> list[np.ndarray]:
    """One token array per document (no end-of-document token): from the cache when it
    holds the file, else encoded piece by piece (into the cache when there is one)."""
    groups = [(path, list(group)) for path, group in
              itertools.groupby(corpus.documents, key=lambda d: d.path)]
    out: list[np.ndarray] = []
    todo: list[tuple[str, list[Document]]] = []
    for path, group in groups:
        key = corpus.keys.get(path) if cache is not None else None
        found = cache.load(key, len(group)) if key else None
        out.append(found)
        if found is None:
            todo.append((path, group))
    if cache is not None and cache.hits:
        progress.report(f"Tokens of {cache.hits:,} file(s) read from the cache ({cache.dir}).")
    meter = progress.Meter("Tokenizing", sum(_doc_size(d) for _, g in todo for d in g))
    done = 0
    fresh = iter(todo)
    for i, found in enumerate(out):
        if found is not None:
            continue
        path, group = next(fresh)
        key = corpus.keys.get(path) if cache is not None else None
        writer = cache.writer(key) if key else _MemoryEntry()
        with writer:
            for doc in group:
                for piece in text_chunks(doc):
                    progress.check_stop()
                    writer.add(encode(piece))
                    done += len(piece)
                    meter.update(done)
                writer.end_document()
            out[i] = writer.commit()
    return [t for group in out for t in group]


class _MemoryEntry:
    """``EntryWriter``'s interface, in memory (a corpus without a cache)."""

    def __init__(self) -> None:
        self.docs: list[np.ndarray] = []
        self.parts: list[np.ndarray] = []

    def __enter__(self) -> _MemoryEntry:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def add(self, ids: Sequence[int]) -> None:
        self.parts.append(np.asarray(ids, dtype=np.int64).reshape(-1))

    def end_document(self) -> None:
        self.docs.append(np.concatenate(self.parts) if self.parts else np.zeros(0, np.int64))
        self.parts = []

    def commit(self) -> list[np.ndarray]:
        return self.docs


@dataclass
class _SplitPlan:
    """Which documents (or blocks) go to each side, decided from the token counts alone so
    that packing can stream."""

    block_size: int
    split_by: str
    train_idx: list[int]           # documents, or blocks when split_by == "block"
    val_idx: list[int]
    n_docs: int
    train_tokens: int
    val_tokens: int

    @classmethod
    def make(cls, lengths: list[int], block_size: int, val_fraction: float,
             seed: int) -> _SplitPlan:
        n, total = len(lengths), sum(lengths)
        if val_fraction == 0:
            if total < block_size:
                raise _too_little(total, block_size, block_size, "one training block")
            return cls(block_size, "document", list(range(n)), [], n, total, 0)
        if n >= 2:
            train, val = _split_indices(n, val_fraction, seed)
            tr, va = sum(lengths[i] for i in train), sum(lengths[i] for i in val)
            if tr >= block_size and va >= block_size:
                return cls(block_size, "document", train, val, n, tr, va)
        blocks = total // block_size
        if blocks < 2:
            raise _too_little(total, 2 * block_size, block_size,
                              "one training and one validation block")
        train, val = _split_indices(blocks, val_fraction, seed)
        return cls(block_size, "block", train, val, n, len(train) * block_size,
                   len(val) * block_size)

    def pack(self, tokens: list[np.ndarray], eos_id: int | None,
             folder: Path | None) -> TextSplits:
        """Pack into blocks: in memory, or into ``folder`` (train.bin, val.bin, meta.json)."""
        def writer(name: str) -> BlockWriter:
            return BlockWriter(self.block_size, folder / name if folder else None)

        def feed(out: BlockWriter, docs: Iterable[int]) -> None:
            eos = np.array([eos_id if eos_id is not None else 0], dtype=np.int64)
            for i in docs:
                out.add(tokens[i])
                if eos_id is not None:
                    out.add(eos)

        train, val = writer("train.bin"), writer("val.bin")
        if self.split_by == "document":
            feed(train, self.train_idx)
            feed(val, self.val_idx)
        else:   # one stream in reading order, its blocks shared out by a seeded shuffle
            stream = writer("stream.bin")
            feed(stream, range(len(tokens)))
            blocks = stream.finish()
            is_val = np.zeros(len(blocks), dtype=bool)
            is_val[self.val_idx] = True
            for first, piece in blocks_in_pieces(blocks):
                mask = is_val[first:first + len(piece)]
                train.add_blocks(piece[~mask])
                val.add_blocks(piece[mask])
            del blocks
            if folder is not None:
                os.unlink(folder / "stream.bin")
        n_docs = self.n_docs
        train_docs = len(self.train_idx) if self.split_by == "document" else n_docs
        val_docs = len(self.val_idx) if self.split_by == "document" else n_docs
        splits = TextSplits(train.finish(), val.finish(), self.split_by, train_docs, val_docs,
                            self.train_tokens, self.val_tokens)
        if folder is not None:
            (folder / "meta.json").write_text(json.dumps({
                "block_size": self.block_size, "train_blocks": len(splits.train),
                "val_blocks": len(splits.val), "split_by": self.split_by,
                "train_docs": train_docs, "val_docs": val_docs,
                "train_tokens": self.train_tokens, "val_tokens": self.val_tokens}))
        return splits


def describe(corpus: TextCorpus, splits: TextSplits | None = None) -> str:
    """One paragraph for a human: what was read, what was skipped, how it was split."""
    def plural(n: int, word: str) -> str:
        return f"{n:,} {word}{'' if n == 1 else 's'}"

    parts = [f"Read {plural(len(corpus.documents), 'document')} from "
             f"{plural(len(corpus.files), 'file')}."]
    if corpus.skipped:
        parts.append(f"Skipped {len(corpus.skipped):,} (files, or lines within files; "
                     f"each with its reason).")
    if corpus.notes:
        shown = "; ".join(f"{Path(n.path).name} {n.reason}" for n in corpus.notes[:4])
        more = f" (and {len(corpus.notes) - 4} more)" if len(corpus.notes) > 4 else ""
        parts.append(f"Converted: {shown}{more}.")
    if splits is not None:
        block = splits.train.shape[1] if splits.train.ndim == 2 else 0
        parts.append(f"Training: {plural(splits.train_tokens, 'token')} in "
                     f"{plural(len(splits.train), 'block')} of {block} tokens.")
        if len(splits.val) == 0:
            parts.append("No validation split (data.val_fraction is 0).")
        else:
            parts.append(f"Validation: {plural(splits.val_tokens, 'token')} in "
                         f"{plural(len(splits.val), 'block')}.")
            if splits.split_by == "document":
                parts.append(f"Split by document: {splits.train_docs:,} for training, "
                             f"{splits.val_docs:,} held out.")
            else:
                parts.append("Split by block: validation blocks are held-out passages of the "
                             "same text.")
    return " ".join(parts)


def convert_to_utf8(path: str | os.PathLike) -> tuple[str, Path]:
    """Rewrite a text file in a legacy encoding as UTF-8 (line ends kept as they are).
    The original bytes stay beside it as a hidden ``.<name>.<encoding>.orig`` (the folder
    walker skips hidden files), so nothing is lost. Returns (the encoding it was read in,
    the backup's path); a DataError for a file that is UTF-8 already or that no encoding
    explains."""
    p = Path(path)
    data = p.read_bytes()
    try:
        _, legacy = _decode(data)
    except _Unusable as exc:
        raise DataError(str(p), str(exc)) from None
    if not legacy:
        raise DataError(str(p), "is UTF-8 already", "nothing to convert")
    backup = p.with_name(f".{p.name}.{legacy}.orig")
    if not backup.exists():
        backup.write_bytes(data)
    tmp = p.with_name(f".{p.name}.utf8.tmp")
    tmp.write_bytes(data.decode(legacy).encode("utf-8"))
    os.replace(tmp, p)
    return legacy, backup
