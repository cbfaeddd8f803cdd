"""The Model pane's state (Qt-free, no torch): which base model the project uses, what its
folder says about it (the summary), its layer groups once loaded (the inspection), and a
hub download's progress.

The work is injected, so this module imports neither torch nor ``studio.models``:
``inspector`` is ``studio.models.inspect`` (or anything with the same functions), and
``run_inspection`` / ``run_download`` start a call off the GUI thread and bring its result
back on it (``fn, *args, done=, error=, progress=None`` -> a job with ``cancel()``; the
app passes its worker threads). Without runners the calls run at once (tests).

Changes announced (``subscribe(cb)`` gets ``cb(what)``): ``"source"`` (a new source is
shown: the chooser follows), ``"summary"``, ``"inspection"`` (the layer groups, or None
after an error), ``"status"`` (the line under the layer tree), ``"message"`` (the line
under the chooser), ``"download"`` (a download started, progressed or ended).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Protocol

from studio.state.observable import Observable
from studio.state.project import Project


class Inspector(Protocol):
    """What ``studio.models.inspect`` offers (the module itself is one)."""

    DownloadCancelled: type[BaseException]
    HubProblem: type[BaseException]

    def local_folder(self, source: str, revision: str = "") -> str | None: ...
    def is_model_folder(self, folder: str) -> bool: ...
    def read_model_summary(self, folder: str) -> Any: ...
    def inspect_model(self, source: str, family: str, revision: str = "",
                      trust_remote_code: bool = False) -> Any: ...
    def download_model(self, repo_id: str, revision: str = "", *, report, cancel) -> str: ...
    def list_starters(self) -> list[str]: ...


Runner = Callable[..., Any]  # run_in_background's signature


class _Done:
    """What a runner that calls at once returns."""

    running = False

    def cancel(self) -> None:
        pass


def run_now(fn, *args, done=None, error=None, progress=None, **kwargs) -> _Done:
    """A runner without a thread (tests, scripts): call, then deliver."""
    import threading

    if progress is not None:
        kwargs.update(report=progress, cancel=threading.Event())
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - delivered like a worker's error
        if error is not None:
            error(exc)
    else:
        if done is not None:
            done(result)
    return _Done()


class ModelSource(Observable):
    def __init__(self, project: Project, inspector: Inspector, *,
                 run_inspection: Runner = run_now, run_download: Runner = run_now) -> None:
        super().__init__()
        self.project = project
        self.inspector = inspector
        self._run_inspection = run_inspection
        self._run_download = run_download
        self.source: str | None = None      # the source shown
        self.folder: str | None = None      # where it lives on this machine
        self.summary: Any = None            # inspector's ModelSummary
        self.inspection: Any = None         # inspector's Inspection
        self.status = ""
        self.message = ""
        self.message_is_error = False
        self.progress: dict | None = None   # bytes, bytes_total, files, files_total
        self.download_repo: str | None = None
        self.visible = True                 # the view says when it is on screen
        self._pending: str | None = None    # a source whose layer groups wait for visible
        self._inspect_job = self._download_job = None
        self._inspect_token = self._download_token = 0  # which job's results count
        self._unsubscribe = project.subscribe(self._on_project)

    def close(self) -> None:
        """Stop listening to the project and cancel what runs (the view went away)."""
        self._unsubscribe()
        for job in (self._inspect_job, self._download_job):
            if job is not None:
                job.cancel()

    @property
    def starters(self) -> list[str]:
        return self.inspector.list_starters()

    @property
    def loading(self) -> bool:
        return self._inspect_job is not None and self._inspect_job.running

    @property
    def downloading(self) -> bool:
        return self._download_job is not None and self._download_job.running

    # -- choosing ----------------------------------------------------------------------
    def use(self, source: str) -> None:
        """Make ``source`` the project's base model (shown again when it already is)."""
        if source != self.project.model_source:
            self.project.set_model_source(source)  # refresh() follows via the project
        else:
            self.refresh(force=True)

    def use_folder(self, folder: str) -> bool:
        folder = os.path.expanduser(folder.strip())
        if not folder:
            return False
        if not self.inspector.is_model_folder(folder):
            self.say(f"{folder} is not a model folder (it has no config.json). Choose a "
                     "folder written by save_pretrained.", error=True)
            return False
        self.use(os.path.abspath(folder))
        return True

    def say(self, text: str, error: bool = False) -> None:
        self.message, self.message_is_error = text, error
        self.changed("message")

    # -- the hub -----------------------------------------------------------------------
    def download(self, repo: str) -> None:
        """Fetch a hub id into the HF cache off the GUI thread, then use it."""
        repo = repo.strip()
        if not repo:
            self.say("Type a hub id first, e.g. gpt2.", error=True)
            return
        self.cancel_download()
        self.say("")
        self.download_repo = repo
        self.progress = {"bytes": 0, "bytes_total": 0, "files": 0, "files_total": 0}
        self._download_token += 1
        token = self._download_token

        def mine(fn):  # a late report of a replaced download is dropped
            return lambda value: fn(value) if token == self._download_token else None

        self._download_job = self._run_download(
            self.inspector.download_model, repo, self.project.config.model.revision,
            progress=mine(self._on_progress), done=mine(self._on_downloaded),
            error=mine(self._on_download_error))
        self.changed("download")

    def cancel_download(self) -> None:
        if self.downloading:
            self._download_job.cancel()
            self.changed("download")

    @property
    def cancelling(self) -> bool:
        return self.downloading and bool(getattr(self._download_job, "cancelled", False))

    def _on_progress(self, p: dict) -> None:
        self.progress = p
        self.changed("download")

    def _on_downloaded(self, folder: str) -> None:
        repo = self._end_download()
        self.say(f"{repo} is in the Hugging Face cache ({folder}).")
        self.use(repo)
        self.changed("downloaded")

    def _on_download_error(self, exc: BaseException) -> None:
        self._end_download()
        if isinstance(exc, self.inspector.DownloadCancelled):
            self.say("Download cancelled. What was fetched so far stays in the cache and is "
                     "reused next time.")
        elif isinstance(exc, self.inspector.HubProblem):
            self.say(str(exc), error=True)
        else:
            self.say(f"The download failed: {type(exc).__name__}: {exc}", error=True)
        self.changed("download-failed")

    def _end_download(self) -> str | None:
        repo, self.download_repo, self.progress = self.download_repo, None, None
        self._download_job = None
        self._download_token += 1
        self.changed("download")
        return repo

    # -- showing -----------------------------------------------------------------------
    def _on_project(self, what: str) -> None:
        if what in ("model", "config") and self.project.model_source != self.source:
            self.refresh()

    def refresh(self, force: bool = False) -> None:
        """Show the project's source: the summary at once, the layer groups from a load off
        the GUI thread (when the view is visible: a load costs seconds of CPU)."""
        source = self.project.model_source
        if source == self.source and not force:
            return
        self.source = source
        self.summary = self.inspection = None
        self._pending = None
        if self._inspect_job is not None:  # a load for the previous source is not wanted
            self._inspect_job.cancel()
            self._inspect_token += 1
        self.folder = self.inspector.local_folder(source, self.project.config.model.revision)
        self.changed("source")
        if self.folder is None:
            where = ("is missing from this installation" if source.startswith("starter:")
                     else "is not downloaded yet — press Download")
            self._set_status(f"{source} {where}.")
            return
        try:
            self.summary = self.inspector.read_model_summary(self.folder)
        except (OSError, ValueError) as exc:
            self._set_status(f"Cannot read this model: {exc}")
            return
        self.changed("summary")
        self._pending = source
        self._maybe_inspect()

    def set_visible(self, visible: bool) -> None:
        self.visible = visible
        self._maybe_inspect()

    def _maybe_inspect(self) -> None:
        if self._pending is None:
            return
        if not self.visible:
            self._set_status("The layer groups are listed when this pane is shown.")
            return
        source, self._pending = self._pending, None
        cfg = self.project.config
        self._set_status("Loading the model to list its layer groups…")
        self._inspect_token += 1
        token = self._inspect_token

        def mine(fn):  # results of a superseded load are dropped
            return lambda value: fn(value) if token == self._inspect_token else None

        self._inspect_job = self._run_inspection(
            self.inspector.inspect_model, source, cfg.run.family, cfg.model.revision,
            cfg.model.trust_remote_code, done=mine(self._on_inspected),
            error=mine(self._on_inspect_error))

    def _on_inspected(self, result: Any) -> None:
        if result.source != self.source:
            return
        self.inspection = result
        self._set_status(
            f"{len(result.groups)} groups · {result.parameters:,} parameters "
            f"({result.model_class}). Untick a group to freeze it; drag its handle on the "
            "timeline to start it later.")
        self.changed("inspection")

    def _on_inspect_error(self, exc: BaseException) -> None:
        self.inspection = None
        self._set_status(f"Cannot load the model's layers: {exc}")
        self.changed("inspection")

    def _set_status(self, text: str) -> None:
        self.status = text
        self.changed("status")


def shown_source(state: ModelSource) -> str:
    """The Source line: the source, and its folder when that says more."""
    source, folder = state.source or "", state.folder
    return source if folder is None or folder == source else f"{source}  ({folder})"


def is_local_folder(source: str) -> bool:
    return Path(os.path.expanduser(source)).is_dir()
