"""Where things live on disk."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
PROJECT_ROOT = PACKAGE_DIR.parent


def resources_dir() -> Path:
    """The shipped resources (starter models, demo projects, demo data)."""
    env = os.environ.get("STUDIO_RESOURCES")
    if env:
        return Path(env)
    return PROJECT_ROOT / "resources"


def starters_dir() -> Path:
    return resources_dir() / "starters"


def default_runs_dir() -> Path:
    env = os.environ.get("STUDIO_RUNS_DIR")
    return Path(env) if env else Path.cwd() / "runs"


def resolve_model_source(source: str) -> str:
    """``starter:text`` -> the shipped starter folder; anything else unchanged."""
    if source.startswith("starter:"):
        return str(starters_dir() / source.split(":", 1)[1])
    return source



def user_data_dir() -> Path:
    """The studio's own folder in the user's data area (runs of unsaved projects, locks):
    $STUDIO_DATA_DIR, else the platform's usual place."""
    import sys

    env = os.environ.get("STUDIO_DATA_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "FineTuningStudio"


def unsaved_runs_dir() -> Path:
    """Where an unsaved project's runs go (never the process's current folder); saving the
    project moves them beside its file."""
    return user_data_dir() / "unsaved-project-runs"
