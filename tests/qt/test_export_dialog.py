"""Export from the window: weights, format, folder, progress, Show folder; the base model
unchanged is named and asked about."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from studio.cli.main import main
from studio.qt.dialogs.export import ExportDialog
from studio.runs import RunFolder, list_runs


def test_export_a_run_from_the_window(qtbot, tiny_run_config, tmp_path, monkeypatch):
    assert main(["train", str(tiny_run_config()), "train.max_steps=3", "--quiet"]) == 0
    (run,) = list_runs(tmp_path / "runs")
    RunFolder(run.path).update_status(best_step=0)  # the run never beat step 0
    dialog = ExportDialog(run.path)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.weights.currentData() == "best"
    assert "base model, unchanged" in dialog.weights.currentText()
    assert dialog.warning.isVisible() and "base model unchanged" in dialog.warning.text()
    assert not dialog.format.model().item(1).isEnabled()  # no LoRA: no adapter

    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    dialog.start()
    assert asked and "never beat the base model" in asked[0] and dialog.task is None

    dialog.weights.setCurrentIndex(dialog.weights.findData("latest"))
    assert not dialog.warning.isVisible()
    dialog.folder.setText(str(tmp_path / "my export"))
    dialog.start()
    assert dialog.bar.isVisible() and not dialog.export_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.task is None, timeout=120_000)
    assert "Exported to" in dialog.status.text(), dialog.status.text()
    assert "AutoModelForCausalLM" in dialog.status.text()
    assert (tmp_path / "my export" / "config.json").is_file()
    assert dialog.show_button.isEnabled()


def test_the_format_list_is_the_family_s(qtbot, tmp_path):
    from studio.config import save_config
    from studio.config.families import default_config
    from studio.engine.restore import WeightsChoice
    from studio.qt.dialogs import export as export_dialog

    folder = tmp_path / "run"
    folder.mkdir()
    import dataclasses

    cfg = default_config("text_to_image")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, paths=(str(tmp_path),)))
    save_config(cfg, folder / "config.toml")
    got = []
    dialog = ExportDialog(folder, choices=lambda _r: [WeightsChoice("latest", 4, "Latest", False)],
                          export=lambda *a, **k: got.append(a) or str(tmp_path))
    qtbot.addWidget(dialog)
    keys = [dialog.format.itemData(i) for i in range(dialog.format.count())]
    assert keys == [export_dialog.DEFAULT, "diffusers_lora", "kohya", "full"]
    assert "diffusers LoRA folder + LoRA .safetensors" in dialog.format.itemText(0)
    assert all(dialog.format.model().item(i).isEnabled() for i in range(len(keys)))
