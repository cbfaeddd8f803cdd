"""Reading, describing, drawing and rendering symbolic music files (no torch, no Qt).

- ``read_score(path)``: a ``symusic.Score`` from ``.mid`` / ``.midi``, or from MusicXML /
  ABC through music21 where it is installed. Bad files raise :class:`MidiFileError` whose
  message names the problem and the fix.
- ``inspect_midi(path)``: a :class:`MidiInfo` — tracks (name, program, General MIDI instrument,
  drums, notes), tempos, time signatures (changes included: they are read, not refused), key
  (the file's key signature when it has one, else a Krumhansl-Schmuckler estimate), bars,
  notes, duration — and, when the file is bad or odd, a ``problem`` with a ``severity``.
- ``piano_roll(score, columns)``: a (128, columns) velocity image for thumbnails and cards;
  ``roll_png`` makes the dataset pane's thumbnail from it.
- ``render_wav(score_or_path, out_path)``: audio through tinysoundfont and the General MIDI
  SoundFont shipped in ``resources/soundfonts/``. When either is missing it raises
  :class:`RenderUnavailable`, whose message says what is missing (the GUI shows it).
"""

from __future__ import annotations

import io
import os
import struct
import threading
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MIDI_EXTS = frozenset({".mid", ".midi"})
NOTATION_EXTS = frozenset({".musicxml", ".mxl", ".abc"})  # read through music21
MUSIC_EXTS = MIDI_EXTS | NOTATION_EXTS

ERROR = "error"      # the file cannot be used (same words as studio.data.scan)
WARNING = "warning"  # usable, but the user should look at it

MAX_MIDI_BYTES = 16 << 20   # a piece's MIDI file is rarely over 1 MB; past this, not parsed
MIN_QPM, MAX_QPM = 16.0, 480.0  # quarter notes per minute outside this are "absurd"
RENDER_TAIL_S = 1.0         # release time kept after the last note
DRUM_CHANNEL = 9            # General MIDI channel 10
TARGET_PEAK = 0.89          # renders are peak-normalised to -1 dBFS ...
MAX_GAIN = 16.0             # ... raising a quiet one by at most 24 dB

SOUNDFONT_NAME = "FluidR3Mono_GM.sf3"


class MidiFileError(ValueError):
    """A music file that cannot be read; the message is the reason (and the fix)."""


class RenderUnavailable(RuntimeError):
    """Audio cannot be rendered here; the message says what is missing."""


# -- General MIDI -------------------------------------------------------------------------

GM_PROGRAMS = (
    "Acoustic Grand Piano", "Bright Acoustic Piano", "Electric Grand Piano", "Honky-tonk Piano",
    "Electric Piano 1", "Electric Piano 2", "Harpsichord", "Clavinet", "Celesta", "Glockenspiel",
    "Music Box", "Vibraphone", "Marimba", "Xylophone", "Tubular Bells", "Dulcimer",
    "Drawbar Organ", "Percussive Organ", "Rock Organ", "Church Organ", "Reed Organ", "Accordion",
    "Harmonica", "Tango Accordion", "Acoustic Guitar (nylon)", "Acoustic Guitar (steel)",
    "Electric Guitar (jazz)", "Electric Guitar (clean)", "Electric Guitar (muted)",
    "Overdriven Guitar", "Distortion Guitar", "Guitar Harmonics", "Acoustic Bass",
    "Electric Bass (finger)", "Electric Bass (pick)", "Fretless Bass", "Slap Bass 1",
    "Slap Bass 2", "Synth Bass 1", "Synth Bass 2", "Violin", "Viola", "Cello", "Contrabass",
    "Tremolo Strings", "Pizzicato Strings", "Orchestral Harp", "Timpani", "String Ensemble 1",
    "String Ensemble 2", "Synth Strings 1", "Synth Strings 2", "Choir Aahs", "Voice Oohs",
    "Synth Voice", "Orchestra Hit", "Trumpet", "Trombone", "Tuba", "Muted Trumpet",
    "French Horn", "Brass Section", "Synth Brass 1", "Synth Brass 2", "Soprano Sax", "Alto Sax",
    "Tenor Sax", "Baritone Sax", "Oboe", "English Horn", "Bassoon", "Clarinet", "Piccolo",
    "Flute", "Recorder", "Pan Flute", "Blown Bottle", "Shakuhachi", "Whistle", "Ocarina",
    "Lead 1 (square)", "Lead 2 (sawtooth)", "Lead 3 (calliope)", "Lead 4 (chiff)",
    "Lead 5 (charang)", "Lead 6 (voice)", "Lead 7 (fifths)", "Lead 8 (bass + lead)",
    "Pad 1 (new age)", "Pad 2 (warm)", "Pad 3 (polysynth)", "Pad 4 (choir)", "Pad 5 (bowed)",
    "Pad 6 (metallic)", "Pad 7 (halo)", "Pad 8 (sweep)", "FX 1 (rain)", "FX 2 (soundtrack)",
    "FX 3 (crystal)", "FX 4 (atmosphere)", "FX 5 (brightness)", "FX 6 (goblins)",
    "FX 7 (echoes)", "FX 8 (sci-fi)", "Sitar", "Banjo", "Shamisen", "Koto", "Kalimba",
    "Bagpipe", "Fiddle", "Shanai", "Tinkle Bell", "Agogo", "Steel Drums", "Woodblock",
    "Taiko Drum", "Melodic Tom", "Synth Drum", "Reverse Cymbal", "Guitar Fret Noise",
    "Breath Noise", "Seashore", "Bird Tweet", "Telephone Ring", "Helicopter", "Applause",
    "Gunshot",
)
assert len(GM_PROGRAMS) == 128


def instrument_name(program: int, is_drum: bool = False) -> str:
    """The General MIDI name of a program (0-127); "Drums" for a drum track."""
    if is_drum:
        return "Drums"
    return GM_PROGRAMS[program] if 0 <= program < 128 else f"program {program}"


# -- keys ---------------------------------------------------------------------------------

# Krumhansl-Kessler probe-tone profiles (C major, C minor).
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
# The usual spelling of each tonic (pitch class) in major and in minor keys.
_MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")


@dataclass(frozen=True)
class Key:
    tonic: int   # pitch class 0-11 (0 = C)
    minor: bool

    @property
    def name(self) -> str:
        return (f"{_MINOR_NAMES[self.tonic]} minor" if self.minor
                else f"{_MAJOR_NAMES[self.tonic]} major")

    @property
    def scale(self) -> frozenset[int]:
        """The pitch classes of its major or natural-minor scale."""
        steps = (0, 2, 3, 5, 7, 8, 10) if self.minor else (0, 2, 4, 5, 7, 9, 11)
        return frozenset((self.tonic + s) % 12 for s in steps)

    def relative(self) -> Key:
        """The relative minor of a major key, and the other way round."""
        return Key((self.tonic + (3 if self.minor else 9)) % 12, not self.minor)


def key_from_signature(sharps: int, minor: bool) -> Key:
    """A MIDI key signature (-7..7 sharps, minor flag) as a :class:`Key`."""
    major_tonic = (7 * sharps) % 12
    return Key((major_tonic + 9) % 12, True) if minor else Key(major_tonic, False)


def pitch_class_histogram(score, *, weighted: bool = True) -> np.ndarray:
    """Share of each pitch class (C..B) in the pitched (non-drum) notes, by duration when
    ``weighted`` (a held note counts more than a passing one), else by count."""
    hist = np.zeros(12, np.float64)
    for track in score.tracks:
        if track.is_drum or not len(track.notes):
            continue
        arr = track.notes.numpy()
        w = arr["duration"].astype(np.float64) if weighted else np.ones(len(arr["pitch"]))
        np.add.at(hist, arr["pitch"].astype(np.int64) % 12, np.maximum(w, 1.0))
    total = hist.sum()
    return hist / total if total > 0 else hist


def estimate_key(histogram: np.ndarray) -> Key | None:
    """Krumhansl-Schmuckler: the key whose rotated profile correlates best with the
    pitch-class histogram; None when there are no pitched notes."""
    if not np.any(histogram):
        return None
    best, best_r = None, -2.0
    for minor, profile in ((False, _MAJOR_PROFILE), (True, _MINOR_PROFILE)):
        for tonic in range(12):
            r = float(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1])
            if r > best_r:
                best, best_r = Key(tonic, minor), r
    return best


# -- reading ------------------------------------------------------------------------------

def read_score(path: str | os.PathLike):
    """A ``symusic.Score`` (ticks) from a MIDI, MusicXML or ABC file.

    Raises :class:`MidiFileError` with the reason for a file that is not readable music.
    """
    path = str(path)
    ext = os.path.splitext(path)[1].lower()
    if ext in NOTATION_EXTS:
        return _read_notation(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise MidiFileError(f"cannot be read: {(exc.strerror or str(exc)).lower()}") from None
    return score_from_bytes(data, Path(path).suffix or ".mid")


def score_from_bytes(data: bytes, suffix: str = ".mid"):
    """A ``symusic.Score`` from the bytes of a standard MIDI file (checked first, so a bad
    file gets a reason a person understands rather than the parser's)."""
    _check_midi_bytes(data, suffix)
    from symusic import Score

    try:
        return Score.from_midi(data)
    except Exception as exc:  # noqa: BLE001 - any parser error means "corrupt"
        raise MidiFileError(f"corrupt MIDI file ({_short_reason(exc)}); re-export it from "
                            "the program that made it") from None


def _check_midi_bytes(data: bytes, suffix: str) -> None:
    """Raise MidiFileError for a file that is not a sound standard MIDI file: another
    format named .mid, a truncated file, a header that lies about its tracks."""
    if not data:
        raise MidiFileError("empty file")
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":
        raise MidiFileError("a RIFF-wrapped MIDI file (.rmi); save it as a standard MIDI "
                            "file (.mid) in your MIDI program")
    if data[:4] != b"MThd":
        raise MidiFileError(f"not a MIDI file (despite its {suffix} name): "
                            f"{_what_it_is(data)}; remove it from the dataset")
    if len(data) < 14:
        raise MidiFileError(f"truncated: the file ends inside its header ({len(data)} bytes)")
    header_len, _fmt, ntracks = struct.unpack(">IHH", data[4:12])
    pos, found = 8 + header_len, 0
    while pos + 8 <= len(data) and found < ntracks:
        chunk_len = struct.unpack(">I", data[pos + 4:pos + 8])[0]
        if pos + 8 + chunk_len > len(data):
            raise MidiFileError(
                f"truncated: track {found + 1} of {ntracks} declares {chunk_len} bytes but "
                f"only {len(data) - pos - 8} remain; the file was cut off (copy it again "
                "from its source)")
        if data[pos:pos + 4] == b"MTrk":
            found += 1
        pos += 8 + chunk_len
    if found < ntracks:
        raise MidiFileError(f"truncated: the header announces {ntracks} tracks but the file "
                            f"holds {found}; the file was cut off (copy it again from its "
                            "source)")


def _what_it_is(data: bytes) -> str:
    head = data[:512]
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "it holds text"
        except UnicodeDecodeError:
            pass
    for magic, what in ((b"\x89PNG", "a PNG image"), (b"\xff\xd8", "a JPEG image"),
                        (b"RIFF", "a RIFF file (WAV audio?)"), (b"ID3", "MP3 audio"),
                        (b"fLaC", "FLAC audio"), (b"OggS", "Ogg audio"),
                        (b"PK\x03\x04", "a zip archive"), (b"%PDF", "a PDF document")):
        if data.startswith(magic):
            return f"it is {what}"
    return f"it starts with bytes {data[:4]!r}, not 'MThd'"


def _read_notation(path: str):
    """MusicXML or ABC through music21 (written to MIDI in memory, then read by symusic)."""
    try:
        import music21
    except ImportError:
        raise MidiFileError(
            f"reading {os.path.splitext(path)[1]} files needs music21, which is not "
            "installed (pip install music21); or export the piece as MIDI") from None
    try:
        parsed = music21.converter.parse(path)
        midi = music21.midi.translate.music21ObjectToMidiFile(parsed)
        data = midi.writestr()
    except Exception as exc:  # noqa: BLE001 - music21 raises many kinds
        raise MidiFileError(f"unreadable score ({_short_reason(exc)})") from None
    return score_from_bytes(bytes(data), ".mid")


def _short_reason(exc: BaseException) -> str:
    text = " ".join((str(exc) or type(exc).__name__).split())
    return text if len(text) <= 120 else text[:117] + "..."


def midi_format(path: str | os.PathLike) -> int | None:
    """The standard MIDI file type (0, 1 or 2) from the header; None when not a MIDI file."""
    try:
        with open(path, "rb") as f:
            head = f.read(14)
    except OSError:
        return None
    if head[:4] != b"MThd" or len(head) < 14:
        return None
    return struct.unpack(">H", head[8:10])[0]


# -- describing ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TrackInfo:
    name: str
    program: int
    instrument: str
    is_drum: bool
    notes: int
    lowest: int = 0    # MIDI pitch range of its notes
    highest: int = 0


@dataclass(frozen=True)
class MidiInfo:
    """What the dataset pane shows about one music file. ``problem`` is empty when all is
    well; ``severity`` is then "" (else WARNING or ERROR, as in ``studio.data.scan``)."""

    path: str
    format: int | None = None        # MIDI file type 0/1/2 (None for MusicXML/ABC)
    tracks: tuple[TrackInfo, ...] = ()
    tempos: tuple[float, ...] = ()   # quarter notes per minute, in order of appearance
    time_signatures: tuple[str, ...] = ()  # "4/4", ... in order (changes included)
    time_signature_changes: tuple[tuple[int, str], ...] = ()  # (bar, "3/4") after the first
    key: str = ""                    # the file's key signature when present, else the estimate
    key_source: str = ""             # "file", "estimate" or ""
    key_estimate: str = ""           # Krumhansl-Schmuckler on the pitch-class histogram
    key_signature: str = ""          # from the file's first key signature event
    bars: int = 0
    notes: int = 0
    duration: float = 0.0            # seconds
    ticks_per_quarter: int = 0
    problem: str = ""
    severity: str = ""
    notes_extra: tuple[str, ...] = field(default=(), compare=False)  # further odd findings

    @property
    def usable(self) -> bool:
        return self.severity != ERROR

    @property
    def programs(self) -> str:
        """Instrument names, one per distinct track instrument, in track order."""
        seen: list[str] = []
        for t in self.tracks:
            if t.notes and t.instrument not in seen:
                seen.append(t.instrument)
        return ", ".join(seen)

    @property
    def tempo_text(self) -> str:
        if not self.tempos:
            return "120 BPM (default)"
        lo, hi = min(self.tempos), max(self.tempos)
        return f"{lo:.0f} BPM" if round(lo) == round(hi) else f"{lo:.0f}-{hi:.0f} BPM"

    @property
    def time_signature_text(self) -> str:
        if not self.time_signatures:
            return "4/4 (default)"
        first = self.time_signatures[0]
        if not self.time_signature_changes:
            return first
        changes = ", ".join(f"{ts} at bar {bar}" for bar, ts in self.time_signature_changes)
        return f"{first}, then {changes}"

    def short(self) -> str:
        """The dataset grid's line under the name: "20 bars · F major · 76 BPM"."""
        if not self.notes:
            return ""
        parts = [f"{self.bars} bars"]
        if self.key:
            parts.append(self.key.replace(" major", "").replace(" minor", "m"))
        parts.append(self.tempo_text.replace(" (default)", ""))
        return " · ".join(parts)

    def detail_lines(self) -> list[str]:
        """Tracks (name, instrument, notes, range), time signature and key, one a line."""
        lines = []
        for i, t in enumerate(self.tracks):
            if not t.notes:
                continue
            name = f"{t.name}: " if t.name else ""
            lines.append(f"track {i + 1}: {name}{t.instrument}"
                         f"{'' if t.is_drum else f' (program {t.program})'}, "
                         f"{t.notes} notes, {note_name(t.lowest)}-{note_name(t.highest)}")
        lines.append(f"time signature {self.time_signature_text}")
        if self.key:
            source = ("key signature in the file" if self.key_source == "file"
                      else "estimated from the notes")
            differs = (self.key_source == "file" and self.key_estimate
                       and self.key_estimate != self.key)
            lines.append(f"key {self.key} ({source}"
                         + (f"; the notes suggest {self.key_estimate})" if differs else ")"))
        return lines

    def summary(self) -> str:
        """One line: "4 tracks · 76 BPM · 4/4 · F major · 20 bars · 491 notes · 1:03"."""
        parts = [_count(len([t for t in self.tracks if t.notes]), "track"), self.tempo_text,
                 self.time_signature_text]
        if self.key:
            parts.append(self.key + (" (est.)" if self.key_source == "estimate" else ""))
        parts += [_count(self.bars, "bar"), _count(self.notes, "note"),
                  format_duration(self.duration)]
        return " · ".join(parts)


def _count(n: int, word: str) -> str:
    """ "1 track", "2 tracks": a generated melody is often one track (or one bar)."""
    return f"{n} {word}" + ("" if n == 1 else "s")


_NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")


def note_name(pitch: int) -> str:
    """MIDI pitch as a name with octave (60 -> "C4")."""
    return f"{_NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def format_duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def inspect_midi(path: str | os.PathLike, *, melody: bool = False,
                 max_bytes: int = MAX_MIDI_BYTES) -> MidiInfo:
    """Describe one music file. Never raises for a bad file: the reason goes in
    ``problem``. With ``melody`` a file with nothing but drums is an error (there is no
    melody to learn from it)."""
    return inspect_with_score(path, melody=melody, max_bytes=max_bytes)[0]


def inspect_with_score(path: str | os.PathLike, *, melody: bool = False,
                       max_bytes: int = MAX_MIDI_BYTES):
    """(:class:`MidiInfo`, the read score or None): for callers that also draw the piece,
    so it is parsed once."""
    path = str(path)
    base = MidiInfo(path=path, format=midi_format(path))
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        return _bad(base, f"cannot be read: {(exc.strerror or str(exc)).lower()}"), None
    if size > max_bytes:
        return _bad(base, f"too large ({size / 1e6:.0f} MB, while a MIDI file of one piece is "
                          f"rarely over 1 MB, limit {max_bytes / 1e6:.0f} MB): split it or "
                          "leave it out"), None
    try:
        score = read_score(path)
    except MidiFileError as exc:
        return _bad(base, str(exc)), None
    return describe_score(score, base, melody=melody), score


def describe_score(score, base: MidiInfo, *, melody: bool = False) -> MidiInfo:
    """Fill a :class:`MidiInfo` from a read score and judge it."""
    tracks = tuple(_track_info(t) for t in score.tracks)
    notes = sum(t.notes for t in tracks)
    hist = pitch_class_histogram(score)
    estimate = estimate_key(hist)
    signature = (key_from_signature(score.key_signatures[0].key,
                                    bool(score.key_signatures[0].tonality))
                 if len(score.key_signatures) else None)
    key = signature or estimate
    info = _with(
        base, tracks=tracks, notes=notes, ticks_per_quarter=int(score.ticks_per_quarter),
        tempos=tuple(round(float(t.qpm), 2) for t in score.tempos),
        time_signatures=tuple(f"{t.numerator}/{t.denominator}" for t in score.time_signatures),
        time_signature_changes=_time_signature_changes(score),
        key=key.name if key else "", key_source=("file" if signature else
                                                 "estimate" if estimate else ""),
        key_estimate=estimate.name if estimate else "",
        key_signature=signature.name if signature else "",
        bars=count_bars(score), duration=float(score.to("second").end()) if notes else 0.0)
    return _judge(info, melody)


def _track_info(track) -> TrackInfo:
    n = len(track.notes)
    lo = hi = 0
    if n:
        pitches = track.notes.numpy()["pitch"]
        lo, hi = int(pitches.min()), int(pitches.max())
    return TrackInfo(name=str(track.name).strip(), program=int(track.program),
                     instrument=instrument_name(int(track.program), bool(track.is_drum)),
                     is_drum=bool(track.is_drum), notes=n, lowest=lo, highest=hi)


def count_bars(score) -> int:
    """Bars up to the last note's end, following the time signatures (4/4 when none)."""
    end = int(score.end())
    if end <= 0:
        return 0
    downbeats = np.asarray(score.get_downbeats())
    if downbeats.size == 0:
        return max(1, -(-end // (4 * int(score.ticks_per_quarter))))
    return int(np.count_nonzero(downbeats < end))


def _time_signature_changes(score) -> tuple[tuple[int, str], ...]:
    """(bar number, "n/d") for each change after the first signature (bars from 1)."""
    sigs = list(score.time_signatures)
    if len(sigs) < 2:
        return ()
    downbeats = np.asarray(score.get_downbeats())
    out, last = [], f"{sigs[0].numerator}/{sigs[0].denominator}"
    for ts in sigs[1:]:
        text = f"{ts.numerator}/{ts.denominator}"
        if text == last:
            continue
        bar = int(np.searchsorted(downbeats, int(ts.time), side="right")) or 1
        out.append((bar, text))
        last = text
    return tuple(out)


def _judge(info: MidiInfo, melody: bool) -> MidiInfo:
    """The reasons a file is bad (ERROR) or odd (WARNING); the first one is ``problem``,
    the rest ``notes_extra``."""
    errors: list[str] = []
    warnings: list[str] = []
    if info.format == 2:
        errors.append("type-2 MIDI file (a set of independent patterns, not one piece): "
                      "save it as type 0 or 1 in your MIDI program")
    if info.notes == 0:
        errors.append("no notes in it")
    pitched = [t for t in info.tracks if t.notes and not t.is_drum]
    if info.notes and not pitched:
        (errors if melody else warnings).append(
            "drum-only: no melody to learn" if melody else "drums only")
    absurd = [q for q in info.tempos if not MIN_QPM <= q <= MAX_QPM]
    if absurd:
        warnings.append(f"absurd tempo ({absurd[0]:g} BPM, sensible is {MIN_QPM:g}-"
                        f"{MAX_QPM:g}): timing will be off, fix the tempo in your MIDI program")
    if info.time_signature_changes:
        warnings.append(f"time signature changes ({info.time_signature_text}): read as "
                        "written")
    reasons = errors + warnings
    if not reasons:
        return info
    return _with(info, problem=reasons[0], severity=ERROR if errors else WARNING,
                 notes_extra=tuple(reasons[1:]))


def _bad(info: MidiInfo, reason: str) -> MidiInfo:
    return _with(info, problem=reason, severity=ERROR)


def _with(info: MidiInfo, **changes) -> MidiInfo:
    from dataclasses import replace

    return replace(info, **changes)


# -- piano rolls --------------------------------------------------------------------------

def piano_roll(score, columns: int = 256, *, end: int | None = None,
               drums: bool = True) -> np.ndarray:
    """A (128, columns) float32 image of the notes: row = MIDI pitch, column = an equal
    slice of time from 0 to ``end`` ticks (the score's end by default), value = the loudest
    velocity sounding there / 127. Every note gets at least one column, so short notes in
    a long piece still show."""
    roll = np.zeros((128, max(1, int(columns))), np.float32)
    end = int(score.end()) if end is None else int(end)
    if end <= 0:
        return roll
    scale = roll.shape[1] / end
    for track in score.tracks:
        if (track.is_drum and not drums) or not len(track.notes):
            continue
        arr = track.notes.numpy()
        c0 = np.clip((arr["time"] * scale).astype(np.int64), 0, roll.shape[1] - 1)
        c1 = np.clip(np.ceil((arr["time"] + arr["duration"]) * scale).astype(np.int64),
                     c0 + 1, roll.shape[1])
        vel = arr["velocity"].astype(np.float32) / 127.0
        for p, a, b, v in zip(arr["pitch"], c0, c1, vel):
            if 0 <= p < 128:
                np.maximum(roll[p, a:b], v, out=roll[p, a:b])
    return roll


def pitch_bounds(roll: np.ndarray, margin: int = 2, min_span: int = 24) -> tuple[int, int]:
    """(lowest, highest) row worth drawing: the notes' range plus a margin, at least
    ``min_span`` semitones (so one repeated note is not a full-height bar); (48, 72) when
    the roll is empty."""
    rows = np.flatnonzero(roll.any(axis=1))
    if rows.size == 0:
        return 48, 72
    lo, hi = int(rows[0]) - margin, int(rows[-1]) + margin
    if hi - lo < min_span:
        grow = min_span - (hi - lo)
        lo -= grow // 2
        hi += grow - grow // 2
    lo, hi = max(0, lo), min(127, hi)
    return lo, hi


NOTE_RGB = (70, 130, 220)      # the thumbnail's note colour
BACK_RGB = (250, 250, 252)     # and its background
OCTAVE_RGB = (228, 230, 236)   # a faint line at each C


def roll_rgb(roll: np.ndarray, height: int, *, note=NOTE_RGB, back=BACK_RGB,
             octave=OCTAVE_RGB) -> np.ndarray:
    """An (height, columns, 3) uint8 picture of a roll cropped to its pitch range, high
    notes at the top, louder notes darker; octave lines at the Cs."""
    return layers_rgb([(roll, note)], height, back=back, octave=octave)


def layers_rgb(layers, height: int, *, bounds: tuple[int, int] | None = None,
               back=BACK_RGB, octave=OCTAVE_RGB) -> np.ndarray:
    """Several rolls of the same shape, each in its own colour (``[(roll, rgb), ...]``,
    later ones drawn over earlier ones), as one (height, columns, 3) uint8 picture of the
    pitch range ``bounds`` (all layers' notes by default), high notes at the top."""
    if bounds is None:
        bounds = pitch_bounds(np.maximum.reduce([roll for roll, _ in layers]))
    lo, hi = bounds
    span = hi - lo + 1
    rows = np.minimum((np.arange(height) * span) // max(1, height), span - 1)
    pitch_of_row = hi - rows
    columns = layers[0][0].shape[1]
    out = np.empty((height, columns, 3), np.float32)
    out[:] = back
    out[pitch_of_row % 12 == 0] = octave
    for roll, colour in layers:
        img = roll[pitch_of_row]                # (height, columns), row 0 = highest pitch
        strength = np.where(img > 0, 0.55 + 0.45 * img, 0.0)[..., None]
        out = out * (1 - strength) + np.asarray(colour, np.float32) * strength
    return out.clip(0, 255).astype(np.uint8)


def roll_png(score, width: int = 160, height: int = 64) -> bytes:
    """A PNG thumbnail of the piece's piano roll (for the dataset pane): notes on a
    transparent background, so it sits on a light or a dark theme alike."""
    from PIL import Image

    roll = piano_roll(score, width)
    lo, hi = pitch_bounds(roll)
    span = hi - lo + 1
    pitch_of_row = hi - np.minimum((np.arange(height) * span) // max(1, height), span - 1)
    img = roll[pitch_of_row]                        # (height, width), row 0 = highest
    pic = np.zeros((height, width, 4), np.uint8)
    pic[..., :3] = NOTE_RGB
    pic[pitch_of_row % 12 == 0, :, 3] = 40          # faint octave lines at the Cs
    notes = img > 0
    pic[notes, 3] = (140 + 115 * img[notes]).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pic, "RGBA").save(buf, "PNG", optimize=False)
    return buf.getvalue()


# -- rendering to audio -------------------------------------------------------------------

def default_soundfont() -> Path:
    """The General MIDI SoundFont shipped with the studio (``STUDIO_SOUNDFONT`` overrides)."""
    env = os.environ.get("STUDIO_SOUNDFONT")
    if env:
        return Path(env)
    from studio.core.paths import resources_dir

    return resources_dir() / "soundfonts" / SOUNDFONT_NAME


def render_problem(soundfont: str | os.PathLike | None = None) -> str:
    """Why audio cannot be rendered here ("" when it can): tinysoundfont or the SoundFont
    missing."""
    try:
        import tinysoundfont  # noqa: F401
    except ImportError:
        return ("MIDI playback needs the tinysoundfont package, which is not installed "
                "(pip install tinysoundfont)")
    sf = Path(soundfont) if soundfont else default_soundfont()
    if not sf.is_file():
        return (f"MIDI playback needs a General MIDI SoundFont, and {sf} is missing "
                "(reinstall the studio, or set STUDIO_SOUNDFONT to a .sf2/.sf3 file)")
    return ""


_SYNTHS: dict[tuple[str, int], object] = {}
_SYNTH_LOCK = threading.Lock()  # one render at a time: a Synth is not thread-safe
_RELEASE: threading.Timer | None = None
SYNTH_IDLE_S = 180.0  # a loaded SoundFont (about 280 MB decoded) is freed after this idle


def _synth(soundfont: Path, sample_rate: int):
    """A tinysoundfont Synth with the SoundFont loaded (kept while renders keep coming:
    decoding an .sf3 takes seconds, so the next Play is quick; freed when idle)."""
    import tinysoundfont

    key = (str(soundfont), int(sample_rate))
    synth = _SYNTHS.get(key)
    if synth is None:
        synth = tinysoundfont.Synth(samplerate=int(sample_rate), gain=0.0)
        synth.sfid = synth.sfload(str(soundfont))
        _SYNTHS.clear()  # one SoundFont in memory at a time
        _SYNTHS[key] = synth
    return synth


def _release_later() -> None:
    """Free the loaded SoundFont ``SYNTH_IDLE_S`` after the last render (call with the
    lock held)."""
    global _RELEASE
    if _RELEASE is not None:
        _RELEASE.cancel()
    _RELEASE = threading.Timer(SYNTH_IDLE_S, release_soundfont)
    _RELEASE.daemon = True
    _RELEASE.start()


def release_soundfont() -> None:
    """Free the loaded SoundFont now (the next render loads it again)."""
    with _SYNTH_LOCK:
        _SYNTHS.clear()


@dataclass(frozen=True)
class Rendered:
    path: str
    seconds: float
    sample_rate: int
    peak: float   # of the written signal, 0..1
    rms: float


def render_wav(score_or_path, out_path: str | os.PathLike, sample_rate: int = 32000, *,
               soundfont: str | os.PathLike | None = None,
               tail: float = RENDER_TAIL_S) -> Rendered:
    """Render a score (or a music file) to a 16-bit stereo WAV with the General MIDI
    SoundFont; return what was written. Each track plays its own program on its own
    channel (drum tracks on channel 10). The result is peak-normalised to -1 dBFS (never
    clipped). Raises :class:`RenderUnavailable` when tinysoundfont or the SoundFont is
    missing, :class:`MidiFileError` for a bad file."""
    missing = render_problem(soundfont)
    if missing:
        raise RenderUnavailable(missing)
    score = (read_score(score_or_path) if isinstance(score_or_path, (str, os.PathLike))
             else score_or_path)
    sec = score.to("second")
    sf = Path(soundfont) if soundfont else default_soundfont()
    with _SYNTH_LOCK:
        synth = _synth(sf, sample_rate)
        try:
            audio = _play(synth, sec, sample_rate, tail)
        finally:
            synth.sounds_off()
            _release_later()
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0.0:  # to a -1 dBFS peak: never clipped, and a quiet SoundFont still heard
        audio *= min(TARGET_PEAK / peak, MAX_GAIN)
        peak = float(np.abs(audio).max())
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    _write_wav(out_path, audio, sample_rate)
    return Rendered(str(out_path), len(audio) / sample_rate, sample_rate, peak, rms)


def _channels(score) -> list[int]:
    """A MIDI channel per track: drums on channel 10, the rest round-robin on the other
    fifteen (more tracks than that share channels; their programs may then mix up)."""
    free = [c for c in range(16) if c != DRUM_CHANNEL]
    out, i = [], 0
    for track in score.tracks:
        if track.is_drum:
            out.append(DRUM_CHANNEL)
        else:
            out.append(free[i % len(free)])
            i += 1
    return out


def _play(synth, sec, sample_rate: int, tail: float) -> np.ndarray:
    """Feed the score's notes (in seconds) to the synth in time order; (frames, 2) float32."""
    events: list[tuple[float, int, int, int, int]] = []  # (time, off-first, chan, pitch, vel)
    for track, chan in zip(sec.tracks, _channels(sec)):
        _select_program(synth, chan, int(track.program), bool(track.is_drum))
        if not len(track.notes):
            continue
        arr = track.notes.numpy()
        for t, d, p, v in zip(arr["time"], arr["duration"], arr["pitch"], arr["velocity"]):
            events.append((float(t), 1, chan, int(p), max(1, int(v))))
            events.append((float(t + max(d, 0.01)), 0, chan, int(p), 0))
    events.sort()
    end = (events[-1][0] if events else 0.0) + tail
    total = int(round(end * sample_rate))
    out = np.zeros((total, 2), np.float32)
    pos = 0
    for t, on, chan, pitch, vel in events:
        frame = min(total, int(round(t * sample_rate)))
        if frame > pos:
            out[pos:frame] = _generate(synth, frame - pos)
            pos = frame
        if on:
            synth.noteon(chan, pitch, vel)
        else:
            synth.noteoff(chan, pitch)
    if total > pos:
        out[pos:] = _generate(synth, total - pos)
    return out


def _select_program(synth, chan: int, program: int, drum: bool) -> None:
    """Bank 128 for drums; a program the SoundFont lacks falls back to its first piano."""
    try:
        synth.program_select(chan, synth.sfid, 128 if drum else 0, program, is_drums=drum)
    except Exception:  # noqa: BLE001 - tinysoundfont raises for a missing preset
        synth.program_select(chan, synth.sfid, 0, 0, is_drums=False)


def _generate(synth, frames: int) -> np.ndarray:
    return np.frombuffer(synth.generate_simple(frames), np.float32).reshape(-1, 2)


def _write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> None:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    tmp = f"{path}.part"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """``python -m studio.data.midi_file FILE... [--melody] [--wav OUT]``: describe music
    files (and render the first to a WAV). Exit status 1 when a file cannot be used."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m studio.data.midi_file",
                                 description="Describe MIDI / MusicXML / ABC files.")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--melody", action="store_true",
                    help="judge for melody training (a drums-only file is then unusable)")
    ap.add_argument("--wav", help="render the first file to this WAV with the SoundFont")
    args = ap.parse_args(argv)
    status = 0
    for path in args.files:
        info = inspect_midi(path, melody=args.melody)
        print(f"{path}: {info.summary() if info.notes else 'no notes'}")
        for line in info.detail_lines() if info.notes else ():
            print(f"  {line}")
        if info.problem:
            print(f"  {'cannot be used' if info.severity == ERROR else 'check'}: "
                  f"{'; '.join((info.problem, *info.notes_extra))}")
            status = status or int(info.severity == ERROR)
    if args.wav:
        try:
            done = render_wav(args.files[0], args.wav)
        except (RenderUnavailable, MidiFileError) as exc:
            print(f"no audio: {exc}")
            return 1
        print(f"{done.path}: {done.seconds:.1f} s at {done.sample_rate} Hz, peak "
              f"{20 * np.log10(max(done.peak, 1e-9)):.1f} dBFS, RMS "
              f"{20 * np.log10(max(done.rms, 1e-9)):.1f} dBFS")
    return status


__all__ = [
    "ERROR", "GM_PROGRAMS", "Key", "MIDI_EXTS", "MUSIC_EXTS", "MidiFileError", "MidiInfo",
    "NOTATION_EXTS", "RenderUnavailable", "Rendered", "TrackInfo", "WARNING",
    "count_bars", "default_soundfont", "describe_score", "estimate_key", "format_duration",
    "inspect_midi", "inspect_with_score", "instrument_name", "key_from_signature", "midi_format", "note_name", "piano_roll",
    "layers_rgb", "pitch_bounds", "pitch_class_histogram", "read_score", "release_soundfont",
    "render_problem", "render_wav",
    "roll_png", "roll_rgb", "score_from_bytes",
]


if __name__ == "__main__":
    raise SystemExit(main())
