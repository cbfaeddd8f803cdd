"""A cheap metadata scan of dataset files for the browser (no torch, no Qt).

``scan(paths)`` walks files and folders and yields one :class:`ScanStep` per file as
soon as that file is done, so a front end can show results while a 10,000-file folder
streams in, report progress, and stop between files when its ``cancel`` event is set.

Per file it records the kind (text / image / audio / unsupported), the size, a content
hash (blake2b, for duplicates), and:

- images: dimensions and a small JPEG/PNG thumbnail (PIL, behind a decompression-bomb
  guard);
- audio: duration, sample rate, channels and a min/max waveform envelope, read in
  blocks so a long recording is never held in memory at once;
- text: a snippet and a token count (exact with a tokenizer, an estimate without);
- music (MIDI, MusicXML, ABC): a ``studio.data.midi_file.MidiInfo`` (tracks, instruments,
  tempo, time signature, key, bars, notes), the duration and a piano-roll PNG thumbnail;
- a same-name ``.txt`` caption sidecar for images and audio (such a ``.txt`` is a
  caption, not a text document);
- a problem with a reason when the file cannot be used as it is.

``split_preview`` predicts the train/validation split of the text engine (a seeded
shuffle of document indices) from a number of documents.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from studio.data import captioned as _captioned
from studio.data import text as _textdata
from studio.data.files import WalkCancelled, file_digest, walk
from studio.data.midi_file import MUSIC_EXTS  # MIDI, MusicXML, ABC
from studio.data.text import TEXT_EXTENSIONS

TEXT_EXTS = frozenset(TEXT_EXTENSIONS)  # exactly what the text engine reads
from studio.data.image import IMAGE_EXTENSIONS  # noqa: E402
from studio.data.image import MAX_PIXELS_DEFAULT as MAX_IMAGE_PIXELS  # noqa: E402

IMAGE_EXTS = frozenset(IMAGE_EXTENSIONS)
AUDIO_EXTS = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff"})
from studio.data.files import CAPTION_EXT, CAPTION_EXTENSIONS  # noqa: E402

KINDS = ("text", "image", "audio", "midi", "unsupported")

# Below these a file is flagged "too small" (a warning: it can still be used).
MIN_IMAGE_SIDE = 32
MIN_AUDIO_SECONDS = 0.05
MIN_TEXT_CHARS = 16
# Decompression-bomb guard: images with more pixels than this are never decoded.

THUMB_SIZE = 128        # longest side of an image thumbnail, pixels
ENVELOPE_BINS = 160     # min/max pairs in an audio thumbnail's waveform
ROLL_THUMB = (160, 96)  # a music file's piano-roll thumbnail, pixels (width, height)
SNIPPET_CHARS = 280     # characters of text kept for the grid
TEXT_SAMPLE_BYTES = 1 << 20  # larger text files are judged by this much of their start
_AUDIO_BLOCK = 1 << 16  # frames read at a time from audio

ERROR = "error"      # the file cannot be used
WARNING = "warning"  # usable, but the user should look at it

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class ScanItem:
    """What the browser knows about one file. ``problem`` is empty when all is well."""

    path: str
    kind: str
    size: int = 0
    root: str = ""            # the dataset path (file or folder) this file came from
    digest: str = ""          # blake2b of the content, hex
    problem: str = ""
    severity: str = ""        # "", WARNING or ERROR
    duplicate_of: str = ""
    # images
    width: int = 0
    height: int = 0
    mode: str = ""
    thumbnail: bytes = field(default=b"", repr=False)  # JPEG or PNG bytes
    # audio
    duration: float = 0.0
    sample_rate: int = 0
    channels: int = 0
    envelope: np.ndarray | None = field(default=None, repr=False, compare=False)  # (bins, 2)
    # music (MIDI / MusicXML / ABC): a studio.data.midi_file.MidiInfo; duration above
    midi: object | None = field(default=None, repr=False, compare=False)
    # text
    snippet: str = ""
    chars: int = 0
    documents: int = 0        # documents the text engine will read (records of .jsonl / .csv)
    tokens: int = 0
    tokens_exact: bool = False
    # caption sidecar (images and audio): name.txt, else name.caption
    caption_path: str = ""
    caption: str = ""
    caption_problem: str = ""   # an empty, non-UTF-8 or huge caption file: why, and the fix

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def usable(self) -> bool:
        return self.severity != ERROR

    @property
    def rel(self) -> str:
        """The path relative to its dataset folder (the file name for a single file)."""
        if self.root and self.root != self.path:
            try:
                return os.path.relpath(self.path, self.root)
            except ValueError:
                pass
        return self.name


def _with(item: ScanItem, **changes) -> ScanItem:
    """``dataclasses.replace`` without the cost of ``__init__`` (it dominated the scan of
    folders of small files)."""
    new = object.__new__(ScanItem)
    new.__dict__.update(item.__dict__)
    new.__dict__.update(changes)
    return new


@dataclass(frozen=True)
class ScanStep:
    """One yielded result: the item and how far the scan has come."""

    item: ScanItem
    done: int
    total: int


ScanCancelled = WalkCancelled


def kind_of(path: str | os.PathLike) -> str:
    ext = os.path.splitext(str(path))[1].lower()
    if ext in TEXT_EXTS:
        return "text"
    if ext in IMAGE_EXTS:
        return "image"
    if ext in AUDIO_EXTS:
        return "audio"
    if ext in MUSIC_EXTS:
        return "midi"
    return "unsupported"


# -- listing ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    path: str
    root: str
    caption_path: str = ""
    missing: bool = False


def list_files(paths: Iterable[str | os.PathLike],
               cancel: threading.Event | None = None) -> list[_Entry]:
    """Every file the scan will look at (``studio.data.files.walk``: the text engine's
    order), with caption sidecars paired to their media. A folder that cannot be listed is
    passed over; a broken link is listed (and flagged by ``scan_file``)."""
    files: list[tuple[str, str]] = []
    missing: list[_Entry] = []
    given = [os.path.abspath(os.path.expanduser(str(p))) for p in paths]
    for found in walk(given, cancel):
        if found.missing:
            missing.append(_Entry(str(found.path), str(found.root), missing=True))
        elif not (found.problem and os.path.isdir(found.path)):
            files.append((str(found.path), str(found.root)))
    # Pair "name.txt" (else "name.caption") with a same-name image or audio file in the
    # same folder; both are caption files, never listed on their own.
    media_stems: dict[str, str] = {}
    for f, _ in files:
        if kind_of(f) in ("image", "audio"):
            media_stems.setdefault(os.path.splitext(f)[0].lower(), f)
    captions: dict[str, str] = {}
    caption_files: set[str] = set()
    entries: list[_Entry] = []
    for f, root in files:
        base, ext = os.path.splitext(f)
        if ext.lower() in CAPTION_EXTENSIONS and base.lower() in media_stems:
            caption_files.add(f)
            media = media_stems[base.lower()]
            if ext.lower() == CAPTION_EXT or media not in captions:
                captions[media] = f
    for f, root in files:
        if f in caption_files:
            continue
        entries.append(_Entry(f, root, caption_path=captions.get(f, "")))
    return entries + missing


# -- the scan -----------------------------------------------------------------------------

def scan(paths: Iterable[str | os.PathLike], *, cancel: threading.Event | None = None,
         count_tokens: TokenCounter | None = None, text_field: str = "text",
         csv_column: str = "text", options: dict | None = None) -> Iterator[ScanStep]:
    """Scan files and folders; yield a :class:`ScanStep` per file, in a stable order.
    ``options``: data knobs that change how files are judged (a family spec's
    ``scan_knobs``: ``midi_tracks = "melody"`` makes a drums-only file an error).

    Stops (without raising) at the next file boundary once ``cancel`` is set.
    Duplicates are found by content hash; the first file in scan order is the original.
    """
    try:
        entries = list_files(paths, cancel)
    except ScanCancelled:
        return
    total = len(entries)
    originals: dict[str, str] = {}
    for i, entry in enumerate(entries):
        if cancel is not None and cancel.is_set():
            return
        item = scan_file(entry.path, root=entry.root, caption_path=entry.caption_path,
                         count_tokens=count_tokens, text_field=text_field,
                         csv_column=csv_column, missing=entry.missing, options=options)
        if item.digest and item.size > 0:
            first = originals.setdefault(item.digest, item.path)
            if first != item.path and not item.problem:
                item = _with(item, duplicate_of=first, severity=WARNING,
                             problem=f"duplicate of {_short(first, entry.root)}: only one "
                                     f"copy is trained on")
        yield ScanStep(item, i + 1, total)


def _short(path: str, root: str) -> str:
    try:
        rel = os.path.relpath(path, root if os.path.isdir(root) else os.path.dirname(root))
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def scan_file(path: str, *, root: str = "", caption_path: str = "",
              count_tokens: TokenCounter | None = None, text_field: str = "text",
              csv_column: str = "text", missing: bool = False,
              options: dict | None = None) -> ScanItem:
    """Scan one file. Never raises for a bad file: the reason goes in ``problem``."""
    kind = kind_of(path)
    base = ScanItem(path=path, kind=kind, root=root or path, caption_path=caption_path)
    if missing:
        return _with(base, problem="not found", severity=ERROR)
    try:
        st = os.stat(path)
    except OSError as exc:
        why = "broken link" if os.path.islink(path) else (exc.strerror or str(exc)).lower()
        return _with(base, problem=f"unreadable ({why})", severity=ERROR)
    if not stat.S_ISREG(st.st_mode):
        return _with(base, problem="not a regular file", severity=ERROR)
    base = _with(base, size=st.st_size)
    if kind == "unsupported":
        ext = os.path.splitext(path)[1].lower()
        what = f"'{ext}' files" if ext else "files without an extension"
        return _with(base, severity=ERROR, problem=f"unsupported type ({what} "
                                   "are not text, image, audio or music)")
    try:
        digest = file_digest(path)
    except OSError as exc:
        return _with(base, problem=f"unreadable ({(exc.strerror or str(exc)).lower()})",
                                   severity=ERROR)
    base = _with(base, digest=digest)
    if caption_path:
        caption, problem = _captioned.read_caption_file(caption_path)
        base = _with(base, caption=caption, caption_problem=problem)
    if st.st_size == 0:
        return _with(base, problem="empty file", severity=ERROR)
    if kind == "image":
        return _scan_image(base)
    if kind == "audio":
        return _scan_audio(base)
    if kind == "midi":
        return _scan_midi(base, melody=(options or {}).get("midi_tracks") == "melody")
    return _scan_text(base, count_tokens, text_field, csv_column)


def read_caption(path: str) -> str:
    """The text of a caption file ("" when it cannot be used: ``studio.data.captioned``
    says why)."""
    return _captioned.read_caption_file(path)[0]


def folder_description(path: str | os.PathLike) -> str:
    """An audio file's text condition when it has no ``.txt`` sidecar: its folder's name
    (``drum_loops/a.wav`` -> "drum loops")."""
    name = os.path.basename(os.path.dirname(os.path.realpath(path)))
    return " ".join(re.sub(r"[_\-.]+", " ", name).split())


def write_caption(media_path: str, text: str) -> str:
    """Write (atomically) the caption sidecar of an image or audio file (its existing
    ``.txt`` / ``.caption``, else ``.txt``); return its path. To keep the old text for
    undo, write through ``studio.data.captioned.CaptionEdits``."""
    return str(_captioned.write_caption(media_path, text).path)


# -- images -------------------------------------------------------------------------------

def _scan_image(item: ScanItem) -> ScanItem:
    from PIL import Image

    # The decompression-bomb guard: the header gives the size, and nothing above
    # MAX_IMAGE_PIXELS is decoded. (PIL's own Image.MAX_IMAGE_PIXELS check stays on too:
    # it raises DecompressionBombError at twice its limit, caught below.)
    try:
        with Image.open(item.path) as im:
            w, h = im.size
            item = _with(item, width=w, height=h, mode=im.mode)
            if w * h > MAX_IMAGE_PIXELS:
                return _with(item, severity=ERROR, problem=(
                    f"too large to open safely ({w}×{h} = {w * h / 1e6:.0f} megapixels, "
                    f"limit {MAX_IMAGE_PIXELS / 1e6:.0f})"))
            thumb = _thumbnail(im)
    except Image.DecompressionBombError as exc:
        return _with(item, severity=ERROR, problem=f"too large to open safely ({exc})")
    except Exception as exc:  # noqa: BLE001 - any decoder error means "cannot be read"
        return _with(item, severity=ERROR,
                                   problem=f"unreadable image ({_reason(exc)})")
    item = _with(item, thumbnail=thumb)
    if min(item.width, item.height) < MIN_IMAGE_SIDE:
        item = _with(item, severity=WARNING, problem=(
            f"too small ({item.width}×{item.height} px, at least {MIN_IMAGE_SIDE} px a side)"))
    return item


def _thumbnail(im) -> bytes:
    """A JPEG (or PNG, when there is transparency) at most THUMB_SIZE on its longest side."""
    im.draft("RGB", (THUMB_SIZE * 2, THUMB_SIZE * 2))  # JPEG: decode at a reduced scale
    alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    frame = im.convert("RGBA" if alpha else "RGB")  # also decodes: errors surface here
    frame.thumbnail((THUMB_SIZE, THUMB_SIZE))
    buf = io.BytesIO()
    if alpha:
        frame.save(buf, "PNG", optimize=False)
    else:
        frame.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= 120 else text[:117] + "..."


# -- audio --------------------------------------------------------------------------------

def _scan_audio(item: ScanItem) -> ScanItem:
    import soundfile as sf

    other = _textdata.sniff_other_content(item.path, "audio")
    if other:
        return _with(item, severity=ERROR, problem="; ".join(other))
    try:
        info = sf.info(item.path)
        env = audio_envelope(item.path, ENVELOPE_BINS)
    except Exception as exc:  # noqa: BLE001 - libsndfile errors
        return _with(item, severity=ERROR, problem=f"unreadable audio ({_reason(exc)})")
    item = _with(item, duration=float(info.duration), sample_rate=int(info.samplerate),
                               channels=int(info.channels), envelope=env)
    if info.frames == 0:
        return _with(item, severity=ERROR, problem="empty (no audio frames)")
    if item.duration < MIN_AUDIO_SECONDS:
        return _with(item, severity=WARNING, problem=(
            f"too short ({item.duration * 1000:.0f} ms, at least {MIN_AUDIO_SECONDS * 1000:.0f} ms)"))
    if env.size and float(np.abs(env).max()) == 0.0:
        return _with(item, severity=WARNING, problem="silent (every sample is zero)")
    return item


def audio_envelope(path: str, bins: int = ENVELOPE_BINS) -> np.ndarray:
    """Min/max of the signal (all channels) in ``bins`` equal slices: shape (bins, 2).

    Reads the file in blocks, so memory stays small for long recordings.
    """
    import soundfile as sf

    with sf.SoundFile(path) as f:
        frames = f.frames
        if frames <= 0:
            return np.zeros((0, 2), np.float32)
        bins = max(1, min(bins, frames))
        lo = np.full(bins, np.inf, np.float32)
        hi = np.full(bins, -np.inf, np.float32)
        pos = 0
        while True:
            block = f.read(_AUDIO_BLOCK, dtype="float32", always_2d=True)
            if len(block) == 0:
                break
            n = len(block)
            idx = (np.arange(pos, pos + n, dtype=np.int64) * bins) // frames
            starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
            which = idx[starts]
            # reduce along time first (fast, contiguous), then across the few channels
            lo[which] = np.minimum(lo[which], np.minimum.reduceat(block, starts, axis=0).min(axis=1))
            hi[which] = np.maximum(hi[which], np.maximum.reduceat(block, starts, axis=0).max(axis=1))
            pos += n
    empty = ~np.isfinite(lo)
    lo[empty] = 0.0
    hi[empty] = 0.0
    return np.stack([lo, hi], axis=1)


def audio_spectrogram(path: str, columns: int = 600, n_fft: int = 1024
                      ) -> tuple[np.ndarray, int, float]:
    """A magnitude spectrogram in dB, shape (columns, n_fft // 2 + 1), of the mono mix.

    Long files are sampled: one window per column, read with a seek, so a ten-minute
    recording costs ``columns`` small reads rather than the whole file.
    Returns (spectrogram, sample rate, duration in seconds).
    """
    import soundfile as sf

    window = np.hanning(n_fft).astype(np.float32)
    with sf.SoundFile(path) as f:
        sr, frames = f.samplerate, f.frames
        if frames <= 0:
            return np.zeros((0, n_fft // 2 + 1), np.float32), sr, 0.0
        hop = max(1, (frames - n_fft) // max(1, columns - 1)) if frames > n_fft else 1
        starts = list(range(0, max(1, frames - n_fft + 1), hop))[:columns]
        frames_out = []
        if hop < n_fft:  # short file: read it whole (it is small) and frame it
            data = f.read(dtype="float32", always_2d=True).mean(axis=1)
            data = np.pad(data, (0, max(0, n_fft - len(data))))
            for s in starts:
                frames_out.append(data[s:s + n_fft])
        else:
            for s in starts:
                f.seek(s)
                chunk = f.read(n_fft, dtype="float32", always_2d=True).mean(axis=1)
                frames_out.append(np.pad(chunk, (0, n_fft - len(chunk))))
    spec = np.abs(np.fft.rfft(np.stack(frames_out) * window, axis=1))
    db = 20.0 * np.log10(np.maximum(spec, 1e-6))
    return db.astype(np.float32), sr, frames / sr


# -- music --------------------------------------------------------------------------------

def _scan_midi(item: ScanItem, *, melody: bool = False) -> ScanItem:
    """Tracks, tempo, key, bars and a piano-roll thumbnail; the reasons a music file is bad
    or odd (``studio.data.midi_file.inspect_midi``'s, so the pane and the engine agree;
    ``melody``: only the melody trains, so a drums-only file is an error, as it is there)."""
    from studio.data import midi_file

    info, score = midi_file.inspect_with_score(item.path, melody=melody)
    # every reason, first the worst (the grid shows the part before the first ";")
    problem = "; ".join((info.problem, *info.notes_extra)) if info.problem else ""
    item = _with(item, midi=info, duration=info.duration, problem=problem,
                 severity=info.severity)
    if score is not None and info.notes:
        item = _with(item, thumbnail=midi_file.roll_png(score, *ROLL_THUMB))
    return item


# -- text ---------------------------------------------------------------------------------

_PUNCT_CHARS = ".,;:!?\"'()-[]{}*/&%$#@"


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate for English BPE vocabularies (GPT-2 and kin): about 1.3
    tokens per whitespace-separated word, plus one per punctuation mark."""
    words = len(text.split())
    punct = sum(text.count(c) for c in _PUNCT_CHARS)
    return int(round(words * 1.3 + punct))


def _scan_text(item: ScanItem, count_tokens: TokenCounter | None, text_field: str,
               csv_column: str) -> ScanItem:
    """Read the file the way the text engine will (same decoding, same records, same
    reasons), so what the browser flags is what training would skip. A file larger than
    ``TEXT_SAMPLE_BYTES`` is judged by its first ``TEXT_SAMPLE_BYTES`` and its counts are
    estimated from them (scaled by size; ``tokens_exact`` is then False): memory and time
    stay bounded whatever the file's size."""
    path = Path(item.path)
    sampled = item.size > TEXT_SAMPLE_BYTES
    try:
        text, legacy = (_read_text_sample(path) if sampled else
                        _textdata._decode(path.read_bytes()))
        if not text.strip():
            raise _textdata._Unusable("empty (only whitespace)")
        ext = path.suffix.lower()
        if ext == ".jsonl":
            docs, skipped = _textdata._read_jsonl(path, text, text_field)
        elif ext == ".csv":
            docs, skipped = _textdata._read_csv(path, text, csv_column)
        else:
            docs, skipped = [_textdata.Document(str(path), text, 0)], []
    except OSError as exc:
        return _with(item, severity=ERROR, problem=f"cannot be read: {exc.strerror or exc}")
    except _textdata._Unusable as exc:
        return _with(item, severity=ERROR, problem=str(exc))
    counter = count_tokens or estimate_tokens
    snippet = ""
    for d in docs:
        if len(snippet) >= SNIPPET_CHARS:
            break
        snippet += d.text[:SNIPPET_CHARS - len(snippet)] + ("\n" if len(docs) > 1 else "")
    scale = item.size / sum(len(d.text.encode()) for d in docs) if sampled and docs else 1.0
    item = _with(
        item, snippet=snippet.rstrip("\n"),
        chars=round(sum(len(d.text) for d in docs) * scale),
        tokens=round(sum(counter(d.text) for d in docs) * scale),
        tokens_exact=count_tokens is not None and not sampled,
        documents=round(len(docs) * scale) if ext in (".jsonl", ".csv") else len(docs))
    if not docs:
        why = skipped[0].reason if skipped else "no text in it"
        return _with(item, severity=ERROR, problem=why)
    if skipped:
        return _with(item, severity=WARNING, problem=skipped[0].reason)
    if item.chars < MIN_TEXT_CHARS:
        return _with(item, severity=WARNING,
                                   problem=f"too short ({item.chars} characters)")
    if legacy:
        return _with(item, severity=WARNING, problem=(
            f"not UTF-8: read as {_textdata.encoding_name(legacy)} (assumed: the encoding "
            f"that explains its bytes best)"))
    return item


def _read_text_sample(path: Path) -> tuple[str, str]:
    """The first ``TEXT_SAMPLE_BYTES`` of a large text file, decoded as the engine would,
    up to its last complete line (so no record is cut): (text, legacy encoding or "")."""
    with open(path, "rb") as f:
        head = f.read(TEXT_SAMPLE_BYTES)
    encoding, legacy = _textdata._sniff_encoding(head), ""
    try:   # an incremental decode: a character cut at the end of the sample waits
        text = codecs.getincrementaldecoder(encoding)().decode(head)
    except UnicodeDecodeError as e:
        legacy = (_textdata.legacy_encoding(head) or "") if encoding == "utf-8" else ""
        if not legacy:
            raise _textdata._undecodable(encoding, head[e.start:], e.start) from None
        text = head.decode(legacy)
    text = _textdata._normalise_newlines(text)
    return text[:text.rfind("\n") + 1] or text, legacy


def read_text(path: str, limit: int = 1 << 20) -> tuple[str, bool]:
    """The start of a text file for display: (text, truncated)."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    truncated = len(data) > limit
    return data[:limit].decode("utf-8-sig", errors="replace"), truncated


# -- tokenizers ---------------------------------------------------------------------------

def token_counter_for(model_source: str | os.PathLike | None) -> TokenCounter | None:
    """An exact counter from the model's ``tokenizer.json``, or None (then tokens are
    estimated). ``model_source`` is "starter:<name>", a model folder, or a hub id already in
    the Hugging Face cache (never downloaded here). Uses ``tokenizers`` directly: no torch.
    """
    if not model_source:
        return None
    from studio.core.paths import resolve_model_source

    source = resolve_model_source(str(model_source))
    path = Path(source) / "tokenizer.json"
    if not path.is_file():
        path = None
        if not os.path.exists(source):  # perhaps a hub id
            try:
                from huggingface_hub import try_to_load_from_cache

                found = try_to_load_from_cache(source, "tokenizer.json")
                path = Path(found) if isinstance(found, str) else None
            except Exception:  # noqa: BLE001 - not a valid repo id: no exact counts
                path = None
    if path is None:
        return None
    try:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
    except Exception:  # noqa: BLE001 - an unreadable tokenizer just means "estimate"
        return None

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    return count


# -- the split ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SplitPreview:
    documents: int
    train: int
    val: int
    seed: int
    val_fraction: float
    val_indices: tuple[int, ...] = ()  # indices into the documents, sorted
    by_block: bool = False  # one document: validation is a share of its blocks

    def describe(self) -> str:
        if self.documents == 0:
            return "no text documents to split"
        if self.val_fraction <= 0:
            return f"{self.documents} training documents, no validation (val_fraction is 0)"
        if self.by_block:
            return (f"1 document: {self.val_fraction:.0%} of its blocks held out for "
                    f"validation (seed {self.seed})")
        return f"{self.train} train / {self.val} validation documents (seed {self.seed})"


def split_preview(documents: int, val_fraction: float, seed: int) -> SplitPreview:
    """Which documents the text engine will hold out, by its own seeded split of the
    document indices (in reading order). One document is split by block instead."""
    n = int(documents)
    if n <= 0 or val_fraction <= 0:
        return SplitPreview(n, n, 0, seed, val_fraction)
    if n == 1:
        return SplitPreview(1, 1, 0, seed, val_fraction, by_block=True)
    train, val = _textdata._split_indices(n, val_fraction, seed)
    return SplitPreview(n, len(train), len(val), seed, val_fraction, val_indices=tuple(val))


__all__ = [
    "AUDIO_EXTS", "ERROR", "IMAGE_EXTS", "KINDS", "ScanItem", "ScanStep", "SplitPreview",
    "TEXT_EXTS", "WARNING", "audio_envelope", "audio_spectrogram", "estimate_tokens",
    "file_digest", "kind_of", "list_files", "read_caption",
    "read_text", "scan", "scan_file", "split_preview", "token_counter_for", "write_caption",
]
