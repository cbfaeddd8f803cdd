"""The Settings pane's resolution follows the model chosen in the Model pane (text-to-image:
the starter's 32 px, an SDXL folder's 1024) until the user types their own."""

from __future__ import annotations

from studio.qt.panes.settings import SettingsPane
from studio.qt.project_files import blank_config
from studio.state.model_source import ModelSource
from studio.state.project import Project
from tests.test_t2i_defaults import sd_folder


def test_the_resolution_shown_follows_the_model_choice(qtbot, tmp_path):
    from studio.models import inspect

    project = Project(blank_config("text_to_image"))
    pane = SettingsPane(project)
    qtbot.addWidget(pane)
    pane.show()
    editor = pane.editors["data.resolution"]
    assert editor.value() == 32
    assert not pane._labels["data.resolution"].font().bold()  # the model's: a default
    source = ModelSource(project, inspect)
    source.set_visible(False)  # no model load: the JSON decides
    source.use(str(sd_folder(tmp_path / "sdxl", 128, "StableDiffusionXLPipeline")))
    qtbot.waitUntil(lambda: editor.value() == 1024, timeout=5000)
    assert not pane._labels["data.resolution"].font().bold()
    project.replace_section("data", resolution=768)
    source.use(str(sd_folder(tmp_path / "sd15", 64)))
    qtbot.waitUntil(lambda: project.config.model.source.endswith("sd15"), timeout=5000)
    assert editor.value() == 768 and pane._labels["data.resolution"].font().bold()
    source.close()
