"""The status bar's run readout: state, loss, device, progress, throughput, ETA, GPU memory.
A view of the ``RunSession`` that polls its ``version`` (progress changes every step)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from studio.state.session import RunSession

STATE_TEXT = {
    "idle": "Ready", "starting": "Starting…", "running": "Training", "pausing": "Pausing…",
    "paused": "Paused", "stopping": "Stopping…", "completed": "Completed",
    "stopped": "Stopped", "failed": "Failed",
}
STATE_COLOUR = {"running": "#2e9d4f", "paused": "#c98a00", "pausing": "#c98a00",
                "failed": "#d23c3c", "stopping": "#c98a00", "starting": "#3c78c8"}


class RunStatus:
    """Labels and a progress bar added to ``bar``; ``refresh()`` redraws them when the
    session changed. ``default_device()`` names the device before a run has chosen one."""

    def __init__(self, bar: QStatusBar, session: RunSession,
                 default_device: Callable[[], str]) -> None:
        self.session = session
        self.default_device = default_device
        self._version = -1
        self.state_label = QLabel()
        self.device_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setMinimumWidth(160)
        self.progress.setTextVisible(True)
        self.throughput_label = QLabel()
        self.eta_label = QLabel()
        self.gpu_label = QLabel()
        self.loss_label = QLabel()
        bar.addWidget(self.state_label)
        for w in (self.loss_label, self.device_label, self.progress, self.throughput_label,
                  self.eta_label, self.gpu_label):
            bar.addPermanentWidget(w)

    def refresh(self, force: bool = False) -> None:
        s = self.session
        if not force and s.version == self._version:
            return
        self._version = s.version
        colour = STATE_COLOUR.get(s.state)
        text = STATE_TEXT.get(s.state, s.state)
        if s.state == "completed" and s.finish_reason == "early_stopping":
            text = "Completed (early stopping)"
        self.state_label.setText(f"<b style='color:{colour}'>{text}</b>" if colour
                                 else f"<b>{text}</b>")
        self.state_label.setToolTip(s.error_message if s.state == "failed" else s.run_dir)
        device = s.device or f"{self.default_device()} (chosen at start)"
        if s.precision:
            device += f", {s.precision}"
        self.device_label.setText(f"Device: {device}")
        total = max(1, s.total_steps)
        self.progress.setRange(0, total)
        self.progress.setValue(min(s.step, total))
        self.progress.setFormat(s.progress_text())
        self.progress.setVisible(bool(s.total_steps))
        self.throughput_label.setText(s.throughput_text())
        self.eta_label.setText(s.eta_text())
        self.gpu_label.setText(s.gpu_text())
        self.gpu_label.setVisible(bool(s.gpu_text()))
        self.loss_label.setText(f"loss {s.loss:.4f}" if s.loss == s.loss else "")
