"""Start the studio window: ``main(argv)`` (argv without the program name).

Start-up is kept light so the first window paints fast: torch, transformers and the
engine are imported by the worker thread when a run starts, and pyqtgraph (about a
second to import) only after the first paint, when the Curves pane is built.

``--smoke`` quits with status 0 right after the first paint and prints
``first-paint-s <seconds since the process started>`` (the subprocess smoke test and
bench/gui_responsiveness.py use it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

_T0 = time.perf_counter()

APP_NAME = "Fine-Tuning Studio"
ORG_NAME = "FineTuningStudio"


def _process_age_s() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere since import)."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of stat, counted after "(comm)"
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _T0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studio gui", description="Open the studio window.")
    p.add_argument("project", nargs="?",
                   help="project file (.toml); default: the project you had open last "
                        "(File > Open Recent), else the demo project")
    p.add_argument("--demo", action="store_true",
                   help="open the shipped demo project (an untitled copy), not the last one")
    p.add_argument("--smoke", action="store_true",
                   help="quit with status 0 after the first paint (start-up check)")
    p.add_argument("--train", action="store_true",
                   help="start training the project as soon as the window is up")
    p.add_argument("--theme", choices=("auto", "light", "dark"), default=None,
                   help="colour theme; default: follow the system (or STUDIO_THEME)")
    return p


# -- theme --------------------------------------------------------------------------------

def _dark_palette():
    from PySide6.QtGui import QColor, QPalette

    pal = QPalette()
    roles = QPalette.ColorRole
    window, base, alt, text = QColor(40, 42, 46), QColor(28, 30, 33), QColor(48, 51, 56), \
        QColor(225, 227, 230)
    for role, colour in [
        (roles.Window, window), (roles.WindowText, text), (roles.Base, base),
        (roles.AlternateBase, alt), (roles.ToolTipBase, QColor(55, 58, 64)),
        (roles.ToolTipText, text), (roles.Text, text), (roles.Button, QColor(52, 55, 60)),
        (roles.ButtonText, text), (roles.BrightText, QColor(255, 90, 90)),
        (roles.Link, QColor(110, 170, 255)), (roles.Highlight, QColor(60, 120, 200)),
        (roles.HighlightedText, QColor(255, 255, 255)),
        (roles.PlaceholderText, QColor(140, 144, 150)), (roles.Mid, QColor(70, 73, 78)),
        (roles.Dark, QColor(22, 23, 26)), (roles.Light, QColor(75, 78, 84)),
        (roles.Midlight, QColor(62, 65, 70)), (roles.Shadow, QColor(10, 10, 12)),
    ]:
        pal.setColor(role, colour)
    group, disabled = QPalette.ColorGroup, QColor(120, 123, 128)
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        pal.setColor(group.Disabled, role, disabled)
    return pal


def wanted_theme(cli: str | None = None) -> str:
    """"light", "dark" or "auto" (follow the system): --theme, then STUDIO_THEME."""
    choice = cli or os.environ.get("STUDIO_THEME", "auto")
    return choice if choice in ("light", "dark") else "auto"


def apply_theme(app, choice: str = "auto") -> str:
    """Follow the OS light/dark setting (Qt's colorScheme), or force one; returns the
    theme applied. On Linux the Fusion style is used, with our dark palette when dark;
    elsewhere the native style already follows the system."""
    from PySide6.QtCore import Qt

    hints = app.styleHints()
    if choice == "auto":
        dark = hints.colorScheme() == Qt.ColorScheme.Dark
    else:
        dark = choice == "dark"
        try:  # Qt >= 6.8: ask the platform for the scheme too (native styles follow)
            hints.setColorScheme(Qt.ColorScheme.Dark if dark else Qt.ColorScheme.Light)
        except AttributeError:
            pass
    if sys.platform.startswith("linux") or choice != "auto":
        app.setStyle("Fusion")
        app.setPalette(_dark_palette() if dark else app.style().standardPalette())
    return "dark" if dark else "light"


def _follow_system_theme(app) -> None:
    def changed(_scheme) -> None:
        apply_theme(app, "auto")

    app.styleHints().colorSchemeChanged.connect(changed)


# -- garbage collection on the GUI thread only ----------------------------------------------

class GuiThreadCollector:
    """Python's cyclic garbage collector runs in whichever thread happens to allocate.
    When that is the training or a pane's worker thread and the garbage holds Qt objects,
    Qt objects get destroyed off the GUI thread, which can deadlock or crash Qt. So the
    automatic collector is turned off and this timer collects on the GUI thread instead
    (pyqtgraph's GarbageCollector recipe). Full collections scan every object (a quarter
    of a second once torch is loaded), so they run only when no run is training and at
    most once a minute; ``freeze()`` after the engine's imports keeps them cheap."""

    def __init__(self, interval_ms: int = 250, busy=lambda: False) -> None:
        import gc

        from PySide6.QtCore import QTimer

        self._gc = gc
        self.busy = busy
        self.threshold = gc.get_threshold()
        self._last_full = time.monotonic()
        gc.disable()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        gc = self._gc
        l0, l1, l2 = gc.get_count()
        if l0 > self.threshold[0]:
            gc.collect(0)
            if l1 > self.threshold[1]:
                gc.collect(1)
                now = time.monotonic()
                if l2 > self.threshold[2] and not self.busy() and now - self._last_full > 60:
                    gc.collect(2)
                    self._last_full = now

    def stop(self) -> None:
        self.timer.stop()
        self._gc.enable()


# -- what the panes are given ----------------------------------------------------------------

def install_services() -> None:
    """Build the state factories and jobs the panes use (they import neither
    ``studio.models`` nor ``studio.engine``). Heavy modules are imported when first used."""
    from functools import partial

    from studio.qt import services
    from studio.qt.torch_thread import torch_thread
    from studio.qt.widgets.tasks import run_in_background

    def run_torch(fn, *args, **kwargs):
        # torch never runs on the reused thread-pool threads (see torch_thread)
        return torch_thread("previews").submit(fn, *args, **kwargs)

    def model_source(project):
        from studio.models import inspect
        from studio.state.model_source import ModelSource

        return ModelSource(project, inspect, run_inspection=torch_thread("model").submit,
                           run_download=partial(run_in_background, pool_name="model"))

    def dataset_state(project):
        from studio.data.scan import split_preview
        from studio.state.dataset import DatasetState

        return DatasetState(project, split=split_preview, scan=scan_job,
                            run=partial(run_in_background, pool_name="scan"))

    def training_active() -> bool:
        from studio.engine.loop import active_runs

        return bool(active_runs())

    def find_lr(*args, **kwargs):
        from studio.engine.lr_finder import find_lr as fn  # torch: off the GUI thread

        return fn(*args, **kwargs)

    def probe(*args, **kwargs):
        from studio.engine.bias_probe import probe_run_or_model as fn

        return fn(*args, **kwargs)

    class _Memory:  # studio.models.freeze, imported (torch) on first estimate
        def __getattr__(self, name):
            from studio.models import freeze

            return getattr(freeze, name)

    services.install(services.Services(
        model_source=model_source, dataset_state=dataset_state, memory=_Memory(),
        run_torch=run_torch, training_active=training_active, find_lr=find_lr, probe=probe))


BATCH_SECONDS = 0.1  # a scan hands results to the GUI at most ~10 times a second


def scan_job(paths, model_source, text_field, csv_column, *, report, cancel,
             options=None) -> bool:
    """Runs on the scan thread: stream results to the GUI in batches. Returns cancelled.
    ``options``: the family's scan knobs (``DatasetState.scan_options``)."""
    from studio.data import scan as scanmod

    counter = scanmod.token_counter_for(model_source)
    batch: list = []
    last = time.monotonic()
    done = total = 0
    for step in scanmod.scan(paths, cancel=cancel, count_tokens=counter,
                             text_field=text_field, csv_column=csv_column,
                             options=options):
        batch.append(step.item)
        done, total = step.done, step.total
        now = time.monotonic()
        if now - last >= BATCH_SECONDS or len(batch) >= 500:
            report((batch, done, total))
            batch, last = [], now
    if batch or not done:
        report((batch, done, total))
    return cancel.is_set()


# -- start-up --------------------------------------------------------------------------------

def make_app(argv0: str = "studio"):
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication([argv0])
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    from studio import __version__  # pyproject reads its version from here
    from studio.qt.dialogs.icon import app_icon

    app.setApplicationVersion(__version__)
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("fine-tuning-studio")  # Wayland/X11: matches the .desktop entry
    install_services()
    return app


def demo_project():
    """The shipped demo project, as an untitled copy (the shipped file is never
    overwritten); like any unsaved project, its runs go to the user's data folder and
    move beside the file it is first saved as."""
    from studio.core.paths import resources_dir
    from studio.state.project import Project

    path = resources_dir() / "demo" / "sonnets.toml"
    if not path.is_file():
        return Project(name="Untitled")
    project = Project.load(path)
    project.detach("Sonnets demo")
    return project


def load_project(path: str | None):
    from studio.state.project import Project

    if path:
        return Project.load(Path(path))
    return demo_project()


def startup_project(path: str | None, demo: bool, settings):
    """The project the window opens with, and a note for the status bar: ``path`` when
    given, the demo when asked for, else the one the user had open last (the first of
    File > Open Recent, as a returning user expects), else the demo. A last project that
    is gone or no longer reads falls back to the demo and says why."""
    from studio.core.errors import StudioError
    from studio.qt.project_files import read_recent

    if path or demo:
        return load_project(path), ""
    recent = read_recent(settings)
    if not recent:
        return demo_project(), ""
    last = Path(recent[0])
    if not last.is_file():
        return demo_project(), f"{last} is gone: opened the demo project"
    try:
        return load_project(str(last)), ""
    except (StudioError, OSError) as exc:
        return demo_project(), f"Could not open the last project ({exc}): opened the demo"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    app = make_app()
    choice = wanted_theme(args.theme)
    apply_theme(app, choice)
    if choice == "auto":
        _follow_system_theme(app)

    from PySide6.QtCore import QSettings

    from studio.core.errors import StudioError
    from studio.qt.main_window import MainWindow

    try:
        project, note = startup_project(args.project, args.demo, QSettings())
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    window = MainWindow(project)
    if project.path:  # a file given on the command line (or a file manager) is "last" too
        window.files.remember(project.path)
    if note:
        print(note, file=sys.stderr)
        window.statusBar().showMessage(note, 10_000)
    collector = GuiThreadCollector(busy=lambda: window.host.running)  # noqa: F841 - kept alive

    if args.smoke:
        def painted() -> None:
            print(f"first-paint-s {_process_age_s():.3f}", flush=True)
            window.shutdown_now()
            app.exit(0)

        window.first_painted.connect(painted)
    window.show()
    if args.train and not args.smoke:
        from PySide6.QtCore import QTimer
        QTimer.singleShot(0, window.train)
    if not args.smoke and not args.train and app.platformName() not in ("offscreen", "minimal"):
        # once ever, on a real screen: which GPU, driver, free memory and disk (Help menu later)
        from studio.qt.dialogs.system_check import maybe_show_first_run
        maybe_show_first_run(window, window.settings)
    code = app.exec()
    window.shutdown_now()  # a run still going (e.g. quit from the OS) stops and is joined
    return code


if __name__ == "__main__":
    raise SystemExit(main())
