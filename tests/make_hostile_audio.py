"""A folder of hostile audio files, one of each kind of trouble the audio issue names (used
by tests/test_data_audio.py and bench/faults.py).

    python tests/make_hostile_audio.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 8000
# name -> what the reader must do with it: read (maybe with a conversion note) or skip
USABLE = ("normal.flac", "eight_bit.wav", "hi_res.wav", "surround.wav", "mp3_named.wav")
UNUSABLE = {"blip.wav": "too short (50 ms", "silence.wav": "silent",
            "truncated.wav": "not readable audio", "notes.wav": "not readable audio",
            "empty.ogg": "empty (0 bytes)"}


def tone(seconds: float, sr: int = SR, f0: float = 440.0, amp: float = 0.3,
         channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * f0 * t)
    return np.stack([x * (1 - 0.1 * c) for c in range(channels)], axis=1).astype(np.float32)


def make_hostile_audio(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    sf.write(d / "normal.flac", tone(2.0), SR)
    sf.write(d / "eight_bit.wav", tone(1.5), SR, subtype="PCM_U8")
    sf.write(d / "hi_res.wav", tone(1.5, sr=96_000), 96_000, subtype="PCM_24")
    sf.write(d / "surround.wav", tone(1.5, channels=6), SR)
    sf.write(d / "blip.wav", tone(0.05), SR)
    sf.write(d / "silence.wav", np.zeros((SR * 2, 1), np.float32), SR)
    sf.write(d / "whole.wav", tone(1.0), SR)
    (d / "truncated.wav").write_bytes((d / "whole.wav").read_bytes()[:30])
    (d / "whole.wav").unlink()
    sf.write(d / "really.mp3", tone(1.5), SR, format="MP3")
    (d / "really.mp3").rename(d / "mp3_named.wav")
    (d / "notes.wav").write_text("this is not audio at all, just words", encoding="utf-8")
    (d / "empty.ogg").write_bytes(b"")
    return d


if __name__ == "__main__":
    print(make_hostile_audio(Path(sys.argv[1])))
