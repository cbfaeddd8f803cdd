"""Music files: reading and describing MIDI (the real Bach chorales of the shared data and
odd files written here), piano rolls, rendering to audio, and the scan's "midi" kind."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("symusic")
from symusic import Note, Score, Tempo, TimeSignature, Track  # noqa: E402

from studio.data import midi_file as mf  # noqa: E402
from studio.data import scan as scanmod  # noqa: E402


def chorales(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "midi").glob("*.mid"))
    if not files:
        pytest.skip("no MIDI files in the shared data")
    return files


def write_score(path: Path, *, tracks=(("lead", 73, False, [(0, 480, 60, 100)]),),
                qpm: float | None = 120.0, signatures=((0, 4, 4),), tpq: int = 480) -> Path:
    s = Score(tpq)
    for name, program, drum, notes in tracks:
        t = Track(name=name, program=program, is_drum=drum)
        for time, dur, pitch, vel in notes:
            t.notes.append(Note(time, dur, pitch, vel))
        s.tracks.append(t)
    if qpm is not None:
        s.tempos.append(Tempo(0, qpm=qpm))
    for time, num, den in signatures:
        s.time_signatures.append(TimeSignature(time, num, den))
    path.write_bytes(s.dumps_midi())
    return path


def fifths(key: mf.Key) -> int:
    """The key's place on the circle of fifths (its key signature, -5..6 sharps)."""
    major = key.relative().tonic if key.minor else key.tonic
    return ((major * 7) % 12 + 5) % 12 - 5


# -- the Bach chorales ---------------------------------------------------------------------

def test_bwv1_is_described_as_written(shared_data):
    info = mf.inspect_midi(shared_data / "midi" / "bach_bwv1.mid")
    assert info.problem == "" and info.usable and info.format == 1
    assert [t.name for t in info.tracks] == ["Horn 2", "Soprano", "Alto", "Tenor", "Bass"]
    assert [t.notes for t in info.tracks] == [147, 70, 89, 92, 93]
    assert info.notes == 491
    assert all(t.instrument == "Acoustic Grand Piano" and not t.is_drum for t in info.tracks)
    assert info.tempos == (pytest.approx(76.0, abs=0.01),)
    assert info.time_signatures == ("4/4",) and info.time_signature_changes == ()
    assert info.key_signature == "F major" and info.key == "F major"
    assert info.key_source == "file" and info.key_estimate == "F major"
    assert info.bars == 20
    assert info.duration == pytest.approx(63.16, abs=0.01)
    assert info.summary() == "5 tracks · 76 BPM · 4/4 · F major · 20 bars · 491 notes · 1:03"
    assert info.short() == "20 bars · F · 76 BPM"
    assert "track 2: Soprano: Acoustic Grand Piano (program 0), 70 notes" in \
        info.detail_lines()[1]


def test_every_chorale_reads_with_bars_and_a_key_close_to_its_signature(shared_data):
    exact = 0
    files = chorales(shared_data)
    for path in files:
        info = mf.inspect_midi(path)
        assert info.usable and info.problem == "", (path.name, info.problem)
        assert len([t for t in info.tracks if t.notes]) >= 4
        assert info.time_signatures and info.time_signatures[0] in ("4/4", "3/4", "3/2")
        # bars from the time signature, counted independently of get_downbeats
        score = mf.read_score(path)
        num, den = map(int, info.time_signatures[0].split("/"))
        per_bar = score.ticks_per_quarter * 4 * num // den
        assert info.bars == math.ceil(score.end() / per_bar), path.name
        # the estimate agrees with the key signature, or is a neighbour on the circle of
        # fifths (chorales modulate to the dominant and the relative key)
        sig = mf.key_from_signature(score.key_signatures[0].key,
                                    bool(score.key_signatures[0].tonality))
        est = mf.estimate_key(mf.pitch_class_histogram(score))
        assert info.key_signature == sig.name and info.key_estimate == est.name
        exact += est == sig
        gap = abs(fifths(est) - fifths(sig))
        assert min(gap, 12 - gap) <= 1, (path.name, sig.name, est.name)
    assert exact >= 0.65 * len(files), f"{exact} of {len(files)} keys estimated exactly"


def test_key_names_and_signatures():
    assert mf.key_from_signature(0, False).name == "C major"
    assert mf.key_from_signature(0, True).name == "A minor"
    assert mf.key_from_signature(-2, True).name == "G minor"
    assert mf.key_from_signature(3, False).name == "A major"
    assert mf.key_from_signature(-3, False).name == "Eb major"
    c_major_scale = np.zeros(12)
    c_major_scale[[0, 2, 4, 5, 7, 9, 11]] = 1
    c_major_scale[[0, 4, 7]] += 2   # the tonic triad weighs most
    assert mf.estimate_key(c_major_scale).name == "C major"
    assert mf.estimate_key(np.zeros(12)) is None


# -- odd files -----------------------------------------------------------------------------

def test_truncated_file_is_named_as_such(shared_data, tmp_path):
    data = (shared_data / "midi" / "bach_bwv1.mid").read_bytes()
    bad = tmp_path / "cut.mid"
    bad.write_bytes(data[: len(data) // 2])
    info = mf.inspect_midi(bad)
    assert info.severity == mf.ERROR and info.problem.startswith("truncated")
    assert "cut off" in info.problem
    with pytest.raises(mf.MidiFileError, match="truncated"):
        mf.read_score(bad)
    # a header that announces more tracks than the file holds
    short = tmp_path / "short.mid"
    short.write_bytes(data[:10] + (9).to_bytes(2, "big") + data[12:])
    assert "announces 9 tracks" in mf.inspect_midi(short).problem


def test_text_named_mid_and_other_formats(tmp_path):
    text = tmp_path / "notes.mid"
    text.write_text("these are my notes, not a MIDI file\n")
    info = mf.inspect_midi(text)
    assert info.severity == mf.ERROR
    assert "not a MIDI file (despite its .mid name): it holds text" in info.problem
    png = tmp_path / "pic.midi"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    assert "a PNG image" in mf.inspect_midi(png).problem
    rmi = tmp_path / "song.mid"
    rmi.write_bytes(b"RIFF\x00\x00\x00\x00RMIDdata")
    assert "RIFF-wrapped" in mf.inspect_midi(rmi).problem
    empty = tmp_path / "empty.mid"
    empty.write_bytes(b"")
    assert mf.inspect_midi(empty).problem == "empty file"


def test_no_notes_type_2_absurd_tempo_and_drums(tmp_path):
    silent = write_score(tmp_path / "silent.mid", tracks=(("empty", 0, False, []),))
    info = mf.inspect_midi(silent)
    assert info.severity == mf.ERROR and info.problem == "no notes in it"

    good = write_score(tmp_path / "good.mid")
    data = bytearray(good.read_bytes())
    data[8:10] = (2).to_bytes(2, "big")   # the header's format word: type 2
    type2 = tmp_path / "type2.mid"
    type2.write_bytes(bytes(data))
    info = mf.inspect_midi(type2)
    assert info.format == 2 and info.severity == mf.ERROR
    assert info.problem.startswith("type-2 MIDI file") and "type 0 or 1" in info.problem

    fast = write_score(tmp_path / "fast.mid", qpm=2000.0)
    info = mf.inspect_midi(fast)
    assert info.severity == mf.WARNING and info.problem.startswith("absurd tempo (2000 BPM")

    drums = write_score(tmp_path / "drums.mid", tracks=(
        ("kit", 0, True, [(0, 120, 36, 110), (480, 120, 38, 100)]),))
    info = mf.inspect_midi(drums)
    assert info.severity == mf.WARNING and info.problem == "drums only"
    assert info.tracks[0].instrument == "Drums"
    melody = mf.inspect_midi(drums, melody=True)
    assert melody.severity == mf.ERROR and melody.problem == "drum-only: no melody to learn"


def test_time_signature_changes_are_read_not_refused(tmp_path):
    notes = [(i * 480, 480, 60 + i % 5, 90) for i in range(4 * 2 + 3 * 2)]
    path = write_score(tmp_path / "waltz.mid", tracks=(("p", 0, False, notes),),
                       signatures=((0, 4, 4), (1920 * 2, 3, 4)))
    info = mf.inspect_midi(path)
    assert info.usable and info.severity == mf.WARNING
    assert info.time_signatures == ("4/4", "3/4")
    assert info.time_signature_changes == ((3, "3/4"),)
    assert info.bars == 4   # two bars of 4/4, then two of 3/4
    assert "time signature changes (4/4, then 3/4 at bar 3): read as written" == info.problem


def test_huge_file_is_not_parsed(shared_data, tmp_path):
    info = mf.inspect_midi(shared_data / "midi" / "bach_bwv1.mid", max_bytes=1000)
    assert info.severity == mf.ERROR and info.problem.startswith("too large")


def test_abc_through_music21_or_a_clear_message(tmp_path, monkeypatch):
    abc = tmp_path / "tune.abc"
    abc.write_text("X:1\nT:Scale\nM:4/4\nL:1/4\nK:G\nGABc|defg|\n")
    pytest.importorskip("music21")
    info = mf.inspect_midi(abc)
    assert info.usable and info.notes == 8 and info.format is None
    import builtins

    real_import = builtins.__import__

    def no_music21(name, *args, **kwargs):
        if name == "music21":
            raise ImportError("no music21")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_music21)
    info = mf.inspect_midi(abc)
    assert info.severity == mf.ERROR and "needs music21" in info.problem


# -- piano rolls ---------------------------------------------------------------------------

def test_piano_roll_places_notes_by_time_pitch_and_velocity(tmp_path):
    score = mf.read_score(write_score(tmp_path / "two.mid", tracks=(
        ("a", 0, False, [(0, 480, 60, 127), (480, 480, 64, 64)]),
        ("kit", 0, True, [(0, 240, 36, 127)]))))
    roll = mf.piano_roll(score, 8)
    assert roll.shape == (128, 8) and roll.dtype == np.float32
    assert np.all(roll[60, :4] == 1.0) and not roll[60, 4:].any()
    assert np.allclose(roll[64, 4:], 64 / 127) and not roll[64, :4].any()
    assert np.all(roll[36, :2] == 1.0)          # the drum note: a quarter of the piece
    assert set(np.flatnonzero(roll.any(axis=1))) == {36, 60, 64}
    assert not mf.piano_roll(score, 8, drums=False)[36].any()
    assert mf.pitch_bounds(roll) == (34, 66)
    png = mf.roll_png(score, 80, 40)
    assert png.startswith(b"\x89PNG")
    pic = mf.roll_rgb(mf.piano_roll(score, 80), 40)
    assert pic.shape == (40, 80, 3) and pic.dtype == np.uint8


# -- rendering -----------------------------------------------------------------------------

needs_render = pytest.mark.skipif(mf.render_problem() != "", reason=mf.render_problem())
SR = 32000  # render_wav's default, as the GUI renders: the decoded SoundFont is reused


@needs_render
def test_render_wav_is_audible_and_as_long_as_the_notes(tmp_path):
    # two seconds of notes at 120 BPM (960 ticks a second), a piano and a flute
    path = write_score(tmp_path / "duet.mid", tracks=(
        ("piano", 0, False, [(0, 960, 60, 100), (960, 960, 64, 100)]),
        ("flute", 73, False, [(0, 1920, 72, 90)])))
    out = tmp_path / "duet.wav"
    done = mf.render_wav(path, out, sample_rate=SR)
    assert done.seconds == pytest.approx(2.0 + mf.RENDER_TAIL_S, abs=1 / SR)
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SR, 2, 2)
        frames = w.getnframes()
        audio = np.frombuffer(w.readframes(frames), "<i2").reshape(-1, 2) / 32768.0
    assert frames == round(3.0 * SR)
    notes_part = audio[: 2 * SR]
    rms = float(np.sqrt(np.mean(notes_part ** 2)))
    assert rms > 0.05, rms                                     # clearly audible
    assert np.abs(audio).max() == pytest.approx(mf.TARGET_PEAK, abs=0.01)  # never clipped
    # every quarter second of the notes sounds
    quarters = notes_part[: 8 * (SR // 4)].reshape(8, SR // 4, 2)
    assert np.all(np.sqrt((quarters ** 2).mean(axis=(1, 2))) > 0.01)
    # the decoded SoundFont is kept for the next render, and freed when renders stop
    assert mf._SYNTHS and mf._RELEASE.is_alive() and mf._RELEASE.interval == mf.SYNTH_IDLE_S


def test_release_soundfont_frees_it(monkeypatch):
    monkeypatch.setattr(mf, "_SYNTHS", {("a.sf2", 16000): object()})
    mf.release_soundfont()
    assert mf._SYNTHS == {}


@needs_render
def test_render_plays_the_written_pitch_and_the_drums(tmp_path):
    def render(name, pitch, program, drum=False):
        path = write_score(tmp_path / f"{name}.mid",
                           tracks=((name, program, drum, [(0, 960, pitch, 100)]),))
        mf.render_wav(path, tmp_path / f"{name}.wav", sample_rate=SR)
        with wave.open(str(tmp_path / f"{name}.wav")) as w:
            return np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2) \
                .mean(axis=1) / 32768.0

    for name, pitch, program, hz in (("piano", 69, 0, 440.0), ("bass", 57, 32, 220.0)):
        part = render(name, pitch, program)[SR // 10:SR // 10 + 16384]
        spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
        peak = np.fft.rfftfreq(len(part), 1 / SR)[spectrum.argmax()]
        assert peak == pytest.approx(hz, abs=3.0), name
    snare = render("snare", 38, 0, drum=True)      # channel 10: the drum kit
    assert float(np.sqrt(np.mean(snare[:SR // 2] ** 2))) > 0.01


def test_render_without_a_soundfont_says_what_is_missing(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "gm.sf3"
    monkeypatch.setenv("STUDIO_SOUNDFONT", str(missing))
    reason = mf.render_problem()
    assert "SoundFont" in reason and str(missing) in reason
    with pytest.raises(mf.RenderUnavailable, match="SoundFont"):
        mf.render_wav(write_score(tmp_path / "a.mid"), tmp_path / "a.wav")


def test_the_shipped_soundfont_is_there_with_its_licence():
    sf = mf.default_soundfont()
    assert sf.is_file() and sf.read_bytes()[8:12] == b"sfbk"
    licence = (sf.parent / "FluidR3Mono_License.md").read_text()
    assert "MIT license" in licence


# -- the scan ------------------------------------------------------------------------------

def test_scan_gives_music_files_a_thumbnail_and_reasons(shared_data, tmp_path):
    src = shared_data / "midi" / "bach_bwv10.mid"
    folder = tmp_path / "music"
    folder.mkdir()
    (folder / "chorale.mid").write_bytes(src.read_bytes())
    (folder / "fake.mid").write_text("not music")
    assert scanmod.kind_of("a.MID") == scanmod.kind_of("b.midi") == "midi"
    assert scanmod.kind_of("c.musicxml") == scanmod.kind_of("d.abc") == "midi"
    items = {s.item.name: s.item for s in scanmod.scan([folder])}
    good, bad = items["chorale.mid"], items["fake.mid"]
    assert good.kind == "midi" and good.usable and good.problem == ""
    assert good.thumbnail.startswith(b"\x89PNG") and good.midi.bars == 22
    assert good.duration == pytest.approx(good.midi.duration)
    assert bad.kind == "midi" and bad.severity == scanmod.ERROR
    assert "not a MIDI file" in bad.problem and not bad.thumbnail
    # a file odd in two ways gives both reasons, the worse first
    write_score(folder / "odd.mid", tracks=(("kit", 0, True, [(0, 120, 36, 110)]),),
                qpm=1000.0)
    odd = scanmod.scan_file(str(folder / "odd.mid"))
    assert odd.severity == scanmod.WARNING
    assert odd.problem == ("drums only; absurd tempo (1000 BPM, sensible is 16-480): timing "
                           "will be off, fix the tempo in your MIDI program")


def test_command_line_describes_files_and_fails_on_a_bad_one(shared_data, tmp_path, capsys):
    good = shared_data / "midi" / "bach_bwv1.mid"
    assert mf.main([str(good)]) == 0
    bad = tmp_path / "bad.mid"
    bad.write_text("hello")
    assert mf.main([str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "5 tracks · 76 BPM · 4/4 · F major · 20 bars · 491 notes · 1:03" in out
    assert "track 5: Bass: Acoustic Grand Piano (program 0), 93 notes, F2-D4" in out
    assert f"{bad}: no notes\n  cannot be used: not a MIDI file" in out


def test_summary_says_one_track_not_one_tracks(tmp_path):
    # a generated melody is one track: the gallery card read "1 tracks · ... · 1 notes"
    info = mf.inspect_midi(write_score(tmp_path / "one.mid"))
    assert info.summary().startswith("1 track · ")
    assert "1 bar · 1 note · " in info.summary()
