"""RunControl: flags the training loop checks every optimizer step.

A worker busy in a long loop has no event loop to receive queued signals, so the
GUI and the CLI's Ctrl-C handler set these flags directly (threading.Event is
safe across threads).
"""

from __future__ import annotations

import threading


class RunControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()  # not paused
        self._save_now = threading.Event()
        self._sample_now = threading.Event()

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

    def request_sample(self) -> None:
        self._sample_now.set()

    # -- queries (the loop) ----------------------------------------------------
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

    def take_sample_request(self) -> bool:
        if self._sample_now.is_set():
            self._sample_now.clear()
            return True
        return False
