"""Data parallelism over processes and machines with torch.distributed, launched by torchrun.

    torchrun --nproc_per_node=2 -m latentlab train cs236_vae
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 --nproc_per_node=8 -m latentlab train ...

Every rank holds the whole model and the whole dataset in memory; each global batch of
train.batch_size is split across the ranks by the batcher. After each backward pass the
gradients of the phase's parameters are averaged over ranks in one flat all-reduce, so the
step equals a single-process step on the global batch (the per-rank losses are means over
equal shares). gloo on CPU, nccl on CUDA. Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: torch.device) -> World:
    """Join the process group torchrun set up (no-op for a single process)."""
    if not launched_by_torchrun():
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    return World(dist.get_rank(), dist.get_world_size(), local_rank)


def device_for(world: World, device: torch.device) -> torch.device:
    """On CUDA each local rank takes its own GPU."""
    return torch.device("cuda", world.local_rank) if device.type == "cuda" and world.distributed else device


def average_gradients(params: list[torch.nn.Parameter], world: World) -> None:
    """g ← (1/W) Σ_ranks g, for every parameter with a gradient, in one flat all-reduce."""
    grads = [p.grad for p in params if p.grad is not None]
    if not world.distributed or not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= world.size
    for g, synced in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(synced)


def broadcast_parameters(module: torch.nn.Module, world: World) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if world.distributed:
        for t in module.state_dict().values():
            dist.broadcast(t, 0)


def broadcast_object(obj, world: World):
    """Rank 0's value of a picklable object (e.g. the run directory name) on every rank."""
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, 0)
    return box[0]


def gather_rng_states(world: World) -> list[torch.Tensor]:
    """Every rank's CPU RNG state, so a resumed run continues each rank's own random stream."""
    state = torch.get_rng_state()
    if not world.distributed:
        return [state]
    states = [torch.empty_like(state) for _ in range(world.size)]
    dist.all_gather(states, state) if dist.get_backend() == "gloo" else _gather_via_cuda(states, state)
    return states


def _gather_via_cuda(states: list[torch.Tensor], state: torch.Tensor) -> None:
    cuda_states = [s.cuda() for s in states]
    dist.all_gather(cuda_states, state.cuda())
    for s, c in zip(states, cuda_states):
        s.copy_(c.cpu())


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def shutdown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
