"""Audio datasets: find the files, read each one as float audio at the codec's rate and
channel count, normalise its loudness, slice it into clips, augment, cache codec codes.

Reading never stops at a bad file: each file that cannot be used becomes a ``Skipped``
entry whose reason says what is wrong and how to fix it, and only when *nothing* is usable
does ``load_audio_corpus`` raise ``DataError``. Files that needed a conversion (a sample
rate, a channel layout, 8-bit samples, a format that does not match the file name) are
read and listed in ``AudioCorpus.notes`` with what was done.

Pipeline::

    corpus = load_audio_corpus(cfg.data.paths, AudioSpec(sample_rate, channels, ...))
    train, val = split_clips(corpus, val_fraction, seed)      # by file, so overlapping
                                                              # clips never straddle the split
    x = augment_clip(clip, sample_rate, AudioAugment(...), rng)  # training only

Decoding is soundfile (libsndfile: wav, flac, ogg, mp3, aiff...); resampling and pitch
shifting are ``torchaudio.functional``. Long files are read one clip at a time (seek +
read at the file's own rate, then resample), so a ten-minute 96 kHz six-channel file
never sits in memory whole. ``CodesCache`` stores the codec's codes of un-augmented clips
on disk, keyed by the file's content and every setting that changes them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from studio.core.errors import ConfigError, DataError
from studio.data.cache import prune_cache
from studio.data.files import collect, digest_or_none
from studio.data.scan import AUDIO_EXTS, CAPTION_EXT, folder_description
from studio.data.text import Duplicates, Skipped, _split_indices, sniff_other_content

__all__ = [
    "AUDIO_EXTENSIONS", "AudioAugment", "AudioCorpus", "AudioSpec", "Clip", "CodesCache",
    "Skipped", "augment_clip", "collect_audio", "describe_file", "load_audio_corpus",
    "pitch_shift", "read_clips", "split_clips",
]

AUDIO_EXTENSIONS = tuple(sorted(AUDIO_EXTS))
MIN_SECONDS = 0.1          # shorter files are too short to learn anything from
SILENCE_DB = -60.0         # clips whose RMS is below this (dBFS) are dropped as silent
PEAK_CEILING = 0.99        # loudness normalisation never pushes a peak past this
_BLOCK = 1 << 16           # frames per read when measuring a file's loudness
_SUPPORTED = ", ".join(AUDIO_EXTENSIONS)
_REEXPORT = "re-export it (e.g. as WAV or FLAC) or remove it from the dataset"
_MAX_REASONS = 5

# soundfile's format name -> the file extensions that name it honestly
_FORMAT_EXTS = {"WAV": (".wav",), "WAVEX": (".wav",), "RF64": (".wav",), "FLAC": (".flac",),
                "OGG": (".ogg", ".oga"), "MP3": (".mp3",), "AIFF": (".aif", ".aiff")}


@dataclass(frozen=True)
class AudioSpec:
    """How files become clips: the codec's rate and channels, clip length and overlap,
    loudness target (dBFS RMS; 0 turns normalisation off)."""

    sample_rate: int
    channels: int = 1
    clip_seconds: float = 5.0
    overlap: float = 0.0          # share of a clip that the next clip repeats, 0..0.9
    loudness_db: float = -20.0
    min_seconds: float = MIN_SECONDS

    @property
    def clip_samples(self) -> int:
        return max(1, int(round(self.clip_seconds * self.sample_rate)))

    @property
    def hop_seconds(self) -> float:
        return self.clip_seconds * (1.0 - self.overlap)


@dataclass(frozen=True)
class AudioAugment:
    """Training-time augmentation; mirrors the audio knobs of ``[augment]``. Each transform
    has a probability (0 = off) and a strength."""

    gain_db: float = 6.0          # uniform gain in [-gain_db, +gain_db]
    gain_p: float = 0.0
    noise_snr_db: float = 30.0    # white noise this many dB below the clip's RMS
    noise_p: float = 0.0
    shift_seconds: float = 0.5    # circular shift by up to this much, either way
    shift_p: float = 0.0
    pitch_semitones: float = 2.0  # pitch shift by up to this many semitones, tempo kept
    pitch_p: float = 0.0

    @property
    def active(self) -> bool:
        return any(p > 0 for p in (self.gain_p, self.noise_p, self.shift_p, self.pitch_p))


@dataclass
class Clip:
    """One training example: ``pcm`` int16 [channels, n] (n <= clip length; shorter clips
    are padded with silence and the padding is left out of the loss)."""

    file: int                     # index into AudioCorpus.files
    index: int                    # clip number within its file
    start: float                  # seconds into the file
    pcm: np.ndarray

    @property
    def samples(self) -> int:
        return int(self.pcm.shape[-1])

    def audio(self) -> np.ndarray:
        return self.pcm.astype(np.float32) / 32767.0


@dataclass
class AudioFile:
    path: str
    description: str
    digest: str                   # content hash: the codes cache key
    duration: float
    sample_rate: int
    channels: int


@dataclass
class AudioCorpus:
    clips: list[Clip]
    files: list[AudioFile]
    skipped: list[Skipped]
    notes: list[Skipped] = field(default_factory=list)  # read, but converted: what was done
    silent_clips: int = 0
    spec: AudioSpec | None = None

    @property
    def seconds(self) -> float:
        return sum(c.samples for c in self.clips) / self.spec.sample_rate if self.spec else 0.0


class _Unusable(Exception):
    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.message, self.fix = message, fix

    def reason(self) -> str:
        return f"{self.message}; {self.fix}"


def _short(exc: BaseException) -> str:
    text = re.sub(r"\s+", " ", str(exc).strip()) or type(exc).__name__
    text = re.sub(r"^Error opening '[^']*': ", "", text)
    return text if len(text) <= 120 else text[:117] + "..."


# -- finding files ----------------------------------------------------------------------


def collect_audio(paths: str | Path | Sequence[str | Path]) -> tuple[list[Path], list[Skipped]]:
    """Files and folders -> audio files in a stable order (``studio.data.files.walk``). A
    same-name ``.txt`` is a description sidecar and is passed over; other files are
    ``Skipped`` with a reason. A path that does not exist raises ``DataError``."""
    return collect(paths, AUDIO_EXTENSIONS, "audio")


def describe_file(path: str | Path) -> str:
    """The text condition of a file: its same-name ``.txt`` sidecar, else its folder's name
    (``drum_loops`` -> "drum loops")."""
    p = Path(path)
    side = p.with_suffix(CAPTION_EXT)
    if side.is_file():
        try:
            text = " ".join(side.read_text(encoding="utf-8", errors="replace").split())
            if text:
                return text[:500]
        except OSError:
            pass
    return folder_description(p) or "music"


# -- reading ----------------------------------------------------------------------------


def _to_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """[n, c] float -> [channels, n]. Mono: the mean of every channel. Stereo from mono:
    the same signal twice; from more than two: the mean of the odd and of the even
    channels (front-left side / front-right side of the usual layouts)."""
    c = x.shape[1]
    if channels == 1:
        return x.mean(axis=1, keepdims=True).T if c > 1 else x.T
    if c == 1:
        return np.repeat(x.T, channels, axis=0)
    if c == channels:
        return x.T
    return np.stack([x[:, 0::2].mean(axis=1), x[:, 1::2].mean(axis=1)])[:channels]


def _resample(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    if orig == new:
        return x
    import torch
    import torchaudio.functional as AF

    g = math.gcd(orig, new)
    return AF.resample(torch.from_numpy(np.ascontiguousarray(x)), orig // g, new // g).numpy()


def _open(path: Path):
    import soundfile as sf

    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise _Unusable("does not exist", "check the path") from None
    except OSError as e:
        raise _Unusable(f"cannot be read: {e.strerror or e}",
                        "check that the file is readable (permissions, a disconnected drive)"
                        ) from None
    with f:
        if not f.read(16):
            raise _Unusable("is empty (0 bytes)", _REEXPORT)
    other = sniff_other_content(path, "audio")
    if other:
        raise _Unusable(*other)
    try:
        return sf.SoundFile(str(path))
    except Exception as e:  # noqa: BLE001 - libsndfile: truncated headers, unknown formats
        raise _Unusable(f"is not readable audio ({_short(e)})", _REEXPORT) from None


def read_clips(path: str | Path, spec: AudioSpec
               ) -> tuple[list[tuple[float, np.ndarray]], list[str], int, AudioFile]:
    """Read one file as clips ``[(start seconds, float32 [channels, n])]`` at the spec's
    rate and channels, loudness-normalised, silent clips dropped.

    Returns (clips, notes on conversions, number of silent clips dropped, file info).
    Raises ``_Unusable`` with the reason when the file cannot be used at all.
    """
    p = Path(path)
    notes: list[str] = []
    with _open(p) as f:
        sr, ch, frames = int(f.samplerate), int(f.channels), int(f.frames)
        fmt, subtype = f.format, f.subtype
        if sr <= 0 or ch <= 0:
            raise _Unusable(f"has an invalid header ({sr} Hz, {ch} channels)", _REEXPORT)
        if frames <= 0:
            raise _Unusable("holds no audio (0 frames)", _REEXPORT)
        duration = frames / sr
        if duration < spec.min_seconds:
            raise _Unusable(f"is too short ({duration * 1000:.0f} ms; at least "
                            f"{spec.min_seconds * 1000:.0f} ms)",
                            "use a longer recording or remove it from the dataset")
        honest = _FORMAT_EXTS.get(fmt, ())
        if honest and p.suffix.lower() not in honest:
            notes.append(f"is {fmt} audio despite its {p.suffix} name; decoded as {fmt}")
        if subtype in ("PCM_U8", "PCM_S8"):
            notes.append("8-bit samples (coarse: expect hiss in what the model learns)")
        if sr != spec.sample_rate:
            notes.append(f"resampled from {sr} Hz to {spec.sample_rate} Hz")
        if ch != spec.channels:
            notes.append(f"{ch} channels mixed to {spec.channels}")

        # pass 1: loudness (RMS and peak of the mix), block by block
        sq, peak, n = 0.0, 0.0, 0
        try:
            while True:
                block = f.read(_BLOCK, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                mix = _to_channels(block, spec.channels)
                sq += float(np.square(mix, dtype=np.float64).sum())
                peak = max(peak, float(np.abs(mix).max()))
                n += mix.size
        except Exception as e:  # noqa: BLE001 - decoder errors mid-file
            raise _Unusable(f"is damaged ({_short(e)})", _REEXPORT) from None
        if n == 0:
            raise _Unusable("holds no audio frames (the header promises more than the file "
                            "holds)", _REEXPORT)
        if n < frames * spec.channels:
            notes.append(f"ends early: {n // spec.channels} of {frames} frames could be read")
            frames = n // spec.channels
        if peak == 0.0:
            raise _Unusable("is silent (every sample is zero)",
                            "remove it from the dataset (silence teaches nothing)")
        rms_db = 10 * math.log10(max(sq / n, 1e-20))
        gain = 1.0
        if spec.loudness_db < 0:
            gain = min(10 ** ((spec.loudness_db - rms_db) / 20), PEAK_CEILING / peak)

        # pass 2: one clip at a time, read at the file's rate, then resampled
        hop = max(1, int(round(spec.hop_seconds * sr)))
        length = max(1, int(round(spec.clip_seconds * sr)))
        starts = [0]
        if frames > length:
            starts = list(range(0, frames - length + 1, hop))
            tail = starts[-1] + hop
            if tail < frames and frames - tail >= length // 2:
                starts.append(tail)  # a last, shorter clip (padded; padding not learned)
        clips: list[tuple[float, np.ndarray]] = []
        silent = 0
        for s in starts:
            f.seek(s)
            block = f.read(min(length, frames - s), dtype="float32", always_2d=True)
            if len(block) == 0:
                continue
            x = _resample(_to_channels(block, spec.channels), sr, spec.sample_rate) * gain
            x = np.clip(x[:, :spec.clip_samples], -1.0, 1.0).astype(np.float32)
            if x.shape[1] < spec.min_seconds * spec.sample_rate:
                continue
            clip_rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
            if 20 * math.log10(max(clip_rms, 1e-10)) < SILENCE_DB:
                silent += 1
                continue
            clips.append((s / sr, x))
    if not clips:
        raise _Unusable(f"has no clip louder than {SILENCE_DB:.0f} dBFS ({silent} silent "
                        "clips)", "remove it from the dataset, or raise its level")
    info = AudioFile(str(p), describe_file(p), "", duration, sr, ch)
    return clips, notes, silent, info


def load_audio_corpus(paths: str | Path | Sequence[str | Path], spec: AudioSpec, *,
                      exclude: Sequence[str | Path] = (),
                      progress: Callable[[int, int], None] | None = None) -> AudioCorpus:
    """Read every audio file under ``paths`` as clips (int16 in memory). Bad files are
    skipped with a reason; raises ``DataError`` when nothing is usable."""
    _check_spec(spec)
    files, skipped = collect_audio(paths)
    drop = {str(Path(p).resolve()) for p in exclude}
    files = [f for f in files if str(f.resolve()) not in drop]
    clips: list[Clip] = []
    kept: list[AudioFile] = []
    notes: list[Skipped] = []
    silent_total = 0
    duplicates = Duplicates()
    for i, path in enumerate(files):
        digest = digest_or_none(path)
        repeat = duplicates.repeat(path, digest)
        try:
            if repeat:
                skipped.append(repeat)
                continue
            found, file_notes, silent, info = read_clips(path, spec)
            info.digest = digest or ""
            k = len(kept)
            kept.append(info)
            for j, (start, x) in enumerate(found):
                pcm = np.round(x * 32767.0).astype(np.int16)
                clips.append(Clip(k, j, start, pcm))
            notes += [Skipped(str(path), n) for n in file_notes]
            silent_total += silent
        except _Unusable as e:
            skipped.append(Skipped(str(path), e.reason()))
        except MemoryError:
            skipped.append(Skipped(str(path), "too large to read in memory; split it"))
        finally:
            if progress is not None:
                progress(i + 1, len(files))
    if not clips:
        where = ", ".join(str(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths))
        if not skipped:
            raise DataError(where or "data.paths", "no audio files found",
                            f"add audio files ({_SUPPORTED}) to the dataset")
        reasons = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in skipped[:_MAX_REASONS])
        more = f" (and {len(skipped) - _MAX_REASONS} more)" if len(skipped) > _MAX_REASONS else ""
        raise DataError(where or "data.paths",
                        f"no usable audio among {len(skipped)} files: {reasons}{more}",
                        f"add readable audio files ({_SUPPORTED})")
    return AudioCorpus(clips, kept, skipped, notes, silent_total, spec)


def _check_spec(spec: AudioSpec) -> None:
    if spec.clip_seconds < spec.min_seconds:
        raise ConfigError("data.clip_seconds", f"must be at least {spec.min_seconds} s, "
                          f"not {spec.clip_seconds}")
    if not 0.0 <= spec.overlap <= 0.9:
        raise ConfigError("data.clip_overlap", f"must be between 0 and 0.9, not {spec.overlap}")
    if spec.channels not in (1, 2):
        raise ConfigError("model.source", f"the codec takes {spec.channels} channels",
                          "use a mono or stereo codec")


def split_clips(corpus: AudioCorpus, val_fraction: float, seed: int
                ) -> tuple[list[int], list[int]]:
    """Train / validation clip indices. Split by file (overlapping clips of one file never
    land on both sides); with a single file, by clip."""
    if len(corpus.files) >= 2:
        train_f, val_f = _split_indices(len(corpus.files), val_fraction, seed)
        val_set = set(val_f)
        train = [i for i, c in enumerate(corpus.clips) if c.file not in val_set]
        val = [i for i, c in enumerate(corpus.clips) if c.file in val_set]
        return train, val
    return _split_indices(len(corpus.clips), val_fraction, seed)


# -- augmentation -----------------------------------------------------------------------


def pitch_shift(x, sr: int, n_steps: float, n_fft: int = 512):
    """Shift pitch by ``n_steps`` semitones, tempo kept: a phase-vocoder time stretch, then
    a resample back to the original length (``torchaudio.functional``). The resampling
    ratio is rounded to a fraction of 1000, which keeps torchaudio's kernel small
    (``torchaudio.functional.pitch_shift`` resamples by the exact ratio, and takes tens of
    seconds per clip on a CPU because of it)."""
    import torch
    import torchaudio.functional as AF

    rate = 2.0 ** (-n_steps / 12)
    hop = n_fft // 4
    n = x.shape[-1]
    if n < n_fft:
        return x
    win = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop, window=win, return_complex=True)
    adv = torch.linspace(0, math.pi * hop, spec.shape[-2], device=x.device)[..., None]
    stretched = AF.phase_vocoder(spec, rate, adv)
    y = torch.istft(stretched, n_fft, hop, window=win, length=int(round(n / rate)))
    y = AF.resample(y, 1000, max(1, round(1000 * rate)))
    if y.shape[-1] < n:
        y = torch.nn.functional.pad(y, (0, n - y.shape[-1]))
    return y[..., :n]


def augment_clip(x, sr: int, aug: AudioAugment, rng: np.random.Generator):
    """Return (augmented float tensor [channels, n], whether anything changed). Order:
    time shift, pitch shift, gain, noise. ``rng`` decides everything (reproducible)."""
    import torch

    changed = False
    if aug.shift_p > 0 and rng.random() < aug.shift_p and aug.shift_seconds > 0:
        k = int(round(rng.uniform(-aug.shift_seconds, aug.shift_seconds) * sr))
        if k:
            x = torch.roll(x, k, dims=-1)
            changed = True
    if aug.pitch_p > 0 and rng.random() < aug.pitch_p and aug.pitch_semitones > 0:
        steps = rng.uniform(-aug.pitch_semitones, aug.pitch_semitones)
        if abs(steps) >= 0.05:
            x = pitch_shift(x, sr, steps)
            changed = True
    if aug.gain_p > 0 and rng.random() < aug.gain_p and aug.gain_db > 0:
        x = x * 10 ** (rng.uniform(-aug.gain_db, aug.gain_db) / 20)
        changed = True
    if aug.noise_p > 0 and rng.random() < aug.noise_p:
        rms = float(x.pow(2).mean().sqrt())
        sigma = rms * 10 ** (-aug.noise_snr_db / 20)
        g = torch.Generator().manual_seed(int(rng.integers(2**31)))
        x = x + sigma * torch.randn(x.shape, generator=g).to(x.device, x.dtype)
        changed = True
    if changed:
        peak = float(x.abs().max())
        if peak > 1.0:
            x = x / peak
    return x, changed


# -- the codes cache --------------------------------------------------------------------


class CodesCache:
    """Codec codes of un-augmented clips on disk: ``root/<settings key>/<file digest>/
    <clip>.npy``. The settings key covers the codec's weights and every data setting that
    changes the clips, the file digest its bytes, so an edited file, another codec or
    another clip length never reads stale codes. Writes are atomic (temp file + rename)."""

    def __init__(self, root: str | Path, settings: dict) -> None:
        key = hashlib.blake2b(json.dumps(settings, sort_keys=True).encode(),
                              digest_size=10).hexdigest()
        self.dir = Path(root).expanduser() / key
        self.hits = 0
        self.misses = 0
        self.writable = True

    def _path(self, digest: str, clip: int) -> Path:
        return self.dir / digest / f"{clip:05d}.npy"

    def get(self, digest: str, clip: int) -> np.ndarray | None:
        p = self._path(digest, clip)
        try:
            codes = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            self.misses += 1
            return None
        self.hits += 1
        return codes

    def put(self, digest: str, clip: int, codes: np.ndarray) -> None:
        if not self.writable:
            return
        p = self._path(digest, clip)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".npy")
            with os.fdopen(fd, "wb") as f:
                np.save(f, codes, allow_pickle=False)
            os.replace(tmp, p)
        except OSError:
            self.writable = False  # a read-only or full disk: keep codes in memory only


def prune_codes_cache(root: str | Path, keep_bytes: int, in_use: CodesCache,
                      digests: list[str]) -> tuple[int, int]:
    """Keep the codes cache under ``keep_bytes``: the least recently used files' codes
    (``root/<settings key>/<file digest>`` folders, by modification time) are deleted
    first; this dataset's own (``digests`` under ``in_use``) never, and they are marked
    used now. Returns (folders deleted, bytes freed). ``keep_bytes`` 0: no limit."""
    return prune_cache(root, keep_bytes, [in_use.dir / dg for dg in set(digests)])


def spec_settings(spec: AudioSpec) -> dict:
    return {k: v for k, v in asdict(spec).items()}
