"""On-disk caches of prepared data (audio codec codes, text tokens): where they live and
how they are kept under a size cap.

Every cache has the layout ``root/<settings key>/<entry>/files``: the settings key covers
everything that changes the content (a codec's weights, a tokenizer), the entry one
source file's content (its digest) or one derived product. Pruning deletes whole entries,
least recently used first, never the ones the current run uses.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path


def cache_root(name: str) -> Path:
    """``~/.cache/fine-tuning-studio/<name>`` (``$XDG_CACHE_HOME`` when set)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fine-tuning-studio" / name


def _folder_bytes(path: Path) -> int:
    total = 0
    for f in path.iterdir():
        try:
            total += f.stat().st_size
        except OSError:
            pass
    return total


def touch(folders: Iterable[Path]) -> None:
    """Mark entries used now (pruning goes by modification time)."""
    now = time.time()
    for folder in folders:
        try:
            os.utime(folder, (now, now))
        except OSError:
            pass


def prune_cache(root: str | Path, keep_bytes: int, protect: Iterable[Path]) -> tuple[int, int]:
    """Keep ``root`` under ``keep_bytes``: the least recently used entries
    (``root/<key>/<entry>`` folders, by modification time) are deleted first, those in
    ``protect`` never (they are marked used now). Returns (entries deleted, bytes freed).
    ``keep_bytes`` 0: no limit."""
    root = Path(root).expanduser()
    protect = set(protect)
    touch(protect)
    if keep_bytes <= 0 or not root.is_dir():
        return 0, 0
    entries = []  # (mtime, bytes, folder)
    try:
        for key in root.iterdir():
            if not key.is_dir():
                continue
            for folder in key.iterdir():
                if folder.is_dir() and not folder.name.startswith("."):  # not one being written
                    try:
                        entries.append((folder.stat().st_mtime, _folder_bytes(folder), folder))
                    except OSError:
                        continue
    except OSError:
        return 0, 0
    total = sum(b for _, b, _ in entries)
    removed = freed = 0
    for _, size, folder in sorted(entries, key=lambda e: e[0]):
        if total <= keep_bytes:
            break
        if folder in protect:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        total -= size
        freed += size
        removed += 1
        try:
            folder.parent.rmdir()  # only when it emptied
        except OSError:
            pass
    return removed, freed
