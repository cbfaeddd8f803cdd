"""Text in a legacy encoding is read with a note, and "Convert to UTF-8" in the dataset
pane rewrites it as UTF-8, keeping the original bytes beside it (first-hour item 7)."""

from __future__ import annotations

from studio.data.text import convert_to_utf8
from tests.qt.test_dataset_pane import scanned_pane

POEM = "Là-bas, où l'été s'attarde, naïve et très gaie, la chanson française. " * 6


def test_convert_a_windows_1252_file_from_the_pane(qtbot, tmp_path, dialogs):
    folder = tmp_path / "archive"
    folder.mkdir()
    old = folder / "poème.txt"
    old.write_bytes(POEM.encode("cp1252"))
    (folder / "fine.txt").write_text(POEM.upper(), encoding="utf-8")
    pane = scanned_pane(qtbot, folder)
    assert pane.legacy_text([str(folder / "fine.txt")]) == []
    (legacy,) = pane.legacy_text([str(old)])
    assert "Windows-1252" in pane.state.item(legacy).problem or \
        "Latin-1" in pane.state.item(legacy).problem
    with qtbot.waitSignal(pane.scan_finished, timeout=60_000):
        said = pane.convert_to_utf8([legacy])
    assert "converted from" in said[0]
    assert old.read_text(encoding="utf-8") == POEM
    backups = list(folder.glob(".poème.txt.*.orig"))
    assert len(backups) == 1 and backups[0].read_bytes() == POEM.encode("cp1252")
    assert not pane.state.item(str(old)).problem  # read as UTF-8 now, no note
    assert pane.state.item(str(backups[0])) is None  # the hidden backup is not trained on
    assert "Convert to UTF-8" in dialogs.titles()


def test_a_utf8_file_is_left_alone(tmp_path):
    import pytest

    from studio.core.errors import DataError

    p = tmp_path / "a.txt"
    p.write_text(POEM, encoding="utf-8")
    with pytest.raises(DataError, match="UTF-8 already"):
        convert_to_utf8(p)
