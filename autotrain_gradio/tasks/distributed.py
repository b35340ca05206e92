"""One run over several processes (torch side): what the Trainer path needs beyond DDP's defaults.

The launcher (`jobs/launch.py`: `accelerate launch` on GPUs, torchrun's gloo processes on a CPU) starts one process
per GPU; the Trainer finds the process group from the environment. Rank 0 writes events, checkpoints and the model
(the harness gives the other ranks a NullWriter). Two things are ours: a stop request (SIGTERM reaches the ranks at
slightly different moments) is agreed over the ranks before anyone acts on it, and a resumed run must have the
process count its checkpoint was written with.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from autotrain_gradio.tasks.common import RunContext


def world_size() -> int:
    """Processes in this run: the process group's, or before it exists the launcher's WORLD_SIZE."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def stop_agreed(ctx: RunContext) -> bool:
    """ctx.stop_requested on any rank, on every rank: a rank that stopped a step before the others would leave them
    waiting in the next collective forever. One tiny all-reduce per step (nothing without a process group)."""
    stop = ctx.stop_requested
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return stop
    import torch

    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    flag = torch.tensor([1.0 if stop else 0.0], device=device)
    dist.all_reduce(flag)
    if flag.item() > 0 and not stop:
        ctx.stop_requested = True
    return flag.item() > 0


def checkpoint_world(checkpoint: str | Path) -> int:
    """The number of processes that wrote a Trainer checkpoint: one RNG state per rank (`rng_state_<rank>.pth`),
    or a single `rng_state.pth`."""
    folder = Path(checkpoint)
    ranked = list(folder.glob("rng_state_*.pth"))
    return len(ranked) if ranked else 1


def check_resume(checkpoint: str | None, cfg: Any) -> None:
    """A run resumes with the process count it was checkpointed with (each rank's data position and RNG state are
    in the checkpoint); otherwise one line saying which count to set."""
    if checkpoint is None:
        return
    written, now = checkpoint_world(checkpoint), max(world_size(), 1)
    if written != now:
        raise ValueError(f"{Path(checkpoint).name} was written by {written} process{'es' if written > 1 else ''} "
                         f"and this run has {now}: resume with num_processes={written} (the same GPUs count)")
