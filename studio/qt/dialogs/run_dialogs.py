"""The questions a run asks in the window: a problem pause (out of memory, a diverged
loss), the quick trial's verdict, a failure. Non-blocking except the problem pause, which
the paused run waits on anyway."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox, QWidget

from studio.state.coordinator import TrialOutcome


def ask_problem_fix(parent: QWidget, reason: str, message: str) -> str | None:
    """Out of memory or a diverged loss paused the run: returns the fix the user chose
    ("halve_batch", "gradient_checkpointing", "lower_lr"), "stop", or None."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    if reason == "out_of_memory":
        box.setWindowTitle("Out of memory")
        box.setText("The run is paused: the last step did not fit in memory.")
        box.setInformativeText(message + "\n\nHalving the micro-batch keeps the effective "
                               "batch (gradient accumulation doubles). Freezing more layers "
                               "in the Model pane also helps (stop, untick, resume).")
        choices = [("Halve the micro-batch", "halve_batch"),
                   ("Gradient checkpointing", "gradient_checkpointing")]
    else:
        box.setWindowTitle("Training diverged")
        box.setText("The run is paused: the loss became NaN or infinite.")
        box.setInformativeText(message + "\n\nThe weights are back at the last good "
                               "checkpoint. Lower the learning rate and go on.")
        choices = [("Halve the learning rate and resume", "lower_lr")]
    buttons = {box.addButton(label, QMessageBox.ButtonRole.AcceptRole): action
               for label, action in choices}
    buttons[box.addButton("Stop the run", QMessageBox.ButtonRole.RejectRole)] = "stop"
    box.exec()
    return buttons.get(box.clickedButton())


def trial_box(parent: QWidget, outcome: TrialOutcome,
              on_continue: Callable[[], object]) -> QMessageBox:
    """The trial's verdict, with Continue (resumes the same run) and Not now."""
    text = outcome.text
    box = QMessageBox(QMessageBox.Icon.Information, "Quick trial",
                      text[0].upper() + text[1:] + ".", QMessageBox.StandardButton.NoButton,
                      parent)
    box.setInformativeText("The samples are in the Gallery. Continue trains the same run "
                           "on from here, with the same schedule.")
    cont = box.addButton("Continue training", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
    box.buttonClicked.connect(lambda b: on_continue() if b is cont else None)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def error_box(parent: QWidget, title: str, message: str, details: str = "") -> QMessageBox:
    """A non-blocking error dialog (the window keeps working behind it)."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message,
                      QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def ask_trial_steps(parent: QWidget) -> int | None:
    steps, ok = QInputDialog.getInt(parent, "Quick trial", "Steps to try:", 20, 1, 1_000_000)
    return steps if ok else None


def confirm_stop_and_quit(parent: QWidget) -> bool:
    answer = QMessageBox.question(
        parent, "A run is training",
        "Stop the run and quit? A checkpoint is saved first, so the run can be resumed later.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


def close_quietly(box: QMessageBox | None) -> None:
    """Close a message box that may already be closed (and deleted)."""
    try:
        if box is not None:
            box.close()
    except RuntimeError:
        pass
