"""RunControl: flags the training loop checks every optimizer step.

A worker busy in a long loop has no event loop to receive queued signals, so the
GUI and the CLI's Ctrl-C handler set these flags directly (threading.Event is
safe across threads).
"""

from __future__ import annotations

import threading

from studio.core import events as ev


class RunControl:
    """``interactive``: a person is there to answer (the GUI). Then problems the user must
    decide (out of memory, a diverged loss) pause the run; otherwise (the CLI) they stop it
    cleanly with a checkpoint and a message saying how to resume."""

    FIT_ACTIONS = ("halve_batch", "gradient_checkpointing")

    def __init__(self, interactive: bool = False) -> None:
        self.interactive = interactive
        self._lock = threading.Lock()
        self._fit_actions: list[str] = []
        self._lr_factor: float | None = None
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()  # not paused
        self._save_now = threading.Event()
        self._sample_now = threading.Event()
        self._sample_fresh = True
        self._stop_after: int | None = None   # the quick trial: steps to train, then stop
        self._first_step = 0                  # where this run started (or resumed)

    # -- requests (any thread) -------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()
        self._resume.set()  # a paused loop must wake up to stop

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def request_save(self) -> None:
        self._save_now.set()

    def request_sample(self, fresh: bool = True) -> None:
        """Samples now. ``fresh`` (the user's Sample now): new seeds, since the fixed
        ones repeat themselves on unchanged weights; the trial's last look uses the fixed
        seeds, to compare with step 0."""
        self._sample_fresh = fresh
        self._sample_now.set()

    def request_fit(self, action: str) -> None:
        """Answer an out-of-memory pause: "halve_batch" (keeps the effective batch through
        accumulation) or "gradient_checkpointing". Takes effect on resume."""
        if action not in self.FIT_ACTIONS:
            raise ValueError(action)
        with self._lock:
            self._fit_actions.append(action)

    def scale_lr(self, factor: float) -> None:
        """Multiply the learning rate from the next step on (e.g. 0.5 after a divergence)."""
        with self._lock:
            self._lr_factor = factor

    def stop_after(self, steps: int) -> None:
        """The quick trial: once ``steps`` optimizer steps are logged after the start (or
        the resume point), ask for samples and a clean stop with its checkpoint, so a resume
        carries the same run on. Served by ``observe``."""
        if steps < 1:
            raise ValueError(steps)
        self._stop_after = steps

    def observe(self, event: object) -> None:
        """Follow the run's events (the sink that forwards them calls this, on the engine's
        thread, before anything else sees the event)."""
        if self._stop_after is None:
            return
        if isinstance(event, ev.RunStarted):
            self._first_step = event.start_step
        elif isinstance(event, ev.StepLogged) and \
                event.step - self._first_step >= self._stop_after:
            self._stop_after = None
            # served this very step (after evaluation / sampling), then the loop stops
            self.request_sample(fresh=False)
            self.request_stop()

    # -- queries (the loop) ----------------------------------------------------
    def take_fit_actions(self) -> list[str]:
        with self._lock:
            out, self._fit_actions = self._fit_actions, []
        return out

    def take_lr_factor(self) -> float | None:
        with self._lock:
            out, self._lr_factor = self._lr_factor, None
        return out

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def wait_while_paused(self, timeout: float = 0.1) -> bool:
        """Block up to ``timeout`` s while paused; return True once resumed (or stopping)."""
        return self._resume.wait(timeout)

    def take_save_request(self) -> bool:
        if self._save_now.is_set():
            self._save_now.clear()
            return True
        return False

    def take_sample_request(self) -> str:
        """"" (none asked), "fresh" (new seeds) or "fixed" (the run's own seeds)."""
        if self._sample_now.is_set():
            self._sample_now.clear()
            return "fresh" if self._sample_fresh else "fixed"
        return ""
