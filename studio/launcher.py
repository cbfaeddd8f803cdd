"""The ``studio`` entry point: ``studio gui`` opens the window (studio.qt), everything
else is the Qt-free CLI (studio.cli). Kept outside both so neither imports the other."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    rest = [a for a in args if a != "--debug"]
    if rest[:1] == ["gui"] and not ({"-h", "--help"} & set(rest)):
        from studio.qt.app import main as gui_main
        return gui_main(rest[1:])
    if rest[:1] in (["self-test"], ["--self-test"]):
        from studio.selftest import main as selftest_main
        return selftest_main(rest[1:], gui_check=window_check)
    from studio.cli.main import main as cli_main
    return cli_main(args)


def window_check() -> str:
    """For ``studio self-test --gui``: the Qt platform starts, the main window is built
    on the demo project and closed (offscreen unless a display is asked for)."""
    import os
    import shutil
    import tempfile

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QSettings

    from studio.qt.app import load_project, make_app
    from studio.qt.main_window import MainWindow

    app = make_app()
    scratch = tempfile.mkdtemp(prefix="studio-selftest-qt-")  # the user's settings untouched
    settings = QSettings(os.path.join(scratch, "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(load_project(None), settings=settings)
    window.show()
    app.processEvents()
    title = window.windowTitle()
    window.shutdown_now()
    window.close()
    window.deleteLater()
    app.processEvents()
    del window, settings
    shutil.rmtree(scratch, ignore_errors=True)
    return f"Qt {app.platformName()}: main window {title!r} built and closed"


if __name__ == "__main__":
    raise SystemExit(main())
