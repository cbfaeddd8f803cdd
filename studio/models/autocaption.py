"""Auto-captioning: a captioning model writes the ``.txt`` sidecars a dataset lacks.

The rules (the CLI's ``studio caption`` and the dataset pane's Auto-caption dialog share
them):

* Only images *without* a caption file are captioned into sidecars. ``all_images``
  captions every image, for review: those proposals are never written over an existing
  caption unless the user says so (``overwrite``: the CLI's flag, the dialog's
  confirmation).
* Every write goes through ``studio.data.captioned.CaptionEdits`` with a journal file, so
  an overwritten caption's old bytes are recoverable (the dialog's Undo; the journal after
  a crash).
* A review file (JSON lines: image, proposed caption, current caption) can be edited by
  hand and accepted later (``studio caption FOLDER --accept FILE``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from studio.core.errors import DataError
from studio.core.paths import user_data_dir


@dataclass
class Proposal:
    image: Path
    caption: str                 # what the model wrote (or the user's edit)
    current: str | None = None   # the image's caption file's text now; None: it has none


def journal_path() -> Path:
    """Where caption writes are journalled (old bytes kept, base64)."""
    return user_data_dir() / "caption-journal.jsonl"


def edits(journal: Path | None = None):
    from studio.data.captioned import CaptionEdits

    return CaptionEdits(journal or journal_path())


def find_images(paths: str | Path | Iterable[str | Path], all_images: bool
                ) -> list[tuple[Path, str | None]]:
    """(image, its current caption or None) for the images to caption: those without a
    caption file, or every image with ``all_images``."""
    from studio.data.captioned import caption_file_of, read_caption_file
    from studio.data.image import collect_images

    files, _skipped = collect_images(paths if not isinstance(paths, (str, Path))
                                     else [paths])
    out = []
    for f in files:
        sidecar = caption_file_of(f)
        current = read_caption_file(sidecar)[0] if sidecar else None
        if all_images or sidecar is None:
            out.append((Path(f), current))
    return out


def propose(source: str, images: list[tuple[Path, str | None]], *, device: str = "cpu",
            max_new_tokens: int = 32, progress: Callable[[int, int], None] | None = None,
            cancelled: Callable[[], bool] | None = None, captioner=None) -> list[Proposal]:
    """Caption ``images`` with the model at ``source`` (``starter:captioning``, a run's
    export or best weights folder, a local folder, a hub id). Stops early when
    ``cancelled()``; returns the proposals made so far."""
    import torch

    from studio.models.captioning import caption_images, load_captioner

    cap = captioner or load_captioner(source, torch.device(device))
    texts = caption_images(cap, [p for p, _ in images], max_new_tokens, progress=progress,
                           cancelled=cancelled)
    return [Proposal(p, t, cur) for (p, cur), t in zip(images, texts)]


def apply(proposals: list[Proposal], *, overwrite: bool = False, journal=None,
          label: str = "auto-caption") -> tuple[list[Path], list[Path]]:
    """Write the proposals as sidecars: (images written, images left alone because they
    have a caption file and ``overwrite`` is off). One undo step in ``journal`` (a
    ``CaptionEdits``, or a new one on the journal file)."""
    from studio.data.captioned import caption_file_of

    book = journal if journal is not None else edits()
    todo, kept = {}, []
    for p in proposals:
        if caption_file_of(p.image) is not None and not overwrite:
            kept.append(p.image)   # checked again now: a sidecar may have appeared since
        elif p.caption.strip():
            todo[p.image] = p.caption
    book.write(todo, label)
    return list(todo), kept


def write_review(proposals: list[Proposal], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for p in proposals:
            f.write(json.dumps({"image": str(p.image), "caption": p.caption,
                                "current": p.current}, ensure_ascii=False) + "\n")
    return path


def read_review(path: Path) -> list[Proposal]:
    out = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(str(path), f"cannot read the review file ({e})",
                        "give the file `studio caption --all` wrote") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            out.append(Proposal(Path(rec["image"]), str(rec["caption"]), rec.get("current")))
        except (ValueError, KeyError, TypeError):
            raise DataError(str(path), f"line {n} is not a review record",
                            'each line must be {"image": ..., "caption": ...}') from None
    return out
