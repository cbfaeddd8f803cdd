"""Run a function off the GUI thread and get its result back as a signal on the GUI thread.

    task = run_in_background(load, path, done=self._show, error=self._fail)
    task.cancel()          # sets task.cancel_event; the function checks it if it cares

A function that reports progress takes ``report`` and ``cancel`` keyword arguments when
``progress=`` is given: ``report(value)`` emits ``progress(value)`` on the GUI thread.

A long job that loads a model and trains or scores (the learning-rate test, the bias
probe) gets a QThread of its own instead (``ThreadJob``), so it never holds a pool slot
that thumbnails and previews wait for.

The runnables live on application-owned thread pools ("scan": one long job at a time;
"light": thumbnails, previews, model summaries). Results for a receiver that has been
deleted are dropped; on quit every task is told to cancel, and the pools (children of the
application) wait for their threads before the application goes away.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import (
    QCoreApplication,
    QObject,
    QRunnable,
    Qt,
    QThread,
    QThreadPool,
    Signal,
    Slot,
)

from studio.core.errors import StudioError

_POOLS: dict[str, QThreadPool] = {}
_LIVE: set["Task"] = set()
_QUIT_HOOKED = False
_SIZES = {"scan": 1, "light": 2, "model": 1}


def pool(name: str = "light") -> QThreadPool:
    global _QUIT_HOOKED
    app = QCoreApplication.instance()
    p = _POOLS.get(name)
    if p is None or p.parent() is not app:
        p = QThreadPool(app)
        p.setMaxThreadCount(_SIZES.get(name, 2))
        p.setObjectName(f"studio-{name}")
        _POOLS[name] = p
    if not _QUIT_HOOKED and app is not None:
        app.aboutToQuit.connect(cancel_all)
        _QUIT_HOOKED = True
    return p


def cancel_all() -> None:
    for t in list(_LIVE):
        t.cancel()


def wait_all(timeout_ms: int = 10_000) -> bool:
    """Cancel every task and wait for the pools to drain (for tests and shutdown)."""
    cancel_all()
    ok = True
    for p in _POOLS.values():
        ok = p.waitForDone(timeout_ms) and ok
    QCoreApplication.processEvents()
    return ok


class Task(QObject):
    """The GUI-thread end of one background call."""

    done = Signal(object)
    failed = Signal(object)     # the exception
    progress = Signal(object)
    finished = Signal()         # after done or failed

    def __init__(self) -> None:
        super().__init__()
        self.cancel_event = threading.Event()
        self.running = True
        self.finished.connect(self._release)

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def _release(self) -> None:
        self.running = False
        _LIVE.discard(self)  # dropped on the GUI thread, where the object lives


class _Runnable(QRunnable):
    def __init__(self, task: Task, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._task = task
        self._fn = fn

    def run(self) -> None:  # worker thread
        task = self._task
        try:
            result = self._fn()
        except BaseException as exc:  # noqa: BLE001 - errors come home as a signal
            _emit(task.failed, exc)
        else:
            _emit(task.done, result)
        _emit(task.finished)
        self._task = None
        self._fn = None


def _emit(signal, *args) -> None:
    try:
        signal.emit(*args)
    except RuntimeError:  # the receiving side is gone (application closing)
        pass


def run_in_background(fn: Callable[..., Any], *args: Any, done: Callable | None = None,
                      error: Callable | None = None, progress: Callable | None = None,
                      pool_name: str = "light", **kwargs: Any) -> Task:
    task = Task()
    if done is not None:
        task.done.connect(done)
    if error is not None:
        task.failed.connect(error)
    if progress is not None:
        task.progress.connect(progress)

        def call() -> Any:
            return fn(*args, report=lambda v: _emit(task.progress, v),
                      cancel=task.cancel_event, **kwargs)
    else:
        def call() -> Any:
            return fn(*args, **kwargs)
    _LIVE.add(task)
    pool(pool_name).start(_Runnable(task, call))
    return task


# -- one QThread helper: the engine host, ThreadJob ---------------------------------------------

def error_text(exc: BaseException) -> str:
    """What the window shows for an exception: a StudioError's own words, else its type."""
    return str(exc) if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"


class ThreadWorker(QObject):
    """Runs ``fn(report)`` once on its thread. ``report(x)`` reaches ``reported(x)``; then
    ``returned(result)`` or ``errored(message, traceback)`` (errors come home as a signal),
    and always ``done`` last."""

    reported = Signal(object)
    returned = Signal(object)
    errored = Signal(str, str)
    done = Signal()

    def __init__(self, fn: Callable[[Callable[[object], None]], Any]) -> None:
        super().__init__()
        self._fn = fn

    @Slot()
    def work(self) -> None:
        try:
            result = self._fn(self.reported.emit)
        except BaseException as exc:  # noqa: BLE001 - errors come home as a signal
            traceback.print_exc()
            self.errored.emit(error_text(exc), traceback.format_exc())
        else:
            self.returned.emit(result)
        finally:
            self._fn = None
            self.done.emit()


class _Keeper(QObject):
    """Holds each thread and its worker until the thread has finished; lives on the GUI
    thread, so the release runs there (queued), never on the finishing thread."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[QThread, ThreadWorker] = {}

    def hold(self, thread: QThread, worker: ThreadWorker) -> None:
        self.live[thread] = worker
        thread.finished.connect(self._release)

    @Slot()
    def _release(self) -> None:
        self.live.pop(self.sender(), None)


_KEEPER: _Keeper | None = None


def start_thread(fn: Callable[[Callable[[object], None]], Any], *, name: str = "studio-job",
                 reported: Callable | None = None, returned: Callable | None = None,
                 errored: Callable | None = None, done: Callable | None = None,
                 ended: Callable | None = None) -> tuple[QThread, ThreadWorker]:
    """``fn(report)`` on a QThread of its own, the superqt way: move the worker, ``started ->
    work``, ``done -> quit``, ``deleteLater`` both, and hold both until the thread has
    finished. Pass slots of QObjects living on the GUI thread: they run there, queued, in
    order (``reported``..., ``returned`` or ``errored``, ``done``, then ``ended`` once the
    thread has stopped)."""
    thread, worker = QThread(), ThreadWorker(fn)
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(worker.work)
    for signal, slot in ((worker.reported, reported), (worker.returned, returned),
                         (worker.errored, errored), (worker.done, done),
                         (thread.finished, ended)):
        if slot is not None:
            signal.connect(slot)
    # quit() is thread-safe: called directly, it also works while the GUI thread blocks in
    # wait() (a shutdown), where a queued call would never run
    worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    worker.done.connect(worker.deleteLater)
    thread.finished.connect(thread.deleteLater)
    global _KEEPER
    if _KEEPER is None:
        _KEEPER = _Keeper()
    _KEEPER.hold(thread, worker)
    thread.start()
    return thread, worker


class ThreadJob:
    """``fn(report)`` on a QThread of its own (``start_thread``): ``report(*a)`` reaches
    ``point(a)``, then ``finished(result)`` or ``errored(message)``, and ``ended()`` once the
    thread has stopped. Pass slots of a QObject living on the GUI thread."""

    def __init__(self, fn: Callable[[Callable[..., None]], Any], *, finished: Callable,
                 errored: Callable, ended: Callable, point: Callable | None = None) -> None:
        def job(report: Callable[[object], None]) -> Any:
            result = fn(lambda *a: report(a))
            return result.to_dict() if hasattr(result, "to_dict") else result

        self.thread, self.worker = start_thread(job, name="studio-job", reported=point,
                                                returned=finished, errored=errored,
                                                ended=ended)

    def wait(self, timeout_ms: int) -> bool:
        return self.thread.wait(timeout_ms)
