"""A family registered at run time (tests/fake_family.py) shows in the Settings pane, the
dataset pane and the gallery with no edit to any of them: they ask the family spec."""

from __future__ import annotations

from studio.core import events as ev
from studio.qt.panes.gallery import GalleryPane
from studio.qt.panes.settings import SettingsPane
from studio.state.gallery import GalleryState
from studio.state.project import Project
from tests.fake_family import poems_registered
from tests.qt.test_dataset_pane import scanned_pane
from tests.tinymodels import write_text_dataset


def test_settings_offer_the_family_with_its_defaults_and_knobs(qtbot):
    with poems_registered():
        project = Project()
        pane = SettingsPane(project)
        qtbot.addWidget(pane)
        pane.show()
        combo = pane.editors["run.family"].editor
        assert "poems" in [combo.itemData(i) for i in range(combo.count())]
        project.replace_section("run", family="poems")
        assert "<b>Poems</b>" in pane.family_label.text()  # the spec's display name
        assert pane.editors["data.block_size"].isVisible()   # its extra knob
        assert not pane.editors["data.crop"].isVisible()     # the image family's
        assert pane.restore_defaults() >= 1
        assert project.config.train.lr == 2e-3 and project.config.sample.prompts == ("Roses",)


def test_dataset_pane_splits_its_files_in_its_own_words(qtbot, tmp_path):
    data = write_text_dataset(tmp_path / "verses", n_docs=5)
    with poems_registered():
        pane = scanned_pane(qtbot, data)
        pane.project.replace_section("run", family="poems")
        pane._refresh_split()
        assert pane.state.training_kinds == ("text",)
        assert "poems" in pane.state.split().describe()
        assert pane.split_label.toolTip() == "Poems are shuffled with this seed."


def test_gallery_shows_its_samples(qtbot):
    with poems_registered():
        g = GalleryState()
        pane = GalleryPane(g)
        qtbot.addWidget(pane)
        pane.show()
        g.feed(ev.SampleReady(0, (ev.Sample("text", 0, 0, prompt="Roses", text=" are red"),)))
        assert pane.current_column.cards[0].sample.text == " are red"
