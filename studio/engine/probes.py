"""What fine-tuning does besides lowering the loss: the overfitting alarm and the
forgetting probe, run by the training loop at each evaluation.

* Overfitting alarm (``eval.overfit_patience``): the validation loss rose for N
  evaluations in a row while the training loss (the mean of the steps logged since the
  previous evaluation, steadier than one step) fell. The loop emits ``OverfitWarning``
  once per episode (the curves show a banner); with early stopping on, the run stops and
  export picks the best weights.
* Forgetting probe (``eval.reference``): a reference set the user did not train on,
  evaluated with the family's validation loss at each evaluation. Its loss goes into
  ``EvalLogged.metrics["ref_loss"]`` (so metrics.jsonl, the curves and the comparison
  read one number) and the run's summary says how far it moved from step 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from studio.config import families
from studio.config.io import resolve_path
from studio.core import events as ev
from studio.core.errors import ConfigError, DataError
from studio.core.paths import resources_dir


def default_reference(family: str) -> Path | None:
    """What ``eval.reference = "auto"`` means for a family (None: nothing shipped)."""
    shipped = families.get(family).reference
    return resources_dir() / shipped if shipped else None


@dataclass
class ReferenceSet:
    """Fixed examples shaped like a family's validation batches."""

    name: str
    examples: torch.Tensor

    @property
    def n_val(self) -> int:
        return len(self.examples)

    def val_batch(self, b: int, bs: int) -> torch.Tensor:
        return self.examples[b * bs:(b + 1) * bs]


class _FamilyReference:
    """A reference set read by the family's own dataset code (audio: the codec's codes):
    its validation split, capped at ``limit`` examples."""

    def __init__(self, data: Any, limit: int, name: str) -> None:
        if hasattr(data, "val_ids"):
            data.val_ids = list(data.val_ids)[:limit]
        self.data, self.name = data, name

    @property
    def n_val(self) -> int:
        return self.data.n_val

    def val_batch(self, b: int, bs: int):
        return self.data.val_batch(b, bs)


def _family_reference(fam: Any, loaded: Any, cfg: Any, path: Path, limit: int,
                      name: str) -> _FamilyReference:
    import dataclasses

    data_cfg = dataclasses.replace(cfg.data, paths=(str(path),), exclude=(), val_fraction=0.5)
    ref = fam.datasets(loaded, dataclasses.replace(cfg, data=data_cfg), resolve=Path)
    if ref.n_val == 0:
        raise DataError(str(path), "gave no reference examples",
                        "give a folder with a few files, or set eval.reference = \"off\"")
    return _FamilyReference(ref, limit, name)


def build_reference(fam: Any, loaded: Any, cfg: Any, data: Any,
                    log: Callable[[str, str], None]) -> ReferenceSet | _FamilyReference | None:
    """The run's reference set, or None when ``eval.reference`` is off (or has no default
    for this family, which is logged)."""
    choice = cfg.eval.reference.strip()
    if choice in ("off", ""):
        return None
    limit = cfg.eval.reference_examples
    spec = families.get(fam.name)
    if choice == "auto":
        path = default_reference(fam.name)
        if path is None:
            log(f"no shipped reference set for {spec.title.lower()} models: the forgetting "
                "probe is off (set eval.reference to a file or folder to turn it on)", "info")
            return None
        auto, name = True, spec.reference_name
    else:
        path = resolve_path(cfg, choice)
        auto, name = False, str(path)
    if not path.exists():
        raise ConfigError("eval.reference", f"{path}: no such file or folder",
                          'give a reference file or folder, "auto" or "off"')
    if hasattr(fam, "reference_examples"):
        # the family reads a reference its own way (text: token blocks; image: the
        # starter's crop sheet or a folder, at the run's resolution)
        ref = ReferenceSet(name=name, examples=fam.reference_examples(
            loaded, cfg, data, path, limit, shipped=auto))
    else:  # any other family: its own dataset code reads the set
        ref = _family_reference(fam, loaded, cfg, path, limit, name)
    log(f"forgetting probe: {ref.n_val} reference examples from {name}", "info")
    return ref


class OverfitWatch:
    """Counts evaluations in a row where validation rose while training fell."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.train_sum, self.train_n = 0.0, 0
        self.prev_val: float | None = None
        self.prev_train: float | None = None
        self.streak = 0
        self.start: dict | None = None   # the evaluation the streak started from
        self.alarmed = False             # one warning per episode

    def add_train(self, loss: float) -> None:
        if math.isfinite(loss):
            self.train_sum += loss
            self.train_n += 1

    def add_eval(self, step: int, val: float) -> ev.OverfitWarning | None:
        """Fold in one evaluation; a warning when the streak reaches the patience."""
        train = self.train_sum / self.train_n if self.train_n else None
        self.train_sum, self.train_n = 0.0, 0
        warning = None
        rising = self.prev_val is not None and val > self.prev_val
        falling = train is not None and self.prev_train is not None and train < self.prev_train
        if rising and falling:
            if self.streak == 0:
                self.start = {"val": self.prev_val, "train": self.prev_train}
            self.streak += 1
        else:
            self.streak, self.start = 0, None
            if not rising:
                self.alarmed = False  # validation improved: a later episode warns again
        if self.patience and self.streak >= self.patience and not self.alarmed:
            self.alarmed = True
            warning = ev.OverfitWarning(
                step=step, evaluations=self.streak, val_from=float(self.start["val"]),
                val_to=float(val), train_from=float(self.start["train"]),
                train_to=float(train))
        self.prev_val = val
        if train is not None:
            self.prev_train = train
        return warning

    def state(self) -> dict:
        return {k: getattr(self, k) for k in ("train_sum", "train_n", "prev_val", "prev_train",
                                              "streak", "start", "alarmed")}

    def load(self, state: dict | None) -> None:
        for k, v in (state or {}).items():
            if hasattr(self, k):
                setattr(self, k, v)


class RunProbes:
    """The probes of one run; the loop calls these hooks (keeps loop.py short)."""

    def __init__(self, cfg: Any, family: Any, loaded: Any, data: Any,
                 log: Callable[[str, str], None]) -> None:
        self.cfg = cfg
        self.family, self.loaded, self.data = family, loaded, data
        self.reference = build_reference(family, loaded, cfg, data, log)
        self.watch = OverfitWatch(cfg.eval.overfit_patience)
        self.ref_start: float | None = None
        self.ref_last: float | None = None
        self.ref_n = 0  # reference evaluations so far

    def eval_metrics(self, evaluate: Callable[[Any], float]) -> dict[str, float]:
        """Extra numbers for this evaluation (``evaluate(data)`` -> mean loss): the
        forgetting probe's ``ref_loss``, and whatever the family's optional
        ``eval_metrics(loaded, data)`` scores (captioning: BLEU-4, CIDEr-D)."""
        extra = {}
        if hasattr(self.family, "eval_metrics") and self.data.n_val:
            extra = self.family.eval_metrics(self.loaded, self.data)
        if self.reference is None:
            return extra
        ref = evaluate(self.reference)
        if self.ref_start is None:
            self.ref_start = ref
        self.ref_last = ref
        self.ref_n += 1
        return {**extra, "ref_loss": ref}

    def after_eval(self, step: int, val: float) -> ev.OverfitWarning | None:
        return self.watch.add_eval(step, val)

    def summary(self) -> str:
        """How far the reference loss moved (the run summary's forgetting line)."""
        if self.reference is None or self.ref_start is None or self.ref_last is None \
                or self.ref_n < 2:
            return ""  # one evaluation is no movement to speak of
        return describe_drift(self.ref_start, self.ref_last, self.reference.name)

    def state(self) -> dict:
        return {"overfit": self.watch.state(), "ref_start": self.ref_start,
                "ref_last": self.ref_last, "ref_n": self.ref_n}

    def load(self, state: dict | None) -> None:
        state = state or {}
        self.watch.load(state.get("overfit"))
        self.ref_start, self.ref_last = state.get("ref_start"), state.get("ref_last")
        self.ref_n = int(state.get("ref_n", 0))


def describe_drift(start: float, last: float, name: str) -> str:
    change = last - start
    pct = 100.0 * change / start if start else float("nan")
    verdict = ("barely moved" if abs(pct) < 2 else "got better" if change < 0 else
               "rose: the model is forgetting some of what it knew" if pct < 25 else
               "rose a lot: the model has forgotten much of what it knew")
    return (f"forgetting probe ({name}): reference loss {start:.4f} at the start -> "
            f"{last:.4f} now ({change:+.4f}, {pct:+.1f}%): {verdict}")
