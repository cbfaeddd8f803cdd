"""The trainer's side of the user's controls (pause, "Sample now", "Save now", a new rate)
and of the trouble only the user can settle (out of memory, a diverged loss).

A mixin of ``loop._Trainer``: the loop reads top to bottom without these handlers, and they
read here as one unit. The decisions themselves (how to fit in memory, where to roll back
to, what to say) are policies (policies.py); this is where the run waits for the user.
"""

from __future__ import annotations

import dataclasses
import time

from studio.config import save_config
from studio.core import events as ev
from studio.core.errors import RunError
from studio.engine import build
from studio.engine import policies as pol


class ControlsAndTrouble:
    """Methods of ``loop._Trainer`` (they use its attributes: cfg, folder, sink, control,
    progress, meter, dist, device, loaded, do_sample, save, _load_checkpoint)."""

    def log(self, text: str, level: str = "info") -> None:
        self.sink.emit(ev.LogMessage(level, text))

    def serve_requests(self) -> None:
        asked = self.control.take_sample_request()
        if asked:
            self.do_sample(self.progress.step, fresh=asked == "fresh")
        if self.control.take_save_request():
            self.save("manual")

    def wait_if_paused(self, reason: str = "user", message: str = "") -> None:
        if not self.control.paused or self.control.stop_requested:
            return
        t0, step = time.perf_counter(), self.progress.step
        self.folder.write_status("paused", step=step, message=message)
        self.sink.emit(ev.RunPaused(step=step, reason=reason, message=message))
        while self.control.paused and not self.control.stop_requested:
            self.serve_requests()  # the model stays loaded: sample or save while paused
            self.control.wait_while_paused(0.05)
        waited = time.perf_counter() - t0
        self.paused_s += waited
        self.meter.skip(waited)
        self.folder.write_status("running", step=step, message="")
        self.sink.emit(ev.RunResumed(step=step))

    def apply_lr_factor(self, factor: float) -> None:
        self._set_train(dataclasses.replace(self.cfg.train, lr=self.cfg.train.lr * factor))
        self.log(f"learning rate set to {self.cfg.train.lr:g} (x{factor:g})")

    def _set_train(self, train) -> None:
        # the run's config.toml follows, so a resume continues with what it changed to
        self.cfg = dataclasses.replace(self.cfg, train=train)
        save_config(self.cfg, self.folder.config_path)

    def _refit(self, fitted: tuple | None) -> bool:
        """Apply an out-of-memory fit (new train settings, what to say); False for None."""
        if fitted is None:
            return False
        train, message = fitted
        self.log(message, "warning")
        self._set_train(train)
        return True

    def _can_checkpoint(self) -> bool:
        return build.enable_checkpointing(self.loaded.model)

    def handle_oom(self) -> bool:
        """Out of memory inside a step. Return True to retry the step, False to stop."""
        build.free_memory(self.device)
        t, step = self.cfg.train, self.progress.step
        if self.dist.enabled:  # the processes cannot shrink one by one: all stop, with the fix
            raise RunError(f"out of memory at step {step} with a micro-batch of {t.batch_size} "
                           f"per process", "lower train.batch_size (raise train.grad_accum to "
                           "keep the effective batch) or turn on train.gradient_checkpointing, "
                           "then `studio resume`")
        if t.on_oom == "auto_fit" and self._refit(pol.auto_fit(t, self._can_checkpoint)):
            return True
        message = pol.oom_message(step, t)
        if not self._ask_user("out_of_memory", message, message,
                              headless=pol.oom_resume_hint(t), interactive=""):
            return False
        for action in self.control.take_fit_actions():
            self._refit(pol.fit(self.cfg.train, action, self._can_checkpoint))
        return True

    def handle_divergence(self, loss: float) -> bool:
        """A NaN/inf loss: go back to the last good checkpoint. Return True to go on
        (after the user lowered the rate in the GUI), False to stop."""
        p = self.progress
        message = pol.divergence_message(loss, p.step)
        latest = pol.roll_back(p, self.folder, self._load_checkpoint, message)
        self.last_ckpt_step = p.step
        back = f"{message}; weights restored from {latest.name} (step {p.step})"
        return self._ask_user(
            "diverged", back, message, headless=". Lower the rate and resume: studio resume "
            f"{self.folder.path} train.lr={self.cfg.train.lr / 4:g}",
            interactive=". Lower the learning rate, then resume.")

    def _ask_user(self, reason: str, what: str, status: str, *, headless: str,
                  interactive: str) -> bool:
        """A problem only the user can settle. Headless: say how to fix it and resume, and
        stop. In the GUI: pause until they change something or stop. True to go on."""
        if not self.control.interactive:
            self.log(what + headless, "error")
            self.stop_message = status
            return False
        self.log(what + interactive, "error")
        self.control.pause()
        self.wait_if_paused(reason=reason, message=what)
        return not self.control.stop_requested

