"""Setting a diffusion run up: the processes (accelerate, precision), what is trained (a LoRA on the frozen denoiser,
or every weight, with the text encoders of a full SDXL / SD1.5 fine-tune) and its optimizer, and handing the trained
modules to DDP. The loop that uses them is `train.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch

from autotrain_gradio.tasks import optim
from autotrain_gradio.tasks.common import RunContext, resolve_precision
from autotrain_gradio.tasks.diffusion import emulation, offload
from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.tasks.diffusion.families import family

# Other ranks wait while rank 0 alone downloads and runs the text encoders (T5-XXL) to fill the cache, renders
# samples or writes a 24-48 GB checkpoint; torch's default of 10 minutes would end the run in the middle of that.
PROCESS_GROUP_TIMEOUT = timedelta(hours=3)


@dataclass
class Processes:
    """This process's place in the run and the precision it trains in."""

    accelerator: Any
    precision: str
    frozen_dtype: torch.dtype  # frozen weights and cached embeddings; trained weights stay fp32

    @property
    def device(self) -> torch.device:
        return self.accelerator.device


def start_processes(cfg: DiffusionConfig, ctx: RunContext) -> Processes:
    """The Accelerator for this run (one process, or this rank of several) and the precision it really uses."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs

    # The configured precision is kept on a CPU only by tests, to run the GPU paths there (emulation.py).
    precision = cfg.mixed_precision if emulation.enabled() else resolve_precision(cfg.mixed_precision)
    # Only a trained SDXL first text encoder has weights off the loss path (its last layer: SDXL reads the
    # penultimate one), which DDP must be told about. Gradients live in DDP's buckets, not in a second copy
    # (+9.6 GiB for a full SDXL fine-tune, +44 GiB for Flux).
    ddp = DistributedDataParallelKwargs(find_unused_parameters=cfg.task == "diffusion-full" and cfg.train_text_encoder,
                                        gradient_as_bucket_view=True)
    # A notebook may run several trainings in one process, and accelerate keeps the first one's precision in a
    # process-wide singleton that refuses a different one: forget it (the process group, in PartialState, stays).
    AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available(),
                              kwargs_handlers=[ddp, InitProcessGroupKwargs(timeout=PROCESS_GROUP_TIMEOUT)])
    if emulation.enabled():
        emulation.keep_fp16(accelerator)
    if precision != cfg.mixed_precision:
        ctx.log(f"mixed_precision={cfg.mixed_precision!r} -> {precision!r} on this device")
    if cfg.task == "diffusion-full" and cfg.train_text_encoder and not family(cfg.model_type).trains_text_encoder:
        raise ValueError("train_text_encoder is for sdxl / sd15; a Flux full fine-tune trains the transformer only")
    frozen = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    return Processes(accelerator, precision, frozen)


def least_free_memory(device: torch.device, world: int) -> int:
    """Free bytes of this rank's GPU, or the smallest over all ranks when there are several."""
    free = torch.tensor(torch.cuda.mem_get_info(device)[0], device=device, dtype=torch.int64)
    if world > 1:
        torch.distributed.all_reduce(free, op=torch.distributed.ReduceOp.MIN)
    return int(free.item())


def make_optimizer(cfg: DiffusionConfig, groups: list[dict]) -> torch.optim.Optimizer:
    """cfg.optimizer from the one table (tasks.optim); a missing optional package fails here, before any step,
    with the pip line."""
    return optim.make_optimizer(cfg.optimizer, groups, cfg.learning_rate, cfg.weight_decay)


def trainable(cfg: DiffusionConfig, ctx: RunContext, denoiser: torch.nn.Module, encoders: list | None,
              device: torch.device) -> tuple[dict[str, torch.nn.Module], list[dict]]:
    """({name: trained module}, optimizer parameter groups): a fresh LoRA adapter (fp32) on the frozen denoiser,
    or the whole denoiser, plus the text `encoders` when they are trained; block swapping and gradient
    checkpointing switched on as cfg says."""
    if cfg.task == "diffusion-lora":
        from peft import LoraConfig

        denoiser.requires_grad_(False)
        denoiser.add_adapter(LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                        target_modules=cfg.lora_target_modules or
                                        list(family(cfg.model_type).lora_targets),
                                        init_lora_weights="gaussian", use_dora=cfg.use_dora))
        for p in denoiser.parameters():  # the adapter trains in fp32 even on a bf16 base
            if p.requires_grad:
                p.data = p.data.float()
    if cfg.blocks_to_swap:  # frozen weights of N blocks stay in CPU memory, streamed in for forward and backward
        swap = offload.LayerStreamer(offload.flux_blocks_to_swap(denoiser, cfg.blocks_to_swap), device, train=True)
        ctx.log(f"block swapping: {len(swap.layers)} blocks, {swap.streamed_bytes() / 2**30:.2f} GiB in CPU memory")
    if cfg.gradient_checkpointing:
        denoiser.enable_gradient_checkpointing()
        for e in encoders or []:
            e.gradient_checkpointing_enable()
    denoiser.train()
    trained = {"denoiser": denoiser}
    groups = [{"params": [p for p in denoiser.parameters() if p.requires_grad], "lr": cfg.learning_rate}]
    if encoders:
        for i, e in enumerate(encoders):
            e.train()
            trained[f"text_encoder_{i}"] = e
        groups.append({"params": [p for e in encoders for p in e.parameters()],
                       "lr": cfg.text_encoder_lr or cfg.learning_rate})
    return trained, groups


def describe(cfg: DiffusionConfig, denoiser: torch.nn.Module, groups: list[dict], total: int, micro_per_epoch: int,
             processes: Processes) -> str:
    """What is trained, for how long, and how the base weights are stored (a quantized base shows its class)."""
    n_trained = sum(p.numel() for g in groups for p in g["params"])
    n_total = sum(p.numel() for p in denoiser.parameters())
    base = next(p for n, p in denoiser.named_parameters() if n.endswith("weight") and p.ndim == 2 and "lora_" not in n)
    kind = "LoRA" if cfg.task == "diffusion-lora" else "full"
    return (f"{cfg.model_type} {kind}: {n_trained:,} trained parameters of {n_total:,}; {total} steps, "
            f"{micro_per_epoch} batches per epoch per process, {processes.accelerator.num_processes} process(es); "
            f"linear weights stored as {type(base).__name__} {str(base.dtype).removeprefix('torch.')}, "
            f"mixed precision {processes.precision}")


def prepare(accelerator: Any, trained: dict[str, torch.nn.Module], optimizer: Any) -> tuple[dict, Any]:
    """The trained modules and optimizer wrapped for the processes (DDP when there are several)."""
    if accelerator.num_processes > 1:
        # DDP broadcasts every parameter from rank 0 when it wraps a model: for a LoRA that copies the frozen base
        # (24 GB for Flux) for nothing, and torchao's float8 weights cannot be broadcast at all. Sync trained ones.
        from torch.nn.parallel import DistributedDataParallel

        for module in trained.values():
            frozen = [name for name, p in module.named_parameters() if not p.requires_grad]
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, frozen)
    prepared = accelerator.prepare(*trained.values(), optimizer)  # the schedule is stepped by hand, once a step
    return dict(zip(trained, prepared[:-1], strict=True)), prepared[-1]
