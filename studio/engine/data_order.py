"""The order examples train in. Each epoch is a seeded permutation and the data position is
the number of examples consumed, so resuming (even with a different micro-batch size after
an out-of-memory fit) needs nothing but that number."""

from __future__ import annotations

from typing import Any

import torch


class DataOrder:
    def __init__(self, data: Any, seed: int, rank: int = 0, world: int = 1) -> None:
        self.data, self.seed, self.rank, self.world = data, seed, rank, world
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def batch(self, pos: int, bs: int) -> tuple[Any, int]:
        """The micro-batch at data position ``pos`` and the position after it. With N
        processes the global micro-batch is N x ``bs`` examples, a slice of it each."""
        n, want = self.data.n_train, bs * self.world
        parts, taken, at = [], 0, pos
        while taken < want:  # a batch that crosses an epoch end is topped up from the next
            epoch, off = divmod(at, n)  # epoch's order, so every step sees a full batch
            chunk = self._order(epoch)[off:off + want - taken]
            parts.append(chunk)
            taken += len(chunk)
            at += len(chunk)
        glob = torch.cat(parts)
        idx = glob[self.rank * bs:(self.rank + 1) * bs]
        # the seed makes per-example randomness (augmentation) a function of the position
        batch = self.data.train_batch(idx, self.seed * 1_000_003 + pos + self.rank * bs)
        return batch, pos + len(glob)

    def _order(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            # a dataset may order its own epochs (text-to-image: runs of one bucket)
            order = getattr(self.data, "epoch_order", None)
            self._perm = order(g) if order else torch.randperm(self.data.n_train, generator=g)
            self._epoch = epoch
        return self._perm
