"""Memory preflight of the LLM task: the peak GPU bytes per process of a run, from the model's config (built on the
meta device: no weight is read) and the settings, for each distributed backend.

The public config of the model the LLM profiles name ships in `model_configs/`, so the estimate works before any
download and without network. Per process: the frozen weights (bf16, or 4 / 8-bit with quantization), what is
trained (LoRA weights, or every weight) with its gradients and optimizer state, the activations stored for backward
(with gradient checkpointing: each decoder layer's input plus one layer recomputed) and the logits with their loss
(vocabulary x sequence: the largest single tensor of a small model). DDP keeps all of it on every GPU; FSDP (full
shard) and DeepSpeed ZeRO-3 split weights, gradients and optimizer state over the processes, ZeRO-2 the gradients
and optimizer state only. `bench/gpu_profiles.py` prints the estimate beside a real card's peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from autotrain_gradio.tasks.optim import OPTIMIZERS

GIB = 1024**3
OVERHEAD = int(0.5 * GIB)  # CUDA context, cuBLAS workspaces, allocator slack
FRAGMENTATION = 1.10
MODEL_CONFIGS = Path(__file__).resolve().parent / "model_configs"
SHIPPED = {"Qwen/Qwen2.5-0.5B-Instruct": "Qwen2.5-0.5B-Instruct"}
QUANT_BYTES = {"none": 2.0, "int8": 1.0, "int4": 0.5625}  # per weight of an nn.Linear (nf4: + absmax per 64)
BACKENDS = ("ddp", "fsdp", "deepspeed")


@dataclass(frozen=True)
class LLMStats:
    params: int
    linear: int  # weights of the decoder layers' nn.Linear modules: what quantization and all-linear LoRA touch
    lora_per_rank: int  # LoRA parameters per unit rank on every such Linear
    layer: int  # parameters of one decoder layer
    hidden: int
    intermediate: int
    layers: int
    vocab: int


def config_path(model_path: str) -> str:
    """Where model_path's config is read: the shipped copy for a known hub id, else the path or hub id itself."""
    return str(MODEL_CONFIGS / SHIPPED[model_path]) if model_path in SHIPPED else model_path


@lru_cache(maxsize=16)
def model_stats(model_path: str) -> LLMStats:
    """Sizes of model_path's causal LM, from its config on the meta device."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(config_path(model_path))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    layers = decoder_layers(model)
    linears = [m for layer in layers for m in layer.modules() if isinstance(m, torch.nn.Linear)]
    return LLMStats(params=sum(p.numel() for p in model.parameters()),
                    linear=sum(m.weight.numel() for m in linears),
                    lora_per_rank=sum(m.in_features + m.out_features for m in linears),
                    layer=sum(p.numel() for p in layers[0].parameters()), hidden=config.hidden_size,
                    intermediate=getattr(config, "intermediate_size", 4 * config.hidden_size),
                    layers=len(layers), vocab=config.vocab_size)


def per_backend(cfg: Any, model_path: str, free: int | None = None) -> list[str]:
    """One line per backend at the config's process count: the estimate per GPU and, given `free` bytes per GPU,
    whether it fits (what the trainer logs on a GPU before loading)."""
    lines = []
    for backend, stage in (("ddp", 2), ("fsdp", 2), ("deepspeed", 2), ("deepspeed", 3)):
        est = estimate_memory(cfg.model_copy(update={"deepspeed_stage": stage}), model_path, backend)
        name = f"deepspeed ZeRO-{stage}" if backend == "deepspeed" else backend
        fits = "" if free is None else (" fits" if est.total <= free else f" does not fit in {free / GIB:.1f} GiB")
        lines.append(f"{name}: {est.total / GIB:.1f} GiB per GPU{fits}")
    return lines


def decoder_layers(model: Any) -> list[Any]:
    """The model's repeated decoder layers: the modules of its `_no_split_modules` classes (what FSDP wraps)."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    return [m for m in model.modules() if type(m).__name__ in names]


@dataclass(frozen=True)
class LLMEstimate:
    """Estimated GPU bytes of one process; `total` includes fragmentation and overhead."""

    backend: str
    num_processes: int
    weights: int
    trainable: int  # gradients + optimizer state (+ fp32 LoRA weights)
    activations: int
    logits: int
    total: int

    def describe(self) -> str:
        parts = ", ".join(f"{k} {getattr(self, k) / GIB:.2f}" for k in ("weights", "trainable", "activations",
                                                                         "logits"))
        return f"{self.total / GIB:.1f} GiB per GPU with {self.backend} x{self.num_processes} ({parts})"


def estimate_memory(cfg: Any, model_path: str, backend: str | None = None,
                    num_processes: int | None = None) -> LLMEstimate:
    """Peak GPU bytes per process of training `cfg` (an LLMConfig) on model_path with `backend` over
    `num_processes` processes (default: the config's own)."""
    backend = backend or getattr(cfg, "distributed_backend", "ddp")
    n = max(1, num_processes or getattr(cfg, "num_processes", 1))
    stage = getattr(cfg, "deepspeed_stage", 2)
    s = model_stats(model_path)
    optimizer = OPTIMIZERS[cfg.optimizer].state_bytes
    frozen = s.linear * QUANT_BYTES[cfg.quantization] + (s.params - s.linear) * 2
    if cfg.peft:
        lora = s.lora_per_rank * cfg.lora_r
        weights, trainable = frozen + lora * 4, lora * (4 + optimizer)  # adapters train in fp32
    else:  # bf16 weights and gradients; the optimizer's state in the weights' dtype
        weights, trainable = s.params * 2, s.params * (2 + optimizer / 2)
    shard_weights = backend == "fsdp" or (backend == "deepspeed" and stage == 3)
    if n > 1 and (shard_weights or backend == "deepspeed"):
        trainable /= n
    if n > 1 and shard_weights:  # plus the one layer gathered for its forward / backward
        weights = weights / n + s.layer * 2
    # Activations: sequences of model_max_length, both answers of a preference pair in one batch.
    tokens = cfg.batch_size * cfg.model_max_length * (2 if cfg.trainer in ("dpo", "orpo", "reward") else 1)
    per_layer = tokens * (6 * s.hidden + 3 * s.intermediate) * 2  # attention and MLP inputs, bf16
    stored = tokens * s.hidden * 2 * s.layers + per_layer if cfg.gradient_checkpointing else per_layer * s.layers
    logits = 0 if cfg.trainer == "reward" else tokens * s.vocab * 8  # bf16 logits, fp32 log-softmax and its grad
    peak = (weights + trainable + stored + logits) * FRAGMENTATION + OVERHEAD
    return LLMEstimate(backend, n, int(weights), int(trainable), int(stored), int(logits), int(peak))
