"""Out of memory and a diverged loss pause the GUI's run and offer the ways on."""

from __future__ import annotations

import torch
from PySide6.QtWidgets import QMessageBox

from studio.models.text import TextFamily
from studio.state.project import Project
from tests.qt.test_window import _panes_idle


def _click(monkeypatch, label_part: str, seen: list):
    def exec_(box):
        seen.append((box.windowTitle(), box.text(), box.informativeText()))
        for b in box.buttons():
            if label_part in b.text():
                box._clicked = b
                return 0
        raise AssertionError([b.text() for b in box.buttons()])

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    monkeypatch.setattr(QMessageBox, "clickedButton", lambda box: box._clicked)


def test_out_of_memory_offers_halving_and_the_run_completes(make_window, tiny_run_config,
                                                             qtbot, monkeypatch):
    real = TextFamily.loss

    def loss(self, loaded, batch):
        if len(batch) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return real(self, loaded, batch)

    monkeypatch.setattr(TextFamily, "loss", loss)
    seen: list = []
    _click(monkeypatch, "Halve the micro-batch", seen)
    project = Project.load(tiny_run_config(train={"max_steps": 3, "batch_size": 4,
                                                  "on_oom": "pause"}))
    win = make_window(project=project)
    qtbot.waitUntil(_panes_idle, timeout=60_000)
    with qtbot.waitSignal(win.host.run_ended, timeout=120_000) as ended:
        win.act_train.trigger()
    assert ended.args == ["completed"], win.session.error_message
    assert seen and seen[0][0] == "Out of memory" and "micro-batch" in seen[0][2]


def test_a_diverged_loss_offers_a_lower_rate(make_window, tiny_run_config, qtbot, monkeypatch):
    real = TextFamily.loss
    state = {"calls": 0}

    def loss(self, loaded, batch):
        state["calls"] += 1
        value = real(self, loaded, batch)
        return value * float("nan") if state["calls"] == 4 else value

    monkeypatch.setattr(TextFamily, "loss", loss)
    seen: list = []
    _click(monkeypatch, "Halve the learning rate", seen)
    project = Project.load(tiny_run_config(train={"max_steps": 5}, checkpoint={"every": 2},
                                           eval={"every": 0}, sample={"every": 0}))
    win = make_window(project=project)
    qtbot.waitUntil(_panes_idle, timeout=60_000)
    with qtbot.waitSignal(win.host.run_ended, timeout=120_000) as ended:
        win.act_train.trigger()
    assert ended.args == ["completed"], win.session.error_message
    assert seen and seen[0][0] == "Training diverged" and "checkpoint" in seen[0][2]
