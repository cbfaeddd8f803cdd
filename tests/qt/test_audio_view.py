"""Play on a computer with no audio output device says so (it used to play silently)."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from studio.qt.widgets import audio_view


def _tone(path):
    t = np.linspace(0, 0.5, 4000, endpoint=False)
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t), 8000)
    return str(path)


def test_play_without_an_output_device_says_it_is_silent(qtbot, tmp_path, monkeypatch):
    from PySide6.QtMultimedia import QMediaDevices

    monkeypatch.setattr(QMediaDevices, "audioOutputs", staticmethod(lambda: []))
    view = audio_view.AudioView()
    qtbot.addWidget(view)
    view.show()
    with qtbot.waitSignal(view.analysed, timeout=20_000):
        view.set_path(_tone(tmp_path / "tone.wav"))
    view.play_button.click()
    assert view.message.isVisible() and "No audio output device" in view.message.text()
    view.stop()


def test_with_an_output_device_nothing_is_said(monkeypatch):
    from PySide6.QtMultimedia import QMediaDevices

    class Device:
        def isNull(self):
            return False

    monkeypatch.setattr(QMediaDevices, "audioOutputs", staticmethod(lambda: [Device()]))
    monkeypatch.setattr(QMediaDevices, "defaultAudioOutput", staticmethod(lambda: Device()))
    assert audio_view.silent_output_reason() == ""
