"""A long-lived Python thread for torch work the GUI asks for (loading a model to list its
layer groups, augmentation previews), with results delivered on the GUI thread.

Why not the Qt thread pools (``widgets/tasks.py``): with torch 2.11, torch work on a
QThreadPool thread that has already run an earlier Python runnable crashes the process
(SIGSEGV in ``take_gil``: torch's pybind11 GIL helper acquires through a Python thread
state that PySide created for the earlier runnable and destroyed after it). Two model
loads one after the other on the one-thread "model" pool are enough, which is what
pressing Ctrl+N while the Model pane loads its model does. A ``threading.Thread`` keeps one
Python thread state for its whole life, so torch's per-thread state stays valid.

Jobs run one at a time, in order (two model loads never compete for the CPU or for
transformers' process-wide loading switches); a job cancelled before it starts is
skipped, so switching projects quickly does not queue a load per switch.

    thread = torch_thread("model")
    job = thread.submit(fn, *args, done=..., error=..., progress=None, **kwargs)
    job.cancel()

The signature is ``run_in_background``'s, so a Qt-free state object can take either.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, Signal, Slot

_THREADS: dict[str, "TorchThread"] = {}


class Job:
    """One submitted call: ``cancel()`` sets ``cancel_event`` (a queued job is skipped; a
    running one sees the flag if it takes ``cancel``); ``running`` until its result (or
    error, or skip) has been delivered on the GUI thread."""

    def __init__(self) -> None:
        self.cancel_event = threading.Event()
        self.running = True

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()


class TorchThread(QObject):
    """One worker thread (a one-thread ``ThreadPoolExecutor``: the interpreter joins it at
    exit, never tearing itself down under a running load); the QObject lives on the GUI
    thread, where results are delivered."""

    _deliver = Signal(object)  # a callable to run on the GUI thread

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._deliver.connect(self._run_here)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"studio-{name}")
        self._jobs: set[Job] = set()

    def submit(self, fn: Callable[..., Any], *args: Any, done: Callable | None = None,
               error: Callable | None = None, progress: Callable | None = None,
               **kwargs: Any) -> Job:
        job = Job()
        if progress is not None:
            kwargs.update(report=lambda v: self._post(job, progress, v),
                          cancel=job.cancel_event)

        def work() -> None:  # on the worker thread
            if job.cancelled:  # superseded before it started: never run it
                self._post(job, None, None, last=True)
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - errors come home as a call
                self._post(job, error, exc, last=True)
            else:
                self._post(job, done, result, last=True)

        self._jobs.add(job)
        self._pool.submit(work)
        return job

    def stop(self) -> None:
        """Skip what waits, let the running job end, join the thread."""
        for job in list(self._jobs):
            job.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _post(self, job: Job, callback: Callable | None, value: Any,
              last: bool = False) -> None:
        def deliver() -> None:
            if last:
                job.running = False
                self._jobs.discard(job)
            if callback is not None:
                callback(value)
        try:
            self._deliver.emit(deliver)
        except RuntimeError:  # the application is gone: nobody to tell
            pass

    # -- GUI thread -------------------------------------------------------------------------
    @Slot(object)
    def _run_here(self, deliver: Callable[[], None]) -> None:
        try:
            deliver()
        except RuntimeError as exc:  # the widget that asked has been deleted since
            if "already deleted" not in str(exc):
                raise


def torch_thread(name: str = "model") -> TorchThread:
    """The application's worker of that name (started on first use, stopped and joined
    when the application quits)."""
    app = QCoreApplication.instance()
    t = _THREADS.get(name)
    if t is None or t.parent() is not app:
        t = _THREADS[name] = TorchThread(name, app)
        if app is not None:
            app.aboutToQuit.connect(t.stop)
    return t


def stop_all() -> None:
    for name in list(_THREADS):
        _THREADS.pop(name).stop()


def wait_idle(timeout_s: float = 60.0) -> bool:
    """Wait (delivering results) until no job is queued or running (tests, shutdown)."""
    import time

    deadline = time.monotonic() + timeout_s
    while any(t._jobs for t in _THREADS.values()):
        if time.monotonic() > deadline:
            return False
        QCoreApplication.processEvents()
        time.sleep(0.01)
    return True
