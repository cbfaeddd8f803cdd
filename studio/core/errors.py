"""Errors a user can act on.

A ``StudioError`` is the user's problem, not a bug: front ends print its one-line
``str()`` (which names the field or file and the fix) without a traceback.
"""

from __future__ import annotations


class StudioError(Exception):
    """An error caused by the user's input, with a message that says how to fix it."""

    def __init__(self, message: str, fix: str | None = None):
        self.message = message
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.message} — {self.fix}" if self.fix else self.message


class ConfigError(StudioError):
    """A config value is wrong. ``field`` is the dotted path, e.g. ``train.lr``."""

    def __init__(self, field: str, message: str, fix: str | None = None):
        self.field = field
        super().__init__(f"{field}: {message}", fix)


class DataError(StudioError):
    """A dataset file or folder cannot be used. ``path`` names it."""

    def __init__(self, path: str, message: str, fix: str | None = None):
        self.path = str(path)
        super().__init__(f"{path}: {message}", fix)


class ModelError(StudioError):
    """A model cannot be loaded or used."""


class RunError(StudioError):
    """A run folder is missing, locked or unreadable."""
