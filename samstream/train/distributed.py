"""Distributed training on PyTorch's own engine: torchrun + DistributedDataParallel.

Launch with ``torchrun --nproc_per_node N -m samstream.cli train CONFIG.yaml``. Each process
reads RANK / WORLD_SIZE / LOCAL_RANK from the environment; NCCL is used on GPUs and gloo on
CPUs. Without those variables training runs in one process with no process group.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from samstream.errors import InvalidInputError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _pick_device(device: str, local_rank: int) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise InvalidInputError("device: 'cuda' was requested but CUDA is not available")
        return torch.device("cuda", local_rank)
    if device in ("cpu", "mps"):
        return torch.device(device)
    if device.startswith("cuda:"):
        return torch.device(device)
    raise InvalidInputError(f"device: expected auto, cpu, cuda, cuda:N or mps, got {device!r}")


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group described by torchrun's environment (if any); pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = _pick_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend)
    return DistContext(rank, world, local_rank, dev)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def reduce_mean(values: dict[str, float], ctx: DistContext) -> dict[str, float]:
    """Average scalar metrics over ranks (identity in one process)."""
    if not ctx.distributed or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64,
                     device=ctx.device if ctx.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    t /= ctx.world_size
    return {k: float(v) for k, v in zip(keys, t.tolist())}


class ShardedSampler(torch.utils.data.Sampler[int]):
    """Each rank's share of a seeded per-epoch permutation, optionally starting part-way in.

    Like :class:`torch.utils.data.DistributedSampler` (rank ``r`` takes every ``world``-th
    index, the tail is dropped so ranks get equal shares), plus ``start``: the number of this
    rank's indices to skip, so that a resumed run continues where it stopped without loading
    the skipped items.
    """

    def __init__(self, length: int, ctx: DistContext, seed: int = 0, shuffle: bool = True) -> None:
        if length < ctx.world_size:
            raise InvalidInputError(f"dataset: {length} items cannot be shared by {ctx.world_size} ranks")
        self.length, self.ctx, self.seed, self.shuffle = length, ctx, seed, shuffle
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    @property
    def per_rank(self) -> int:
        return self.length // self.ctx.world_size

    def indices(self) -> list[int]:
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.length, generator=gen).tolist()
        else:
            order = list(range(self.length))
        order = order[: self.per_rank * self.ctx.world_size]
        return order[self.ctx.rank :: self.ctx.world_size]

    def __iter__(self):
        return iter(self.indices()[self.start :])

    def __len__(self) -> int:
        return self.per_rank - self.start
