"""Generated samples grouped by step (Qt-free): what the gallery pane shows.

``selected`` is the step the user looks at. While ``follow`` is on (the default, and
whenever the user picks the newest step) a new step becomes the selection, so the
gallery keeps up with training; picking an older step stops following.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
import shutil
from pathlib import Path
from typing import Iterable

from studio.core import events as ev
from studio.core.events import Sample
from studio.state.observable import Observable


class GalleryState(Observable):
    """``changed("samples")`` when samples arrive, ``changed("selected")`` when the
    selection moves, ``changed("reset")`` when cleared."""

    def __init__(self) -> None:
        super().__init__()
        self._by_step: dict[int, list[Sample]] = {}
        self._steps: list[int] = []
        self.selected: int | None = None
        self.follow = True
        self.run_dir = ""

    # -- feeding -------------------------------------------------------------------------
    def clear(self, run_dir: str = "") -> None:
        self._by_step.clear()
        self._steps.clear()
        self.selected = None
        self.follow = True
        self.run_dir = run_dir
        self.changed("reset")

    def feed(self, event: object) -> None:
        if isinstance(event, ev.SampleReady):
            self.add(event.step, event.samples)
        elif isinstance(event, ev.RunStarted):
            self.run_dir = event.run_dir
            # a resumed run samples again after its checkpoint
            later = [s for s in self._steps if s > event.start_step]
            for s in later:
                del self._by_step[s]
            if later:
                self._steps = [s for s in self._steps if s <= event.start_step]
                if self.selected is not None and self.selected > event.start_step:
                    self.selected = self._steps[-1] if self._steps else None
                self.changed("samples")

    def add(self, step: int, samples: Iterable[Sample]) -> None:
        """Samples of one step; a second batch for the same step replaces samples with the
        same index (a "sample now" at a step that was already sampled)."""
        step = int(step)
        samples = list(samples)
        if step in self._by_step:
            new_idx = {s.index for s in samples}
            kept = [s for s in self._by_step[step] if s.index not in new_idx]
            self._by_step[step] = sorted(kept + samples, key=lambda s: s.index)
        else:
            self._by_step[step] = sorted(samples, key=lambda s: s.index)
            bisect.insort(self._steps, step)
        moved = False
        if (self.follow or self.selected is None) and self.selected != self._steps[-1]:
            self.selected, moved = self._steps[-1], True
        self.changed("samples")
        if moved:
            self.changed("selected")

    def load_records(self, records: Iterable[dict], run_dir: str | Path = "") -> None:
        """SampleReady records of a metrics.jsonl; relative sample paths resolve against
        ``run_dir``."""
        base = Path(run_dir) if run_dir else None
        for rec in records:
            event = ev.from_dict(rec)
            if isinstance(event, ev.SampleReady):
                self.add(event.step, [_resolved(s, base) for s in event.samples])

    @classmethod
    def from_run(cls, run_dir: str | Path) -> "GalleryState":
        from studio.runs import read_metrics

        g = cls()
        g.run_dir = str(run_dir)
        g.load_records(read_metrics(run_dir), run_dir)
        return g

    # -- selection -----------------------------------------------------------------------
    def _select(self, step: int) -> None:
        if step != self.selected:
            self.selected = step
            self.changed("selected")

    def select(self, step: int) -> None:
        """Look at the sampled step nearest to ``step``; following resumes at the newest."""
        if not self._steps:
            return
        nearest = self.nearest_step(step)
        self.follow = nearest == self._steps[-1]
        self._select(nearest)

    def nearest_step(self, step: float) -> int | None:
        """The sampled step nearest to ``step`` (the earlier one on a tie)."""
        if not self._steps:
            return None
        i = bisect.bisect_left(self._steps, step)
        if i == 0:
            return self._steps[0]
        if i == len(self._steps):
            return self._steps[-1]
        before, after = self._steps[i - 1], self._steps[i]
        return after if after - step < step - before else before

    # -- reading --------------------------------------------------------------------------
    @property
    def steps(self) -> list[int]:
        return list(self._steps)

    @property
    def first_step(self) -> int | None:
        return self._steps[0] if self._steps else None

    @property
    def latest_step(self) -> int | None:
        return self._steps[-1] if self._steps else None

    def samples(self, step: int | None) -> list[Sample]:
        return list(self._by_step.get(step, ())) if step is not None else []

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_step.values())


def _resolved(sample: Sample, base: Path | None) -> Sample:
    """A sample whose path, written relative to its run folder, points into ``base``."""
    if not sample.path or base is None or Path(sample.path).is_absolute():
        return sample
    return dataclasses.replace(sample, path=str(base / sample.path))


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "sample"


def export_samples(samples: Iterable[Sample], folder: str | Path) -> list[Path]:
    """Write samples into ``folder``: text as UTF-8 ``.txt`` (prompt + continuation),
    image and audio files copied. Names are ``step_NNNNNN_<index>``; returns the files
    written. A missing image or audio file raises ``FileNotFoundError``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for s in samples:
        stem = f"step_{s.step:06d}_{s.index:02d}"
        if s.kind == "text":
            target = out / f"{stem}.txt"
            target.write_text(s.prompt + s.text, encoding="utf-8")
        else:
            src = Path(s.path)
            if not src.is_file():
                raise FileNotFoundError(f"{src}: the sample file is missing")
            target = out / _safe(f"{stem}{src.suffix}")
            shutil.copyfile(src, target)
        written.append(target)
    return written
