"""Everything the engine reports, as frozen CPU-side records.

One event per observable moment. Payloads are plain Python values (floats, str,
tuples, paths, bytes) — never tensors — so any thread or process may hold them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One generated sample. ``kind`` is "text", "image" or "audio".

    Text samples carry ``prompt`` and ``text`` (the continuation only); image and
    audio samples carry ``path`` to a PNG / WAV file in the run folder.
    """

    kind: str
    step: int
    index: int
    prompt: str = ""
    text: str = ""
    path: str = ""
    seed: int = 0
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    run_id: str
    family: str
    device: str
    precision: str
    total_steps: int
    start_step: int
    trainable_params: int
    total_params: int
    train_examples: int
    val_examples: int
    resumed: bool = False


@dataclass(frozen=True)
class StepLogged:
    step: int
    epoch: float
    loss: float
    lr: float
    grad_norm: float
    throughput: float  # items per second (tokens for text, images / clips otherwise)
    throughput_unit: str
    elapsed_s: float
    eta_s: float
    total_steps: int
    gpu_mem_bytes: int = 0


@dataclass(frozen=True)
class EvalLogged:
    step: int
    val_loss: float
    perplexity: float | None
    best_val_loss: float
    is_best: bool
    metrics: dict[str, float] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class OverfitWarning:
    """Validation loss rose for ``evaluations`` evaluations in a row while the training
    loss fell (from ``*_from`` at the evaluation before the streak to ``*_to`` now)."""

    step: int
    evaluations: int
    val_from: float
    val_to: float
    train_from: float
    train_to: float


@dataclass(frozen=True)
class UnfreezeApplied:
    step: int
    groups: tuple[str, ...]


@dataclass(frozen=True)
class SampleReady:
    step: int
    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class CheckpointSaved:
    step: int
    path: str
    reason: str  # "interval", "stop", "manual", "best", "final"


@dataclass(frozen=True)
class LogMessage:
    level: str  # "info", "warning", "error"
    text: str


@dataclass(frozen=True)
class RunPaused:
    step: int
    reason: str = "user"  # "user", "out_of_memory", "diverged"
    message: str = ""


@dataclass(frozen=True)
class RunResumed:
    step: int


@dataclass(frozen=True)
class RunFinished:
    step: int
    reason: str  # "completed", "stopped", "early_stopping", "diverged"
    best_val_loss: float | None
    best_step: int | None
    run_dir: str


@dataclass(frozen=True)
class RunFailed:
    step: int
    message: str
    traceback: str
    run_dir: str = ""


Event = (
    RunStarted | StepLogged | EvalLogged | UnfreezeApplied | SampleReady | CheckpointSaved
    | LogMessage | RunPaused | RunResumed | RunFinished | RunFailed | OverfitWarning
)
