"""The MIDI dataset: music files read into ``symusic`` scores, tokenized with MidiTok,
cached, and cut into token blocks for a causal LM; plus the musical statistics that show
whether samples move toward the training files' style.

* Reading: ``studio.data.midi_file`` (``.mid``/``.midi`` with symusic; MusicXML and ABC
  through music21 when it is installed, else a clear message naming the file); files it
  judges unusable are skipped with its reason, odd ones (tempo, time-signature changes)
  train. Which tracks train is
  ``data.midi_tracks`` (all; all but drums; melody only = the highest non-drum voice).
* Tokenizer: MidiTok REMI or TSD, one token stream for all tracks (programs as tokens),
  BPE trained on the training files (``data.midi_vocab``), or the one saved beside the
  model's weights (``miditok.json``: never ``tokenizer.json``, which is Hugging Face's
  name; the MidiTok file is never read as a Hugging Face tokenizer).
* Augmentation (training files only): MidiTok's ``augment_score`` for transposition and
  velocity; tempo scaled on the score. Each augmented copy is tokenized once and cached.
* Cache: ``studio.data.tokens.TokenCache`` under ``~/.cache/fine-tuning-studio/midi-tokens``,
  keyed by the tokenizer's full serialisation and each file's content + its settings.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from studio.core.errors import DataError
from studio.data import midi_file as mf
from studio.data.tokens import TokenBlocks

EXTENSIONS = tuple(sorted(mf.MUSIC_EXTS))  # .mid, .midi; MusicXML/ABC through music21
TOKENIZER_FILE = "miditok.json"     # beside the weights; NOT tokenizer.json (HF's name)
TRACK_MODES = ("all", "no_drums", "melody")
TOKENIZER_KINDS = ("auto", "remi", "tsd")
PITCH_RANGE = (21, 109)             # MidiTok's default: the piano's keys


# -- reading -----------------------------------------------------------------------------

def read_score(path: str | Path):
    """A ``symusic.Score`` of a MIDI, MusicXML or ABC file (``midi_file.read_score``);
    a DataError naming the file and the reason when it cannot be read."""
    try:
        return mf.read_score(path)
    except mf.MidiFileError as exc:
        raise DataError(str(path), str(exc)) from None


def select_tracks(score, mode: str):
    """The tracks that train: "all", "no_drums", or "melody" (the non-drum track with the
    highest mean pitch: the top voice of a chorale, the lead of a band file)."""
    if mode == "all":
        return score
    out = score.copy()
    tracks = [t for t in out.tracks if not t.is_drum and len(t.notes)]
    if mode == "melody" and tracks:
        tracks = [max(tracks, key=lambda t: float(np.mean(t.notes.numpy()["pitch"])))]
    out.tracks = tracks
    return out


def note_count(score) -> int:
    return int(sum(len(t.notes) for t in score.tracks))


def bar_ticks(score) -> int:
    """Ticks in one bar of the score's first time signature (4/4 when it has none)."""
    tpq = score.ticks_per_quarter
    if len(score.time_signatures):
        ts = score.time_signatures[0]
        return max(1, int(round(tpq * 4 * ts.numerator / ts.denominator)))
    return 4 * tpq


def first_bars(score, bars: int):
    """The score clipped to its first ``bars`` bars (the primer of a continuation)."""
    return score.clip(0, bars * bar_ticks(score), clip_end=True)


# -- the tokenizer -----------------------------------------------------------------------

def new_tokenizer(kind: str = "remi"):
    """An untrained MidiTok tokenizer: one token stream for every track (programs as
    tokens), tempos and time signatures included."""
    import miditok

    cfg = miditok.TokenizerConfig(use_programs=True, one_token_stream_for_programs=True,
                                  use_tempos=True, use_time_signatures=True,
                                  special_tokens=["PAD", "BOS", "EOS"])
    return (miditok.TSD if kind == "tsd" else miditok.REMI)(cfg)


def load_tokenizer(folder: str | Path):
    """The MidiTok tokenizer saved beside a model's weights, or None."""
    import miditok

    path = Path(folder) / TOKENIZER_FILE
    if not path.is_file():
        return None
    kind = json.loads(path.read_text(encoding="utf-8")).get("tokenization", "REMI")
    return getattr(miditok, kind)(params=path)


def save_tokenizer(tokenizer, folder: str | Path) -> Path:
    Path(folder).mkdir(parents=True, exist_ok=True)
    tokenizer.save(Path(folder), filename=TOKENIZER_FILE)
    return Path(folder) / TOKENIZER_FILE


def train_bpe(tokenizer, scores: Sequence, vocab_size: int) -> None:
    """BPE over the training scores (MidiTok trains from files: they are written to a
    temporary folder). A vocabulary no larger than the base one leaves it untrained."""
    if vocab_size <= len(tokenizer) or not scores:
        return
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, s in enumerate(scores):
            p = Path(tmp) / f"{i:05d}.mid"
            s.dump_midi(str(p))
            paths.append(p)
        tokenizer.train(vocab_size=vocab_size, model="BPE", files_paths=paths)


def fingerprint(tokenizer) -> str:
    """A key for the tokenizer's behaviour: its whole serialisation (BPE merges included)."""
    text = json.dumps(tokenizer.to_dict(), sort_keys=True, default=str)
    return "miditok:" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def encode(tokenizer, score, *, eos: bool = True) -> np.ndarray:
    """Token ids of a score: BOS, the music, EOS (``eos=False`` for a primer)."""
    seq = tokenizer.encode(score)
    if isinstance(seq, list):  # a tokenizer with one stream per track: join them
        ids = [i for s in seq for i in s.ids]
    else:
        ids = list(seq.ids)
    ids = [tokenizer["BOS_None"]] + ids + ([tokenizer["EOS_None"]] if eos else [])
    return np.asarray(ids, dtype=np.int64)


def decode(tokenizer, ids: Sequence[int]):
    """A score from token ids (special tokens dropped)."""
    special = {tokenizer["BOS_None"], tokenizer["EOS_None"], tokenizer.pad_token_id}
    ids = [int(i) for i in ids if int(i) not in special]
    if not ids:
        import symusic
        return symusic.Score(tokenizer.time_division if hasattr(tokenizer, "time_division")
                             else 480)
    return tokenizer.decode(ids)


# -- augmentation ------------------------------------------------------------------------

@dataclass(frozen=True)
class Variant:
    """One augmented copy of a training file (all zero: the file as it is)."""

    pitch: int = 0
    velocity: int = 0
    tempo: float = 1.0

    @property
    def key(self) -> str:
        return f"p{self.pitch}v{self.velocity}t{self.tempo:.4f}"


def variants(aug: Any, seed: int, score) -> list[Variant]:
    """The copies a training file trains as: itself, and one per transposition within
    ``augment.midi_transpose`` semitones (kept inside the piano's range), each with a
    random velocity offset and tempo factor when those are on."""
    k = int(getattr(aug, "midi_transpose", 0))
    vel = int(getattr(aug, "midi_velocity", 0))
    tempo = float(getattr(aug, "midi_tempo", 0.0))
    pitches = np.concatenate([t.notes.numpy()["pitch"] for t in score.tracks if not t.is_drum]
                             or [np.zeros(0, np.int64)])
    lo, hi = (int(pitches.min()), int(pitches.max())) if len(pitches) else (60, 60)
    rng = random.Random(seed)
    out = [Variant()]
    for off in range(-k, k + 1):
        if off == 0 or lo + off < PITCH_RANGE[0] or hi + off >= PITCH_RANGE[1]:
            continue
        out.append(Variant(off, rng.randint(-vel, vel) if vel else 0,
                           round(1.0 + rng.uniform(-tempo, tempo), 4) if tempo else 1.0))
    if not k and (vel or tempo):  # no transposition: one jittered copy
        out.append(Variant(0, rng.randint(-vel, vel) if vel else 0,
                           round(1.0 + rng.uniform(-tempo, tempo), 4) if tempo else 1.0))
    return out


def apply_variant(score, v: Variant):
    """MidiTok's own pitch/velocity augmentation; the tempo scaled on the score."""
    if v == Variant():
        return score
    from miditok.data_augmentation import augment_score

    out = augment_score(score, pitch_offset=v.pitch, velocity_offset=v.velocity)
    if v.tempo != 1.0:
        for t in out.tempos:
            t.qpm = t.qpm * v.tempo
    return out


def describe_variant(v: Variant) -> str:
    """ "-3 semitones · velocity +5 · tempo ×1.04" ("as written" for the file itself)."""
    parts = []
    if v.pitch:
        parts.append(f"{v.pitch:+d} semitone{'s' if abs(v.pitch) != 1 else ''}"
                     .replace("-", "\u2212"))
    if v.velocity:
        parts.append(f"velocity {v.velocity:+d}".replace("-", "\u2212"))
    if v.tempo != 1.0:
        parts.append(f"tempo \u00d7{v.tempo:.2f}")
    return " · ".join(parts) or "as written"


def augment_preview(path: str | Path, aug: Any, tracks: str, seed: int,
                    out_dir: str | Path) -> tuple[list[tuple[str, str]], tuple[int, int]]:
    """One music file as training sees it under ``aug`` (the ``[augment]`` settings) and
    ``data.midi_tracks = tracks``: the file itself and the extreme copies — the lowest and
    the highest transposition, or the one velocity/tempo copy when nothing transposes —
    drawn by ``variants`` and made by ``apply_variant``, the very functions the training
    set is built with (so the preview cannot drift from what trains). Velocity and tempo
    offsets are a draw with ``seed`` from the same ranges. Each is written as a .mid file
    in ``out_dir``; returns ([(label, path)], (lowest, highest) pitch over all of them),
    so they can be drawn on one pitch axis."""
    score = select_tracks(read_score(path), tracks)
    copies = sorted((v for v in variants(aug, seed, score) if v != Variant()),
                    key=lambda v: v.pitch)
    picks = [Variant()] + list(dict.fromkeys(copies[:1] + copies[-1:]))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = hashlib.blake2b(str(Path(path).resolve()).encode(), digest_size=6).hexdigest()
    out, lo, hi = [], 127, 0
    for v in picks:
        copy = apply_variant(score, v)
        target = out_dir / f"{stem}-{tracks}-{v.key}.mid"
        copy.dump_midi(str(target))
        pitches = pitched_notes(copy)[:, 1]
        if len(pitches):
            lo, hi = min(lo, int(pitches.min())), max(hi, int(pitches.max()))
        out.append((describe_variant(v), str(target)))
    return out, ((lo, hi) if lo <= hi else (48, 72))


# -- musical statistics ------------------------------------------------------------------

STAT_NAMES = ("pc_surprise", "pc_distance", "notes_per_bar_ratio", "in_key", "repeated_bars")


def pitched_notes(score) -> np.ndarray:
    """(onset tick, pitch) of every non-drum note, sorted by onset."""
    parts = [np.stack([t.notes.numpy()["time"], t.notes.numpy()["pitch"]], axis=1)
             for t in score.tracks if not t.is_drum and len(t.notes)]
    if not parts:
        return np.zeros((0, 2), dtype=np.int64)
    notes = np.concatenate(parts).astype(np.int64)
    return notes[np.lexsort((notes[:, 1], notes[:, 0]))]


def pitch_class_histogram(pitches: np.ndarray) -> np.ndarray:
    """Share of notes on each of the 12 pitch classes, by count (zeros for no notes);
    ``midi_file.pitch_class_histogram`` weighs a whole score's by duration, these are the
    notes after a primer."""
    counts = np.bincount(np.asarray(pitches, dtype=np.int64) % 12, minlength=12).astype(float)
    return counts / counts.sum() if counts.sum() else counts


def tonic_aligned(histogram: np.ndarray) -> np.ndarray:
    """The histogram rotated so that its estimated tonic (Krumhansl-Schmuckler) is at 0:
    a chorale in B minor and one in D minor then line up degree by degree."""
    key = mf.estimate_key(histogram)
    return np.roll(histogram, -key.tonic) if key is not None else histogram


def _bits_by_rotation(histogram: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Bits per note of the notes' pitch classes under ``reference`` turned by each of the
    12 transpositions; the reference is mixed with 2% of a uniform histogram, so a pitch
    class it never saw costs about 9 bits, not infinity."""
    ref = 0.98 * np.asarray(reference, dtype=float) + 0.02 / 12
    h = np.asarray(histogram, dtype=float)
    return np.array([-(h * np.log2(np.roll(ref, r))).sum() for r in range(12)])


def pc_bits(histogram: np.ndarray, reference: np.ndarray) -> float:
    """Bits per note of the notes' pitch classes under ``reference`` (a tonic-aligned
    histogram), in the key that fits best: the cross-entropy, minimised over the 12
    transpositions. Unlike a histogram distance it does not grow for a short piece with
    few notes (its expected value is the same for 20 notes or 2,000), and the key a piece
    happens to be in does not count."""
    return float(_bits_by_rotation(histogram, reference).min())


def style_profile(histograms: Sequence[np.ndarray], counts: Sequence[int]
                  ) -> tuple[np.ndarray, float]:
    """(the pieces' pitch-class profile up to transposition, their own bits per note
    under it). Each piece is turned to its estimated tonic and pooled by notes; then, a
    few rounds, each is turned to the transposition that fits the pool best and pooled
    again. The key estimate of a single melody is often a fifth or a mode off (a soprano
    line lacks the harmony), which would smear the profile; the best-fit rounds line the
    pieces up by what they share, by the same rule a sample is scored with."""
    n = float(sum(counts))
    if not n:
        return np.zeros(12), 0.0
    hs = [np.asarray(h, dtype=float) for h in histograms]
    profile = sum(c * tonic_aligned(h) for c, h in zip(counts, hs)) / n
    for _ in range(4):
        turns = [int(_bits_by_rotation(h, profile).argmin()) for h in hs]
        new = sum(c * np.roll(h, -r) for c, h, r in zip(counts, hs, turns)) / n
        if np.allclose(new, profile):
            break
        profile = new
    own = sum(c * pc_bits(h, profile) for c, h in zip(counts, hs)) / n
    return profile, float(own)


def in_key_share(pitches: np.ndarray, key: mf.Key | None) -> float:
    """Share of the notes in the key's scale (major, or natural minor)."""
    if not len(pitches) or key is None:
        return 0.0
    return float(np.mean([int(p) % 12 in key.scale for p in pitches]))


def repeated_bar_rate(notes: np.ndarray, bar: int) -> float:
    """Share of non-empty bars whose notes (onset within the bar, pitch) repeat an
    earlier bar exactly: loops and riffs score high, aimless noodling low."""
    if not len(notes):
        return 0.0
    seen, repeats, bars = set(), 0, 0
    index = notes[:, 0] // bar
    for b in np.unique(index):
        sel = notes[index == b]
        content = tuple(map(tuple, np.stack([sel[:, 0] - b * bar, sel[:, 1]], 1).tolist()))
        bars += 1
        repeats += content in seen
        seen.add(content)
    return repeats / bars


@dataclass
class MusicStats:
    notes: int
    bars: float
    histogram: list[float]
    key: str
    in_key: float
    notes_per_bar: float
    repeated_bars: float
    # the scores' pitch-class profile up to transposition (``style_profile``)
    aligned: list[float] = field(default_factory=lambda: [0.0] * 12)
    # the scores' own pitch-class bits per note under ``aligned`` (see pc_bits): what a
    # piece of this very set scores, the zero of the pc_surprise curve
    own_bits: float = 0.0

    def compared(self, reference: "MusicStats | None") -> dict[str, float]:
        """The curve numbers against the training files: pitch-class surprise in any key
        (bits per note more than the training files' own, see ``pc_bits``: 0 = pitches
        as typical of them as their own, above 0 = less so); pitch-class distance in
        absolute keys (total variation of the raw histograms, 0 = the same, 1 = disjoint:
        a piece in another key of the very same style scores high, and a short one
        scores high by chance); note density relative to theirs; share of notes in the
        sample's own estimated key; repeated-bar rate."""
        out = {"in_key": round(self.in_key, 4), "repeated_bars": round(self.repeated_bars, 4)}
        if reference is None:  # nothing to compare with: the density itself
            out["notes_per_bar"] = round(self.notes_per_bar, 3)
        else:
            if self.notes and any(reference.aligned):
                out["pc_surprise"] = round(pc_bits(np.asarray(self.histogram),
                                                   np.asarray(reference.aligned))
                                           - reference.own_bits, 4)
            dist = 0.5 * float(np.abs(np.asarray(self.histogram) -
                                      np.asarray(reference.histogram)).sum()) \
                if self.notes else 1.0   # nothing played: as far as it gets
            out["pc_distance"] = round(dist, 4)
            out["notes_per_bar_ratio"] = round(
                self.notes_per_bar / reference.notes_per_bar, 4) if reference.notes_per_bar \
                else 0.0
        return out


def music_stats(scores: Sequence, start_ticks: Sequence[int] | None = None) -> MusicStats:
    """Statistics over scores' pitched notes (from ``start_ticks[i]`` on: a continuation
    is judged on what the model added, not on its primer)."""
    all_pitches, per_bar, repeats, bars_total = [], [], [], 0.0
    for i, score in enumerate(scores):
        notes = pitched_notes(score)
        if start_ticks is not None:
            notes = notes[notes[:, 0] >= start_ticks[i]]
        if not len(notes):
            continue
        bar = bar_ticks(score)
        bars = max(1.0, math.ceil((notes[-1, 0] - notes[0, 0] + 1) / bar))
        all_pitches.append(notes[:, 1])
        per_bar.append((len(notes), bars))
        repeats.append(repeated_bar_rate(notes - [notes[0, 0] // bar * bar, 0], bar))
        bars_total += bars
    pitches = np.concatenate(all_pitches) if all_pitches else np.zeros(0, np.int64)
    hist = pitch_class_histogram(pitches)
    key = mf.estimate_key(hist)   # Krumhansl-Schmuckler, as the dataset pane shows it
    n = len(pitches)
    # key-free: each score turned to its own tonic before pooling (the twelve chorales of
    # the demo are in eight keys; their raw histograms pooled are nobody's style)
    aligned, own_bits = style_profile([pitch_class_histogram(p) for p in all_pitches],
                                      [len(p) for p in all_pitches])
    return MusicStats(notes=n, bars=bars_total, histogram=hist.round(5).tolist(),
                      key=key.name if key else "no key",
                      in_key=in_key_share(pitches, key),
                      notes_per_bar=n / bars_total if bars_total else 0.0,
                      repeated_bars=float(np.mean(repeats)) if repeats else 0.0,
                      aligned=np.asarray(aligned).round(5).tolist(), own_bits=own_bits)


def describe_stats(s: MusicStats) -> str:
    return (f"{s.notes:,} notes, {s.key} ({100 * s.in_key:.0f}% "
            f"in key), {s.notes_per_bar:.1f} notes a bar, {100 * s.repeated_bars:.0f}% "
            "repeated bars")


# -- the dataset -------------------------------------------------------------------------

@dataclass
class MidiData(TokenBlocks):
    """Token blocks of the training and held-out files, as the text family's; plus what
    sampling needs (primers, the training files' statistics)."""

    primers: list = field(default_factory=list)      # (name, score) of held-out files
    train_stats: MusicStats | None = None
    tokens_per_bar: float = 16.0


def find_music_files(paths: Sequence[Path], exclude: Sequence[str] = ()) -> tuple[list, list]:
    """(music files, Skipped entries) under ``paths``, in a stable order."""
    from studio.data.files import Skipped, walk

    skip = {str(Path(p).resolve()) for p in exclude}
    files, skipped = [], []
    for found in walk(paths):
        if found.missing:
            skipped.append(Skipped(str(found.path), "no such file or folder"))
        elif found.problem:
            skipped.append(Skipped(str(found.path), found.problem))
        elif found.path.suffix.lower() in EXTENSIONS and str(found.path.resolve()) not in skip:
            files.append(found.path)
    return files, skipped


def load_scores(files: Sequence[Path], tracks: str) -> tuple[list, list]:
    """[(path, digest, score)] of the files that hold notes, and Skipped for the rest."""
    from studio.data.files import Skipped, digest_or_none

    out, skipped = [], []
    for path in files:
        digest = digest_or_none(path)
        info, score = mf.inspect_with_score(path, melody=tracks == "melody")
        if digest is None or score is None or info.severity == mf.ERROR:
            skipped.append(Skipped(str(path), info.problem or "cannot be read (permissions?)"))
            continue
        chosen = select_tracks(score, tracks)
        if note_count(chosen) == 0:
            skipped.append(Skipped(str(path), f"no notes in the tracks data.midi_tracks = "
                                              f"\"{tracks}\" keeps (drums only?)"))
            continue
        out.append((path, digest, chosen))
    return out, skipped


def split_files(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, val) file indices: the text datasets' seeded rule (by file), so the dataset
    pane's split preview holds for music files too."""
    from studio.data.text import _split_indices

    return _split_indices(n, val_fraction, seed)


def tokenized(cache, tokenizer, key: str, score_fn: Callable[[], Any]) -> np.ndarray:
    """A score's ids from the cache, or tokenized (``score_fn`` builds it) and cached."""
    got = cache.load(key, 1)
    if got is not None:
        return np.asarray(got[0], dtype=np.int64)
    ids = encode(tokenizer, score_fn())
    with cache.writer(key) as w:
        w.add(ids)
        w.end_document()
        return np.asarray(w.commit()[0], dtype=np.int64)


def blocks(streams: Sequence[np.ndarray], block_size: int, stride: int) -> torch.Tensor:
    """Windows of ``block_size`` tokens over the files' ids laid end to end (each file
    BOS...EOS), a new one every ``stride`` tokens."""
    if not streams:
        return torch.zeros((0, block_size), dtype=torch.long)
    stream = np.concatenate(streams)
    if len(stream) < block_size:
        return torch.zeros((0, block_size), dtype=torch.long)
    starts = range(0, len(stream) - block_size + 1, stride)
    return torch.from_numpy(np.stack([stream[s:s + block_size] for s in starts]).copy())


def build_midi_data(files: Sequence[Path], cfg: Any, tokenizer_holder: dict, *,
                    cache_dir: str | Path | None = None,
                    log: Callable[[str], None] | None = None) -> MidiData:
    """The dataset of ``files``. ``tokenizer_holder["tokenizer"]``: the model folder's
    MidiTok tokenizer, or None: a new one is built (``data.midi_tokenizer``) with BPE
    trained on the training files (``data.midi_vocab``) and stored back there."""
    from studio.data.cache import cache_root
    from studio.data.tokens import TokenCache

    d, aug = cfg.data, cfg.augment
    scores, skipped = load_scores(files, d.midi_tracks)
    if not scores:
        raise DataError(", ".join(d.paths) or "data.paths", "holds no usable music files"
                        + (f" ({len(skipped)} skipped: {skipped[0].reason})" if skipped else ""),
                        "add .mid or .midi files (MusicXML/ABC with music21 installed)")
    train_i, val_i = split_files(len(scores), d.val_fraction, d.split_seed)
    tok = tokenizer_holder.get("tokenizer")
    origin = "from the model folder"
    if tok is None:
        tok = new_tokenizer("tsd" if d.midi_tokenizer == "tsd" else "remi")
        train_bpe(tok, [scores[i][2] for i in train_i], d.midi_vocab)
        tokenizer_holder["tokenizer"] = tok
        origin = (f"BPE trained on the {len(train_i)} training files" if tok.is_trained
                  else "no BPE")
    cache = TokenCache(cache_dir or cache_root("midi-tokens"), tokenizer=fingerprint(tok),
                       keep_bytes=int(d.midi_cache_gb * 1e9))
    train_ids, val_ids, copies, plain_tokens = [], [], 0, 0
    for i in train_i:
        path, digest, score = scores[i]
        for v in variants(aug, d.split_seed * 100_003 + i, score):
            key = f"{digest}-{d.midi_tracks}-{v.key}"
            train_ids.append(tokenized(cache, tok, key,
                                       lambda s=score, v=v: apply_variant(s, v)))
            copies += v != Variant()
            plain_tokens += len(train_ids[-1]) if v == Variant() else 0
    for i in val_i:
        path, digest, score = scores[i]
        key = f"{digest}-{d.midi_tracks}-{Variant().key}"
        val_ids.append(tokenized(cache, tok, key, lambda s=score: s))
    cache.prune()
    bs = d.block_size
    train = blocks(train_ids, bs, max(1, bs // 2))
    val = blocks(val_ids, bs, bs)
    train_stats = music_stats([scores[i][2] for i in train_i])
    tokens_per_bar = plain_tokens / max(1.0, train_stats.bars)
    summary = (f"{len(scores)} music files ({len(skipped)} skipped): {len(train_i)} train, "
               f"{len(val_i)} held out; {sum(map(len, train_ids)):,} training tokens"
               + (f" ({copies} augmented copies)" if copies else "")
               + f" in {len(train)} blocks of {bs}; {type(tok).__name__} tokenizer, "
               f"{len(tok)} tokens ({origin}); cache {cache.hits} hit, {cache.misses} new. "
               f"Training files: {describe_stats(train_stats)}")
    primers = [(scores[i][0].name, scores[i][2]) for i in val_i] or \
              [(scores[i][0].name, scores[i][2]) for i in train_i[:1]]
    return MidiData(train=train, val=val, summary=summary, skipped=skipped, primers=primers,
                    train_stats=train_stats, tokens_per_bar=tokens_per_bar)
