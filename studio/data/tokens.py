"""The token cache: a corpus tokenized once, in a stream, into memory-mapped files.

Layout (the same two levels as the audio codes cache, so ``studio.data.cache`` caps both)::

    root/<tokenizer key>/<file content key>/tokens.bin   uint32, the file's documents in order
                                           /offsets.npy  int64 [documents + 1]
    root/<tokenizer key>/packed-<split key>/train.bin    int64 blocks of one split of a corpus
                                           /val.bin, meta.json

A file's entry is keyed by its bytes (and the record field it was read by) under the
tokenizer's key, so an edited file or another tokenizer never reads stale tokens. Entries
are written into a hidden temporary folder and renamed into place when complete: a run
stopped half way leaves nothing a later run would trust. Arrays come back memory-mapped
(copy-on-write), so a corpus of any size costs little resident memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from studio.data.cache import cache_root, prune_cache

if TYPE_CHECKING:
    import torch

TOKEN_CACHE_GB = 4.0          # default cap of the cache (the least recently used go first)
_PIECE = 1 << 20              # tokens converted / copied at a time


def _hash(text: str, size: int = 10) -> str:
    return hashlib.blake2b(text.encode(), digest_size=size).hexdigest()


def tokenizer_fingerprint(tokenizer) -> str:
    """A key for a tokenizer's behaviour: its full serialisation when it has one (fast
    tokenizers), else its class, vocabulary and special tokens. Duck-typed: no imports."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        return "fast:" + _hash(backend.to_str(), 16)
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    special = getattr(tokenizer, "all_special_tokens", [])
    return "slow:" + _hash(json.dumps([type(tokenizer).__name__, sorted(vocab.items()),
                                       list(special)], default=str), 16)


class TokenCache:
    """Tokens of files and packed splits under ``root`` (default
    ``~/.cache/fine-tuning-studio/text-tokens``) for one ``tokenizer`` key, kept under
    ``keep_bytes`` (0: no limit)."""

    def __init__(self, root: str | Path | None = None, *, tokenizer: str,
                 keep_bytes: int = int(TOKEN_CACHE_GB * 1e9)) -> None:
        self.root = Path(root).expanduser() if root else cache_root("text-tokens")
        self.dir = self.root / _hash(tokenizer)
        self.keep_bytes = keep_bytes
        self.used: list[Path] = []
        self.hits = 0
        self.misses = 0

    # -- one file's documents ---------------------------------------------------------
    def load(self, key: str, n_docs: int) -> list[np.ndarray] | None:
        """The token arrays of a file's ``n_docs`` documents, or None (not cached)."""
        folder = self.dir / key
        try:
            offsets = np.load(folder / "offsets.npy", allow_pickle=False)
            if len(offsets) != n_docs + 1:
                return None
            tokens = _map(folder / "tokens.bin", np.uint32, (int(offsets[-1]),))
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.used.append(folder)
        self.hits += 1
        return [tokens[a:b] for a, b in zip(offsets[:-1], offsets[1:])]

    def writer(self, key: str) -> EntryWriter:
        self.misses += 1
        return EntryWriter(self, key)

    # -- packed splits ----------------------------------------------------------------
    def packed_dir(self, parts: dict) -> Path:
        return self.dir / f"packed-{_hash(json.dumps(parts, sort_keys=True), 12)}"

    def prune(self) -> tuple[int, int]:
        """Cap the cache; this run's entries are kept (and marked used)."""
        return prune_cache(self.root, self.keep_bytes, self.used)


class EntryWriter:
    """Writes one file's entry: ``add`` token pieces, ``end_document`` after each document,
    ``commit`` to publish it. Leaving the ``with`` block without commit removes it."""

    def __init__(self, cache: TokenCache, key: str) -> None:
        self.cache, self.key = cache, key
        cache.dir.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(dir=cache.dir, prefix=".tmp-"))
        self.file = open(self.tmp / "tokens.bin", "wb")
        self.offsets = [0]
        self.count = 0

    def __enter__(self) -> EntryWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def add(self, ids: Iterable[int]) -> None:
        arr = np.asarray(ids, dtype=np.uint32).reshape(-1)
        self.file.write(arr.tobytes())
        self.count += len(arr)

    def end_document(self) -> None:
        self.offsets.append(self.count)

    def commit(self) -> list[np.ndarray]:
        """Publish the entry; return its documents' token arrays (memory-mapped)."""
        self.file.close()
        offsets = np.asarray(self.offsets, dtype=np.int64)
        np.save(self.tmp / "offsets.npy", offsets, allow_pickle=False)
        target = self.cache.dir / self.key
        try:
            os.replace(self.tmp, target)
        except OSError:     # another run published it first: theirs is as good
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.cache.used.append(target)
        tokens = _map(target / "tokens.bin", np.uint32, (int(offsets[-1]),))
        return [tokens[a:b] for a, b in zip(offsets[:-1], offsets[1:])]


def _map(path: Path, dtype, shape: tuple[int, ...]) -> np.ndarray:
    """A copy-on-write memory map (writable for torch.from_numpy, never written back)."""
    if 0 in shape:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="c", shape=shape)


class BlockWriter:
    """A token stream cut into int64 blocks of ``block_size``: in memory, or appended to
    ``path`` piece by piece (memory stays one piece) and memory-mapped at the end. The
    partial last block is dropped."""

    def __init__(self, block_size: int, path: Path | None = None) -> None:
        self.block_size, self.path = block_size, path
        self.parts: list[np.ndarray] = []
        self.file = open(path, "wb") if path is not None else None
        self.count = 0

    def add(self, tokens: np.ndarray) -> None:
        for i in range(0, len(tokens), _PIECE):
            piece = np.asarray(tokens[i:i + _PIECE], dtype=np.int64)
            if self.file is not None:
                self.file.write(piece.tobytes())
            else:
                self.parts.append(piece)
            self.count += len(piece)

    def add_blocks(self, blocks: np.ndarray) -> None:
        self.add(blocks.reshape(-1))

    def finish(self) -> np.ndarray:
        n = self.count // self.block_size
        if self.file is None:
            stream = np.concatenate(self.parts) if self.parts else np.zeros(0, np.int64)
            return stream[: n * self.block_size].reshape(n, self.block_size)
        self.file.truncate(n * self.block_size * 8)
        self.file.close()
        return _map(self.path, np.int64, (n, self.block_size))


def load_packed(folder: Path) -> tuple[np.ndarray, np.ndarray, dict] | None:
    """Packed splits written earlier: (train, val, meta), or None."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        block = int(meta["block_size"])
        train = _map(folder / "train.bin", np.int64, (int(meta["train_blocks"]), block))
        val = _map(folder / "val.bin", np.int64, (int(meta["val_blocks"]), block))
    except (OSError, ValueError, KeyError):
        return None
    return train, val, meta


def blocks_in_pieces(blocks: np.ndarray) -> Iterable[tuple[int, np.ndarray]]:
    """(first block index, blocks) pieces of about ``_PIECE`` tokens."""
    step = max(1, _PIECE // max(1, blocks.shape[1]))
    for i in range(0, len(blocks), step):
        yield i, blocks[i:i + step]


@dataclass
class TokenBlocks:
    """Token blocks (CPU int64 tensors) of the training and held-out split and a summary
    for the log: the dataset of every family that trains a causal LM on token ids (text,
    MIDI). ``train_batch`` / ``val_batch`` / ``items_in`` are what the engine calls."""

    train: "torch.Tensor"
    val: "torch.Tensor"
    summary: str
    skipped: list

    @property
    def n_train(self) -> int:
        return len(self.train)

    @property
    def n_val(self) -> int:
        return len(self.val)

    def train_batch(self, idx: "torch.Tensor", seed: int) -> "torch.Tensor":  # noqa: ARG002
        return self.train[idx]

    def val_batch(self, b: int, bs: int) -> "torch.Tensor":
        return self.val[b * bs:(b + 1) * bs]

    @staticmethod
    def items_in(batch: "torch.Tensor") -> int:
        return batch.numel()  # tokens

