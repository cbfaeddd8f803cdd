"""The small protocol every model family satisfies (composition, no deep inheritance)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol


@dataclass
class LayerGroup:
    """A node of the layer tree the user sees. ``params`` are parameter names (unique:
    tied weights appear once, under the group that owns them, noted in ``note``)."""

    name: str
    title: str
    params: list[str] = field(default_factory=list)
    children: list["LayerGroup"] = field(default_factory=list)
    count: int = 0
    note: str = ""

    def walk(self) -> Iterator["LayerGroup"]:
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass
class Loaded:
    """A loaded model and what the family needs alongside it (tokenizer, scheduler...)."""

    model: Any
    extras: dict[str, Any] = field(default_factory=dict)
    source: str = ""


class Family(Protocol):
    """What the engine calls. ``datasets`` returns an object with ``n_train``, ``n_val``,
    ``train_batch(idx, seed)``, ``val_batch(b, bs)``, ``items_in(batch)``, ``summary`` and
    ``skipped`` (see TextData / ImageData)."""

    name: str
    throughput_unit: str

    def load(self, source: str, device: Any, dtype: Any, *, revision: str = "",
             trust_remote_code: bool = False) -> Loaded: ...

    def layer_groups(self, loaded: Loaded) -> list[LayerGroup]: ...

    def datasets(self, loaded: Loaded, cfg: Any, resolve: Any = ...) -> Any: ...

    def loss(self, loaded: Loaded, batch: Any) -> Any: ...

    def val_loss(self, loaded: Loaded, batch: Any, index: int) -> Any: ...

    def sample(self, loaded: Loaded, scfg: Any, step: int, out_dir: Any = None,
               prompts: tuple[str, ...] | None = None) -> list: ...

    def export(self, loaded: Loaded, out_dir: Any, card: str = "") -> None: ...


# transformers' / diffusers' from_pretrained is not thread-safe: the Model pane's background
# load and a starting run's load overlapping gave "Cannot copy out of meta tensor".
LOAD_LOCK = threading.RLock()


def _serialised(family: Family) -> Family:
    """Every family's ``load`` runs under LOAD_LOCK (one place, not one per family)."""
    unlocked = family.load

    def load(*args, **kwargs):
        with LOAD_LOCK:
            return unlocked(*args, **kwargs)

    family.load = load  # type: ignore[method-assign]
    return family


def get_family(name: str) -> Family:
    """The family's model code, imported through its spec (``studio.config.families``)."""
    import importlib

    from studio.config import families

    module, cls = families.get(name).implementation.split(":")
    return _serialised(getattr(importlib.import_module(module), cls)())
