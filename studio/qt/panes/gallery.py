"""Gallery: the view of a ``GalleryState`` — generated samples grouped by step.

A step slider picks the step; the first sampled step (step 0, before any training)
stays beside it for comparison. Text shows the prompt and the generated continuation
told apart; images show as a grid of thumbnails (click to enlarge); audio shows a
waveform over a spectrogram (computed off the GUI thread) with play/stop, and opens in a
larger waveform + spectrogram player on a click. Tick samples to export them.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from studio.core.events import Sample
from studio.qt.widgets.image_view import enlarged
from studio.qt.widgets.tasks import run_in_background
from studio.state.gallery import GalleryState, export_samples

THUMB = 168
ENVELOPE_BUCKETS = 400


def _blend(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(round(a.red() * (1 - t) + b.red() * t), round(a.green() * (1 - t) + b.green() * t),
                  round(a.blue() * (1 - t) + b.blue() * t))


def sample_html(sample: Sample, palette: QPalette) -> str:
    """Rich text of a text sample: the prompt on a tinted background, the generated
    continuation in plain text after it."""
    base = palette.color(QPalette.ColorRole.Base)
    tint = _blend(base, palette.color(QPalette.ColorRole.Highlight), 0.25)
    muted = _blend(palette.color(QPalette.ColorRole.Text), base, 0.25)

    def body(text: str) -> str:
        return html.escape(text).replace("\n", "<br>")

    prompt = (f'<span style="background-color:{tint.name()}; color:{muted.name()};">'
              f'{body(sample.prompt)}</span>') if sample.prompt else ""
    return f"<div style='white-space:pre-wrap'>{prompt}{body(sample.text)}</div>"


# -- audio: waveform envelopes computed off the GUI thread ------------------------------------

_ENVELOPES: dict[str, tuple[object, float]] = {}
_SPECTROGRAMS: dict[str, object] = {}   # path -> uint8 RGB [freq, time, 3] (low freq last)
SPEC_HEIGHT = 48
# a dark-to-bright colour ramp (black, violet, red, orange, pale yellow) for spectrograms
_RAMP = ((0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164))


def spectrogram_rgb(db, floor: float = 70.0):
    """dB spectrogram [time, freq] -> uint8 RGB image rows [freq (high first), time, 3]."""
    import numpy as np

    if db.size == 0:
        return np.zeros((1, 1, 3), np.uint8)
    # the quietest shown level: floor dB under the loudest, but never below -40 dB (about
    # -76 dBFS at n_fft 256), so a near-silent sample looks dark rather than amplified noise
    lo = max(float(db.max()) - floor, -40.0)
    t = np.clip((db - lo) / floor, 0.0, 1.0).T[::-1]
    ramp = np.array(_RAMP, dtype=np.float32)
    pos = t * (len(ramp) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(ramp) - 2)
    frac = (pos - lo)[..., None]
    rgb = ramp[lo] * (1 - frac) + ramp[lo + 1] * frac
    return np.ascontiguousarray(rgb.round().astype(np.uint8))
def _load_envelope(path: str) -> tuple[str, object, float]:
    """(path, (mins, maxs) or None when unreadable, duration s); fills the spectrogram
    cache too. Runs off the GUI thread."""
    env, duration = None, math.nan
    try:
        import numpy as np
        import soundfile as sf

        data, rate = sf.read(path, always_2d=True, dtype="float32")
        mono = data.mean(axis=1)
        duration = len(mono) / float(rate)
        n = max(1, min(ENVELOPE_BUCKETS, len(mono)))
        edges = np.linspace(0, len(mono), n + 1).astype(int)
        mins = np.array([mono[a:b].min() if b > a else 0.0
                         for a, b in zip(edges[:-1], edges[1:])], dtype="float32")
        maxs = np.array([mono[a:b].max() if b > a else 0.0
                         for a, b in zip(edges[:-1], edges[1:])], dtype="float32")
        env = (mins, maxs)
        from studio.data.scan import audio_spectrogram
        spec, _, _ = audio_spectrogram(path, columns=200, n_fft=256)
        _SPECTROGRAMS[path] = spectrogram_rgb(spec)
    except Exception:  # noqa: BLE001 - an unreadable file shows as such
        env = None
    return path, env, duration


class WaveformView(QWidget):
    """A sample's waveform envelope over its spectrogram; a click opens the player."""

    ready = Signal(float)  # duration in seconds (NaN when unreadable)
    clicked = Signal()

    def __init__(self, path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.envelope = None
        self.duration = math.nan
        self.failed = False
        self.spectrogram = None
        self.setMinimumSize(QSize(THUMB, 56 + SPEC_HEIGHT))
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Click for a larger waveform and spectrogram with a playhead")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        cached = _ENVELOPES.get(path)
        if cached is not None:
            self.envelope, self.duration = cached
            self.spectrogram = _SPECTROGRAMS.get(path)
            self.failed = cached[0] is None
        else:
            run_in_background(_load_envelope, path, done=self._on_loaded)

    def _on_loaded(self, loaded: tuple[str, object, float]) -> None:
        path, env, duration = loaded
        _ENVELOPES[path] = (env, duration)
        self._set(env, duration)

    def _set(self, env, duration: float) -> None:
        self.envelope, self.duration = env, duration
        self.spectrogram = _SPECTROGRAMS.get(self.path)
        self.failed = env is None
        self.update()
        self.ready.emit(duration)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.envelope is not None:
            self.clicked.emit()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        wave_h = self.height() - SPEC_HEIGHT
        if self.spectrogram is not None:
            rgb = self.spectrogram
            img = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0],
                         QImage.Format.Format_RGB888)
            p.drawImage(self.rect().adjusted(0, wave_h, 0, 0), img)
        mid = wave_h / 2
        if self.envelope is None:
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                       "cannot read this audio file" if self.failed else "loading waveform…")
            return
        mins, maxs = self.envelope
        p.setPen(pal.color(QPalette.ColorRole.Highlight))
        n, w = len(mins), max(1, self.width())
        for x in range(w):
            i = min(n - 1, int(x * n / w))
            p.drawLine(x, int(mid - maxs[i] * mid * 0.95), x, int(mid - mins[i] * mid * 0.95))


# -- cards ----------------------------------------------------------------------------------

class _ClickableLabel(QLabel):
    clicked = Signal()

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mouseReleaseEvent(event)


class _WrapLabel(QLabel):
    """A word-wrapped label exactly as tall as its text at its current width (a plain
    QLabel in a scroll area is sized for a guessed width and leaves gaps)."""

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt name
        super().resizeEvent(event)
        h = self.heightForWidth(self.width())
        if h > 0 and h != self.height():
            self.setFixedHeight(h)


class ImageDialog(QDialog):
    """A sample image, enlarged (pixel-crisp for small generated images)."""

    def __init__(self, sample: Sample, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Step {sample.step} · sample {sample.index + 1}")
        scroll = enlarged(sample.path, 512)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        if sample.prompt:  # text-to-image: what drew it, so it can be drawn again
            about = QLabel(f"prompt: {sample.prompt}\nseed {sample.seed} · step {sample.step}")
            about.setWordWrap(True)
            about.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(about)
        layout.addWidget(QLabel(sample.path))
        self.resize(620, 620)


class AudioDialog(QDialog):
    """A sample's waveform and spectrogram, large, with a playhead and Play/Stop."""

    def __init__(self, sample: Sample, parent: QWidget | None = None) -> None:
        from studio.qt.widgets.audio_view import AudioView

        super().__init__(parent)
        title = f"Step {sample.step} · sample {sample.index + 1}"
        self.setWindowTitle(title + (f" · {sample.prompt}" if sample.prompt else ""))
        self.view = AudioView(self)
        caption = QLabel(f"prompt: {sample.prompt or '(none)'} · seed {sample.seed} · "
                         f"{Path(sample.path).name}")
        caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(caption)
        self.view.set_path(str(Path(sample.path).resolve()))
        self.resize(720, 420)

    def done(self, result: int) -> None:
        self.view.stop()
        super().done(result)


def is_seeded(sample: Sample) -> bool:
    """Does a seed say something about this sample? Not where the family marks it
    ``meta["seeded"] = False`` (a caption decoded greedily: its card said "seed 0")."""
    return sample.meta.get("seeded", True) is not False


class SampleCard(QFrame):
    """One sample: a tick box for export, and the sample itself."""

    toggled = Signal(object, bool)  # sample, selected

    def __init__(self, sample: Sample, selected: bool, pane: "GalleryPane") -> None:
        super().__init__()
        self.sample = sample
        self.setFrameShape(QFrame.Shape.StyledPanel)
        fresh = sample.meta.get("fresh")
        number = int(sample.meta.get("number", sample.index)) + 1
        self.check = QCheckBox(f"#{number}" + (f" · sampled now ({fresh})" if fresh else ""))
        self.check.setChecked(selected)
        self.check.setToolTip("Tick to include in Export selected" + (
            ". Sample now uses new seeds: the fixed ones would repeat the same samples "
            "while the weights have not changed (a paused run)" if fresh else ""))
        if fresh:
            font = self.check.font()
            font.setItalic(True)
            self.check.setFont(font)
        self.check.toggled.connect(lambda on: self.toggled.emit(self.sample, on))
        head = QHBoxLayout()
        head.addWidget(self.check)
        head.addStretch(1)
        if is_seeded(sample):
            seed = QLabel(f"seed {sample.seed}")
            seed.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            head.addWidget(seed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.setSpacing(4)
        layout.addLayout(head)
        self.body: QWidget
        if sample.kind == "text":
            self.body = _WrapLabel(sample_html(sample, pane.palette()))
            self.body.setTextFormat(Qt.TextFormat.RichText)
            self.body.setWordWrap(True)
            self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.body.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
            layout.addWidget(self.body)
        elif sample.kind == "image":
            self.body = _ClickableLabel()
            self.body.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.body.setCursor(Qt.CursorShape.PointingHandCursor)
            self.body.setToolTip("Click to enlarge")
            pix = QPixmap(sample.path)
            if pix.isNull():
                self.body.setText("missing image")
            else:
                mode = (Qt.TransformationMode.FastTransformation
                        if max(pix.width(), pix.height()) < THUMB
                        else Qt.TransformationMode.SmoothTransformation)
                self.body.setPixmap(pix.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                               mode))
            self.body.clicked.connect(lambda: pane.enlarge(self.sample))
            layout.addWidget(self.body)
        elif sample.kind == "audio":
            self.body = WaveformView(sample.path)
            self.body.clicked.connect(lambda: pane.open_audio(self.sample))
            layout.addWidget(self.body)
            row = QHBoxLayout()
            self.play_button = QPushButton("Play")
            self.play_button.setCheckable(True)
            self.play_button.setToolTip("Play this sample (click again to stop)")
            self.play_button.toggled.connect(
                lambda on: pane.play(self) if on else pane.stop_audio())
            row.addWidget(self.play_button)
            self.duration_label = QLabel("")
            row.addWidget(self.duration_label)
            row.addStretch(1)
            layout.addLayout(row)
            self.body.ready.connect(self._show_duration)
            if self.body.envelope is not None or self.body.failed:
                self._show_duration(self.body.duration)
        elif sample.kind == "midi":
            from studio.qt.widgets.piano_roll import midi_card_body

            self.body = midi_card_body(sample, self)
            layout.addWidget(self.body)
        elif sample.kind == "caption":
            from studio.qt.widgets.caption_card import caption_card_body

            self.body = caption_card_body(sample, pane)
            layout.addWidget(self.body)
        else:
            self.body = QLabel(f"{sample.kind} sample: {sample.path or sample.text}")
            layout.addWidget(self.body)
        if sample.prompt and sample.kind != "text":
            cap = QLabel(f"prompt: {sample.prompt}")
            cap.setWordWrap(True)
            layout.addWidget(cap)

    def _show_duration(self, seconds: float) -> None:
        self.duration_label.setText(f"{seconds:.2f} s" if math.isfinite(seconds) else "")

    def set_playing(self, playing: bool) -> None:
        if hasattr(self, "play_button"):
            self.play_button.blockSignals(True)
            self.play_button.setChecked(playing)
            self.play_button.setText("Stop" if playing else "Play")
            self.play_button.blockSignals(False)


class SampleColumn(QWidget):
    """The samples of one step: a title and a scrollable list (a grid for images)."""

    def __init__(self, pane: "GalleryPane") -> None:
        super().__init__()
        self.pane = pane
        self.step: int | None = None
        self.shown: tuple = ()
        self.cards: list[SampleCard] = []
        self.title = QLabel("")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.inner = QWidget()
        self.grid = QGridLayout(self.inner)
        self.grid.setContentsMargins(2, 2, 2, 2)
        self.grid.setSpacing(6)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        # always on: a bar that comes and goes would change the width, hence the wrapped
        # text's height, hence whether the bar is needed...
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        scroll.setWidget(self.inner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(scroll, 1)

    def show_step(self, step: int | None, samples: list[Sample], title: str,
                  force: bool = False) -> None:
        self.title.setText(title)
        key = (step, tuple(samples))
        if key == self.shown and not force:
            for card in self.cards:
                card.check.setChecked(self.pane.is_selected(card.sample))
            return
        self.shown = key
        self.step = step
        for card in self.cards:
            card.setParent(None)
            card.deleteLater()
        self.cards = []
        for header in getattr(self, "headers", []):
            header.setParent(None)
            header.deleteLater()
        self.headers: list[QLabel] = []
        if samples and all("prompt_index" in s.meta for s in samples):
            self._prompt_grids(samples)
            return
        columns = 3 if samples and all(s.kind == "image" for s in samples) else 1
        for i, sample in enumerate(samples):
            card = SampleCard(sample, self.pane.is_selected(sample), self.pane)
            card.toggled.connect(self.pane.set_selected)
            self.grid.addWidget(card, i // columns, i % columns)
            self.cards.append(card)


    def _prompt_grids(self, samples: list[Sample]) -> None:
        """Text-to-image: one grid per prompt, a row per variant (with the trigger word,
        without it) and a column per seed, under the prompt as a heading."""
        row = 0
        by_prompt: dict[int, list[Sample]] = {}
        for s in samples:
            by_prompt.setdefault(int(s.meta["prompt_index"]), []).append(s)
        for _, group in sorted(by_prompt.items()):
            base = group[0].meta.get("base_prompt") or group[0].prompt
            header = QLabel(f"<b>{html.escape(base)}</b>")
            header.setWordWrap(True)
            self.headers.append(header)
            width = 1 + max(int(s.meta.get("column", 0)) for s in group)
            self.grid.addWidget(header, row, 0, 1, width)
            rows = sorted({int(s.meta.get("row", 0)) for s in group})
            for r in rows:
                for s in (x for x in group if int(x.meta.get("row", 0)) == r):
                    card = SampleCard(s, self.pane.is_selected(s), self.pane)
                    card.toggled.connect(self.pane.set_selected)
                    self.grid.addWidget(card, row + 1 + rows.index(r), int(s.meta.get("column", 0)))
                    self.cards.append(card)
            row += 1 + len(rows)


class GalleryPane(QWidget):
    def __init__(self, gallery: GalleryState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self._selected: dict[tuple[int, int], Sample] = {}
        self._player = None
        self._audio_output = None
        self._playing_card: SampleCard | None = None
        self.last_export: list[Path] = []

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Sampled steps: drag to look back through training")
        self.slider.setPageStep(1)
        self.slider.valueChanged.connect(self._on_slider)
        self.step_label = QLabel("")
        self.step_label.setMinimumWidth(150)
        self.latest_button = QPushButton("Latest")
        self.latest_button.setToolTip("Jump to the newest samples and keep following them")
        self.latest_button.clicked.connect(self.show_latest)
        self.compare = QCheckBox("Compare with step 0")
        self.compare.setChecked(True)
        self.compare.setToolTip("Show the samples from before training beside the chosen step")
        self.compare.toggled.connect(lambda _on: self._sync_columns())
        self.export_button = QPushButton("Export selected…")
        self.export_button.clicked.connect(self.export_dialog)
        self.select_all_button = QPushButton("Select step")
        self.select_all_button.setToolTip("Tick every sample of the chosen step")
        self.select_all_button.clicked.connect(self.select_current_step)

        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        bar.addWidget(QLabel("Step"))
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.step_label)
        bar.addWidget(self.latest_button)
        bar.addSpacing(8)
        bar.addWidget(self.compare)
        bar2 = QHBoxLayout()
        bar2.setContentsMargins(6, 0, 6, 0)
        legend = QLabel()
        legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend = legend
        legend.setText(self._legend_html())
        bar2.addWidget(legend)
        bar2.addStretch(1)
        bar2.addWidget(self.select_all_button)
        bar2.addWidget(self.export_button)

        self.first_column = SampleColumn(self)
        self.current_column = SampleColumn(self)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.first_column)
        self.splitter.addWidget(self.current_column)
        self.splitter.setChildrenCollapsible(False)
        self.hint = QLabel("No samples yet. The run generates samples from fixed prompts at "
                           "step 0 and every few steps (Settings › Sampling); Sample now "
                           "(F9) asks for some at any time.")
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addLayout(bar2)
        layout.addWidget(self.hint, 1)
        layout.addWidget(self.splitter, 1)
        gallery.subscribe(self._on_gallery)
        self._sync_slider()
        self._sync_columns()

    # -- state -> view ----------------------------------------------------------------------
    def _on_gallery(self, what: str) -> None:
        if what == "reset":
            self._selected.clear()
            self.stop_audio()
        self._sync_slider()
        self._sync_columns()

    def _sync_slider(self) -> None:
        steps = self.gallery.steps
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(steps) - 1))
        if self.gallery.selected in steps:
            self.slider.setValue(steps.index(self.gallery.selected))
        self.slider.blockSignals(False)
        self.slider.setEnabled(len(steps) > 1)
        if steps and self.gallery.selected is not None:
            i = steps.index(self.gallery.selected) + 1 if self.gallery.selected in steps else 0
            self.step_label.setText(f"step {self.gallery.selected:,}  ({i} of {len(steps)})")
        else:
            self.step_label.setText("no samples yet")
        self.latest_button.setEnabled(bool(steps) and self.gallery.selected != steps[-1])
        self._update_export_button()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt name
        # the prompt tint is computed from the palette: recompute on a theme change
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "legend"):
            self.legend.setText(self._legend_html())
            self._sync_columns(force=True)
        super().changeEvent(event)

    def _legend_html(self) -> str:
        return sample_html(Sample("text", 0, 0, prompt="prompt", text=" → generated text"),
                           self.palette())

    def _sync_columns(self, force: bool = False) -> None:
        g = self.gallery
        has = bool(g.steps)
        self.hint.setVisible(not has)
        self.splitter.setVisible(has)
        if not has:
            self.legend.hide()
            self.first_column.show_step(None, [], "")
            self.current_column.show_step(None, [], "")
            return
        first, sel = g.first_step, g.selected
        if sel is None:
            sel = g.latest_step
        # the legend explains the prompt's tint inside generated text: images and sounds
        # show their prompt as a caption instead
        self.legend.setVisible(any(x.kind == "text" for x in g.samples(sel)))
        side_by_side = self.compare.isChecked() and sel != first
        self.first_column.setVisible(side_by_side)
        if side_by_side:
            label = "before training" if first == 0 else "first samples"
            self.first_column.show_step(first, g.samples(first), f"Step {first:,} ({label})",
                                        force)
        where = ("latest" if sel == g.latest_step else
                 "before training" if sel == 0 else f"{g.steps.index(sel) + 1} of {len(g.steps)}")
        self.current_column.show_step(sel, g.samples(sel), f"Step {sel:,} ({where})", force)

    # -- view -> state -----------------------------------------------------------------------
    def _on_slider(self, index: int) -> None:
        steps = self.gallery.steps
        if 0 <= index < len(steps):
            self.gallery.select(steps[index])

    def show_latest(self) -> None:
        if self.gallery.latest_step is not None:
            self.gallery.select(self.gallery.latest_step)

    def jump_to(self, step: int) -> None:
        """Show the sampled step nearest to ``step`` (a click on the curves)."""
        self.gallery.select(step)

    # -- selection and export ------------------------------------------------------------------
    def is_selected(self, sample: Sample) -> bool:
        return (sample.step, sample.index) in self._selected

    def set_selected(self, sample: Sample, on: bool) -> None:
        key = (sample.step, sample.index)
        if on:
            self._selected[key] = sample
        else:
            self._selected.pop(key, None)
        self._update_export_button()

    def select_current_step(self) -> None:
        for s in self.gallery.samples(self.gallery.selected):
            self.set_selected(s, True)
        self._sync_columns()

    @property
    def selected_samples(self) -> list[Sample]:
        return [self._selected[k] for k in sorted(self._selected)]

    def _update_export_button(self) -> None:
        n = len(self._selected)
        self.export_button.setEnabled(n > 0)
        self.export_button.setText(f"Export {n} selected…" if n else "Export selected…")

    def export_to(self, folder: str | Path) -> list[Path]:
        self.last_export = export_samples(self.selected_samples, folder)
        return self.last_export

    def export_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export samples to folder")
        if not folder:
            return
        try:
            written = self.export_to(folder)
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", str(exc))
            return
        QMessageBox.information(self, "Samples exported",
                                f"Wrote {len(written)} file{'s' if len(written) != 1 else ''} "
                                f"to {folder}.")

    # -- images and audio --------------------------------------------------------------------
    def enlarge(self, sample: Sample) -> ImageDialog:
        dialog = ImageDialog(sample, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def open_audio(self, sample: Sample) -> AudioDialog:
        self.stop_audio()
        dialog = AudioDialog(sample, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def play(self, card: SampleCard) -> None:
        try:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
        except ImportError as exc:
            card.set_playing(False)
            QMessageBox.warning(self, "Cannot play audio",
                                f"Qt Multimedia is not available ({exc}).")
            return
        if self._player is None:
            self._player = QMediaPlayer(self)
            self._audio_output = QAudioOutput(self)
            self._player.setAudioOutput(self._audio_output)
            self._player.playbackStateChanged.connect(self._on_playback_state)
        self.stop_audio()
        self._playing_card = card
        card.set_playing(True)
        from studio.qt.widgets.audio_view import silent_output_reason

        silent = silent_output_reason()
        if silent:  # QtMultimedia plays into nothing without a word: say it here
            card.duration_label.setText("silent: no audio output device")
            card.duration_label.setToolTip(silent)
        self._player.setSource(QUrl.fromLocalFile(str(Path(card.sample.path).resolve())))
        self._player.play()

    def stop_audio(self) -> None:
        if self._player is not None:
            self._player.stop()
        if self._playing_card is not None:
            try:
                self._playing_card.set_playing(False)
            except RuntimeError:  # the card was rebuilt meanwhile
                pass
            self._playing_card = None

    def _on_playback_state(self, state) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if state == QMediaPlayer.PlaybackState.StoppedState and self._playing_card is not None:
            try:
                self._playing_card.set_playing(False)
            except RuntimeError:
                pass
            self._playing_card = None
