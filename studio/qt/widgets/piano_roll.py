"""Music (MIDI) in the GUI: a piano roll with a playhead, Play/Stop, "Save MIDI..." and
drag-out of the ``.mid`` file to another program (a DAW, a file manager).

- :class:`PianoRollView` draws a piece (``studio.data.midi_file.piano_roll``), the primer
  part of a continuation in another colour, and the playhead; dragging it carries the
  file's URL.
- :class:`MidiView` is the roll with its buttons and one-line summaries; the gallery's MIDI
  cards (:func:`midi_card_body`) and the dataset pane's detail view use it.

Reading the file and drawing the roll run off the GUI thread, and so does rendering to WAV
(tinysoundfont with the shipped General MIDI SoundFont; no torch, so a light pool thread
will do); the WAV then plays through QtMultimedia, imported on the first Play. When the
SoundFont, tinysoundfont or an audio output is missing, the view says which instead of
failing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QRectF, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDrag, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio.data import midi_file
from studio.data.cache import cache_root
from studio.qt.widgets.tasks import run_in_background

PLAYHEAD = QColor("#e5533d")
KEEP_RENDERS = 40          # rendered WAVs kept in the temp folder
# the primer (the given opening) in grey, drums in amber; the generated notes take the
# palette's highlight colour
PRIMER_COLOUR = QColor(150, 150, 160)
DRUM_COLOUR = QColor(214, 140, 40)
GENERATED, PRIMER, DRUMS = 0, 1, 2   # a note's layer


@dataclass(frozen=True)
class LoadedMidi:
    """What a view needs, computed off the GUI thread."""

    path: str
    info: midi_file.MidiInfo
    # (n, 5) float32 per note: start and end as fractions of the piece (by ticks), MIDI
    # pitch, velocity 0..1, layer (GENERATED, PRIMER or DRUMS); None without notes
    notes: np.ndarray | None
    bounds: tuple[int, int] = (48, 72)   # lowest and highest pitch drawn
    seconds: float = 0.0                 # the piece's length (the WAV adds a release tail)
    primer_fraction: float = 0.0         # where the primer ends, 0..1 of the width (0: none)
    # seconds -> fraction of the width, sampled at note starts (tempo changes included)
    time_map: tuple[np.ndarray, np.ndarray] = (np.zeros(1), np.zeros(1))

    def fraction_at(self, seconds: float) -> float:
        secs, fracs = self.time_map
        return float(np.interp(seconds, secs, fracs))


def load_midi(path: str, primer_bars: int = 0) -> LoadedMidi:
    """Read, describe and lay out one music file (runs on a worker thread)."""
    info, score = midi_file.inspect_with_score(path)
    if score is None or not info.notes:
        return LoadedMidi(path, info, None)
    end = max(1, int(score.end()))
    primer_end = _primer_end_tick(score, primer_bars)
    rows, secs, fracs = [], [], []
    for track, timed in zip(score.tracks, score.to("second").tracks):
        if not len(track.notes):
            continue
        a, b = track.notes.numpy(), timed.notes.numpy()
        start = a["time"].astype(np.float64)
        layer = np.full(len(start), DRUMS if track.is_drum else GENERATED, np.float64)
        if primer_end and not track.is_drum:
            layer[start < primer_end] = PRIMER
        rows.append(np.stack([start / end, (start + a["duration"]) / end,
                              a["pitch"], a["velocity"] / 127.0, layer], axis=1))
        secs.append(b["time"])
        fracs.append(start / end)
    notes = np.concatenate(rows).astype(np.float32)
    order = np.argsort(np.concatenate(fracs), kind="stable")
    secs_sorted = np.concatenate(secs)[order].astype(np.float64)
    fracs_sorted = np.concatenate(fracs)[order]
    time_map = (np.append(secs_sorted, info.duration), np.append(fracs_sorted, 1.0))
    pitched = notes[notes[:, 4] != DRUMS][:, 2]
    roll = np.zeros((128, 1), np.float32)
    roll[(pitched if pitched.size else notes[:, 2]).astype(np.int64), 0] = 1.0
    return LoadedMidi(path, info, notes, midi_file.pitch_bounds(roll), info.duration,
                      primer_end / end if primer_end else 0.0, time_map)


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(round(a.red() * (1 - t) + b.red() * t),
                  round(a.green() * (1 - t) + b.green() * t),
                  round(a.blue() * (1 - t) + b.blue() * t))


def _primer_end_tick(score, primer_bars: int) -> int:
    """The tick where bar ``primer_bars + 1`` starts (0 when there is no primer)."""
    if primer_bars <= 0:
        return 0
    downbeats = np.asarray(score.get_downbeats())
    if len(downbeats) > primer_bars:
        return int(downbeats[primer_bars])
    return 0


def render_cached(path: str) -> str:
    """The file rendered to a WAV in the studio's cache folder (kept while the file is
    unchanged, so a second Play starts at once); raises RenderUnavailable / MidiFileError."""
    st = os.stat(path)
    what = f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}|{midi_file.default_soundfont()}"
    key = hashlib.blake2b(what.encode(), digest_size=10).hexdigest()
    folder = cache_root("midi-audio")   # beside the studio's other caches, not in /tmp
    folder.mkdir(parents=True, exist_ok=True)
    wav = folder / f"{key}.wav"
    if not wav.is_file():
        _prune(folder, KEEP_RENDERS - 1)
        midi_file.render_wav(path, wav)
    return str(wav)


def _prune(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently written renders (a long run's samples
    would otherwise fill the cache folder, a few MB each)."""
    try:
        old = sorted(folder.glob("*.wav"), key=lambda f: f.stat().st_mtime, reverse=True)
        for f in old[max(0, keep):]:
            f.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruning at the same time: nothing lost


# How the engine's sample statistics (meta["stats"]) read in a card; others show as
# "name value".
_STAT_FORMATS = {
    "in_key": "{:.0%} in key",
    "notes_per_bar": "{:.1f} notes/bar",
    "repeated_bars": "{:.0%} repeated bars",
    "pc_surprise": "pitch classes {:+.2f} bits/note vs training (any key)",
    "pc_distance": "pitch-class distance {:.2f} (absolute keys)",
    "notes_per_bar_ratio": "density ×{:.2f} of training",
}


def stats_line(stats: Any) -> str:
    """meta["stats"] as one line: a string as it is, a mapping as "91% in key · ..."."""
    if isinstance(stats, str):
        return stats
    if not isinstance(stats, Mapping):
        return ""
    parts = []
    for name, value in stats.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        form = _STAT_FORMATS.get(str(name))
        if form and not isinstance(value, str):
            parts.append(form.format(value))
        elif isinstance(value, float):
            parts.append(f"{str(name).replace('_', ' ')} {value:.3g}")
        else:
            parts.append(f"{str(name).replace('_', ' ')} {value}")
    return " · ".join(parts)


class PianoRollView(QWidget):
    """A piano roll (high notes at the top), the primer's end, and a playhead. Drag it
    to drop the ``.mid`` file into another program."""

    def __init__(self, parent: QWidget | None = None, min_height: int = 96) -> None:
        super().__init__(parent)
        self.path = ""
        self.loaded: LoadedMidi | None = None
        self.octave_boxes: list[QRectF] = []   # where the octave names were drawn
        self.message = "loading…"
        self.playhead: float | None = None   # seconds, None when hidden
        # (lowest, highest) pitch to draw instead of the file's own: rolls side by side on
        # one pitch axis (the augmentation preview: a transposed copy sits higher)
        self.fixed_bounds: tuple[int, int] | None = None
        self._press: QPoint | None = None
        self.setMinimumSize(QSize(160, min_height))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Drag onto your music program or a folder to copy the MIDI file")

    def set_loaded(self, loaded: LoadedMidi | None, message: str = "") -> None:
        self.loaded = loaded
        self.message = message
        self.update()

    def set_playhead(self, seconds: float | None) -> None:
        self.playhead = seconds
        self.update()

    def playhead_x(self) -> float | None:
        """The playhead's x in widget pixels (None when hidden)."""
        if self.playhead is None or self.loaded is None or self.loaded.seconds <= 0:
            return None
        return self.loaded.fraction_at(self.playhead) * self.width()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt name
        p = QPainter(self)
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        loaded = self.loaded
        if loaded is None or loaded.notes is None:
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            text = self.message or (loaded.info.problem if loaded else "") or "no notes"
            p.drawText(self.rect().adjusted(6, 0, -6, 0),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
            return
        lo, hi = self.fixed_bounds or loaded.bounds
        row_h = self.height() / (hi - lo + 1)
        self._paint_octaves(p, lo, hi, row_h)
        self._paint_notes(p, loaded, lo, hi, row_h)
        self._paint_octaves(p, lo, hi, row_h, labels=True)
        if loaded.primer_fraction:
            x = loaded.primer_fraction * self.width()
            p.setPen(QPen(pal.color(QPalette.ColorRole.PlaceholderText), 1,
                          Qt.PenStyle.DashLine))
            p.drawLine(int(x), 0, int(x), self.height())
            label = self.primer_label_box(x)
            p.fillRect(label, pal.color(QPalette.ColorRole.Base))
            p.drawText(label, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       "primer")
        x = self.playhead_x()
        if x is not None:
            p.setPen(QPen(PLAYHEAD, 2))
            p.drawLine(int(x), 0, int(x), self.height())

    def primer_label_box(self, x: float) -> QRectF:
        """Where "primer" is written beside its line at ``x``: left of it at the top, else
        the first place clear of the octave names (in a small card the top C's name sat
        under it)."""
        h = self.height() - 16
        places = [QRectF(x - 50, 1, 47, 15), QRectF(x + 3, 1, 47, 15),
                  QRectF(x - 50, h, 47, 15), QRectF(x + 3, h, 47, 15)]
        return next((r for r in places if not any(r.intersects(b) for b in self.octave_boxes)),
                    places[0])

    def _paint_octaves(self, p: QPainter, lo: int, hi: int, row_h: float,
                       labels: bool = False) -> None:
        """A faint line under each C (``labels``: its name, over the notes, where there
        is room)."""
        pal = self.palette()
        base = pal.color(QPalette.ColorRole.Base)
        line = _mix(base, pal.color(QPalette.ColorRole.Text), 0.12)
        font = p.font()
        font.setPointSizeF(max(6.5, self.font().pointSizeF() * 0.75))
        p.setFont(font)
        if labels:
            self.octave_boxes = []
        for pitch in range(lo, hi + 1):
            if pitch % 12:
                continue
            y = (hi - pitch + 1) * row_h
            if not labels:
                p.setPen(QPen(line, 1))
                p.drawLine(0, int(y), self.width(), int(y))
            elif row_h * 12 > 28:
                box = QRectF(1, y - 12, 20, 11)
                self.octave_boxes.append(box)
                veil = QColor(base)
                veil.setAlphaF(0.8)
                p.fillRect(box, veil)
                p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
                p.drawText(box, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                           midi_file.note_name(pitch))

    def _paint_notes(self, p: QPainter, loaded: LoadedMidi, lo: int, hi: int,
                     row_h: float) -> None:
        """One rectangle a note, a pixel short of the next so repeated notes stay apart;
        louder notes more opaque."""
        w = self.width()
        colours = {GENERATED: self.palette().color(QPalette.ColorRole.Highlight),
                   PRIMER: PRIMER_COLOUR, DRUMS: DRUM_COLOUR}
        notes = loaded.notes
        inside = (notes[:, 2] >= lo) & (notes[:, 2] <= hi)
        h = max(1.0, row_h - (1.0 if row_h >= 4 else 0.0))
        p.setPen(Qt.PenStyle.NoPen)
        for layer, base in colours.items():
            mine = notes[inside & (notes[:, 4] == layer)]
            # four loudness levels: a brush each, not one per note
            level = np.minimum(3, (mine[:, 3] * 4).astype(np.int64))
            for k in range(4):
                chosen = mine[level == k]
                if not len(chosen):
                    continue
                colour = QColor(base)
                colour.setAlphaF(0.55 + 0.15 * k)
                p.setBrush(colour)
                p.drawRects([QRectF(x0 * w, (hi - pitch) * row_h,
                                    max(1.5, (x1 - x0) * w - 1.0), h)
                             for x0, x1, pitch in chosen[:, :3].tolist()])

    # -- drag-out ---------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt name
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt name
        if (self._press is not None and self.path
                and (event.position().toPoint() - self._press).manhattanLength()
                >= QApplication.startDragDistance()):
            self._press = None
            self.start_drag()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt name
        self._press = None
        super().mouseReleaseEvent(event)

    def mime_data(self) -> QMimeData:
        """The file as a URL (what DAWs and file managers accept from a drop)."""
        data = QMimeData()
        data.setUrls([QUrl.fromLocalFile(str(Path(self.path).resolve()))])
        return data

    def start_drag(self) -> None:
        drag = QDrag(self)
        drag.setMimeData(self.mime_data())
        pix = self.grab().scaledToWidth(min(160, max(1, self.width())),
                                        Qt.TransformationMode.SmoothTransformation)
        drag.setPixmap(pix)
        drag.exec(Qt.DropAction.CopyAction)


_PLAYING: weakref.WeakSet = weakref.WeakSet()  # views playing now (at most one)


class MidiView(QWidget):
    """A music file: piano roll, Play/Stop, Save MIDI..., and what the file holds."""

    loaded = Signal(object)   # the LoadedMidi, when drawn

    def __init__(self, parent: QWidget | None = None, *, save: bool = True,
                 details: bool = False, roll_height: int = 96) -> None:
        super().__init__(parent)
        self.details = details   # list the tracks under the summary (the dataset pane)
        self.path = ""
        self.meta: dict = {}
        self.save_name = ""   # "Save MIDI..."'s suggested name ("" = the file's own)
        self.player = None
        self.audio_output = None
        self._load_task = None
        self._render_task = None

        self.roll = PianoRollView(self, roll_height)
        self.play_button = QPushButton("▶ Play", self)
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Hear it with the studio's General MIDI SoundFont "
                                    "(click again to stop)")
        self.play_button.toggled.connect(lambda on: self.play() if on else self.stop())
        self.save_button = QPushButton("Save MIDI…", self)
        self.save_button.setToolTip("Save a copy of the .mid file (or drag the piano roll "
                                    "onto your music program)")
        self.save_button.clicked.connect(self.save_dialog)
        self.save_button.setVisible(save)
        self.status = QLabel("", self)
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.summary = QLabel("", self)
        self.summary.setWordWrap(True)
        self.stats = QLabel("", self)
        self.stats.setWordWrap(True)
        self.stats.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stats.hide()

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.play_button)
        row.addWidget(self.save_button)
        row.addWidget(self.status, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.roll, 1)
        lay.addLayout(row)
        lay.addWidget(self.summary)
        lay.addWidget(self.stats)

    # -- content ----------------------------------------------------------------------
    def set_path(self, path: str, meta: Mapping | None = None) -> None:
        self.stop()
        self.path = str(path)
        self.meta = dict(meta or {})
        self.roll.path = self.path
        self.roll.set_loaded(None, "loading…")
        self.summary.setText("")
        self.status.setText("")
        line = stats_line(self.meta.get("stats"))
        problem = str(self.meta.get("problem") or "")
        if problem:   # e.g. the model wrote tokens MidiTok could not decode
            line = (line + "\n" if line else "") + f"⚠ {problem}"
        self.stats.setText(line)
        self.stats.setVisible(bool(line))
        if self._load_task is not None:
            self._load_task.cancel()
        primer = int(self.meta.get("primer_bars") or 0)
        self._load_task = run_in_background(load_midi, self.path, primer,
                                            done=self._on_loaded, error=self._on_load_error)
        self._load_task.setProperty("path", self.path)

    def _on_loaded(self, loaded: LoadedMidi) -> None:
        if loaded.path != self.path:
            return
        info = loaded.info
        self.roll.set_loaded(loaded, info.problem if loaded.notes is None else "")
        text = info.summary() if info.notes else ""
        if self.details and info.notes:   # the dataset pane: every track
            text += "\n" + "\n".join(info.detail_lines())
        extra = [info.programs] if info.programs and not self.details else []
        if loaded.primer_fraction:
            bars = int(self.meta.get("primer_bars") or 0)
            extra.append(f"first {bars} bar{'s' if bars != 1 else ''} given (grey)")
        if extra:
            text += "\n" + " · ".join(extra)
        self.summary.setText(text)
        self.summary.setToolTip("\n".join(info.detail_lines()) if info.notes else "")
        self.play_button.setEnabled(bool(info.notes))
        self.loaded.emit(loaded)

    def _on_load_error(self, exc: BaseException) -> None:
        self.roll.set_loaded(None, f"cannot read this file: {exc}")

    # -- save -------------------------------------------------------------------------
    def suggested_name(self) -> str:
        return self.save_name or Path(self.path).name or "sample.mid"

    def save_to(self, target: str | os.PathLike) -> Path:
        target = Path(target)
        if target.suffix.lower() not in midi_file.MIDI_EXTS:
            target = target.with_suffix(".mid")
        shutil.copyfile(self.path, target)
        return target

    def save_dialog(self) -> Path | None:
        start = str(Path.home() / self.suggested_name())
        name, _ = QFileDialog.getSaveFileName(self, "Save MIDI file", start,
                                              "MIDI files (*.mid *.midi)")
        if not name:
            return None
        try:
            saved = self.save_to(name)
        except OSError as exc:
            self.status.setText(f"not saved: {exc.strerror or exc}")
            return None
        self.status.setText(f"saved {saved.name}")
        return saved

    # -- playback ---------------------------------------------------------------------
    def play(self) -> None:
        if not self.path:
            return
        missing = midi_file.render_problem()
        if missing:   # say what is missing rather than fail
            self.status.setText("cannot play: SoundFont or tinysoundfont missing")
            self.status.setToolTip(missing)
            self._set_button(False)
            return
        for other in list(_PLAYING):
            if other is not self:
                other.stop()
        self._set_button(True)
        self.status.setText("rendering…")
        self.status.setToolTip("")
        if self._render_task is not None:
            self._render_task.cancel()
        self._render_task = run_in_background(render_cached, self.path,
                                              done=self._on_rendered,
                                              error=self._on_render_error)
        self._render_task.setProperty("path", self.path)

    def _on_rendered(self, wav: str) -> None:
        task = self.sender()
        if (task is not None and task.property("path") != self.path) \
                or not self.play_button.isChecked():
            return
        if not self._ensure_player():
            return
        from studio.qt.widgets import audio_view

        silent = audio_view.silent_output_reason()
        self.status.setText("silent: no audio output device" if silent else "playing")
        self.status.setToolTip(silent)
        _PLAYING.add(self)
        self.player.setSource(QUrl.fromLocalFile(wav))
        self.player.play()
        self.roll.set_playhead(0.0)

    def _on_render_error(self, exc: BaseException) -> None:
        self._set_button(False)
        self.status.setText(f"cannot play: {exc}")
        self.status.setToolTip(str(exc))

    def _ensure_player(self) -> bool:
        if self.player is not None:
            return True
        try:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
        except ImportError as exc:  # e.g. libpulse missing on Linux
            self.status.setText(f"playback unavailable ({exc})")
            self._set_button(False)
            return False
        self.player = QMediaPlayer(self)
        self.audio_output = QAudioOutput(self)
        self.player.setAudioOutput(self.audio_output)
        self.player.positionChanged.connect(lambda ms: self.roll.set_playhead(ms / 1000.0))
        self.player.playbackStateChanged.connect(self._on_state)
        return True

    def _on_state(self, state) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if state == QMediaPlayer.PlaybackState.StoppedState and self.play_button.isChecked():
            self.stop()

    def stop(self) -> None:
        if self._render_task is not None:
            self._render_task.cancel()
            self._render_task = None
        if self.player is not None:
            self.player.stop()
        _PLAYING.discard(self)
        self.roll.set_playhead(None)
        if self.status.text() in ("playing", "rendering…"):
            self.status.setText("")
        self._set_button(False)

    def is_playing(self) -> bool:
        return self in _PLAYING

    def _set_button(self, on: bool) -> None:
        self.play_button.blockSignals(True)
        self.play_button.setChecked(on)
        self.play_button.setText("■ Stop" if on else "▶ Play")
        self.play_button.blockSignals(False)

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt name
        self.stop()
        super().hideEvent(event)


def _augment_job(path: str, aug: Any, tracks: str, seed: int):
    """On the previews' torch thread: ``studio.data.midi.augment_preview`` (imported
    there: it brings in torch and MidiTok, which the GUI thread should not wait for)."""
    from studio.data import midi as md

    return md.augment_preview(path, aug, tracks, seed, cache_root("midi-augment"))


AUGMENT_KNOBS = ("midi_transpose", "midi_velocity", "midi_tempo")


class MidiAugmentPreview(QGroupBox):
    """A music file as training sees it under the project's ``[augment]`` settings and
    track choice: the file itself and its extreme copies (lowest and highest
    transposition, or the velocity/tempo copy), each a playable piano roll on one shared
    pitch axis. The copies are made by the training set's own code
    (``studio.data.midi.augment_preview``), on the torch thread ``run_torch`` names."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Augmented copies — what training sees", parent)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.row = QHBoxLayout()
        self.row.setSpacing(6)
        lay = QVBoxLayout(self)
        lay.addWidget(self.status)
        lay.addLayout(self.row)
        self.columns: list[tuple[QLabel, MidiView]] = []
        self.bounds: tuple[int, int] | None = None
        self._key: tuple | None = None
        self._task = None

    def show_for(self, path: str, cfg: Any, run_torch) -> None:
        """Preview ``path`` under ``cfg`` (a project config); nothing is redone when the
        file and the settings that matter are unchanged."""
        from types import SimpleNamespace

        aug = SimpleNamespace(**{k: getattr(cfg.augment, k) for k in AUGMENT_KNOBS})
        tracks, seed = cfg.data.midi_tracks, cfg.data.split_seed
        key = (path, tuple(vars(aug).values()), tracks, seed)
        if key == self._key:
            return
        self._key = key
        on = aug.midi_transpose or aug.midi_velocity or aug.midi_tempo
        self.status.setText(
            f"data.midi_tracks = \"{tracks}\"; augment.midi_transpose = "
            f"{aug.midi_transpose}, midi_velocity = {aug.midi_velocity}, midi_tempo = "
            f"{aug.midi_tempo:g} (Settings pane). "
            + ("The file as written and the extreme copies it also trains as (velocity "
               "and tempo: one draw from their range); one pitch axis."
               if on else "Augmentation is off: each file trains as written."))
        if self._task is not None:
            self._task.cancel()
        self._task = run_torch(_augment_job, path, aug, tracks, seed,
                               done=lambda result: self._on_done(key, result),
                               error=lambda exc: self._on_error(key, exc))

    def _on_done(self, key: tuple, result) -> None:
        if key != self._key:
            return   # a later selection or setting replaced this one
        copies, self.bounds = result
        while len(self.columns) < len(copies):
            label, view = QLabel(self), MidiView(self, save=False, roll_height=72)
            # the label says what changed; the file's summary would repeat the original's
            # key signature, which a transposed copy keeps (MidiTok leaves it as it is)
            view.summary.setMaximumHeight(0)
            col = QVBoxLayout()
            col.addWidget(label)
            col.addWidget(view, 1)
            self.row.addLayout(col, 1)
            self.columns.append((label, view))
        for k, (label, view) in enumerate(self.columns):
            shown = k < len(copies)
            label.setVisible(shown)
            view.setVisible(shown)
            if shown:
                label.setText(copies[k][0])
                view.roll.fixed_bounds = self.bounds
                view.set_path(copies[k][1])
            else:
                view.stop()

    def _on_error(self, key: tuple, exc: BaseException) -> None:
        if key == self._key:
            self.status.setText(f"No preview: {exc}")

    def stop(self) -> None:
        for _, view in self.columns:
            view.stop()


def midi_card_body(sample, parent: QWidget | None = None) -> MidiView:
    """The gallery's body for a MIDI sample (``Sample.path`` is its ``.mid``; the engine's
    ``meta["primer_bars"]``, ``meta["stats"]`` and ``meta["problem"]`` are shown when
    present)."""
    view = MidiView(parent, roll_height=110)
    view.set_path(sample.path, sample.meta)
    view.save_name = sample_file_name(sample)
    view.stats.setToolTip(sample.text)   # the engine's own words about the sample
    return view


def sample_file_name(sample) -> str:
    """A name that says where a saved sample came from, as the run folder and the file
    name would: "20261203-1612-chorales_step80_seed1234_continue.mid" (the run's folder
    when the file sits in ``RUN/samples/step_NNNNNN/``)."""
    path = Path(sample.path)
    parts = []
    if path.parent.name.startswith("step_") and path.parent.parent.name == "samples":
        parts.append(path.parents[2].name)
    what = "continue" if sample.meta.get("primer_bars") else "free"
    parts += [f"step{max(0, sample.step)}", f"seed{sample.seed}", what]
    return re.sub(r"[^\w.-]+", "-", "_".join(parts)) + ".mid"


__all__ = ["LoadedMidi", "MidiAugmentPreview", "MidiView", "PianoRollView", "load_midi", "midi_card_body",
           "render_cached", "sample_file_name", "stats_line"]
