"""What the app hands the panes: state factories and the heavy work they may start.

Panes and the layer tree import neither ``studio.models`` nor ``studio.engine`` (an
import contract says so): the app (``studio.qt.app.install_services``) fills this in once
at start-up with the real inspector, estimator and jobs, and a pane built without a state
object asks ``current()`` for one. Tests may install their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Services:
    model_source: Callable[[Any], Any]     # project -> studio.state.model_source.ModelSource
    dataset_state: Callable[[Any], Any]    # project -> studio.state.dataset.DatasetState
    memory: Any                            # estimate_memory(...), positions(shape, data)
    run_torch: Callable[..., Any]          # run_in_background's signature, torch-safe thread
    training_active: Callable[[], bool]    # a run trains in this process
    find_lr: Callable[..., Any]            # the learning-rate range test
    probe: Callable[..., Any]              # the bias probe


_CURRENT: Services | None = None


def install(services: Services) -> None:
    global _CURRENT
    _CURRENT = services


def current() -> Services:
    if _CURRENT is None:
        raise RuntimeError("the studio's services are not installed: call "
                           "studio.qt.app.install_services() after creating the QApplication")
    return _CURRENT
