"""The gallery pane is a view of a GalleryState: text, image and audio samples by step."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QDialog

from studio.core import events as ev
from studio.qt.panes.gallery import GalleryPane, ImageDialog, sample_html
from studio.state.gallery import GalleryState


def texts(step: int, n: int = 2):
    return tuple(ev.Sample("text", step, i, prompt="Shall I", text=f" compare {step}/{i}\nthee",
                           seed=7 + i) for i in range(n))


@pytest.fixture
def pane(qtbot):
    g = GalleryState()
    p = GalleryPane(g)
    p.resize(900, 500)
    qtbot.addWidget(p)
    p.show()
    return p


def test_empty_state_then_step_zero_and_latest_side_by_side(pane):
    assert pane.hint.isVisible() and not pane.splitter.isVisible()
    g = pane.gallery
    g.feed(ev.SampleReady(0, texts(0)))
    assert not pane.hint.isVisible()
    assert not pane.first_column.isVisible()  # only one step: no comparison yet
    assert pane.current_column.step == 0
    assert pane.legend.isVisible()  # "prompt -> generated text": the tint in text samples
    for s in (10, 20):
        g.feed(ev.SampleReady(s, texts(s)))
    assert pane.first_column.isVisible() and pane.first_column.step == 0
    assert pane.current_column.step == 20
    assert "Step 20 (latest)" == pane.current_column.title.text()
    assert "before training" in pane.first_column.title.text()
    assert [c.sample.index for c in pane.current_column.cards] == [0, 1]
    pane.compare.setChecked(False)
    assert not pane.first_column.isVisible()


def test_text_tells_prompt_and_continuation_apart(pane):
    sample = texts(5)[0]
    html = sample_html(sample, pane.palette())
    prompt_part, _, rest = html.partition("</span>")
    assert "background-color" in prompt_part and prompt_part.endswith("Shall I")
    assert rest.startswith(" compare 5/0<br>thee")
    pane.gallery.feed(ev.SampleReady(5, texts(5)))
    card = pane.current_column.cards[0]
    assert card.body.text() == sample_html(sample, pane.palette())
    # html in a sample is shown, never interpreted
    evil = ev.Sample("text", 1, 0, prompt="<b>", text="<i>x</i>")
    assert "&lt;i&gt;x&lt;/i&gt;" in sample_html(evil, pane.palette())


def test_slider_looks_back_and_latest_follows_again(pane, qtbot):
    g = pane.gallery
    for s in (0, 10, 20, 30):
        g.feed(ev.SampleReady(s, texts(s)))
    assert pane.slider.maximum() == 3 and pane.slider.value() == 3
    pane.slider.setValue(1)
    assert g.selected == 10 and pane.current_column.step == 10
    assert "step 10" in pane.step_label.text() and pane.latest_button.isEnabled()
    g.feed(ev.SampleReady(40, texts(40)))  # looking back: the view stays put
    assert pane.current_column.step == 10 and pane.slider.maximum() == 4
    qtbot.mouseClick(pane.latest_button, Qt.MouseButton.LeftButton)
    assert g.selected == 40 and pane.current_column.step == 40
    g.feed(ev.SampleReady(50, texts(50)))
    assert pane.current_column.step == 50
    pane.jump_to(14)  # a click on the curves: the nearest sampled step
    assert pane.current_column.step == 10


def test_export_selected_samples(pane, tmp_path, qtbot):
    g = pane.gallery
    g.feed(ev.SampleReady(0, texts(0)))
    g.feed(ev.SampleReady(10, texts(10)))
    assert not pane.export_button.isEnabled()
    pane.current_column.cards[1].check.setChecked(True)
    pane.first_column.cards[0].check.setChecked(True)
    assert pane.export_button.text() == "Export 2 selected…"
    written = pane.export_to(tmp_path / "out")
    assert [p.name for p in written] == ["step_000000_00.txt", "step_000010_01.txt"]
    assert written[1].read_text(encoding="utf-8") == "Shall I compare 10/1\nthee"
    pane.select_current_step()
    assert len(pane.selected_samples) == 3
    assert all(c.check.isChecked() for c in pane.current_column.cards)


def test_images_show_as_a_grid_and_enlarge_on_click(pane, tmp_path, qtbot):
    samples = []
    for i in range(4):
        img = QImage(32, 32, QImage.Format.Format_RGB32)
        img.fill(QColor(60 * i, 100, 200))
        path = tmp_path / f"img{i}.png"
        assert img.save(str(path))
        samples.append(ev.Sample("image", 3, i, path=str(path), seed=i))
    pane.gallery.feed(ev.SampleReady(3, tuple(samples)))
    cards = pane.current_column.cards
    assert len(cards) == 4
    positions = [pane.current_column.grid.getItemPosition(
        pane.current_column.grid.indexOf(c))[:2] for c in cards]
    assert positions == [(0, 0), (0, 1), (0, 2), (1, 0)]  # a grid, three across
    assert not cards[0].body.pixmap().isNull()
    assert cards[0].body.pixmap().width() == 168  # small images are scaled up crisply
    qtbot.mouseClick(cards[2].body, Qt.MouseButton.LeftButton)
    dialogs = [w for w in pane.findChildren(ImageDialog) if w.isVisible()]
    assert len(dialogs) == 1 and "sample 3" in dialogs[0].windowTitle()
    dialogs[0].close()


def test_audio_shows_a_waveform_and_plays(pane, tmp_path, qtbot):
    sf = pytest.importorskip("soundfile")
    rate = 8000
    t = np.arange(rate // 2) / rate
    path = tmp_path / "tone.wav"
    sf.write(str(path), 0.5 * np.sin(2 * np.pi * 440 * t), rate)
    pane.gallery.feed(ev.SampleReady(8, (ev.Sample("audio", 8, 0, path=str(path)),)))
    card = pane.current_column.cards[0]
    assert not pane.legend.isVisible()  # no text to tint: the prompt is a caption
    wave = card.body
    qtbot.waitUntil(lambda: wave.envelope is not None, timeout=5000)  # computed off-thread
    mins, maxs = wave.envelope
    assert maxs.max() == pytest.approx(0.5, abs=0.01) and mins.min() == pytest.approx(-0.5, abs=0.01)
    assert card.duration_label.text() == "0.50 s"
    pytest.importorskip("PySide6.QtMultimedia")
    card.play_button.click()
    assert card.play_button.text() == "Stop"
    assert pane._player.source().toLocalFile() == str(path.resolve())
    card.play_button.click()
    assert card.play_button.text() == "Play"


def test_play_without_an_output_device_says_it_is_silent(pane, tmp_path, qtbot, monkeypatch):
    from PySide6.QtMultimedia import QMediaDevices

    monkeypatch.setattr(QMediaDevices, "audioOutputs", staticmethod(lambda: []))
    path = tmp_path / "tone.wav"
    import soundfile as sf
    sf.write(str(path), np.zeros(4000), 8000)
    pane.gallery.feed(ev.SampleReady(8, (ev.Sample("audio", 8, 0, path=str(path)),)))
    card = pane.current_column.cards[0]
    card.play_button.click()
    assert card.duration_label.text() == "silent: no audio output device"
    assert "speakers or headphones" in card.duration_label.toolTip()
    card.play_button.click()


def test_unreadable_audio_says_so(pane, tmp_path, qtbot):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    pane.gallery.feed(ev.SampleReady(1, (ev.Sample("audio", 1, 0, path=str(bad)),)))
    wave = pane.current_column.cards[0].body
    qtbot.waitUntil(lambda: wave.failed, timeout=5000)


def test_audio_card_has_a_spectrogram_and_opens_a_player(pane, tmp_path, qtbot):
    sf = pytest.importorskip("soundfile")
    rate = 8000
    t = np.arange(rate) / rate
    path = tmp_path / "sample.wav"
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * 1000 * t), rate)
    sample = ev.Sample("audio", 20, 0, prompt="drum loop", path=str(path), seed=1234)
    pane.gallery.feed(ev.SampleReady(20, (sample,)))
    wave = pane.current_column.cards[0].body
    qtbot.waitUntil(lambda: wave.envelope is not None, timeout=5000)
    spec = wave.spectrogram
    assert spec is not None and spec.ndim == 3 and spec.shape[2] == 3
    # a 1 kHz tone of 8 kHz audio: the brightest row is a quarter of the way down from
    # the top (4 kHz at the top, 0 Hz at the bottom)
    row = int(spec.sum(axis=(1, 2)).argmax())
    assert abs(row / spec.shape[0] - 0.75) < 0.05
    qtbot.mouseClick(wave, Qt.MouseButton.LeftButton)
    dialogs = [w for w in pane.findChildren(QDialog) if w.isVisible()]
    assert len(dialogs) == 1 and "drum loop" in dialogs[0].windowTitle()
    assert dialogs[0].view.path == str(path.resolve())
    dialogs[0].close()


def test_sample_now_rows_are_marked_and_kept_beside_the_fixed_seeds(pane):
    g = pane.gallery
    g.feed(ev.SampleReady(4, texts(4)))
    fresh = tuple(ev.Sample("text", 4, 1000 + i, prompt="Shall I", text=" anew", seed=1007 + i,
                            meta={"fresh": 1, "number": i}) for i in range(2))
    g.feed(ev.SampleReady(4, fresh))
    cards = pane.current_column.cards
    assert [c.sample.index for c in cards] == [0, 1, 1000, 1001]  # added, nothing replaced
    assert cards[2].check.text() == "#1 · sampled now (1)" and cards[2].check.font().italic()
    assert "new seeds" in cards[2].check.toolTip()
    assert cards[0].check.text() == "#1"


def test_text_to_image_shows_one_grid_per_prompt_and_enlarges_with_prompt_seed_step(
        pane, tmp_path, qtbot):
    from PySide6.QtWidgets import QLabel

    img = QImage(32, 32, QImage.Format.Format_RGB32)
    img.fill(QColor(200, 40, 40))
    path = tmp_path / "p.png"
    assert img.save(str(path))
    samples = []
    for p, base in enumerate(("a red circle", "a blue star")):
        for row, (text, trig) in enumerate(((f"sks, {base}", True), (base, False))):
            for col in range(2):
                samples.append(ev.Sample("image", 5, len(samples), prompt=text, path=str(path),
                                         seed=10 + col, meta={
                                             "prompt_index": p, "row": row, "column": col,
                                             "trigger": trig, "base_prompt": base}))
    pane.gallery.feed(ev.SampleReady(5, tuple(samples)))
    col = pane.current_column
    assert [h.text() for h in col.headers] == ["<b>a red circle</b>", "<b>a blue star</b>"]
    where = [col.grid.getItemPosition(col.grid.indexOf(c))[:2] for c in col.cards]
    # heading, with-trigger row, without row; then the next prompt's
    assert where == [(1, 0), (1, 1), (2, 0), (2, 1), (4, 0), (4, 1), (5, 0), (5, 1)]
    qtbot.mouseClick(col.cards[3].body, Qt.MouseButton.LeftButton)
    (dialog,) = [w for w in pane.findChildren(ImageDialog) if w.isVisible()]
    about = " ".join(w.text() for w in dialog.findChildren(QLabel))
    assert "prompt: a red circle" in about and "seed 11 · step 5" in about
    dialog.close()


def test_a_card_shows_the_seed_only_for_seeded_samples(pane):
    from PySide6.QtWidgets import QLabel

    from studio.qt.panes.gallery import is_seeded

    seeded, unseeded = texts(3)
    unseeded = ev.Sample("text", 3, 1, prompt="x", text="y", meta={"seeded": False})
    pane.gallery.feed(ev.SampleReady(3, (seeded, unseeded)))
    labels = [[w.text() for w in c.findChildren(QLabel)] for c in pane.current_column.cards]
    assert "seed 7" in labels[0] and not any(t.startswith("seed ") for t in labels[1])
    assert is_seeded(seeded) and not is_seeded(unseeded)
