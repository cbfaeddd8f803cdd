"""Run a queue of runs one after another (an overnight session).

Each pending item's config snapshot is loaded and trained with ``run``; a run that fails
is marked failed with its message and the queue goes on; a stop request (Ctrl-C once)
stops the current run with its checkpoint, marks it stopped and leaves the rest pending.
"""

from __future__ import annotations

from typing import Callable

from studio.config import load_config
from studio.core.control import RunControl
from studio.core.errors import StudioError
from studio.core.sinks import EventSink
from studio.runs.queue import RunQueue


def run_queue(queue: RunQueue, sink_for: Callable[[dict], EventSink | None] | None = None,
              control: RunControl | None = None, engine_fn=None,
              on_item: Callable[[dict], None] | None = None) -> list[dict]:
    """Train every pending item; returns the items it ran (with their final state)."""
    from studio.engine import run

    fn = engine_fn or run
    control = control or RunControl()
    queue.load()
    queue.reset_interrupted()
    done: list[dict] = []
    while not control.stop_requested:
        item = queue.next_pending()
        if item is None:
            break
        queue.mark(item["id"], "running", message="")
        sink = sink_for(item) if sink_for else None
        try:
            cfg = load_config(item["config"])
            result = fn(cfg, sink, control)
            item = queue.mark(item["id"], result.state, run_dir=result.run_dir,
                              message="")
        except KeyboardInterrupt:
            queue.mark(item["id"], "stopped", message="interrupted")
            raise
        except Exception as exc:  # noqa: BLE001 - one failed run must not end the night
            message = str(exc) if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
            run_dir = getattr(exc, "run_dir", "") or _latest_run_dir(item)
            item = queue.mark(item["id"], "failed", message=message, run_dir=run_dir)
        done.append(item)
        if on_item is not None:
            on_item(item)
    return done


def _latest_run_dir(item: dict) -> str:
    """The run folder a failed run created (the newest one of its name), if any."""
    from pathlib import Path

    try:
        cfg = load_config(item["config"])
    except StudioError:
        return ""
    root = Path(cfg.run.runs_dir)
    if not root.is_dir():
        return ""
    mine = sorted((p for p in root.iterdir() if p.is_dir() and p.name.endswith(cfg.run.name)),
                  key=lambda p: p.stat().st_mtime)
    return str(mine[-1]) if mine else ""
