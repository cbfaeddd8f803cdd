"""Qt test fixtures: isolated QSettings, no blocking dialogs, a fake engine, a window."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QInputDialog, QMessageBox  # noqa: E402

from studio.core import events as ev  # noqa: E402
from studio.core.control import RunControl  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def app_services(qapp):
    """What the app hands the panes (state factories, the inspector, torch jobs)."""
    from studio.qt.app import install_services

    install_services()


@pytest.fixture(scope="session", autouse=True)
def gc_on_the_gui_thread(qapp):
    """As in the app: cyclic garbage (which may hold Qt objects) is collected on the GUI
    thread only, never by a worker thread that happens to allocate."""
    from studio.qt.app import GuiThreadCollector

    collector = GuiThreadCollector()
    yield collector
    collector.stop()


@pytest.fixture(autouse=True)
def collect_between_tests(qapp):
    yield
    from studio.qt.torch_thread import wait_idle

    assert wait_idle(120), "a model load or preview was still running after the test"
    import gc
    gc.collect()


@pytest.fixture(autouse=True)
def fresh_settings(qapp, tmp_path):
    """Each test gets its own empty QSettings (window layout, recent projects)."""
    qapp.setOrganizationName("FineTuningStudioTests")
    qapp.setApplicationName("studio-tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "qsettings"))
    yield


class DialogRecorder:
    """Stands in for QMessageBox's blocking static functions."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.answer = QMessageBox.StandardButton.Yes
        self.item: str | None = None   # QInputDialog.getItem's answer (None: the first)
        self.item_ok = True

    def get_item(self, parent, title, label, items, *args, **kwargs):
        self.calls.append(("item", title, label))
        return (self.item if self.item is not None else items[0]), self.item_ok

    def _record(self, kind):
        def fn(parent, title, text, *args, **kwargs):
            self.calls.append((kind, title, text))
            return self.answer if kind == "question" else QMessageBox.StandardButton.Ok
        return fn

    def titles(self, kind: str | None = None) -> list[str]:
        return [t for k, t, _ in self.calls if kind is None or k == kind]


@pytest.fixture
def dialogs(monkeypatch) -> DialogRecorder:
    rec = DialogRecorder()
    for kind in ("question", "warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(rec._record(kind)))
    monkeypatch.setattr(QInputDialog, "getItem", staticmethod(rec.get_item))
    monkeypatch.setattr(QMessageBox, "about", staticmethod(
        lambda parent, title, text: rec.calls.append(("about", title, text))))
    return rec


# -- a fake engine with the real engine's contract ------------------------------------------

@dataclass
class FakeResult:
    run_dir: str
    state: str
    step: int


class FakeEngine:
    """Emits the engine's events in the engine's order and honours RunControl like the
    real loop: pause (serving sample/save requests while paused), resume, stop with a
    checkpoint. ``fail_at`` emits RunFailed then raises (as the engine does);
    ``raise_at`` raises without announcing it."""

    def __init__(self, steps: int = 12, sample_every: int = 4, eval_every: int = 4,
                 delay: float = 0.0, fail_at: int | None = None, raise_at: int | None = None,
                 unfreeze_at: int | None = None, run_dir: str = "/tmp/fake-run") -> None:
        self.steps, self.sample_every, self.eval_every = steps, sample_every, eval_every
        self.delay, self.fail_at, self.raise_at = delay, fail_at, raise_at
        self.unfreeze_at = unfreeze_at
        self.run_dir = run_dir
        self.calls: list[dict] = []

    def samples(self, step: int) -> ev.SampleReady:
        return ev.SampleReady(step=step, samples=(
            ev.Sample("text", step, 0, prompt="Shall I", text=f" compare (step {step})", seed=1),
            ev.Sample("text", step, 1, prompt="When I", text=f" consider (step {step})", seed=1),
        ))

    def __call__(self, cfg, sink, control: RunControl | None = None, *, resume=None):
        control = control or RunControl()
        self.calls.append({"cfg": cfg, "resume": resume})
        start = 3 if resume else 0
        sink.emit(ev.RunStarted(run_dir=self.run_dir, run_id=Path(self.run_dir).name,
                                family="text", device="cpu", precision="fp32",
                                total_steps=self.steps, start_step=start, trainable_params=10,
                                total_params=20, train_examples=8, val_examples=2,
                                resumed=resume is not None))
        if start == 0:
            sink.emit(self.samples(0))
        step = start

        def serve():
            if control.take_sample_request():
                sink.emit(self.samples(step))
            if control.take_save_request():
                sink.emit(ev.CheckpointSaved(step, f"{self.run_dir}/checkpoints/{step}", "manual"))

        while step < self.steps:
            if control.stop_requested:
                break
            if control.paused:
                sink.emit(ev.RunPaused(step=step))
                while control.paused and not control.stop_requested:
                    serve()
                    control.wait_while_paused(0.01)
                sink.emit(ev.RunResumed(step=step))
                if control.stop_requested:
                    break
            if self.delay:
                time.sleep(self.delay)
            step += 1
            if step == self.fail_at:
                sink.emit(ev.RunFailed(step=step, message="RuntimeError: the loss exploded",
                                       traceback="Traceback ...\nRuntimeError", run_dir=self.run_dir))
                raise RuntimeError("the loss exploded")
            if step == self.raise_at:
                raise ValueError("unannounced failure")
            loss = 3.0 * math.exp(-step / 5) + 1.0
            sink.emit(ev.StepLogged(step=step, epoch=step / 4, loss=loss, lr=1e-3 * step / self.steps,
                                    grad_norm=1.0, throughput=1000.0 + step, throughput_unit="tok",
                                    elapsed_s=step * 0.1, eta_s=(self.steps - step) * 0.1,
                                    total_steps=self.steps))
            if step == self.unfreeze_at:
                sink.emit(ev.UnfreezeApplied(step=step, groups=("block 0",)))
            if self.eval_every and step % self.eval_every == 0:
                sink.emit(ev.EvalLogged(step=step, val_loss=loss + 0.2,
                                        perplexity=math.exp(loss + 0.2), best_val_loss=loss + 0.2,
                                        is_best=True))
            if self.sample_every and step % self.sample_every == 0:
                sink.emit(self.samples(step))
            serve()
        reason = "stopped" if control.stop_requested else "completed"
        sink.emit(ev.CheckpointSaved(step, f"{self.run_dir}/checkpoints/{step}",
                                     "stop" if reason == "stopped" else "final"))
        sink.emit(ev.RunFinished(step=step, reason=reason, best_val_loss=None, best_step=None,
                                 run_dir=self.run_dir))
        return FakeResult(self.run_dir, reason, step)


@pytest.fixture
def fake_engine():
    return FakeEngine


def engine_available() -> bool:
    try:
        import studio.engine  # noqa: F401
        return hasattr(studio.engine, "run")
    except Exception:  # noqa: BLE001 - not landed yet, or broken: the real tests skip
        return False


requires_engine = pytest.mark.skipif(not engine_available(),
                                     reason="studio.engine is not importable yet")


@pytest.fixture
def text_folder(tmp_path) -> Path:
    folder = tmp_path / "texts"
    folder.mkdir()
    for i in range(3):
        (folder / f"poem{i}.txt").write_text(f"Poem {i}. " * 40, encoding="utf-8")
    return folder


@pytest.fixture
def make_window(qtbot, tmp_path):
    """make_window(project=None, engine_fn=None) -> a shown MainWindow (joined at teardown)."""
    from studio.qt.main_window import MainWindow
    from studio.state.project import Project

    windows = []

    def make(project=None, engine_fn=None):
        if project is None:
            project = Project(name="Test")
            project.replace_section("run", runs_dir=str(tmp_path / "runs"))
            project.dirty = False
        win = MainWindow(project, engine_fn=engine_fn)
        win.show()
        windows.append(win)
        # after the first paint the window builds what it deferred (Model, Settings, Curves)
        qtbot.waitUntil(lambda: win.curves is not None and win.settings_pane is not None,
                        timeout=30_000)
        return win

    yield make
    # closed here rather than by qtbot: a test may leave the project unsaved, and the
    # unsaved-changes question must not block the teardown
    for win in windows:
        try:
            win.shutdown_now(30_000)
            win.project.dirty = False
            win.close()
            win.deleteLater()
        except RuntimeError:
            pass  # already deleted
    qtbot.wait(10)


def wait_event(qtbot, host, kind, timeout: int = 10_000, check=None):
    """``qtbot.waitSignal`` for the host's next engine event of type ``kind`` (that passes
    ``check``); the blocker's ``args[0]`` is the event."""
    return qtbot.waitSignal(host.event, timeout=timeout, check_params_cb=lambda e: isinstance(
        e, kind) and (check is None or check(e)))
