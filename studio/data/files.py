"""Dataset files: finding them (one folder walker for every family) and naming their
content (a digest, for duplicates and caches)."""

from __future__ import annotations

import hashlib
from pathlib import Path

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
