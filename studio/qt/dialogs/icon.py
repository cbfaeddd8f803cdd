"""The studio's icon (drawn by packaging/make_icons.py), as a QIcon with every size."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon

from studio.core.paths import PROJECT_ROOT


def icon_dir() -> Path:
    """packaging/icons in a source tree; the same path inside the bundle (_internal)."""
    return PROJECT_ROOT / "packaging" / "icons"


def app_icon() -> QIcon:
    icon = QIcon()
    for png in sorted(icon_dir().glob("studio-*.png")):
        icon.addFile(str(png))
    return icon
