"""Distributed data parallel through the single-process code path.

One GPU:   python -m training.engine train --config run.yaml
N GPUs:    torchrun --standalone --nproc_per_node=N -m training.engine train --config run.yaml
CPU test:  torchrun --standalone --nproc_per_node=2 -m training.engine train --config run.yaml \
               device=cpu        (gloo backend)

torchrun sets RANK / LOCAL_RANK / WORLD_SIZE; without them this is a world of one and nothing
here does anything. Every rank trains on its shard of each epoch (data.shard) and predicts its
shard of the evaluation images, gathered so all ranks compute identical metrics (and take the
same early-stopping decision); only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init(device_name: str) -> tuple[World, torch.device]:
    """Join the process group when launched by torchrun; pick this process's device."""
    if device_name == "auto":
        device_name = "cuda" if torch.cuda.is_available() else "cpu"
    if "RANK" not in os.environ:
        device = torch.device(device_name)
        if device.type == "cuda" and device.index is not None:
            torch.cuda.set_device(device)
        return World(), device
    world = World(
        rank=int(os.environ["RANK"]),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        size=int(os.environ["WORLD_SIZE"]),
    )
    if device_name.startswith("cuda"):
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return world, device


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def mean_over_ranks(value: float, world: World, device: torch.device) -> float:
    if world.size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / world.size


def gather_rows(rows: torch.Tensor, world: World) -> torch.Tensor:
    """Concatenate equal-length per-rank tensors back into the order data.shard dealt them."""
    if world.size == 1:
        return rows
    parts = [torch.empty_like(rows) for _ in range(world.size)]
    dist.all_gather(parts, rows.contiguous())
    # shard() deals round-robin: row i of rank r was item i * world + r
    return torch.stack(parts, 1).flatten(0, 1)


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()
