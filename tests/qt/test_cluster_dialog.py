"""File › Export for a cluster… writes the same folder as `studio cluster`."""

from __future__ import annotations

import subprocess

from studio.config import load_config


def test_export_for_a_cluster_from_the_file_menu(make_window, text_folder, tmp_path, qtbot):
    win = make_window()
    win.project.replace_section("data", paths=[str(text_folder)])
    win.project.replace_section("train", batch_size=4, grad_accum=2)
    win.act_export_cluster.trigger()
    dlg = win.tools.cluster_dialog
    qtbot.waitExposed(dlg)
    dlg.nodes.setValue(2)
    dlg.gpus.setValue(4)
    assert "8 processes" in dlg.batch.text() and "= 64 examples" in dlg.batch.text()
    dlg.strategy.setCurrentIndex(dlg.strategy.findData("fsdp"))
    out = tmp_path / "to the cluster"  # a space in the path survives the scripts
    dlg.folder.setText(str(out))
    dlg.export_button.click()
    names = {p.name for p in dlg.written}
    assert names == {"config.toml", "launch_torchrun.sh", "launch_accelerate.sh",
                     "slurm.sbatch", "README.md"}
    cfg = load_config(out / "config.toml")
    assert cfg.train.parallel == "fsdp" and cfg.train.batch_size == 4
    torchrun = (out / "launch_torchrun.sh").read_text()
    assert "--nproc_per_node 4" in torchrun and "= 8 processes" in torchrun
    assert "train.parallel = fsdp" in torchrun
    assert "#SBATCH --nodes=2" in (out / "slurm.sbatch").read_text()
    assert subprocess.run(["bash", "-n", str(out / "launch_torchrun.sh")]).returncode == 0
    assert "launch_torchrun.sh" in dlg.result.text()
    dlg.grab().save(str(tmp_path / "cluster_dialog.png"))


def test_an_invalid_project_or_unwritable_folder_is_explained(make_window, text_folder,
                                                              dialogs, tmp_path):
    win = make_window()
    win.act_export_cluster.trigger()  # no data yet: `studio train` would refuse the config
    assert dialogs.titles() == ["Cannot export for a cluster"]
    win.project.replace_section("data", paths=[str(text_folder)])
    win.act_export_cluster.trigger()
    dlg = win.tools.cluster_dialog
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    dlg.folder.setText(str(blocker / "sub"))
    assert dlg.export() == []
    assert "Could not write" in dlg.result.text() and "a file" in dlg.result.text()
