"""Dataset files: finding them (one folder walker for every family) and naming their
content (a digest, for duplicates and caches)."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import DataError

_BLOCK = 1 << 20        # bytes read at a time for hashing


def file_digest(path: str | Path) -> str:
    """blake2b of the file's bytes (hex), read block by block."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(_BLOCK):
            h.update(chunk)
    return h.hexdigest()


def digest_or_none(path: str | Path) -> str | None:
    """``file_digest``, or None when the file cannot be read (its reader says why)."""
    try:
        return file_digest(path)
    except OSError:
        return None


# -- finding files ------------------------------------------------------------------------

CAPTION_EXT = ".txt"
CAPTION_EXTENSIONS = (".txt", ".caption")   # kohya's two sidecar conventions, .txt first
# Extensions of media files whose same-name .txt is a caption (a sidecar), not a document.
MEDIA_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif",
                    ".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif")


@dataclass(frozen=True)
class Skipped:
    """A file (or part of one) that was not used. ``reason`` says why and how to fix it."""

    path: str
    reason: str


@dataclass(frozen=True)
class Found:
    """One thing ``walk`` reached. ``folder_names`` are the names beside it when it was
    found in a folder (None for a path given directly); ``problem`` is set for a broken
    link or a folder that cannot be listed; ``missing`` for a given path that does not
    exist."""

    path: Path
    root: Path
    folder_names: frozenset[str] | None = None
    problem: str = ""
    missing: bool = False

    @property
    def is_caption(self) -> bool:
        """A ``name.txt`` (or ``name.caption``) beside a same-name image or audio file (case-insensitive): its
        caption or description. A path given directly is never a caption unless its folder
        holds such a file too (``caption_beside_media`` decides for given paths)."""
        names = self.folder_names
        if names is None:
            return False
        return _caption_in(self.path, names)


def _caption_in(path: Path, names: frozenset[str] | set[str]) -> bool:
    stem, ext = os.path.splitext(path.name)
    if ext.lower() not in CAPTION_EXTENSIONS:
        return False
    stem = stem.lower()
    return any(os.path.splitext(n)[0].lower() == stem and
               os.path.splitext(n)[1].lower() in MEDIA_EXTENSIONS for n in names)


def caption_beside_media(path: Path) -> bool:
    """A given ``name.txt`` whose folder holds a same-name image or audio file."""
    try:
        return _caption_in(path, set(os.listdir(path.parent)))
    except OSError:
        return False


class WalkCancelled(Exception):
    pass


def walk(paths: str | Path | Iterable[str | Path],
         cancel: threading.Event | None = None) -> Iterator[Found]:
    """Every file under ``paths``, in a stable order: a given file as it is, a folder
    recursively in sorted name order (subfolders walked where they sort), leaving out hidden
    entries (``.git``, ``.DS_Store``), following links to folders but never a folder twice
    (so a link loop ends). A file reached twice (a link, or given twice) comes once.
    Raises ``WalkCancelled`` between folders once ``cancel`` is set."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    seen_dirs: set[str] = set()
    seen_files: set = set()

    def first_time(path: Path) -> bool:
        try:
            st = os.stat(path)
            key = (st.st_dev, st.st_ino)
        except OSError:
            key = str(path)   # a broken link: once
        if key in seen_files:
            return False
        seen_files.add(key)
        return True

    def walk_folder(folder: Path, root: Path) -> Iterator[Found]:
        if cancel is not None and cancel.is_set():
            raise WalkCancelled
        key = os.path.realpath(folder)
        if key in seen_dirs:      # a link back to a folder already walked (or a loop)
            return
        seen_dirs.add(key)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            yield Found(folder, root, problem=f"folder cannot be listed: {os_reason(e)}")
            return
        names = frozenset(e.name for e in entries)
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = folder / entry.name
            try:
                is_dir = entry.is_dir()   # follows links
            except OSError:
                is_dir = False
            if is_dir:
                yield from walk_folder(path, root)
            elif entry.is_symlink() and not path.exists():
                if first_time(path):
                    yield Found(path, root, names, problem="broken link: its target does not "
                                                           "exist")
            elif first_time(path):
                yield Found(path, root, names)

    for given in paths:
        path = Path(os.path.expanduser(str(given)))
        if path.is_dir():
            yield from walk_folder(path, path)
        elif os.path.lexists(path):
            if first_time(path):
                yield Found(path, path)
        else:
            yield Found(path, path, missing=True)


def os_reason(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


def collect(paths: str | Path | Sequence[str | Path], extensions: Iterable[str], what: str,
            captions_given: bool = True) -> tuple[list[Path], list[Skipped]]:
    """The dataset files under ``paths`` for one family, and the rest with reasons.

    ``extensions``: what the family reads; ``what``: "text", "image" or "audio" (for
    messages). Captions (``Found.is_caption``) are passed over silently, and so is a caption
    given directly unless ``captions_given`` is False (a text dataset reads a .txt it is
    given). A path that does not exist raises ``DataError``."""
    extensions = tuple(e.lower() for e in extensions)
    files: list[Path] = []
    skipped: list[Skipped] = []
    for found in walk(paths):
        path = found.path
        if found.missing or (found.folder_names is None and not path.exists()
                             and not found.problem):
            raise DataError(str(path), "does not exist",
                            "check data.paths (relative paths are relative to the config file)")
        if found.problem:
            skipped.append(Skipped(str(path), found.problem))
            continue
        try:
            st = path.stat()
        except OSError as e:
            skipped.append(Skipped(str(path), f"cannot be read: {os_reason(e)}"))
            continue
        if not stat.S_ISREG(st.st_mode):
            skipped.append(Skipped(str(path), f"not a regular file (a device, pipe or socket); "
                                              f"point data.paths at ordinary {what} files"))
        elif found.is_caption or (captions_given and found.folder_names is None
                                  and caption_beside_media(path)):
            continue
        elif path.suffix.lower() not in extensions:
            kind = path.suffix.lower() or "(no extension)"
            skipped.append(Skipped(str(path), f"unsupported file type {kind}; {what} datasets "
                                              f"read {', '.join(extensions)}"))
        else:
            files.append(path)
    return files, skipped
