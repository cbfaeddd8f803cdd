"""Run folders: never lose a run, never lie about its state.

Layout of ``runs/<id>/``::

    config.toml         exactly what ran (rewritten on resume with the same content)
    status.json         state, pid, heartbeat, step, message — replaced atomically
    metrics.jsonl       one JSON event per line, flushed per line
    samples/step_NNNNNN/  sample files + index.json
    checkpoints/step_NNNNNN/  resumable checkpoints (written to a temp dir, then renamed)
    best/               weights with the best validation loss (keep_best)
    export/             the default export target

A run whose heartbeat went stale while its state says "running" is reported as
"interrupted" (resumable), never "running" forever and never "done".
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import RunError

HEARTBEAT_S = 2.0
HEARTBEAT_STALE_S = 15.0

# States written by the engine. "interrupted" is derived by readers, never written.
ACTIVE_STATES = ("starting", "running", "paused")
FINAL_STATES = ("completed", "stopped", "failed")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _slug(name: str) -> str:
    s = re.sub(r"[^\w.-]+", "-", name.strip(), flags=re.UNICODE).strip("-.")
    return s[:60] or "run"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        # os.kill(pid, 0) sends CTRL_C_EVENT there (0): ask the kernel instead
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunFolder:
    """One run's folder. Create with ``RunFolder.create`` or open with ``RunFolder(path)``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._hb_thread: threading.Thread | None = None
        self._hb_stop = threading.Event()
        self._status_lock = threading.Lock()
        self._status: dict = {}
        self._metrics_fh = None

    # -- creation ----------------------------------------------------------------
    @classmethod
    def create(cls, runs_dir: str | os.PathLike, name: str) -> "RunFolder":
        runs_dir = Path(runs_dir)
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"{runs_dir}: cannot create the runs folder ({exc.strerror})",
                           "choose a writable run.runs_dir") from None
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = f"{stamp}-{_slug(name)}"
        for i in range(1000):
            candidate = runs_dir / (base if i == 0 else f"{base}-{i}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            folder = cls(candidate)
            for sub in ("samples", "checkpoints"):
                (candidate / sub).mkdir()
            return folder
        raise RunError(f"{runs_dir}: too many runs named {base}")

    @property
    def id(self) -> str:
        return self.path.name

    # -- paths -----------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best_dir(self) -> Path:
        return self.path / "best"

    @property
    def export_dir(self) -> Path:
        return self.path / "export"

    def sample_dir(self, step: int) -> Path:
        return self.samples_dir / f"step_{step:06d}"

    def checkpoint_dir(self, step: int) -> Path:
        return self.checkpoints_dir / f"step_{step:06d}"

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first (temp dirs of torn saves are ignored)."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = [p for p in self.checkpoints_dir.iterdir()
                 if p.is_dir() and re.fullmatch(r"step_\d{6,}", p.name)
                 and (p / "state.json").is_file()]
        return sorted(found, key=lambda p: int(p.name[5:]))

    def latest_checkpoint(self) -> Path | None:
        ckpts = self.checkpoints()
        return ckpts[-1] if ckpts else None

    # -- status + heartbeat --------------------------------------------------------
    def write_status(self, state: str, **fields) -> None:
        with self._status_lock:
            self._status.update(fields)
            self._status.update(state=state, pid=os.getpid(), host=socket.gethostname(),
                                heartbeat=time.time())
            self._status.setdefault("started", time.time())
            _atomic_write_text(self.status_path, json.dumps(self._status, indent=1))

    def update_status(self, **fields) -> None:
        """Change fields (e.g. step) without changing the state."""
        with self._status_lock:
            self._status.update(fields)
        self.beat()

    def set_status_fields(self, **fields) -> None:
        """Change fields in memory only; the heartbeat thread writes them within HEARTBEAT_S
        (the training loop must not pay an fsync per step)."""
        with self._status_lock:
            self._status.update(fields)

    def beat(self) -> None:
        with self._status_lock:
            if not self._status:
                return
            self._status["heartbeat"] = time.time()
            try:
                _atomic_write_text(self.status_path, json.dumps(self._status, indent=1))
            except OSError:
                pass  # a full disk must not kill training; the next beat retries

    def start_heartbeat(self, interval: float = HEARTBEAT_S) -> None:
        if self._hb_thread is not None:
            return
        self._hb_stop.clear()

        def loop() -> None:
            while not self._hb_stop.wait(interval):
                self.beat()

        self._hb_thread = threading.Thread(target=loop, name="studio-heartbeat", daemon=True)
        self._hb_thread.start()

    def stop_heartbeat(self) -> None:
        self._hb_stop.set()
        if self._hb_thread is not None:
            self._hb_thread.join(timeout=5)
        self._hb_thread = None

    # -- metrics -------------------------------------------------------------------
    def append_metric(self, record: dict) -> None:
        if self._metrics_fh is None:
            self._metrics_fh = open(self.metrics_path, "a", encoding="utf-8")
        self._metrics_fh.write(json.dumps(record, default=str) + "\n")
        self._metrics_fh.flush()

    def truncate_metrics_after(self, step: int) -> int:
        """Drop step records after ``step`` (used on resume: the interrupted tail is re-run
        and re-logged, so curves stay continuous). Returns how many were dropped."""
        if self._metrics_fh is not None:
            self._metrics_fh.close()
            self._metrics_fh = None
        records = read_metrics(self.metrics_path)
        keep = [r for r in records if not isinstance(r.get("step"), int) or r["step"] <= step]
        _atomic_write_text(self.metrics_path,
                           "".join(json.dumps(r, default=str) + "\n" for r in keep))
        return len(records) - len(keep)

    def close(self) -> None:
        self.stop_heartbeat()
        if self._metrics_fh is not None:
            self._metrics_fh.close()
            self._metrics_fh = None


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """All complete records of a metrics.jsonl; a torn or corrupt line is skipped."""
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.jsonl"
    out: list[dict] = []
    try:
        with open(p, "rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    break  # torn last line: the writer died mid-write
                try:
                    rec = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if isinstance(rec, dict):
                    out.append(rec)
    except FileNotFoundError:
        pass
    return out


def read_status(run_dir: str | os.PathLike, now: float | None = None) -> dict:
    """The run's status with ``state`` made honest: a dead or silent active run is
    "interrupted"."""
    p = Path(run_dir) / "status.json"
    try:
        status = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(status, dict):
            raise ValueError
    except FileNotFoundError:
        return {"state": "unknown", "message": "no status.json (the run never started)"}
    except (OSError, ValueError):
        return {"state": "unknown", "message": "status.json is unreadable"}
    state = status.get("state", "unknown")
    if state in ACTIVE_STATES:
        now = time.time() if now is None else now
        stale = now - float(status.get("heartbeat", 0)) > HEARTBEAT_STALE_S
        same_host = status.get("host") == socket.gethostname()
        dead = same_host and not _pid_alive(int(status.get("pid", -1)))
        if stale or dead:
            status["recorded_state"] = state
            status["state"] = "interrupted"
    return status


@dataclass(frozen=True)
class RunInfo:
    path: Path
    id: str
    name: str
    state: str
    step: int
    total_steps: int
    best_val_loss: float | None
    message: str
    started: float
    resumable: bool
    project: str = ""  # the project file the run belongs to ("" when run from a config)


def list_runs(runs_dir: str | os.PathLike, project: str | None = None) -> list[RunInfo]:
    """Past runs in ``runs_dir``, newest first; with ``project`` (a project file's path,
    "" for an unsaved project) only that project's runs."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    infos = []
    for d in root.iterdir():
        if not d.is_dir() or not (d / "status.json").exists() and not (d / "config.toml").exists():
            continue
        info = run_info(d)
        if project is None or info.project == project:
            infos.append(info)
    return sorted(infos, key=lambda r: r.started, reverse=True)


def _run_table(run_dir: Path) -> dict:
    """The ``[run]`` table of a run's config.toml (its name and project)."""
    import tomllib

    try:
        data = tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    run = data.get("run")
    return run if isinstance(run, dict) else {}


def run_info(run_dir: str | os.PathLike) -> RunInfo:
    """One run's row (what ``list_runs`` lists): its status and whether it can resume."""
    d = Path(run_dir)
    st = read_status(d)
    run = _run_table(d)
    return RunInfo(
        path=d, id=d.name, name=str(st.get("name") or run.get("name") or d.name),
        state=st.get("state", "unknown"),
        step=int(st.get("step", 0)), total_steps=int(st.get("total_steps", 0)),
        best_val_loss=st.get("best_val_loss"), message=str(st.get("message", "")),
        started=float(st.get("started", d.stat().st_mtime)),
        resumable=st.get("state") in ("interrupted", "stopped", "failed")
        and RunFolder(d).latest_checkpoint() is not None,
        project=str(run.get("project", "")),
    )
