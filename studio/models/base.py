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


def checked_source(source: str, noun: str = "model folder") -> str:
    """The path ``from_pretrained`` gets for ``source`` (a folder, ``starter:NAME``, or a hub
    id, returned as it is); a ModelError naming the fix when a shipped starter is missing or
    a local path does not exist (before a loader turns it into a confusing hub error)."""
    from pathlib import Path

    from studio.core.errors import ModelError
    from studio.core.paths import resolve_model_source

    path = resolve_model_source(source)
    p = Path(path).expanduser()
    if source.startswith("starter:") and not p.is_dir():
        name = source.split(":", 1)[1]
        raise ModelError(f"{source}: the starter model is missing at {path}",
                         f"rebuild it with `python -m studio.starters build {name}`")
    if source.startswith((".", "/", "~")) and not p.exists():
        raise ModelError(f"{source}: no such {noun}", "check the path")
    return path


def hub_kwargs(revision: str = "", trust_remote_code: bool = False) -> dict[str, Any]:
    """What every ``from_pretrained`` of a family gets: remote code as the config says, the
    revision only when one is pinned."""
    kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if revision:
        kw["revision"] = revision
    return kw


def quiet_transformers() -> None:
    """transformers' own warnings and progress bars off: the run's log says what matters."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


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
