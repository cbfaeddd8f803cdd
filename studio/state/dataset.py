"""The dataset browser's state (Qt-free, no torch): the scanned items, which are included,
the stats, the problems, the train/validation split preview, the selection and the scan's
progress.

Items are whatever the scanner yields (``studio.data.scan.ScanItem``); this module only
reads their attributes (see :class:`Item`), so it does not import ``studio.data``. The
split function is passed in for the same reason (the pane passes
``studio.data.scan.split_preview``, the engine's own split).

Include/exclude writes through to the project (``project.set_excluded``), so it is saved
with the project file.

Scans: ``rescan()`` reads the project's dataset paths (when they, or the settings that
change what is read, changed since the last scan) through the injected ``scan`` job
(``scan(paths, model_source, text_field, csv_column, *, report, cancel)``, reporting
``(items, done, total)`` batches) started by the injected ``run`` (``run_in_background``'s
signature: off the GUI thread, results back on it); ``needs_rescan`` says the project
changed under the last scan (the view coalesces a burst of changes into one rescan).

Changes announced (``subscribe(cb)`` gets ``cb(what)``):
``"reset"`` (items cleared for a new scan), ``"items"`` (items appended), ``"item"`` (an
item replaced, e.g. its caption), ``"progress"``, ``"scan"`` (a scan started or ended),
``"included"``, ``"split"`` (the split preview may have changed), ``"selection"``,
``"cancelling"`` (a scan was told to stop), ``"scanned"`` (a scan job ended).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, Sequence

from studio.config import families
from studio.core import units
from studio.state.observable import Observable
from studio.state.project import Project

KIND_ORDER = ("text", "image", "audio", "midi", "unsupported")


class Item(Protocol):
    path: str
    kind: str
    size: int
    problem: str
    severity: str
    duration: float
    tokens: int
    tokens_exact: bool
    documents: int
    caption: str
    caption_path: str

    @property
    def usable(self) -> bool: ...


@dataclass(frozen=True)
class DatasetStats:
    counts: dict[str, int] = field(default_factory=dict)  # files per kind (all files)
    files: int = 0
    included: int = 0          # files that will be used (included, usable, a kind the
                               # family trains on)
    excluded: int = 0          # unticked by the user
    total_size: int = 0        # bytes of the included, usable files
    duration: float = 0.0      # seconds of included, usable audio
    tokens: int = 0            # tokens of included, usable text
    tokens_exact: bool = False
    documents: int = 0         # text documents the engine will read
    errors: int = 0            # files that cannot be used
    warnings: int = 0          # usable files with something to look at
    unused: dict[str, int] = field(default_factory=dict)  # included, usable files of kinds
                                                          # the family does not train on


@dataclass(frozen=True)
class Split:
    """The split preview, and which files go where (``roles``: path -> "train",
    "validation" or e.g. "3 of 10 records validation")."""

    documents: int = 0
    train: int = 0
    val: int = 0
    seed: int = 0
    val_fraction: float = 0.0
    by_block: bool = False
    roles: dict[str, str] = field(default_factory=dict)
    family: str = "text"

    def describe(self) -> str:
        # text is split by document (a file, or a record of a jsonl/csv); images and
        # sounds by file, so the clips of one recording never sit on both sides
        spec = families.get(self.family)
        unit = spec.item_noun
        if self.documents == 0:
            return f"no {spec.title.lower()} {unit} to split yet"
        if self.val_fraction <= 0:
            return f"{self.documents:,} {unit}, all for training (no validation)"
        if self.by_block:
            return (f"1 document: {self.val_fraction:.0%} of its token blocks held out for "
                    "validation")
        return f"{self.train:,} train · {self.val:,} validation {unit}"


SplitFn = Callable[[int, float, int], Any]  # (documents, val_fraction, seed) -> preview


# what the stats bar calls each kind of file: (one, many) — "1 image", "18 images"
_KIND_NOUNS = {"text": ("text file", "text files"), "image": ("image", "images"),
               "audio": ("audio file", "audio files"), "midi": ("music file", "music files"),
               "unsupported": ("other file", "other files")}


def _count(n: int, kind: str) -> str:
    one, many = _KIND_NOUNS.get(kind, (kind, kind))
    return f"{n:,} {one if n == 1 else many}"


class DatasetState(Observable):
    def __init__(self, project: Project, split: SplitFn | None = None,
                 scan: Callable[..., Any] | None = None,
                 run: Callable[..., Any] | None = None) -> None:
        super().__init__()
        self.project = project
        self._split_fn = split
        self._scan_fn, self._run = scan, run
        self._scan_job: Any = None
        self._scan_key: tuple | None = None
        self._scan_token = 0  # which scan's reports count
        self.items: list[Item] = []
        self._index: dict[str, int] = {}
        self.scanning = False
        self.done = 0
        self.total = 0
        self.cancelled = False
        self.error = ""
        self.selected: str | None = None
        self._stats: DatasetStats | None = None
        self._acc: dict | None = None
        self._stats_kinds: tuple[str, ...] | None = None
        self._split: Split | None = None
        self._split_key: tuple | None = None
        self._unsubscribe = project.subscribe(self._on_project)

    def close(self) -> None:
        """Stop listening to the project; cancel a scan."""
        self._unsubscribe()
        self.cancel_scan()

    # -- running a scan -----------------------------------------------------------------
    def wanted_key(self) -> tuple:
        """What a scan reads: the paths and the settings that change what it finds."""
        cfg = self.project.config
        return (tuple(self.project.dataset_paths), cfg.data.text_field, cfg.data.csv_column,
                cfg.model.source, self.scan_options())

    def scan_options(self) -> tuple[tuple[str, Any], ...]:
        """The family's data knobs that change how the scan judges files (its spec's
        ``scan_knobs``, e.g. MIDI's track choice), as (name, value) pairs."""
        data = self.project.config.data
        return tuple((k, getattr(data, k)) for k in families.get(self.family).scan_knobs)

    @property
    def needs_rescan(self) -> bool:
        return self.wanted_key() != self._scan_key

    def rescan(self, force: bool = False) -> bool:
        """Scan the project's dataset paths if they changed since the last scan (``force``:
        anyway); False when nothing had to be done."""
        key = self.wanted_key()
        if not force and key == self._scan_key:
            return False
        self.cancel_scan()
        self._scan_key = key
        self.begin_scan()
        paths, text_field, csv_column, source, options = key
        if not paths or self._scan_fn is None or self._run is None:
            self.finish_scan()
            return True
        self._scan_token += 1
        token = self._scan_token

        def mine(fn):  # reports of a scan that has been replaced are dropped
            return lambda value: fn(value) if token == self._scan_token else None

        self._scan_job = self._run(self._scan_fn, list(paths), source, text_field, csv_column,
                                   options=dict(options),
                                   progress=mine(self._on_scan_batch),
                                   done=mine(self._on_scan_done),
                                   error=mine(self._on_scan_error))
        return True

    def cancel_scan(self) -> None:
        if self.scan_running:
            self._scan_job.cancel()
            self.changed("cancelling")

    @property
    def scan_running(self) -> bool:
        """A scan job is still going (it may be cancelling)."""
        return self._scan_job is not None and bool(self._scan_job.running)

    @property
    def scan_cancelling(self) -> bool:
        return self.scan_running and bool(getattr(self._scan_job, "cancelled", False))

    def _on_scan_batch(self, payload) -> None:
        items, done, total = payload
        self.add_items(items, done, total)

    def _on_scan_done(self, cancelled) -> None:
        self._scan_job = None
        self.finish_scan(cancelled=bool(cancelled))
        self.changed("scanned")

    def _on_scan_error(self, exc: BaseException) -> None:
        self._scan_job = None
        self.finish_scan(error=str(exc) or type(exc).__name__)
        self.changed("scanned")

    # -- the scan's life --------------------------------------------------------------
    def begin_scan(self) -> None:
        self.items = []
        self._index = {}
        self.scanning = True
        self.done = self.total = 0
        self.cancelled = False
        self.error = ""
        self._invalidate()
        if self.selected is not None:
            self.selected = None
            self.changed("selection")
        self.changed("reset")
        self.changed("scan")

    def add_items(self, items: Iterable[Item], done: int | None = None,
                  total: int | None = None) -> None:
        added = replaced = False
        for it in items:
            if it.path in self._index:  # the same file again: keep the newest result
                self.items[self._index[it.path]] = it
                replaced = True
            else:
                self._index[it.path] = len(self.items)
                self.items.append(it)
            added = True
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if added:
            self._invalidate(appended=not replaced)
            self.changed("items")
        self.changed("progress")

    def set_progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        self.changed("progress")

    def finish_scan(self, cancelled: bool = False, error: str = "") -> None:
        self.scanning = False
        self.cancelled = cancelled
        self.error = error
        if not cancelled and not error:
            self._tell_data_size()
        self.changed("scan")
        self.changed("split")

    def _tell_data_size(self) -> None:
        """The project learns how many training items an epoch holds (the Settings pane
        shows epochs; a new project's step budget follows it)."""
        count = families.get(self.family).epoch_items
        if count is not None:
            self.project.set_data_items(count(self.stats, self.project.config))

    @property
    def progress_text(self) -> str:
        if self.scanning:
            if self.total:
                return f"Scanning {self.done:,} of {self.total:,} files…"
            return "Listing files…"
        if self.error:
            return f"Scan failed: {self.error}"
        if self.cancelled:
            return f"Scan cancelled after {self.done:,} of {self.total:,} files"
        return ""

    # -- items --------------------------------------------------------------------------
    def item(self, path: str) -> Item | None:
        i = self._index.get(path)
        return self.items[i] if i is not None else None

    def row_of(self, path: str) -> int:
        return self._index.get(path, -1)

    def replace_item(self, item: Item) -> None:
        i = self._index.get(item.path)
        if i is None:
            return
        self.items[i] = item
        self._invalidate()
        self.changed("item")

    def update_caption(self, path: str, caption: str, caption_path: str) -> None:
        """Record a caption the pane has just written to its sidecar file."""
        it = self.item(path)
        if it is not None and dataclasses.is_dataclass(it):
            self.replace_item(dataclasses.replace(it, caption=caption, caption_path=caption_path))

    @property
    def problems(self) -> list[Item]:
        return [it for it in self.items if it.problem]

    # -- include / exclude --------------------------------------------------------------
    def is_included(self, item: Item | str) -> bool:
        path = item if isinstance(item, str) else item.path
        return path not in self.project.excluded

    def is_used(self, item: Item) -> bool:
        """Included by the user and usable (no error)."""
        return item.usable and item.path not in self.project.excluded

    def set_included(self, path: str, included: bool) -> None:
        self.project.set_excluded(path, not included)

    def set_included_many(self, paths: Sequence[str], included: bool) -> None:
        for p in paths:
            self.project.set_excluded(p, not included)

    # -- selection ----------------------------------------------------------------------
    def select(self, path: str | None) -> None:
        if path != self.selected:
            self.selected = path
            self.changed("selection")

    @property
    def selected_item(self) -> Item | None:
        return self.item(self.selected) if self.selected else None

    # -- derived: stats and split -------------------------------------------------------
    @property
    def family(self) -> str:
        return self.project.config.run.family

    @property
    def training_kinds(self) -> tuple[str, ...]:
        return families.get(self.family).file_kinds

    @property
    def stats(self) -> DatasetStats:
        """Counts and totals. Kept up to date incrementally while a scan appends items
        (each batch costs its own size, not the whole dataset's)."""
        acc = self._acc
        if acc is None:
            acc = self._acc = {"counts": {k: 0 for k in KIND_ORDER}, "folded": 0,
                               "excluded": 0, "duration": 0.0,
                               "tokens": 0, "documents": 0, "errors": 0, "warnings": 0,
                               "exact": True, "used": {}}
        kinds = self._kinds_or_all()
        if acc["folded"] < len(self.items) or self._stats is None \
                or self._stats_kinds != kinds:
            excluded_set = self.project.excluded
            counts = acc["counts"]
            for it in self.items[acc["folded"]:]:
                counts[it.kind] = counts.get(it.kind, 0) + 1
                if it.severity == "error":
                    acc["errors"] += 1
                elif it.problem:
                    acc["warnings"] += 1
                if it.path in excluded_set:
                    acc["excluded"] += 1
                    continue
                if not it.usable:
                    continue
                n, size = acc["used"].get(it.kind, (0, 0))
                acc["used"][it.kind] = (n + 1, size + it.size)
                if it.kind == "audio":
                    acc["duration"] += it.duration
                elif it.kind == "text":
                    acc["tokens"] += it.tokens
                    acc["documents"] += it.documents
                    acc["exact"] = acc["exact"] and it.tokens_exact
            acc["folded"] = len(self.items)
            # a file of a kind the family does not train on (music in an image project) is
            # not "included": the run never reads it (counted per kind so that a change of
            # family needs no rescan)
            used = acc["used"]
            self._stats_kinds = kinds
            self._stats = DatasetStats(
                counts={k: v for k, v in counts.items() if v}, files=len(self.items),
                included=sum(n for k, (n, _) in used.items() if kinds is None or k in kinds),
                excluded=acc["excluded"],
                total_size=sum(b for k, (_, b) in used.items() if kinds is None or k in kinds),
                unused={k: n for k, (n, _) in used.items() if kinds is not None and k not in kinds},
                duration=acc["duration"], tokens=acc["tokens"],
                tokens_exact=acc["exact"] and acc["tokens"] > 0, documents=acc["documents"],
                errors=acc["errors"], warnings=acc["warnings"])
        return self._stats

    def _kinds_or_all(self) -> tuple[str, ...] | None:
        """The family's file kinds (None: an unknown family, every kind counts)."""
        try:
            return self.training_kinds
        except Exception:  # noqa: BLE001 - an unregistered family
            return None

    def split(self) -> Split:
        data = self.project.config.data
        key = (data.val_fraction, data.split_seed, self.family)
        if self._split is None or self._split_key != key:
            self._split = self._compute_split(data.val_fraction, data.split_seed)
            self._split_key = key
        return self._split

    def _compute_split(self, val_fraction: float, seed: int) -> Split:
        kinds = self.training_kinds
        files = [it for it in self.items if it.kind in kinds and self.is_used(it)]
        if "text" in kinds:
            counts = [max(1, it.documents) for it in files]
        else:
            counts = [1 for _ in files]
        n = sum(counts)
        base = Split(n, n, 0, seed, val_fraction, family=self.family)
        if self._split_fn is None or n == 0:
            return base
        p = self._split_fn(n, val_fraction, seed)
        val = set(p.val_indices)
        roles: dict[str, str] = {}
        start = 0
        for it, c in zip(files, counts):
            k = sum(1 for i in range(start, start + c) if i in val)
            if p.by_block:
                roles[it.path] = "train + validation blocks"
            elif k == 0:
                roles[it.path] = "train"
            elif k == c:
                roles[it.path] = "validation"
            else:
                roles[it.path] = f"{k} of {c} records validation"
            start += c
        return Split(n, p.train, p.val, seed, val_fraction, by_block=p.by_block, roles=roles,
                     family=self.family)

    def role(self, path: str) -> str:
        """"train", "validation"... for a file; empty while a scan is still running (the
        split is drawn once the documents are all known)."""
        if self.scanning:
            return ""
        return self.split().roles.get(path, "")

    def set_split_seed(self, seed: int) -> None:
        self.project.replace_section("data", split_seed=int(seed))

    # -- plumbing -----------------------------------------------------------------------
    def _invalidate(self, appended: bool = False) -> None:
        """Forget derived values; ``appended``: only new items at the end (stats fold them
        in), otherwise start the stats again."""
        self._stats = None
        if not appended:
            self._acc = None
        self._split = None

    def _on_project(self, what: str) -> None:
        if what == "excluded":
            self._invalidate()
            if not self.scanning:
                self._tell_data_size()
            self.changed("included")
            self.changed("split")
        elif what == "config":
            data = self.project.config.data
            if self._split_key != (data.val_fraction, data.split_seed, self.family):
                self._split = None
                self.changed("split")

    def summary(self) -> str:
        """One line for the stats bar."""
        s = self.stats
        if not s.files:
            if self.project.dataset_paths and not self.scanning:
                return "No files found in the added folders."
            return "No files yet — add a folder or drop files here."
        parts = [", ".join(_count(n, k) for k, n in s.counts.items())]
        parts.append(f"{s.included:,} included")
        for kind, n in s.unused.items():
            parts.append(f"{_count(n, kind)} not used by this family")
        if s.excluded:
            parts.append(f"{s.excluded:,} excluded")
        parts.append(units.size(s.total_size))
        if s.tokens:
            parts.append(f"{'' if s.tokens_exact else '≈'}{s.tokens:,} tokens")
        if s.duration:
            parts.append(f"{units.duration(s.duration)} of audio")
        if s.errors or s.warnings:
            bits = []
            if s.errors:
                bits.append(f"{s.errors:,} unusable")
            if s.warnings:
                bits.append(f"{s.warnings:,} to check")
            parts.append(" and ".join(bits))
        return " · ".join(parts)
