"""Help > System check (and once on the first start): which accelerator training will
use, driver and CUDA versions, free GPU memory and disk, with plain advice.

The facts come from ``studio.engine.sysinfo`` (Qt-free; ``studio doctor`` prints the same
report), probed off the GUI thread because it imports torch.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from studio.qt.dialogs.icon import app_icon
from studio.qt.widgets.tasks import run_in_background

SHOWN_KEY = "first_run/system_check_shown"
COLOURS = {"ok": "#2e9e5b", "warning": "#d08a00", "problem": "#d64545"}
HEADLINES = {"ok": "Ready to train.", "warning": "Ready to train, with a note.",
             "problem": "Something needs fixing before training can use the GPU."}


def _probe(runs_dir=None):
    from studio.engine import sysinfo

    facts = sysinfo.probe(runs_dir)
    return facts, sysinfo.advise(facts)


def _runs_dir_of(window):
    """The free disk that matters is where this project's runs go (beside its file, or the
    user data folder for an unsaved one), not the folder the studio was started from."""
    project = getattr(window, "project", None)
    return project.runs_dir() if project is not None else None


class SystemCheckDialog(QDialog):
    def __init__(self, parent: QWidget | None = None,
                 probe: Callable[[], tuple] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("System check")
        self.setWindowIcon(app_icon())
        self.resize(680, 440)
        self._probe = probe or (lambda: _probe(_runs_dir_of(parent)))
        self.facts = None
        self.findings: list = []
        self.task = None

        self.headline = QLabel()
        self.headline.setWordWrap(True)
        self.grid = QGridLayout()
        self.grid.setColumnStretch(1, 1)
        self.grid.setHorizontalSpacing(16)
        self.advice = QLabel()
        self.advice.setWordWrap(True)
        self.advice.setTextFormat(Qt.TextFormat.RichText)
        self.advice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        body = QWidget()
        inner = QVBoxLayout(body)
        inner.addLayout(self.grid)
        inner.addSpacing(8)
        inner.addWidget(self.advice)
        inner.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy report")
        self.copy_button.setToolTip("Copy the report as text (to paste into a bug report)")
        self.again_button = QPushButton("Check again")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.again_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.copy_button.clicked.connect(self.copy_report)
        self.again_button.clicked.connect(self.check)

        self.footer = QLabel("This check appears on the first start only; Help › System "
                             "check… shows it again, and the command studio doctor prints it.")
        self.footer.setWordWrap(True)
        self.footer.setEnabled(False)  # greyed: a note, not content
        self.footer.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.footer)
        layout.addWidget(buttons)
        self.check()

    # -- probing --------------------------------------------------------------------------
    @property
    def checking(self) -> bool:
        return self.task is not None and self.task.running

    def check(self) -> None:
        if self.checking:
            return
        self.headline.setText("<h3>Checking this computer…</h3><p>Loading PyTorch and asking "
                              "it which GPU it can use (a few seconds).</p>")
        self.again_button.setEnabled(False)
        self.copy_button.setEnabled(False)
        self.task = run_in_background(self._probe, done=self._show, error=self._failed)

    def _failed(self, exc: BaseException) -> None:
        self.again_button.setEnabled(True)
        self.headline.setText(
            f"<h3 style='color:{COLOURS['problem']}'>The check itself failed.</h3>"
            f"<p>{type(exc).__name__}: {exc}</p><p>PyTorch may be missing or broken: "
            "reinstall Fine-Tuning Studio, and report this if it persists.</p>")

    def _show(self, result) -> None:
        from studio.engine import sysinfo

        self.facts, self.findings = result
        self.again_button.setEnabled(True)
        self.copy_button.setEnabled(True)
        level = sysinfo.overall(self.findings)
        colour = COLOURS[level]
        self.headline.setText(f"<h3 style='color:{colour}'>{HEADLINES[level]}</h3>")
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for row, (label, value) in enumerate(sysinfo.fact_rows(self.facts)):
            key = QLabel(f"<b>{label}</b>")
            key.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            val = QLabel(value)
            val.setWordWrap(True)
            val.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.grid.addWidget(key, row, 0)
            self.grid.addWidget(val, row, 1)
        parts = []
        for f in self.findings:
            dot = f"<span style='color:{COLOURS[f.level]}; font-size:large'>●</span>"
            advice = f"<br>{f.advice}" if f.advice else ""
            parts.append(f"<p>{dot} <b>{f.title}</b>{advice}</p>")
        self.advice.setText("".join(parts))

    def report_text(self) -> str:
        from studio.engine import sysinfo

        return sysinfo.format_report(self.facts, self.findings) if self.facts else ""

    def copy_report(self) -> None:
        QGuiApplication.clipboard().setText(self.report_text())


def maybe_show_first_run(parent: QWidget, settings: QSettings,
                         probe: Callable[[], tuple] | None = None) -> SystemCheckDialog | None:
    """On the very first start, show the system check (not modal) and remember that it
    was shown; later starts show nothing (Help > System check… opens it any time)."""
    if settings.value(SHOWN_KEY, False, type=bool):
        return None
    settings.setValue(SHOWN_KEY, True)
    dialog = SystemCheckDialog(parent, probe=probe)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.footer.show()
    dialog.show()
    return dialog
