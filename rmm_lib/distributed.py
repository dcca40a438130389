"""Several processes, one per GPU, through PyTorch's own distributed stack (torchrun + DDP).

Why PyTorch's stack and not Hugging Face accelerate: the trainer already owns what accelerate would
take over -- mixed precision (autocast + GradScaler), device placement, the checkpoint format with
its RNG states, and the hooks that edit gradients between ``backward()`` and the optimiser step.
With DDP the one-process path stays exactly as it was (bit for bit) and the several-process path
adds only a model wrapper, a sampler and a few collectives; accelerate would route ``backward``,
the scaler and ``save_state`` through its own objects in both paths.

``torchrun --nproc_per_node N -m rmm_lib run KEY`` starts the processes; the command line calls
:func:`start_from_torchrun` and :func:`stop`. Everything here reads the process group through
``torch.distributed`` (never the environment), and every helper is a no-op in one process, so
library code calls them unconditionally.
"""
from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """How many processes train together (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    """Rank 0: the one process that writes records, checkpoints and caches."""
    return rank() == 0


def start_from_torchrun() -> bool:
    """Join the process group when torchrun started this process (NCCL with CUDA, else gloo);
    returns whether it did. Each process takes the GPU of its local rank."""
    if not dist.is_available() or not dist.is_torchelastic_launched() or dist.is_initialized():
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(dist.get_node_local_rank(fallback_rank=0))
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return True


def stop() -> None:
    """Leave the process group (if any), so the processes exit cleanly."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every process gets here (no-op in one process)."""
    if is_distributed():
        dist.barrier()


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``tensor`` over every process (a new tensor; ``tensor`` itself in one
    process). Every process must call it, with tensors of one shape, in the same order."""
    if not is_distributed():
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def gather_objects(obj) -> list:
    """``obj`` of every process, in rank order (``[obj]`` in one process). Picklable objects only."""
    if not is_distributed():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def wrap_data_parallel(module: torch.nn.Module, find_unused_parameters: bool) -> torch.nn.Module:
    """``module`` in DistributedDataParallel: its parameters are broadcast from rank 0 now, and the
    gradients of every backward through its ``__call__`` are averaged over the processes.

    ``find_unused_parameters`` for models whose steps leave some trainable parameters out of the
    graph (MLA's one-modality steps): DDP then walks the graph after each forward to mark them.
    Inputs are already on the device (the trainer moves each batch), so no ``device_ids``."""
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=None,
                                                     find_unused_parameters=find_unused_parameters)


__all__ = [
    "is_distributed", "world_size", "rank", "is_main_process", "start_from_torchrun", "stop", "barrier",
    "sum_over_ranks", "gather_objects", "wrap_data_parallel",
]
