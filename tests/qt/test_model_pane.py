"""The model pane: choosing a source, the offline hub message, the architecture summary
and the read-only layer groups of a tiny GPT-2 saved with save_pretrained."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from studio.models import inspect as modelpane
from studio.models.inspect import DownloadCancelled, read_model_summary
from studio.qt.panes.model import ModelPane
from studio.qt.widgets.tasks import wait_all
from studio.state.project import Project


@pytest.fixture(autouse=True)
def _join_workers():
    yield
    assert wait_all(60_000)


def make_pane(qtbot, source: str | None = None) -> ModelPane:
    project = Project()
    if source:
        project.set_model_source(source)
    pane = ModelPane(project)
    qtbot.addWidget(pane)
    pane.show()
    return pane


def test_offline_hub_download_says_so_plainly(qtbot, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pane = make_pane(qtbot)
    pane.hub_edit.setText("studio-tests/not-in-any-cache")
    with qtbot.waitSignal(pane.download_finished, timeout=30_000) as sig:
        pane.download()
        assert pane.progress_row.isVisible()
    assert sig.args == [False]
    text = pane.message.text()
    assert "offline" in text and "studio-tests/not-in-any-cache" in text
    assert "not in the Hugging Face cache" in text and "Traceback" not in text
    assert pane.message.isVisible() and not pane.progress_row.isVisible()
    assert pane.project.model_source == "starter:text"  # unchanged


def test_not_a_hub_id(qtbot):
    pane = make_pane(qtbot)
    pane.hub_edit.setText("not a valid//id")
    with qtbot.waitSignal(pane.download_finished, timeout=30_000):
        pane.download()
    assert "is not a hub id" in pane.message.text()


def test_progress_reports_and_cancels():
    seen = []
    cancel = threading.Event()
    cls = modelpane._progress_class(seen.append, cancel)
    bar = cls(total=1000, unit="B")
    bar.update(400)
    bar.update(100)
    assert bar.n == 500
    cancel.set()
    with pytest.raises(DownloadCancelled):
        bar.update(1)
    assert seen and seen[0]["bytes_total"] == 1000


def test_summary_and_layer_groups_of_a_tiny_gpt2(qtbot, tiny_text_model):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_text_model, dtype=torch.float32)
    n_params = sum(p.numel() for p in model.parameters())  # tied weights once
    summary = read_model_summary(tiny_text_model)
    assert summary.parameters == n_params
    assert (summary.layers, summary.hidden, summary.heads) == (2, 32, 2)
    assert summary.context == 64 and summary.vocab == model.config.vocab_size
    assert summary.architecture == "GPT2LMHeadModel" and summary.dtype == "float32"
    assert summary.tokenizer

    pane = make_pane(qtbot)
    with qtbot.waitSignal(pane.inspected, timeout=60_000) as sig:
        pane.project.set_model_source(str(tiny_text_model))
    assert pane.folder_radio.isChecked() and pane.folder_edit.text() == str(tiny_text_model)
    assert "GPT2LMHeadModel" in pane.fields["architecture"].text()
    assert "2 layers" in pane.fields["shape"].text()
    result = sig.args[0]
    assert result is not None and result.parameters == n_params
    groups = pane.layer_tree.state.groups
    titles = [g.title for g in groups]
    assert titles[:3] == ["Embeddings", "Block 0", "Block 1"] and "LM head" in titles
    assert sum(g.count for g in groups) == n_params
    assert pane.layer_tree.body.isVisibleTo(pane)
    assert f"{n_params:,}" in pane.fields["parameters"].text()


def test_local_folder_and_starter_choices_write_the_project(qtbot, tmp_path, tiny_text_model):
    pane = make_pane(qtbot)
    pane.folder_edit.setText(str(tmp_path))
    pane.use_folder()
    assert "not a model folder" in pane.message.text()
    assert pane.project.model_source == "starter:text"
    pane.folder_edit.setText(str(tiny_text_model))
    pane.use_folder()
    assert pane.project.model_source == str(tiny_text_model)
    pane.use_starter()
    assert pane.project.model_source == "starter:text" and pane.starter_radio.isChecked()


def test_missing_starter_is_explained(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_RESOURCES", str(tmp_path / "no-resources"))
    pane = make_pane(qtbot, "starter:text")
    assert "missing" in pane.tree_status.text()
    assert pane.layer_tree.state is None


def test_a_hidden_pane_loads_the_model_only_when_shown(qtbot, tiny_text_model):
    project = Project()
    project.set_model_source(str(tiny_text_model))
    pane = ModelPane(project)
    qtbot.addWidget(pane)
    assert pane.summary is not None and pane.summary.parameters  # the cheap summary is at once
    assert pane.inspection is None and "when this pane is shown" in pane.tree_status.text()
    with qtbot.waitSignal(pane.inspected, timeout=60_000):
        pane.show()
    assert len(pane.layer_tree.state.groups) == len(pane.inspection.groups)


def test_summary_of_a_musicgen_says_decoder_codec_frames_and_text_tokens(qtbot, tmp_path):
    """A MusicGen's config nests decoder, codec and text encoder: the pane shows the
    decoder's sizes, its context in codec frames and seconds, and the text vocabulary."""
    from tests.tinymodels import make_tiny_musicgen

    folder = make_tiny_musicgen(tmp_path / "mg")
    s = read_model_summary(folder)
    assert (s.layers, s.hidden, s.heads, s.context) == (2, 32, 2, 256)
    assert s.audio == {"sample_rate": 8000, "channels": 1, "frame_rate": 50.0,
                       "codebooks": 2, "codebook_size": 32}
    assert s.vocab and s.tokenizer
    pane = make_pane(qtbot)
    pane._show_summary(s)
    shape = pane.fields["shape"].text()
    assert "decoder: 2 layers" in shape and "8 kHz mono, 50 frames/s, 2 codebooks x 32" in shape
    assert pane.fields["context"].text() == "256 codec frames (5.1 s of audio)"
    assert pane.fields["vocab"].text() == f"{s.vocab:,} text tokens"


@pytest.mark.parametrize("starter", ["starter:text", "starter:image", "starter:audio"])
def test_every_shipped_starter_shows_its_layer_tree(qtbot, starter):
    """Choosing a starter switches the family and lists its layer groups (a diffusers
    pipeline's summary is read from its unet/ folder: it has no top-level config.json)."""
    from studio.core.paths import resolve_model_source

    if not (Path(resolve_model_source(starter))).is_dir():
        pytest.skip(f"{starter} is not built in this checkout")
    pane = make_pane(qtbot)
    with qtbot.waitSignal(pane.inspected, timeout=120_000) as sig:
        i = pane.starter_combo.findData(starter)
        pane.starter_combo.setCurrentIndex(i)
        pane.use_starter()
    assert pane.project.config.run.family == starter.split(":")[1]
    assert sig.args[0] is not None, pane.tree_status.text()
    assert "config.json" not in pane.tree_status.text()
    assert pane.summary is not None and pane.summary.parameters
    assert pane.layer_tree.body.isVisibleTo(pane)
    assert len(pane.layer_tree.state.groups) == len(sig.args[0].groups) > 1


def test_a_diffusion_unet_summary_says_resolutions_and_image_size(qtbot):
    from studio.core.paths import resolve_model_source

    folder = resolve_model_source("starter:image")
    if not Path(folder).is_dir():
        pytest.skip("the image starter is not built in this checkout")
    s = read_model_summary(folder)
    assert s.architecture == "DDPMPipeline (UNet2DModel)" and s.parameters
    pane = make_pane(qtbot)
    pane._show_summary(s)
    assert "UNet: 3 resolutions" in pane.fields["shape"].text()
    assert pane.fields["context"].text().startswith(f"{s.image['sample_size']}×")


def test_the_pane_is_a_view_of_its_model_source_state(qtbot):
    """napari's qt_dims shape: build the state, build the view, change one, look at the
    other (a fake inspector: no model is loaded)."""
    from studio.state.model_source import ModelSource
    from tests.test_state_model_source import FakeInspector

    project = Project()
    state = ModelSource(project, FakeInspector())
    pane = ModelPane(project, state=state)
    qtbot.addWidget(pane)
    pane.show()
    assert pane.state is state and state.inspection is not None
    assert pane.layer_tree.state is not None and len(pane.layer_tree.state.groups) == 2
    project.set_model_source("starter:image")  # the state changes: the view follows
    assert pane.starter_combo.currentData() == "starter:image"
    assert pane.starter_radio.isChecked() and "starter:image" in pane.fields["source"].text()
    pane.folder_edit.setText("/nowhere")  # the user types: the state hears it
    pane.use_folder()
    assert state.message_is_error and pane.message.text() == state.message
    assert project.model_source == "starter:image"


def test_a_latent_diffusion_summary_says_picture_size_and_prompt_vocabulary(qtbot):
    # the text_to_image starter read "8×8 px images" (its UNet's latent size) and
    # "Vocabulary: none (no text input)" although its text encoder reads the prompts
    from studio.core.paths import resolve_model_source

    folder = resolve_model_source("starter:text_to_image")
    if not (Path(folder) / "vae").is_dir():
        pytest.skip("the text_to_image starter is not built in this checkout")
    s = read_model_summary(folder)
    assert s.vocab and s.vocab > 100 and s.tokenizer
    pane = make_pane(qtbot)
    pane._show_summary(s)
    size = s.image["sample_size"]
    assert pane.fields["context"].text().startswith(f"{s.image['pixels']}×")
    assert f"({size}×{size} latents" in pane.fields["context"].text()
    assert s.image["pixels"] > size
    assert pane.fields["vocab"].text() == f"{s.vocab:,} tokens"


def test_a_midi_model_with_miditok_json_has_its_tokenizer(qtbot, tmp_path):
    # the MIDI starter's vocabulary read "1,000 tokens (no tokenizer files!)": its
    # tokenizer is MidiTok's miditok.json, not a Hugging Face tokenizer file
    (tmp_path / "config.json").write_text(
        '{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 1000}')
    (tmp_path / "miditok.json").write_text("{}")
    s = read_model_summary(tmp_path)
    assert s.tokenizer
    pane = make_pane(qtbot)
    pane._show_summary(s)
    assert pane.fields["vocab"].text() == "1,000 tokens"
