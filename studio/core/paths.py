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


def guess_family(source: str) -> str | None:
    """The model family a local model folder (or ``starter:NAME``) belongs to, read from its
    JSON files only (no weights, no heavy imports): "image" for a diffusers UNet or DDPM
    pipeline, "audio" for MusicGen, "text" for other transformers configs; None when the
    source is not a local folder (a hub id) or says nothing."""
    import json
    folder = Path(resolve_model_source(source))
    if not folder.is_dir():
        return None

    def read(name: str) -> dict:
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    if (folder / "model_index.json").is_file() or (folder / "unet").is_dir():
        return "image"
    config = read("config.json")
    if str(config.get("_class_name", "")).startswith("UNet"):
        return "image"
    if config.get("model_type") == "musicgen":
        return "audio"
    if config.get("model_type"):
        return "text"
    return None
