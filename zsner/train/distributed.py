"""Data-parallel training over the processes that ``torchrun`` starts (torch DDP), one process per device.

Without torchrun (``WORLD_SIZE`` unset or 1) every helper here is the identity of a one-process run. Under it,
``start`` joins the process group (nccl on CUDA, one device per ``LOCAL_RANK``; gloo on the CPU). Every process
builds the same plan from the same seed; ``shard`` gives each its part of a micro-batch and the factor that makes
DDP's average of the processes' gradients equal the one-process gradient of the whole micro-batch. The first
process (``is_main``) evaluates and writes the run folder; the others take its decisions through ``broadcast`` and
wait at ``barrier`` (one machine, or a file system every process sees).
"""
from __future__ import annotations

import gc
import os
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..device import resolve_device
from ..errors import ZsnerError

TIMEOUT = timedelta(hours=2)  # the others wait while the first process evaluates (a big test set, a slow model)


def world() -> int:
    """Processes in the run: torchrun's ``WORLD_SIZE`` (1 without torchrun)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def rank() -> int:
    return int(os.environ.get("RANK", "0")) if world() > 1 else 0


def is_main() -> bool:
    return rank() == 0


def active() -> bool:
    """Joined a process group of more than one process (collectives below are no-ops otherwise)."""
    return world() > 1 and dist.is_available() and dist.is_initialized()


def local_device(device) -> str:
    """This process's device: ``cuda:LOCAL_RANK`` when ``device`` is CUDA under torchrun, else ``device``."""
    if world() > 1 and torch.device(device).type == "cuda":
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return str(device)


def start(device: str) -> None:
    """Join torchrun's process group once (nothing without torchrun); ``device`` is the run's ``--device``."""
    if world() == 1 or active():
        return
    chosen = resolve_device(device)
    backend = "gloo"
    if chosen.type == "cuda":
        if chosen.index is not None:
            raise ZsnerError(f"--device {device}: under torchrun each process uses cuda:LOCAL_RANK; "
                             "pass --device cuda or auto")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise ZsnerError(f"torchrun started process {local} on a machine with {torch.cuda.device_count()} "
                             "CUDA device(s): use --nproc_per_node at most that")
        torch.cuda.set_device(local)
        backend = "nccl"
    dist.init_process_group(backend, timeout=TIMEOUT)


def stop(finished: bool = True) -> None:
    """Leave the process group; ``finished``: after a barrier, so none leaves while another still talks to it. The
    run's DDP objects (held in reference cycles) are freed first: freed after the group, gloo can abort the exit."""
    if active():
        gc.collect()
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast(value):
    """The first process's ``value`` (any picklable object), on every process."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value) -> list:
    """Every process's ``value``, in rank order, on every process."""
    if not active():
        return [value]
    values = [None] * world()
    dist.all_gather_object(values, value)
    return values


def average(values: dict[str, float]) -> dict[str, float]:
    """The mean over the processes of each named number (logged loss means: the whole batch's)."""
    gathered = gather(values)
    return {name: sum(item[name] for item in gathered) / len(gathered) for name in values}


def broadcast_parameters(module: nn.Module) -> None:
    """Copy the first process's parameters and buffers into every process's ``module`` (in place)."""
    if active():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def shard(items: list, weights: list[int] | None = None) -> tuple[list, float]:
    """This process's items of a micro-batch (every ``world``-th from its rank) and the factor for its loss, a mean
    over its items: ``world × its weight / the batch's weight`` (``weights``: each item's count in the mean, default
    1), so that DDP's averaged gradient is the gradient of the mean over the whole batch. A process left without
    items takes the first one with factor 0 (it still runs forward and backward). One process: ``(items, 1.0)``."""
    count, me = world(), rank()
    weights = [1] * len(items) if weights is None else weights
    mine = list(items[me::count])
    if not mine:
        return list(items[:1]), 0.0
    return mine, count * sum(weights[me::count]) / sum(weights)


def seed_others(seed: int, salt: int = 0) -> None:
    """On every process but the first, reseed torch's global generator (dropout masks) from ``(seed, rank, salt)``,
    so the processes draw independent masks; the first keeps the run's own stream."""
    if rank() > 0:
        torch.manual_seed(int(np.random.SeedSequence([seed, rank(), salt]).generate_state(1)[0]))


class _Closure(nn.Module):
    """A module whose forward runs a loss closure over ``model``: every forward pass of a step (source, target,
    auxiliary heads) happens inside one DDP forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, compute):
        return compute()


def replicate(model: nn.Module) -> nn.parallel.DistributedDataParallel:
    """DDP over ``model`` (already on this process's device; the first process's weights are copied to all):
    ``replica(lambda: losses)`` computes losses whose backward all-reduces the gradients; ``replica.no_sync()``
    skips that for micro-batches inside an accumulated step."""
    return nn.parallel.DistributedDataParallel(_Closure(model), forward_sync_buffers=False)
