"""Log: the view of ``RunSession.log`` — engine messages, run milestones and errors."""

from __future__ import annotations

import html
import time

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.state.session import LogLine, RunSession

LEVEL_COLOURS = {"warning": "#c98a00", "error": "#d23c3c"}


class LogPane(QWidget):
    def __init__(self, session: RunSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._shown = 0  # session.log_count already appended
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(RunSession.MAX_LOG)
        self.text.setPlaceholderText("Messages from the run appear here: what was read, "
                                     "evaluations, checkpoints, warnings and errors.")
        self.problems_only = QCheckBox("Warnings and errors only")
        self.problems_only.toggled.connect(self._rebuild)
        copy = QPushButton("Copy")
        copy.setToolTip("Copy the whole log to the clipboard")
        copy.clicked.connect(self.copy_all)
        self.count = QLabel("")
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 0)
        bar.addWidget(self.problems_only)
        bar.addStretch(1)
        bar.addWidget(self.count)
        bar.addWidget(copy)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.text, 1)
        session.subscribe(self._on_session)
        self._append(session.log)
        self._shown = session.log_count

    def _on_session(self, what: str) -> None:
        if what == "log":
            self._append(self.session.log_since(self._shown))
            self._shown = self.session.log_count
        elif what == "log_cleared":  # another project: none of the last one's lines
            self._rebuild()

    def _visible(self, line: LogLine) -> bool:
        return not self.problems_only.isChecked() or line.level in ("warning", "error")

    def _format(self, line: LogLine) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(line.time))
        body = html.escape(line.text).replace("\n", "<br>")
        colour = LEVEL_COLOURS.get(line.level)
        prefix = f"{line.level.upper()}: " if line.level != "info" else ""
        if colour:
            body = f'<span style="color:{colour}"><b>{prefix}</b>{body}</span>'
        return f'<span style="color:gray">{stamp}</span>&nbsp; {body}'

    def _append(self, lines: list[LogLine]) -> None:
        for line in lines:
            if self._visible(line):
                self.text.appendHtml(self._format(line))
        problems = sum(1 for x in self.session.log if x.level in ("warning", "error"))
        self.count.setText(f"{problems} warning{'s' if problems != 1 else ''} or error"
                           f"{'s' if problems != 1 else ''}" if problems else "")

    def _rebuild(self) -> None:
        self.text.clear()
        self._append(self.session.log)
        self._shown = self.session.log_count

    def plain_text(self) -> str:
        return self.text.toPlainText()

    def copy_all(self) -> None:
        lines = [f"{time.strftime('%H:%M:%S', time.localtime(x.time))} {x.level}: {x.text}"
                 for x in self.session.log]
        QGuiApplication.clipboard().setText("\n".join(lines))
