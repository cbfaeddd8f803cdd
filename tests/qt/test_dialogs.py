"""Help > About and Help > System check, and the first-run check."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QLabel

from studio.engine.sysinfo import DiskSpace, Finding, GiB, Gpu, SystemFacts
from studio.qt.dialogs import system_check
from studio.qt.dialogs.about import AboutDialog
from studio.qt.dialogs.icon import app_icon


def fake_probe():
    f = SystemFacts(os="Linux", python="3.11", torch_version="2.11.0",
                    torch_build="cuda", torch_cuda="13.0", torch_hip=None,
                    accelerator="cuda", gpus=(Gpu(0, "Test GPU 9000", 16 * GiB, 1 * GiB,
                                                  "9.0"),),
                    driver_version="580.1", driver_cuda="13.0", nvidia_gpu_seen=True,
                    cpu_threads=4, disks=(DiskSpace("model cache", "/cache", 50 * GiB),
                                          DiskSpace("runs folder", "/runs", 50 * GiB)))
    from studio.engine.sysinfo import advise
    return f, advise(f)


def test_icon_has_every_size():
    sizes = {s.width() for s in app_icon().availableSizes()}
    assert {16, 32, 48, 256} <= sizes


def test_about_shows_version_and_licences(qtbot, tmp_path):
    dlg = AboutDialog()
    qtbot.addWidget(dlg)
    dlg.show()
    from studio import __version__
    assert f"Version {__version__}" in dlg.title.text()
    credits = dlg.credits.toPlainText()
    assert "Shakespeare" in credits and "public domain" in credits and "CC0" in credits
    software = dlg.software.toPlainText()
    assert "LGPL-3.0" in software and "PySide6" in software
    assert "BSD-3-Clause" in software and "PyTorch" in software
    dlg.grab().save(str(tmp_path / "about.png"))


def test_system_check_shows_facts_and_advice(qtbot, tmp_path):
    dlg = system_check.SystemCheckDialog(probe=fake_probe)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: dlg.facts is not None, timeout=10_000)
    labels = [w.text() for w in dlg.findChildren(QLabel)]
    assert any("Test GPU 9000 (1.0 GB free of 16.0 GB" in t for t in labels)
    assert any("580.1 (supports CUDA up to 13.0)" in t for t in labels)
    assert "Ready to train, with a note." in dlg.headline.text()
    assert "Close other programs" in dlg.advice.text()
    dlg.copy_report()
    assert "Test GPU 9000" in QApplication.clipboard().text()
    dlg.grab().save(str(tmp_path / "system_check.png"))


def test_system_check_failure_is_shown(qtbot):
    def broken():
        raise RuntimeError("torch is broken")

    dlg = system_check.SystemCheckDialog(probe=broken)
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: "failed" in dlg.headline.text(), timeout=10_000)
    assert "torch is broken" in dlg.headline.text()
    assert dlg.again_button.isEnabled()


def test_first_run_shows_the_check_once(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    parent = QLabel("window")
    qtbot.addWidget(parent)
    first = system_check.maybe_show_first_run(parent, settings, probe=fake_probe)
    assert first is not None and first.isVisible()
    assert first.footer.isVisible() and "first start only" in first.footer.text()
    qtbot.waitUntil(lambda: first.facts is not None, timeout=10_000)
    assert system_check.maybe_show_first_run(parent, settings, probe=fake_probe) is None
    again = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    assert again.value(system_check.SHOWN_KEY, False, type=bool)


def test_help_menu_opens_both_dialogs(make_window, qtbot, monkeypatch):
    monkeypatch.setattr(system_check, "_probe", lambda runs_dir=None: fake_probe())
    win = make_window()
    win.act_about.trigger()
    assert win.tools.about_dialog.isVisible()
    assert win.tools.about_dialog.windowTitle() == "About Fine-Tuning Studio"
    win.act_system_check.trigger()
    dlg = win.tools.system_check_dialog
    assert dlg.isVisible() and dlg.windowTitle() == "System check"
    qtbot.waitUntil(lambda: dlg.facts is not None, timeout=10_000)
    assert dlg.findings == fake_probe()[1]
    assert isinstance(dlg.findings[0], Finding)


def test_system_check_measures_the_projects_runs_folder(make_window, tmp_path):
    """The disk line is about where this project's runs go, not the start-up folder."""
    win = make_window()
    assert system_check._runs_dir_of(win) == win.project.runs_dir()
    assert system_check._runs_dir_of(None) is None
