"""The Queue pane's state (Qt-free): the queue file's items, the comparison of the runs
they made, and whether the window is working through the queue."""

from __future__ import annotations

from pathlib import Path

from studio.config import RunConfig, load_config
from studio.core.errors import StudioError
from studio.runs.queue import RunQueue, compare_runs
from studio.state.observable import Observable


class QueueState(Observable):
    """``changed("items" | "running")``."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.queue = RunQueue(path)
        self.running = False      # the window is working through the queue
        self.current: int | None = None
        self.comparison: dict[str, dict] = {}
        self.refresh()

    @property
    def items(self) -> list[dict]:
        return self.queue.items

    def set_path(self, path: str | Path) -> None:
        if Path(path) != self.queue.path and not self.running:
            self.queue = RunQueue(path)
            self.refresh()

    def refresh(self) -> None:
        self.queue.load()
        dirs = [i["run_dir"] for i in self.items if i.get("run_dir")
                and (Path(i["run_dir"]) / "config.toml").is_file()]
        self.comparison = {r["run_dir"]: r for r in compare_runs(dirs)}
        self.changed("items")

    def add(self, cfg: RunConfig, overrides=(), source: str = "") -> dict:
        item = self.queue.add(cfg, overrides, source)
        self.refresh()
        return item

    def add_sweep(self, cfg: RunConfig, specs, source: str = "") -> list[dict]:
        items = self.queue.add_sweep(cfg, specs, source)
        self.refresh()
        return items

    def remove(self, item_id: int) -> None:
        self.queue.remove(item_id)
        self.refresh()

    # -- working through it (the window starts each run) ----------------------------------
    def start(self) -> dict | None:
        self.queue.load()
        self.queue.reset_interrupted()
        self.running = True
        self.changed("running")
        return self.next()

    def next(self) -> dict | None:
        item = self.queue.next_pending() if self.running else None
        if item is None:
            self.stop()
            return None
        self.current = item["id"]
        self.queue.mark(item["id"], "running", message="")
        self.refresh()
        return item

    @staticmethod
    def load_item(item: dict) -> tuple[RunConfig | None, str]:
        """The item's config snapshot, or None and why it cannot be loaded."""
        try:
            return load_config(item["config"]), ""
        except StudioError as exc:
            return None, str(exc)

    def finished(self, state: str, run_dir: str = "", message: str = "") -> None:
        """The current item's run ended: ``state`` is completed / stopped / failed."""
        if self.current is not None:
            self.queue.mark(self.current, state, run_dir=run_dir, message=message)
            self.current = None
            self.refresh()

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.changed("running")

    def row(self, item: dict) -> dict:
        return self.comparison.get(item.get("run_dir", ""), {})
