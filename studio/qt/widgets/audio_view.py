"""An audio file's waveform and spectrogram with play / stop (QtMultimedia).

The waveform envelope and the spectrogram are computed off the GUI thread
(``studio.data.scan.audio_envelope`` / ``audio_spectrogram``, which read in blocks).
QtMultimedia is imported on the first Play, so opening the window never waits for it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.data.scan import audio_envelope, audio_spectrogram
from studio.qt.widgets.tasks import Task, run_in_background

DETAIL_BINS = 1200


def silent_output_reason() -> str:
    """Why Play would be silent on this computer ("" when an audio output exists).
    QtMultimedia plays into a null device without an error when there is none."""
    try:
        from PySide6.QtMultimedia import QMediaDevices
    except ImportError as exc:  # e.g. libpulse missing on Linux
        return f"Playback is unavailable on this system ({exc})."
    if not QMediaDevices.audioOutputs() or QMediaDevices.defaultAudioOutput().isNull():
        return ("No audio output device was found, so playback is silent (the playhead "
                "still moves). Connect speakers or headphones, or check the system's sound "
                "settings (on Linux: is PulseAudio or PipeWire running?).")
    return ""


def _analyse(path: str) -> dict:
    env = audio_envelope(path, DETAIL_BINS)
    spec, sr, duration = audio_spectrogram(path, columns=500, n_fft=1024)
    return {"envelope": env, "spectrogram": spec, "sample_rate": sr, "duration": duration}


def _plot(parent: QWidget, height: int, label: str) -> pg.PlotWidget:
    """A plot that follows the widget palette (light or dark) rather than pyqtgraph's
    global black default, which other panes may configure differently."""
    pal = parent.palette()
    w = pg.PlotWidget(parent, background=pal.color(QPalette.ColorRole.Base))
    fg = pal.color(QPalette.ColorRole.Text)
    for name in ("left", "bottom"):
        axis = w.getPlotItem().getAxis(name)
        axis.setPen(pg.mkPen(fg))
        axis.setTextPen(pg.mkPen(fg))
    w.setMenuEnabled(False)
    w.setMouseEnabled(x=False, y=False)
    w.hideButtons()
    w.setMinimumHeight(height)
    w.getPlotItem().setLabel("left", label)
    return w


class AudioView(QWidget):
    """Waveform (min/max envelope) over a spectrogram, a playhead, Play/Stop."""

    analysed = Signal(str)   # path, when the plots are drawn

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = ""
        self.duration = 0.0
        self.player = None
        self.audio_output = None
        self._task: Task | None = None

        self.play_button = QPushButton("▶  Play", self)
        self.play_button.setToolTip("Play the file from the start (Stop to end)")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._toggle)
        self.time_label = QLabel("", self)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)

        self.wave = _plot(self, 90, "amplitude")
        self.wave.setYRange(-1.0, 1.0, padding=0.05)
        pen = pg.mkPen(self.palette().highlight().color(), width=1)
        self._top = pg.PlotDataItem(pen=pen)
        self._bottom = pg.PlotDataItem(pen=pen)
        self._fill = pg.FillBetweenItem(self._top, self._bottom,
                                        brush=pg.mkBrush(self.palette().highlight().color()))
        for item in (self._top, self._bottom, self._fill):
            self.wave.addItem(item)

        self.spec = _plot(self, 140, "kHz")
        self.spec.getPlotItem().setLabel("bottom", "seconds")
        self.spec.setXLink(self.wave)
        self._image = pg.ImageItem()
        self._image.setColorMap("inferno")
        self.spec.addItem(self._image)

        self._heads = [pg.InfiniteLine(0, angle=90, pen=pg.mkPen("#e5533d", width=2))
                       for _ in range(2)]
        self.wave.addItem(self._heads[0])
        self.spec.addItem(self._heads[1])
        for h in self._heads:
            h.hide()
        self.wave.scene().sigMouseClicked.connect(self._clicked)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.play_button)
        bar.addWidget(self.time_label)
        bar.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.wave, 2)
        lay.addWidget(self.spec, 3)
        lay.addWidget(self.message)
        self.message.hide()

    # -- content ----------------------------------------------------------------------
    def set_path(self, path: str) -> None:
        self.stop()
        if self._task is not None:
            self._task.cancel()
        self.path = path
        self.duration = 0.0
        self._top.setData([], [])
        self._bottom.setData([], [])
        self._image.clear()
        self.time_label.setText("analysing…")
        self.message.hide()
        if self.player is not None:
            self.player.setSource(QUrl.fromLocalFile(path))
        self._task = run_in_background(_analyse, path, done=self._on_analysed,
                                       error=self._on_error)
        self._task.setProperty("path", path)

    def _on_analysed(self, result: dict) -> None:
        task = self.sender()
        if task is not None and task.property("path") != self.path:
            return
        env = result["envelope"]
        self.duration = float(result["duration"])
        if len(env):
            x = (np.arange(len(env)) + 0.5) * (self.duration / len(env))
            self._top.setData(x, env[:, 1])
            self._bottom.setData(x, env[:, 0])
        spec = result["spectrogram"]
        if spec.size:
            nyquist_khz = result["sample_rate"] / 2000.0
            top = float(spec.max())
            self._image.setImage(spec, levels=(top - 80.0, top))
            self._image.setRect(0.0, 0.0, self.duration, nyquist_khz)
            self.spec.setYRange(0, nyquist_khz, padding=0)
        self.wave.setXRange(0, max(self.duration, 1e-3), padding=0)
        self.time_label.setText(self._time_text(0))
        self.analysed.emit(self.path)

    def _on_error(self, exc: BaseException) -> None:
        self.time_label.setText("")
        self.message.setText(f"Cannot analyse this audio: {exc}")
        self.message.show()

    def _time_text(self, ms: int) -> str:
        return f"{ms / 1000:.2f} / {self.duration:.2f} s"

    # -- playback ---------------------------------------------------------------------
    def _ensure_player(self) -> bool:
        if self.player is not None:
            return True
        try:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
        except ImportError as exc:  # e.g. libpulse missing on Linux
            self.message.setText(f"Playback is unavailable on this system ({exc}).")
            self.message.show()
            self.play_button.setEnabled(False)
            return False
        self.player = QMediaPlayer(self)
        self.audio_output = QAudioOutput(self)
        self.player.setAudioOutput(self.audio_output)
        self.player.positionChanged.connect(self._on_position)
        self.player.playbackStateChanged.connect(self._on_state)
        self.player.errorOccurred.connect(self._on_player_error)
        if self.path:
            self.player.setSource(QUrl.fromLocalFile(self.path))
        return True

    def play(self) -> None:
        if not self.path or not self._ensure_player():
            return
        reason = silent_output_reason()
        if reason:
            self.message.setText(reason)
            self.message.show()
        self.player.setPosition(0)
        self.player.play()
        for h in self._heads:
            h.setValue(0)
            h.show()
        if not self.play_button.isChecked():
            self.play_button.blockSignals(True)
            self.play_button.setChecked(True)
            self.play_button.blockSignals(False)
        self.play_button.setText("■  Stop")

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
        for h in self._heads:
            h.hide()
        if self.play_button.isChecked():
            self.play_button.blockSignals(True)
            self.play_button.setChecked(False)
            self.play_button.blockSignals(False)
        self.play_button.setText("▶  Play")
        if self.duration:
            self.time_label.setText(self._time_text(0))

    def is_playing(self) -> bool:
        if self.player is None:
            return False
        from PySide6.QtMultimedia import QMediaPlayer
        return self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState

    def _toggle(self, on: bool) -> None:
        self.play() if on else self.stop()

    def _on_position(self, ms: int) -> None:
        for h in self._heads:
            h.setValue(ms / 1000.0)
        self.time_label.setText(self._time_text(ms))

    def _on_state(self, state) -> None:
        from PySide6.QtMultimedia import QMediaPlayer
        if state == QMediaPlayer.PlaybackState.StoppedState:
            self.stop()

    def _on_player_error(self, error, text: str = "") -> None:
        if text:
            self.message.setText(f"Playback failed: {text}")
            self.message.show()

    def _clicked(self, event) -> None:
        """Click on the waveform: play from there."""
        if not self.duration or not self.path:
            return
        pos = self.wave.getPlotItem().vb.mapSceneToView(event.scenePos())
        t = min(max(pos.x(), 0.0), self.duration)
        if not self._ensure_player():
            return
        self.player.setPosition(int(t * 1000))
        if not self.is_playing():
            self.player.play()
            for h in self._heads:
                h.show()
            self.play_button.blockSignals(True)
            self.play_button.setChecked(True)
            self.play_button.blockSignals(False)
            self.play_button.setText("■  Stop")

    def hideEvent(self, event) -> None:
        self.stop()
        super().hideEvent(event)
