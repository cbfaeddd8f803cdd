"""A tiny observer helper: state objects announce changes, views subscribe."""

from __future__ import annotations

from typing import Callable


class Observable:
    """Mixin: ``subscribe(cb)`` gets ``cb(what: str)`` after each change."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[str], None]] = []

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def changed(self, what: str) -> None:
        for cb in list(self._listeners):
            cb(what)
