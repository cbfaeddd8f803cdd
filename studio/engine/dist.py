"""Data parallelism through torch.distributed (launched by torchrun / accelerate launch).

Two strategies, chosen by ``train.parallel``: DDP (a whole model per process, gradients
all-reduced) and FSDP (PyTorch's ``fully_shard``: weights, gradients and optimizer state
sharded across the processes, gathered block by block for each forward and backward).
The engine stays one readable loop; this module holds the few collective calls it needs.
Single-process runs never touch torch.distributed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as tdist


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    fsdp: bool = False  # set by the engine once the model is sharded

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    # -- collectives (no-ops in a single process) ----------------------------------------
    def barrier(self) -> None:
        if self.enabled:
            tdist.barrier()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            value = value.detach().clone()
            tdist.all_reduce(value, op=tdist.ReduceOp.SUM)
            value /= self.world
        return value

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when any rank says True (stop requests, early stopping)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
        return bool(t.item())

    def share(self, obj):
        """rank 0's ``obj`` on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        tdist.broadcast_object_list(box, src=0)
        return box[0]


def full(t: torch.Tensor) -> torch.Tensor:
    """The whole tensor behind an FSDP shard (a collective: every rank calls it in the same
    order); a plain tensor is returned as it is."""
    if not tdist.is_initialized():  # one process: no shards exist (and no import to pay)
        return t
    from torch.distributed.tensor import DTensor
    return t.full_tensor() if isinstance(t, DTensor) else t


def like(full_value: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    """``full_value`` laid out like ``param``: this rank's shard when ``param`` is sharded
    (the inverse of ``full``)."""
    if not tdist.is_initialized():
        return full_value
    from torch.distributed.tensor import DTensor, distribute_tensor
    if isinstance(param, DTensor) and not isinstance(full_value, DTensor):
        return distribute_tensor(full_value.to(param.device), param.device_mesh,
                                 param.placements)
    return full_value


def shard(model: torch.nn.Module) -> int:
    """FSDP2 ``fully_shard`` on each repeated block, then on the root; returns the number of
    units. Blocks are the classes the model lists in ``_no_split_modules`` (transformers and
    diffusers models name their transformer/resnet blocks there), or else the items of the
    model's top-level ModuleLists (a UNet's down/up blocks). Freeze plans and LoRA adapters
    are applied before sharding, so frozen weights simply get no gradient shards."""
    from torch.distributed.fsdp import fully_shard
    names = set(getattr(model, "_no_split_modules", None) or ())
    units = [m for m in model.modules() if m is not model and type(m).__name__ in names]
    if not units:
        units = [m for child in model.children() if isinstance(child, torch.nn.ModuleList)
                 for m in child]
    for m in units:
        fully_shard(m)
    fully_shard(model)
    return len(units) + 1


def from_env(device_pref: str) -> Dist:
    """Join the process group torchrun set up (RANK / WORLD_SIZE / LOCAL_RANK)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_pref in ("auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(local)
    if not tdist.is_initialized():
        tdist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank, world, local)


def shutdown(d: Dist) -> None:
    if d.enabled and tdist.is_initialized():
        try:
            tdist.destroy_process_group()
        except Exception:  # noqa: BLE001 - a dead peer must not hide the real error
            pass
