"""The model pane (being built)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from studio.state.project import Project


class ModelPane(QWidget):
    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Model"))
