"""One training process per project: a lock file held while a project's run trains.

Two windows (or a window and ``studio train``) training the same project at once would
write runs side by side from the same settings and fight over the GPU; the second one is
refused with a message naming the process that holds the project. The lock is a small
JSON file in the user's data folder keyed by the project file's path; a lock whose
process is gone (a crash, a kill) is stale and taken over.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

from studio.core.errors import RunError
from studio.core.paths import user_data_dir
from studio.runs.store import _pid_alive


def _lock_path(project_file: str | os.PathLike) -> Path:
    key = hashlib.sha1(str(Path(project_file).resolve()).encode("utf-8")).hexdigest()[:16]
    return user_data_dir() / "locks" / f"project-{key}.json"


def holder(project_file: str | os.PathLike) -> dict | None:
    """Who trains this project now (pid, host, what, since), or None."""
    path = _lock_path(project_file)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    same_host = info.get("host") == socket.gethostname()
    if same_host and not _pid_alive(int(info.get("pid", 0))):
        return None  # stale: its process died without releasing
    return info


class ProjectLock:
    """``with ProjectLock(project_file, "the studio window"):`` trains alone, or raises
    RunError naming who holds the project. Re-entrant within one process."""

    def __init__(self, project_file: str | os.PathLike, what: str) -> None:
        self.project_file = str(Path(project_file).resolve())
        self.what = what
        self.path = _lock_path(project_file)
        self.held = False

    def acquire(self) -> "ProjectLock":
        other = holder(self.project_file)
        if other is not None and other.get("pid") != os.getpid():
            since = time.strftime("%H:%M", time.localtime(float(other.get("since", 0))))
            raise RunError(
                f"{self.project_file} is already training in {other.get('what', 'another')} "
                f"(process {other.get('pid')} on {other.get('host')}, since {since})",
                "wait for that run to finish or stop it there; to compare settings, queue "
                "the run (Runs › Queue) or save the project under another name")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                   "what": self.what, "since": time.time(),
                                   "project": self.project_file}), encoding="utf-8")
        os.replace(tmp, self.path)
        self.held = True
        return self

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        info = holder(self.project_file)
        if info is None or info.get("pid") == os.getpid():
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> "ProjectLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
