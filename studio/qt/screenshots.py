"""Drive the studio through the demo flow and save PNGs: ``python -m studio.qt.screenshots OUTDIR``.

Opens the demo project, shows the Dataset, Model and Settings panes, presses Train on
a short run (max_steps overridden small; runs go to a temporary folder), and mid-way
saves the whole window and every pane; then samples while paused, stops, and saves the
window once more in the dark theme. Run it under Xvfb (``make screenshots``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path


def _wait(app, predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        app.processEvents()
        time.sleep(0.01)


def _settle(app, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def _background_idle() -> bool:
    """No pane task (dataset scan, thumbnails, model summary) is still running."""
    try:
        from studio.qt import torch_thread
        from studio.qt.widgets import tasks
    except ImportError:
        return True
    loading = any(t._jobs for t in torch_thread._THREADS.values())  # the model's layers
    return not getattr(tasks, "_LIVE", ()) and not loading


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m studio.qt.screenshots")
    p.add_argument("outdir", help="folder for the PNGs")
    p.add_argument("--steps", type=int, default=160, help="max_steps of the demo run")
    p.add_argument("--project", help="project file (default: the demo project)")
    args = p.parse_args(argv)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QSettings

    from studio.qt.app import apply_theme, load_project, make_app

    app = make_app()
    # a throwaway settings file: screenshots never disturb (or depend on) a saved layout
    settings_dir = tempfile.mkdtemp(prefix="studio-shots-settings-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    apply_theme(app, "light")

    from studio.qt.main_window import MainWindow

    project = load_project(args.project)
    runs = Path(tempfile.mkdtemp(prefix="studio-shots-runs-"))
    cfg = project.config
    every = max(1, args.steps // 8)
    project.set_config(dataclasses.replace(
        cfg,
        run=dataclasses.replace(cfg.run, runs_dir=str(runs)),
        train=dataclasses.replace(cfg.train, max_steps=args.steps,
                                  warmup_steps=min(cfg.train.warmup_steps, args.steps // 10)),
        eval=dataclasses.replace(cfg.eval, every=every),
        sample=dataclasses.replace(cfg.sample, every=every * 2),
        checkpoint=dataclasses.replace(cfg.checkpoint, every=0),
    ))
    project.dirty = False

    window = MainWindow(project)
    window.resize(1600, 1000)
    window.show()
    _wait(app, lambda: window.curves is not None, 30, "the first paint and the curves pane")
    _wait(app, _background_idle, 180, "the dataset scan and the model summary")
    _settle(app, 0.5)

    def shot(name: str, widget) -> None:
        _settle(app, 0.2)
        path = out / f"{name}.png"
        if not widget.grab().save(str(path)):
            raise OSError(f"cannot write {path}")
        print(f"wrote {path}", flush=True)

    def show_dock(key: str):
        dock = window.docks[key]
        dock.show()
        dock.raise_()
        _settle(app, 0.3)
        return dock

    shot("window_start", window)
    for key in ("dataset", "model", "settings"):
        shot(f"pane_{key}", show_dock(key))
    show_dock("dataset")

    try:
        return _training_shots(app, window, args.steps, shot, show_dock)
    finally:
        window.shutdown_now()  # never leave a training thread behind
        window.project.dirty = False
        window.close()


def _training_shots(app, window, steps, shot, show_dock) -> int:
    from studio.qt.app import apply_theme

    window.act_train.trigger()
    host = window.host
    _wait(app, lambda: host.session.state in ("running", "failed", "completed"), 300,
          "the run to start")
    half = steps // 2
    _wait(app, lambda: host.session.step >= half or not host.running, 900, "mid-training")
    if host.session.state == "failed":
        print(f"the run failed: {host.session.error_message}", file=sys.stderr)
        return 1
    window.docks["log"].raise_()
    shot("window_training", window)
    for key in ("curves", "gallery", "log", "runs"):
        shot(f"pane_{key}", show_dock(key))

    # pause, sample while paused, look back at an earlier step, then stop
    show_dock("log")
    host.pause()
    _wait(app, lambda: host.session.state == "paused", 120, "the pause")
    arrived = []
    host.event.connect(lambda e: arrived.append(e) if type(e).__name__ == "SampleReady" else None)
    host.sample_now()
    _wait(app, lambda: arrived, 120, "samples while paused")
    shot("window_paused", window)
    if len(window.gallery.steps) > 2:
        window.gallery.select(window.gallery.steps[1])
        shot("pane_gallery_earlier_step", show_dock("gallery"))
        window.gallery_pane.show_latest()
    host.stop()
    _wait(app, lambda: not host.running, 300, "the run to stop")
    shot("pane_runs_after", show_dock("runs"))

    apply_theme(app, "dark")
    _settle(app, 0.5)
    show_dock("log")
    shot("window_dark", window)
    apply_theme(app, "light")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
