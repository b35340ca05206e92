"""One run over several processes (torch side): what the Trainer path needs beyond DDP's defaults.

The launcher (`jobs/launch.py`: `accelerate launch` on GPUs, torchrun's gloo processes on a CPU) starts one process
per GPU; the Trainer finds the process group from the environment. Rank 0 writes events, checkpoints and the model
(the harness gives the other ranks a NullWriter). Two things are ours: a stop request (SIGTERM reaches the ranks at
slightly different moments) is agreed over the ranks before anyone acts on it, and a resumed run must have the
process count its checkpoint was written with.
"""

from __future__ import annotations

import importlib.util
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


# --- the backends: FSDP and DeepSpeed through accelerate's plugins, set up by TrainingArguments ----------------------


def layer_classes(model: Any) -> list[str]:
    """Class names of the model's repeated blocks (its `_no_split_modules`, e.g. Qwen2DecoderLayer, BertLayer):
    what FSDP wraps one by one."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(base, "_no_split_modules", None) or [])
    return sorted({type(m).__name__ for m in base.modules() if type(m).__name__ in names})


def deepspeed_config(cfg: Any) -> dict[str, Any]:
    """The DeepSpeed config of a run, generated from ours (never hand-edited): ZeRO stage cfg.deepspeed_stage; the
    batch, accumulation, clipping and precision left 'auto' for the Trainer to fill from the same config."""
    zero: dict[str, Any] = {"stage": cfg.deepspeed_stage, "overlap_comm": True, "contiguous_gradients": True}
    if cfg.deepspeed_stage == 3:  # the exported model is gathered into 16-bit full weights
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {"zero_optimization": zero, "train_micro_batch_size_per_gpu": "auto", "train_batch_size": "auto",
            "gradient_accumulation_steps": "auto", "gradient_clipping": "auto", "bf16": {"enabled": "auto"},
            "fp16": {"enabled": "auto"}}


def backend_args(cfg: Any, model: Any) -> dict[str, Any]:
    """TrainingArguments for cfg.distributed_backend when more than one process runs ({} for DDP or one process).
    FSDP: full shard, each decoder layer its own unit, sharded state-dict checkpoints (each rank writes its shard;
    resume reads them back); LoRA with FSDP keeps the original parameters, as peft documents."""
    if world_size() == 1 or cfg.distributed_backend == "ddp":
        return {}
    import torch

    if not torch.cuda.is_available():  # accelerate shards only over accelerators; on a CPU it would silently be DDP
        raise ValueError(f"distributed_backend={cfg.distributed_backend} shards the model over CUDA GPUs; on a CPU "
                         "set distributed_backend=ddp")
    if cfg.distributed_backend == "deepspeed":
        if importlib.util.find_spec("deepspeed") is None:
            raise ImportError("distributed_backend=deepspeed needs DeepSpeed: pip install "
                              "'autotrain-gradio[deepspeed]' (or set distributed_backend=fsdp / ddp)")
        return {"deepspeed": deepspeed_config(cfg)}
    layers = layer_classes(model)
    if not layers:
        raise ValueError(f"distributed_backend=fsdp: {type(model).__name__} names no decoder-layer class to wrap "
                         "(_no_split_modules); use distributed_backend=ddp")
    # FSDP2 (fully_shard): resharding after each forward is FULL_SHARD.
    return {"fsdp": True, "fsdp_config": {"version": 2, "reshard_after_forward": True,
                                          "transformer_layer_cls_to_wrap": layers,
                                          "state_dict_type": "SHARDED_STATE_DICT"}}


def describe_backend(trainer: Any, model: Any) -> str:
    """One log line on how the processes share the model ("" for one process)."""
    if world_size() == 1:
        return ""
    if getattr(trainer, "is_fsdp_enabled", False):
        return f"fsdp: full shard over {world_size()} processes, each {', '.join(layer_classes(model))} a unit"
    if getattr(trainer, "is_deepspeed_enabled", False):
        return f"deepspeed: ZeRO stage {trainer.accelerator.state.deepspeed_plugin.zero_stage} over {world_size()}"
    return f"ddp: a full copy on each of {world_size()} processes"


def full_state_dict_for_export(trainer: Any) -> None:
    """Before the final save: an FSDP run gathers full weights (checkpoints stay sharded)."""
    if getattr(trainer, "is_fsdp_enabled", False):
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
