"""Qt-free state of the probe windows: the learning-rate finder and the bias probe.

Views subscribe; the worker thread's results arrive on the GUI thread through the Qt
layer and are fed here.
"""

from __future__ import annotations

import math

from studio.state.observable import Observable


class LRFinderState(Observable):
    """``changed("reset" | "point" | "done" | "failed")``."""

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self, steps: int = 0) -> None:
        self.steps = steps
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.suggestion: float | None = None
        self.min_loss_lr: float | None = None
        self.status = "idle"     # "idle", "running", "done", "failed"
        self.reason = ""
        self.message = ""
        if hasattr(self, "_listeners"):
            self.changed("reset")

    def start(self, steps: int) -> None:
        self.reset(steps)
        self.status = "running"
        self.changed("reset")

    def add_point(self, lr: float, loss: float, smoothed: float) -> None:
        self.lrs.append(lr)
        self.losses.append(loss)
        self.smoothed.append(smoothed)
        self.changed("point")

    def finish(self, result: dict) -> None:
        self.lrs = list(result["lrs"])
        self.losses = list(result["losses"])
        self.smoothed = list(result["smoothed"])
        self.suggestion = result.get("suggestion")
        self.min_loss_lr = result.get("min_loss_lr")
        self.reason = result.get("reason", "completed")
        self.status = "done"
        self.changed("done")

    def fail(self, message: str) -> None:
        self.status, self.message = "failed", message
        self.changed("failed")

    def summary(self) -> str:
        if self.status == "running":
            return f"Step {len(self.lrs)} of {self.steps}…"
        if self.status == "failed":
            return f"Failed: {self.message}"
        if self.status != "done":
            return "Press Run: the rate grows from start to end while the loss is recorded."
        if self.suggestion is None:
            return f"No suggestion ({self.reason}, {len(self.lrs)} steps): run more steps."
        tail = {"diverged": "the loss blew up at the end, as it should",
                "stopped": "stopped early"}.get(self.reason, "")
        return (f"Suggested learning rate {self.suggestion:.2e}: the loss falls fastest there "
                f"(lowest loss at {self.min_loss_lr:.2e}). {len(self.lrs)} steps"
                + (f"; {tail}." if tail else "."))


def finite_max(values: list[float]) -> float:
    vals = [v for v in values if math.isfinite(v)]
    return max(vals) if vals else math.nan


class BiasProbeState(Observable):
    """``changed("templates" | "running" | "done" | "failed")``. ``report`` is a
    ``BiasReport.to_dict()``; ``target`` a run folder or a model."""

    def __init__(self, templates: tuple[str, ...] = (), target: str = "") -> None:
        super().__init__()
        self.templates = tuple(templates)
        self.target = target
        self.status = "idle"
        self.report: dict | None = None
        self.message = ""

    def set_templates(self, templates) -> None:
        templates = tuple(t.strip() for t in templates if t.strip())
        if templates != self.templates:
            self.templates = templates
            self.changed("templates")

    def start(self) -> None:
        self.status, self.message = "running", ""
        self.changed("running")

    def finish(self, report: dict) -> None:
        self.status, self.report = "done", report
        self.changed("done")

    def fail(self, message: str) -> None:
        self.status, self.message = "failed", message
        self.changed("failed")

    @property
    def compared(self) -> bool:
        return bool(self.report and self.report.get("after_label"))

    def rows(self) -> list[dict]:
        return list(self.report["rows"]) if self.report else []

    def summary(self) -> str:
        if self.status == "running":
            return "Scoring…"
        if self.status == "failed":
            return f"Failed: {self.message}"
        if not self.report:
            return ("Scores each prompt's continuations by the model's log-probabilities; "
                    "on a run, before (base model) and after (the run's best weights).")
        rows = self.rows()
        if not self.compared:
            return f"{len(rows)} prompts scored on {self.report['before_label']}."
        moved = max(rows, key=lambda r: abs(r["after_gap"] - r["before_gap"]))
        return (f"{len(rows)} prompts, {self.report['before_label']} → "
                f"{self.report['after_label']}. Largest change: “{moved['prompt']}” "
                f"{moved['before_gap']:+.2f} → {moved['after_gap']:+.2f}.")
