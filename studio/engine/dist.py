"""Data parallelism through torch.distributed (launched by torchrun / accelerate launch).

Two strategies, chosen by ``train.parallel``: DDP (a whole model per process, gradients
all-reduced) and FSDP (PyTorch's ``fully_shard``: weights, gradients and optimizer state
sharded across the processes, gathered block by block for each forward and backward).
The engine stays one readable loop: this module holds the few collective calls it needs
and every difference between the processes (who writes the run folder, who evaluates and
samples, when gradients cross processes), so the loop has no rank branches of its own.
Single-process runs never touch torch.distributed.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.distributed as tdist

from studio.runs.store import RunFolder

_NO_SYNC = nullcontext()  # reusable: the single-process path allocates nothing per micro-batch


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    fsdp: bool = False  # set by ``parallelize`` once the model is sharded

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def takes_part(self) -> bool:
        """Whether this rank runs the work rank 0 leads (evaluating, sampling, gathering a
        checkpoint): rank 0 always; every rank under FSDP, where a sharded model's forward
        passes and state gathers are collectives."""
        return self.main or self.fsdp

    # -- the training forward and backward -------------------------------------------------
    def parallelize(self, model: torch.nn.Module, parallel: str, log) -> None:
        """``train.parallel = "fsdp"``: shard the model across the processes (in place)."""
        if parallel != "fsdp":
            return
        if not self.enabled:
            log("train.parallel = fsdp only matters with several processes (--nproc N); "
                "this one-process run trains the whole model", "warning")
            return
        units = shard(model)
        self.fsdp = True
        log(f"FSDP: weights, gradients and optimizer state sharded across {self.world} "
            f"processes ({units} units)", "info")

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The module the training forward runs through: DDP's wrapper, or the model itself
        (one process, or FSDP, which shards the model in place). DDP fixes its gradient
        buckets at construction, so the engine wraps again whenever layer groups join."""
        if not self.enabled or self.fsdp:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP
        return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    def grad_sync(self, trained: torch.nn.Module, last: bool):
        """The context of one micro-batch's backward: gradients cross processes once per
        optimizer step, on its last micro-batch (DDP: ``no_sync`` before it; FSDP: the
        reduce-scatter only then)."""
        if self.fsdp:
            trained.set_requires_gradient_sync(last)
        elif self.enabled and not last:
            return trained.no_sync()
        return _NO_SYNC

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

    def agree(self, value):
        """Rank 0's ``value`` on every rank that computed one: FSDP ranks evaluate together
        and must take the same decisions; under DDP only rank 0 evaluated."""
        return self.share(value) if self.fsdp else value

    # -- the run folder: rank 0 writes it -----------------------------------------------
    def view(self, folder: RunFolder, sink) -> tuple[RunFolder, object]:
        """The run folder and sink this rank writes to: the real ones on rank 0; on the
        others a folder that reads checkpoints and writes nothing, and a sink that drops
        events, so the engine's code is the same on every rank."""
        return (folder, sink) if self.main else (_RankFolder(folder.path), _NullSink())

    @contextmanager
    def output_dir(self, path: Path) -> Iterator[Path]:
        """``path`` on rank 0; a throwaway folder on the other ranks (FSDP: they take part in
        sampling, but only rank 0 writes the run folder)."""
        if self.main:
            yield path
        else:
            with tempfile.TemporaryDirectory() as tmp:
                yield Path(tmp)


class _RankFolder(RunFolder):
    """What a non-zero rank sees of the run folder: it reads checkpoints, writes nothing
    (only rank 0 writes the run folder, samples and checkpoints)."""

    def write_status(self, state: str, **fields) -> None:  # noqa: ARG002
        pass

    def update_status(self, **fields) -> None:  # noqa: ARG002
        pass

    def set_status_fields(self, **fields) -> None:  # noqa: ARG002
        pass

    def start_heartbeat(self, interval: float = 0) -> None:  # noqa: ARG002
        pass

    def append_metric(self, record: dict) -> None:  # noqa: ARG002
        pass

    def truncate_metrics_after(self, step: int) -> int:  # noqa: ARG002
        return 0


class _NullSink:
    def emit(self, event: object) -> None:  # noqa: ARG002
        pass


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
