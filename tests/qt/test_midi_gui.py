"""Music in the GUI: the gallery's MIDI cards (piano roll with the primer in its own
colour, Save MIDI..., drag-out, Play) and the dataset pane's rows for MIDI files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("symusic")

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QFileDialog  # noqa: E402

from studio.core import events as ev  # noqa: E402
from studio.data import midi_file  # noqa: E402
from studio.qt.panes.dataset import ItemRole  # noqa: E402
from studio.qt.panes.gallery import GalleryPane  # noqa: E402
from studio.qt.widgets.piano_roll import GENERATED, PRIMER, MidiView  # noqa: E402
from studio.qt.widgets.tasks import wait_all  # noqa: E402
from studio.state.gallery import GalleryState  # noqa: E402
from tests.qt.test_dataset_pane import row_of, scanned_pane  # noqa: E402


@pytest.fixture(autouse=True)
def _join_workers():
    yield
    assert wait_all(20_000)


@pytest.fixture
def chorale(shared_data, tmp_path) -> Path:
    path = tmp_path / "step_000010_0.mid"
    shutil.copyfile(shared_data / "midi" / "bach_bwv1.mid", path)
    return path


@pytest.fixture
def card_view(qtbot, chorale):
    """A gallery showing one MIDI sample, its card's view loaded."""
    pane = GalleryPane(GalleryState())
    pane.resize(900, 600)
    qtbot.addWidget(pane)
    pane.show()
    meta = {"primer_bars": 2, "stats": {"in_key": 0.934, "notes_per_bar": 7.5,
                                        "pc_surprise": -0.051, "pc_distance": 0.1234,
                                        "groove": 3}}
    pane.gallery.feed(ev.SampleReady(10, (ev.Sample("midi", 10, 0, path=str(chorale),
                                                    seed=3, meta=meta),)))
    view = pane.current_column.cards[0].body
    assert isinstance(view, MidiView)
    qtbot.waitUntil(lambda: view.roll.loaded is not None, timeout=10_000)
    return view


def _pixel_of(view: MidiView, layer: int) -> QColor:
    """The colour drawn at the middle of the longest note of a layer."""
    loaded = view.roll.loaded
    notes = loaded.notes[loaded.notes[:, 4] == layer]
    x0, x1, pitch = notes[(notes[:, 1] - notes[:, 0]).argmax(), :3]
    lo, hi = loaded.bounds
    row_h = view.roll.height() / (hi - lo + 1)
    img = view.roll.grab().toImage()
    return QColor(img.pixel(int((x0 + x1) / 2 * view.roll.width()),
                            int((hi - pitch + 0.5) * row_h)))


def test_card_draws_the_roll_with_the_primer_apart_and_the_stats(card_view):
    view = card_view
    loaded = view.roll.loaded
    assert loaded.seconds == pytest.approx(63.16, abs=0.01)
    assert len(loaded.notes) == 491
    # two bars of twenty are the primer: the notes that start in them, drawn grey
    assert loaded.primer_fraction == pytest.approx(2 / 20)
    primer = loaded.notes[:, 4] == PRIMER
    assert primer.any() and np.all(loaded.notes[primer, 0] < 0.1)
    assert np.all(loaded.notes[loaded.notes[:, 4] == GENERATED, 0] >= 0.1)
    grey, blue = _pixel_of(view, PRIMER), _pixel_of(view, GENERATED)
    assert abs(grey.red() - grey.blue()) < 25 and grey.red() < 220
    highlight = view.palette().highlight().color()
    assert blue.hue() == pytest.approx(highlight.hue(), abs=12) and blue.saturation() > 60
    # the playhead follows the tempo map: half the piece's seconds is half its width
    assert loaded.fraction_at(loaded.seconds / 2) == pytest.approx(0.5, abs=0.02)
    assert "5 tracks · 76 BPM · 4/4 · F major · 20 bars · 491 notes" in view.summary.text()
    assert "Acoustic Grand Piano · first 2 bars given (grey)" in view.summary.text()
    assert view.stats.isVisible()
    assert view.stats.text() == ("93% in key · 7.5 notes/bar · pitch classes -0.05 "
                                 "bits/note vs training (any key) · pitch-class distance "
                                 "0.12 (absolute keys) · groove 3")
    assert "Soprano" in view.summary.toolTip()


def test_save_midi_writes_the_file(card_view, chorale, tmp_path, monkeypatch):
    target = tmp_path / "out" / "my tune"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "MIDI files")))
    card_view.save_button.click()
    saved = target.with_suffix(".mid")
    assert saved.read_bytes() == chorale.read_bytes()
    assert card_view.status.text() == "saved my tune.mid"


def test_drag_carries_the_file_url(card_view, chorale, qtbot, monkeypatch):
    roll = card_view.roll
    urls = roll.mime_data().urls()
    assert [u.toLocalFile() for u in urls] == [str(chorale.resolve())]
    started = []
    monkeypatch.setattr(roll, "start_drag", lambda: started.append(True))
    qtbot.mousePress(roll, Qt.MouseButton.LeftButton, pos=QPoint(10, 10))
    far = QPointF(10 + 4 * QApplication.startDragDistance(), 10)
    move = QMouseEvent(QEvent.Type.MouseMove, far, roll.mapToGlobal(far),
                       Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(roll, move)
    assert started == [True]


@pytest.mark.skipif(midi_file.render_problem() != "", reason=midi_file.render_problem())
def test_play_without_an_output_device_says_so(card_view, qtbot, monkeypatch):
    pytest.importorskip("PySide6.QtMultimedia")
    from PySide6.QtMultimedia import QMediaDevices

    monkeypatch.setattr(QMediaDevices, "audioOutputs", staticmethod(lambda: []))
    view = card_view
    # two bars are enough to hear (and render quickly)
    short = Path(view.path).with_name("two_bars.mid")
    midi_file.read_score(view.path).clip(0, 2 * 40320).dump_midi(str(short))
    view.set_path(str(short))
    qtbot.waitUntil(lambda: view.roll.loaded is not None, timeout=10_000)
    view.play_button.click()
    assert view.play_button.text() == "■ Stop"
    qtbot.waitUntil(lambda: view.status.text() == "silent: no audio output device",
                    timeout=30_000)
    assert "speakers or headphones" in view.status.toolTip()
    assert view.player.source().toLocalFile().endswith(".wav")
    assert view.roll.playhead is not None
    view.play_button.click()
    assert view.play_button.text() == "▶ Play" and view.roll.playhead is None


def test_play_without_the_soundfont_says_what_is_missing(card_view, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_SOUNDFONT", str(tmp_path / "gone.sf3"))
    card_view.play_button.click()
    assert card_view.status.text() == "cannot play: SoundFont or tinysoundfont missing"
    assert "gone.sf3" in card_view.status.toolTip()
    assert not card_view.play_button.isChecked()


# -- the dataset pane ----------------------------------------------------------------------

def test_dataset_rows_for_music_files(qtbot, shared_data, tmp_path):
    folder = tmp_path / "chorales"
    folder.mkdir()
    for name in ("bach_bwv1.mid", "bach_bwv10.mid"):
        shutil.copyfile(shared_data / "midi" / name, folder / name)
    (folder / "broken.mid").write_bytes((shared_data / "midi" / "bach_bwv1.mid")
                                        .read_bytes()[:900])
    pane = scanned_pane(qtbot, folder)
    assert "2 music files" in pane.stats_label.text() or "3 music files" in pane.stats_label.text()

    good = row_of(pane, "bach_bwv1.mid")
    item = good.data(ItemRole)
    assert item.kind == "midi" and item.usable
    tip = good.data(Qt.ItemDataRole.ToolTipRole)
    for words in ("20 bars · F · 76 BPM", "Horn 2: Acoustic Grand Piano (program 0)",
                  "time signature 4/4", "key F major (key signature in the file)"):
        assert words in tip
    qtbot.waitUntil(lambda: pane.thumbs.get(item) is not None, timeout=10_000)
    assert pane.thumbs.get(item).width() == 160          # the piano-roll thumbnail

    bad = row_of(pane, "broken.mid").data(ItemRole)
    assert bad.severity == "error" and bad.problem.startswith("truncated")
    assert "truncated" in row_of(pane, "broken.mid").data(Qt.ItemDataRole.ToolTipRole)

    pane.filter_combo.setCurrentText("Music")
    assert pane.proxy.rowCount() == 3

    # the detail view: the piano roll, every track, and Play
    assert pane.select_path(item.path)
    view = pane.detail.midi_view
    assert pane.detail.stack.currentWidget() is view
    qtbot.waitUntil(lambda: view.roll.loaded is not None, timeout=10_000)
    assert "Tenor: Acoustic Grand Piano" in view.summary.text()
    assert "20 bars" in pane.detail.meta_label.text()
    assert not view.save_button.isVisible() and view.play_button.isEnabled()


def test_old_renders_are_pruned(tmp_path):
    import os

    from studio.qt.widgets.piano_roll import _prune

    for i in range(5):
        f = tmp_path / f"{i}.wav"
        f.write_bytes(b"x")
        os.utime(f, (1000 + i, 1000 + i))
    _prune(tmp_path, 2)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["3.wav", "4.wav"]


def test_a_sample_the_engine_could_not_decode_says_why(qtbot, chorale):
    from studio.qt.widgets.piano_roll import midi_card_body

    sample = ev.Sample("midi", 0, 0, path=str(chorale), text="0 new notes",
                       meta={"problem": "MidiTok could not decode the tokens"})
    view = midi_card_body(sample)
    qtbot.addWidget(view)
    assert view.stats.text() == "⚠ MidiTok could not decode the tokens"
    assert view.stats.toolTip() == "0 new notes"


def test_side_by_side_the_piano_roll_gets_half_the_pane(qtbot, shared_data, tmp_path):
    """A docked dataset pane 820 px wide: the detail (and its piano roll) is not squeezed
    into a third of it."""
    folder = tmp_path / "chorales"
    folder.mkdir()
    shutil.copyfile(shared_data / "midi" / "bach_bwv1.mid", folder / "bach_bwv1.mid")
    pane = scanned_pane(qtbot, folder)
    pane.resize(700, 800)    # narrow: one above the other
    qtbot.waitUntil(lambda: pane.splitter.orientation() == Qt.Orientation.Vertical)
    pane.resize(820, 800)    # wide enough again: side by side
    qtbot.waitUntil(lambda: pane.splitter.orientation() == Qt.Orientation.Horizontal)
    grid, detail = pane.splitter.sizes()
    assert detail >= 0.45 * (grid + detail), (grid, detail)


def test_the_primer_label_clears_the_octave_names_in_a_small_card(card_view, qtbot):
    roll = card_view.roll
    roll.setFixedSize(220, 120)
    roll.grab()   # paints: the octave names' boxes are known
    assert roll.octave_boxes
    x = roll.loaded.primer_fraction * roll.width()
    box = roll.primer_label_box(x)
    assert not any(box.intersects(b) for b in roll.octave_boxes)


def test_renders_go_to_the_studio_cache_folder(chorale, tmp_path, monkeypatch):
    from studio.qt.widgets import piano_roll

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(piano_roll.midi_file, "render_wav",
                        lambda src, dst: Path(dst).write_bytes(b"RIFF"))
    wav = Path(piano_roll.render_cached(str(chorale)))
    assert wav.parent == tmp_path / "xdg" / "fine-tuning-studio" / "midi-audio"
    assert wav.is_file()


# -- the project's MIDI settings in the dataset pane ---------------------------------------

def _midi_pane(qtbot, folder, **data):
    """A dataset pane over ``folder`` for a MIDI project, rescanned with ``data`` settings."""
    from tests.qt.test_captions import captioned_pane

    pane = captioned_pane(qtbot, folder, "midi")
    if data:
        with qtbot.waitSignal(pane.scan_finished, timeout=60_000):
            pane.project.replace_section("data", **data)
    return pane.project, pane


def _lowest(view: MidiView) -> int:
    return int(view.roll.loaded.notes[:, 2].min())


def test_dataset_pane_previews_the_augmented_copies_training_sees(qtbot, shared_data, tmp_path):
    folder = tmp_path / "chorales"
    folder.mkdir()
    shutil.copyfile(shared_data / "midi" / "bach_bwv1.mid", folder / "bach_bwv1.mid")
    project, pane = _midi_pane(qtbot, folder, midi_tracks="melody")
    project.replace_section("augment", midi_transpose=3, midi_velocity=10)
    assert pane.select_path(str(folder / "bach_bwv1.mid"))
    box = pane.detail._midi_augment
    assert box is not None and box.isVisible()

    def loaded(n):
        return len(box.columns) >= n and all(
            v.roll.loaded is not None and v.roll.loaded.path == v.path
            for _, v in box.columns[:n])
    qtbot.waitUntil(lambda: loaded(3), timeout=20_000)
    labels = [lab.text() for lab, _ in box.columns]
    assert labels[0] == "as written"
    assert labels[1].startswith("−3 semitones · velocity") and labels[2].startswith("+3")
    written, low, high = (v for _, v in box.columns)
    # the melody only (data.midi_tracks), moved by the semitones the label says
    assert written.roll.loaded.info.notes == 70   # bwv1's soprano, not its 4 voices
    assert _lowest(low) == _lowest(written) - 3 and _lowest(high) == _lowest(written) + 3
    # one pitch axis for all three, so a transposed copy is drawn higher or lower
    assert all(v.roll.fixed_bounds == box.bounds for _, v in box.columns)
    assert box.bounds[0] == _lowest(low)
    assert low.play_button.isVisible() and not low.save_button.isVisible()

    # augmentation off: the file as written, and the box says so
    project.replace_section("augment", midi_transpose=0, midi_velocity=0)
    qtbot.waitUntil(lambda: not box.columns[1][1].isVisible(), timeout=20_000)
    assert "Augmentation is off" in box.status.text()


def test_the_scan_follows_the_track_choice(qtbot, tmp_path):
    from symusic import Note, Score, Track

    folder = tmp_path / "kit"
    folder.mkdir()
    s = Score(480)
    kit = Track(name="kit", program=0, is_drum=True)
    kit.notes.append(Note(0, 120, 36, 110))
    s.tracks.append(kit)
    (folder / "drums.mid").write_bytes(s.dumps_midi())
    project, pane = _midi_pane(qtbot, folder)   # data.midi_tracks = "all": drums train
    item = pane.state.items[0]
    assert item.severity == "warning" and item.problem == "drums only"
    with qtbot.waitSignal(pane.scan_finished, timeout=60_000):
        project.replace_section("data", midi_tracks="melody")   # nothing left to learn
    item = pane.state.items[0]
    assert item.severity == "error" and item.problem.startswith("drum-only")


def test_save_midi_suggests_run_step_and_seed(qtbot, chorale):
    from studio.qt.widgets.piano_roll import midi_card_body

    step_dir = chorale.parent / "20261203-1612-chorales" / "samples" / "step_000080"
    step_dir.mkdir(parents=True)
    path = step_dir / "midi_00_continue_seed1234.mid"
    shutil.copyfile(chorale, path)
    view = midi_card_body(ev.Sample("midi", 80, 0, path=str(path), seed=1234,
                                    meta={"primer_bars": 2}))
    qtbot.addWidget(view)
    assert view.suggested_name() == "20261203-1612-chorales_step80_seed1234_continue.mid"
