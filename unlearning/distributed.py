"""Training on several processes or machines with torch.distributed, as ``torchrun`` launches them.

``torchrun --nproc_per_node N -m unlearning train ...`` starts N copies of the command with
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. ``start`` joins
them into one process group: NCCL when they train on CUDA GPUs (one GPU per process, the local
rank's), gloo on the CPU. Without those variables (a plain ``python -m unlearning train``) nothing
is initialised and training runs exactly as in one process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .device import pick_device


@dataclass(frozen=True)
class Launch:
    """Where this process sits among the ones torchrun started."""

    rank: int
    local_rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launch_from_environment() -> Launch | None:
    """The torchrun launch this process belongs to; None when it runs alone (no ``WORLD_SIZE`` above 1)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ValueError("RANK, LOCAL_RANK and WORLD_SIZE must be whole numbers (torchrun sets them)") from None
    if world <= 1:
        return None
    if not 0 <= rank < world or local < 0:
        raise ValueError(f"RANK {rank} / LOCAL_RANK {local} do not fit WORLD_SIZE {world}")
    return Launch(rank, local, world)


def start(launch: Launch, device: str | torch.device | None = None) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo elsewhere) and return the device this rank trains on."""
    dev = pick_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", launch.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
        backend = "nccl"
    elif dev.type == "cpu":
        backend = "gloo"
    else:
        raise ValueError(f"distributed training runs on CUDA GPUs or the CPU, not on {dev.type}")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=launch.rank, world_size=launch.world_size)
    return dev


def stop() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op alone)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def world_size() -> int:
    """How many processes train together: 1 unless a process group is running."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """True in the one process that reports progress and writes files (rank 0, or the only process)."""
    return rank() == 0
