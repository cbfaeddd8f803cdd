"""Everything the engine reports, as frozen CPU-side records.

One event per observable moment. Payloads are plain Python values (floats, str,
tuples, paths, bytes) — never tensors — so any thread or process may hold them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


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


# -- one encoding, one decoding (metrics.jsonl lines, the run history, gallery and queue) --

def to_dict(event: Event) -> dict:
    """The event as plain JSON-ready values, with its kind under ``"event"``."""
    d = dataclasses.asdict(event)
    d["event"] = type(event).__name__
    return d


def from_dict(record: Mapping[str, Any]) -> Event | None:
    """The event a ``to_dict`` record (a metrics.jsonl line) holds; None for another kind
    of record or a malformed one (a reader skips it, like a torn line).

    Records written by older versions, or by hand, may lack fields: a missing field takes
    its default, else an empty value (NaN for a float, None for an optional, 0, "" or an
    empty collection). Only ``step`` is required: a record without one says nothing."""
    cls = _KINDS.get(record.get("event")) if isinstance(record, Mapping) else None
    if cls is None:
        return None
    try:
        return cls(**{f.name: _field_value(f, record) for f in dataclasses.fields(cls)})
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _field_value(f: dataclasses.Field, record: Mapping[str, Any]) -> Any:
    decode = _DECODERS[str(f.type)]
    if f.name in record:
        return decode(record[f.name], record)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    if f.name == "step":
        raise KeyError("step")
    return decode(None, record)


def _float(v: Any, _rec: Any = None) -> float:
    return math.nan if v is None else float(v)


def _optional(kind: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda v, _rec=None: None if v is None else kind(v)


def _sample(d: Mapping[str, Any], step: int) -> Sample:
    """A sample record; its step defaults to its event's."""
    return Sample(kind=str(d.get("kind", "text")), step=int(d.get("step", step)),
                  index=int(d.get("index", 0)), prompt=str(d.get("prompt", "")),
                  text=str(d.get("text", "")), path=str(d.get("path", "") or ""),
                  seed=int(d.get("seed", 0)), meta=dict(d.get("meta") or {}))


_DECODERS: dict[str, Callable[[Any, Mapping[str, Any]], Any]] = {
    "int": lambda v, _rec=None: 0 if v is None else int(v),
    "float": _float,
    "str": lambda v, _rec=None: "" if v is None else str(v),
    "bool": lambda v, _rec=None: bool(v),
    "int | None": _optional(int),
    "float | None": _optional(float),
    "tuple[str, ...]": lambda v, _rec=None: tuple(str(x) for x in v or ()),
    "dict[str, float]": lambda v, _rec=None: dict(v or {}),
    "tuple[Sample, ...]": lambda v, rec: tuple(_sample(d, int(rec["step"])) for d in v or ()),
}

_KINDS: dict[str, type] = {cls.__name__: cls for cls in (
    RunStarted, StepLogged, EvalLogged, OverfitWarning, UnfreezeApplied, SampleReady,
    CheckpointSaved, LogMessage, RunPaused, RunResumed, RunFinished, RunFailed)}
