"""Process-group helpers of the training loop (``torchrun``: gloo on CPU, NCCL on GPU)."""

from __future__ import annotations

import os

import torch

__all__ = ["world", "init_distributed", "all_reduce_mean"]


def world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_distributed() -> bool:
    """Initialise the default group when launched by torchrun (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return True


def all_reduce_mean(x: float) -> float:
    rank, size = world()
    if size == 1:
        return x
    t = torch.tensor([x], dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return float(t) / size

