"""The dataset grid's hint fits a narrow dock, and an added folder with nothing readable
says so (it used to be cut off, then to vanish with no word about the empty folder)."""

from __future__ import annotations

from studio.qt.panes.dataset import EMPTY_HINT, NOTHING_FOUND
from tests.qt.test_dataset_pane import make_pane


def test_the_hint_wraps_inside_a_narrow_grid(qtbot):
    pane = make_pane(qtbot)
    pane.resize(420, 600)
    qtbot.waitUntil(lambda: pane.empty_hint.isVisible(), timeout=5000)
    hint, viewport = pane.empty_hint, pane.view.viewport()
    assert hint.text() == EMPTY_HINT and hint.wordWrap()
    assert viewport.rect().contains(hint.geometry())
    pane.splitter.setSizes([120, 480])  # the splitter shrinks the grid: the hint follows
    qtbot.waitUntil(lambda: viewport.rect().contains(hint.geometry()), timeout=5000)


def test_an_empty_folder_is_named_as_such(qtbot, tmp_path):
    empty = tmp_path / "nothing here"
    empty.mkdir()
    pane = make_pane(qtbot, empty)
    qtbot.waitUntil(lambda: not pane.state.scanning and pane.empty_hint.isVisible(),
                    timeout=20_000)
    assert pane.empty_hint.text() == NOTHING_FOUND
    assert pane.state.summary() == "No files found in the added folders."
