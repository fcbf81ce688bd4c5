"""Process set-up for training under ``torchrun`` (plain PyTorch DDP) or alone, and the few collective calls
the trainer needs. With one process every helper is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: str) -> World:
    """Reads torchrun's environment; NCCL on GPU, gloo on CPU."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and size > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if size > 1:
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return World(rank, size, torch.device(device))


def teardown(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def cpu_threads(requested: int | None, num_workers: int, world_size: int) -> int:
    """Intra-op threads for a CPU run. OpenMP threads that share a core with DataLoader workers or another rank
    stall at every parallel region (measured here: a 2-thread step took 18x longer while another process
    used one of the 2 cores), so by default each process gets the cores left beside its workers; an explicit
    OMP_NUM_THREADS is respected."""
    if requested:
        return requested
    if "OMP_NUM_THREADS" in os.environ:
        return torch.get_num_threads()
    return max(1, (os.cpu_count() or 1) // world_size - num_workers)


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def all_agree(flag: bool, world: World) -> bool:
    """True only if ``flag`` holds on every rank (so all ranks take the same branch, or DDP would hang)."""
    if world.size == 1:
        return flag
    t = torch.tensor(float(flag), device=world.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item() >= 1)


def smallest(value: float, world: World) -> float:
    """The minimum of ``value`` over ranks: a batch size probed per rank (GPUs with other free memory) must be
    one size for all, or the ranks would step through different numbers of batches and DDP would hang."""
    if world.size == 1:
        return value
    t = torch.tensor(float(value), dtype=torch.float64, device=world.device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return float(t.item())


def gather_to_main(obj: Any, world: World) -> list[Any]:
    """Every rank's ``obj``, in rank order (one process: ``[obj]``)."""
    if world.size == 1:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def from_main(obj: Any, world: World) -> Any:
    """Rank 0's ``obj`` on every rank (decisions made once, taken by all)."""
    if world.size == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
