"""Memory preflight: before any weight loads, estimate the peak GPU memory of a run from parameter counts and the
settings, and refuse (naming the setting to change) or adjust the config to fit the free memory.

Parameter counts come from building each component from its config on the meta device (no weights read, a hub id
needs only its config files). The activation figures are rules of thumb, not measurements: for a transformer
block ~17 stored values per token and hidden unit (Korthikanti et al. 2022, with SDPA removing the
attention-matrix term), for a UNet ~10 per pixel and channel of each ResNet; with gradient checkpointing a
block keeps only its input, plus one block recomputed during backward. Expect +-30%, which is what a preflight
needs: to catch the settings that are off by a factor, before minutes of loading.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import torch

from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.tasks.diffusion.models import DENOISER_FOLDER, LORA_TARGETS
from autotrain_gradio.tasks.optim import OPTIMIZERS

log = logging.getLogger(__name__)

GIB = 1024**3
CUDA_OVERHEAD = int(0.8 * GIB)  # CUDA context, cuBLAS workspace, allocator slack not tied to a tensor
FRAGMENTATION = 1.10
ENCODER_FOLDERS = {"flux": ("text_encoder", "text_encoder_2"), "sdxl": ("text_encoder", "text_encoder_2"),
                   "sd15": ("text_encoder",)}
# Bytes per parameter of a frozen base weight, per quantization and precision.
QUANT_BYTES = {"nf4": 0.53, "float8": 1.0}  # nf4: 4 bits + one fp32 absmax per 64 weights (double-quantized)


class PreflightError(RuntimeError):
    """The run would not fit in GPU memory; the message names the estimate and the setting to change."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated GPU bytes of a run. `total` is the larger of the caching phase (VAE + text encoders encode the
    data) and the training phase (everything resident while the denoiser trains), with overhead."""

    base_weights: int  # the denoiser's weights as loaded (frozen for LoRA, fp32 for a full fine-tune)
    trainable: int  # trained parameters' gradients and optimizer state (+ fp32 LoRA weights)
    encoders: int  # VAE / text encoders kept during training (not cached, or trained)
    activations: int  # stored for backward, at cfg.batch_size and cfg.resolution
    caching_peak: int  # VAE + text encoders while the cache is filled
    overhead: int
    total: int

    def describe(self) -> str:
        parts = ", ".join(f"{k.replace('_', ' ')} {v / GIB:.1f}" for k, v in asdict(self).items() if k != "total")
        return f"{self.total / GIB:.1f} GiB ({parts})"


# --- parameter counts from configs on the meta device ---------------------------------------------------


@lru_cache(maxsize=16)
def _component_stats(model_path: str, folder: str, targets: tuple[str, ...] = ()) -> tuple[int, int, dict]:
    """(parameters, LoRA parameters per unit rank on `targets`, config) of one pipeline component."""
    from accelerate import init_empty_weights

    if folder in ("transformer", "unet", "vae"):
        import diffusers

        cls = {"transformer": diffusers.FluxTransformer2DModel, "unet": diffusers.UNet2DConditionModel,
               "vae": diffusers.AutoencoderKL}[folder]
        config = cls.load_config(model_path, subfolder=folder)
        with init_empty_weights():
            model = cls.from_config(config)
    else:
        import transformers

        config = transformers.AutoConfig.from_pretrained(model_path, subfolder=folder)
        arch = (getattr(config, "architectures", None) or ["AutoModel"])[0]
        cls = getattr(transformers, arch, transformers.AutoModel)
        with init_empty_weights():
            model = cls.from_config(config) if cls is transformers.AutoModel else cls(config)
        config = config.to_dict()
    params = sum(p.numel() for p in model.parameters())
    per_rank = 0
    for name, module in model.named_modules():
        if any(name == t or name.endswith("." + t) for t in targets):  # peft's suffix match
            if isinstance(module, torch.nn.Linear):
                per_rank += module.in_features + module.out_features
            elif isinstance(module, torch.nn.Conv2d):
                per_rank += module.in_channels * module.kernel_size[0] * module.kernel_size[1] + module.out_channels
    return params, per_rank, dict(config)


def _lora_targets(cfg: DiffusionConfig) -> tuple[str, ...]:
    """What the trainer will adapt: the config's modules, else the family defaults."""
    return tuple(getattr(cfg, "lora_target_modules", None) or LORA_TARGETS[cfg.model_type])


# --- activations ------------------------------------------------------------------------------------------


def _flux_activations(cfg: DiffusionConfig, config: dict, vae_scale: int, act_bytes: int) -> int:
    tokens = (cfg.resolution // (vae_scale * config.get("patch_size", 1) * 2)) ** 2 + cfg.max_sequence_length
    width = config["num_attention_heads"] * config["attention_head_dim"]
    blocks = config["num_layers"] + config["num_single_layers"]
    per_block = 17 * tokens * width * cfg.batch_size * act_bytes
    if cfg.gradient_checkpointing:
        return blocks * tokens * width * cfg.batch_size * act_bytes + per_block
    return blocks * per_block


def _unet_activations(cfg: DiffusionConfig, config: dict, vae_scale: int, act_bytes: int) -> int:
    side = cfg.resolution // vae_scale
    layers = config.get("layers_per_block", 2)
    depth = config.get("transformer_layers_per_block", 1)
    stored = largest = 0
    for i, (channels, kind) in enumerate(zip(config["block_out_channels"], config["down_block_types"], strict=True)):
        pixels = (side // 2**i) ** 2 * cfg.batch_size
        attn = (depth[i] if isinstance(depth, (list, tuple)) else depth) if "CrossAttn" in kind else 0
        resnets = 2 * layers + 1  # down + up (one more) at this level
        block = 10 * channels * pixels
        transformer = 17 * channels * pixels
        if cfg.gradient_checkpointing:
            stored += (resnets + resnets * attn) * channels * pixels
            largest = max(largest, block, transformer)
        else:
            stored += resnets * block + resnets * attn * transformer
    return (stored + largest) * act_bytes


# --- the estimate -----------------------------------------------------------------------------------------


def estimate_memory(cfg: DiffusionConfig, model_path: str) -> MemoryEstimate:
    """Peak GPU bytes of training cfg on model_path (a local folder or hub id: only configs are read)."""
    lora = cfg.task == "diffusion-lora"
    low_precision = cfg.mixed_precision in ("bf16", "fp16")
    frozen_bytes = 2 if low_precision else 4
    act_bytes = 2 if low_precision else 4
    targets = _lora_targets(cfg) if lora else ()
    params, per_rank, config = _component_stats(model_path, DENOISER_FOLDER[cfg.model_type], targets)
    vae_params, _, vae_config = _component_stats(model_path, "vae")
    vae_scale = 2 ** (len(vae_config["block_out_channels"]) - 1)
    encoder_params = sum(_component_stats(model_path, f)[0] for f in ENCODER_FOLDERS[cfg.model_type])
    optimizer = OPTIMIZERS[cfg.optimizer].state_bytes

    if lora:
        base = int(params * QUANT_BYTES.get(cfg.quantize_base, frozen_bytes))
        lora_params = per_rank * cfg.lora_rank
        trainable = int(lora_params * (4 + 4 + optimizer))  # fp32 weights, fp32 grads, optimizer state
    else:
        base = params * 4  # trained weights stay fp32; autocast runs the matmuls in low precision
        trainable = int(params * (4 + optimizer))
    train_te = getattr(cfg, "train_text_encoder", False)
    vae_bytes, encoder_bytes = vae_params * 4, encoder_params * frozen_bytes
    encoders = 0 if cfg.cache_latents else vae_bytes
    if train_te:
        encoders += int(encoder_params * (4 + 4 + optimizer))
    elif not cfg.cache_text_embeddings:
        encoders += encoder_bytes
    if cfg.model_type == "flux":
        activations = _flux_activations(cfg, config, vae_scale, act_bytes)
    else:
        activations = _unet_activations(cfg, config, vae_scale, act_bytes)
    # The VAE encoder's no-grad pass peaks at its largest feature map (input and output of a conv), fp32.
    vae_activations = 2 * 4 * max(c * (cfg.resolution // 2**i) ** 2
                                  for i, c in enumerate(vae_config["block_out_channels"]))
    caching = vae_bytes + encoder_bytes + vae_activations
    training = (base + trainable + encoders + activations) * FRAGMENTATION
    total = int(max(training, caching) + CUDA_OVERHEAD)
    return MemoryEstimate(base, trainable, encoders, activations, caching, CUDA_OVERHEAD, total)


# --- deciding -----------------------------------------------------------------------------------------------


def _changes(cfg: DiffusionConfig, can_quantize: bool) -> list[tuple[str, dict[str, Any]]]:
    """Setting changes that lower memory without changing what is learned much, cheapest first."""
    steps: list[tuple[str, dict[str, Any]]] = []
    if not cfg.gradient_checkpointing:
        steps.append(("gradient_checkpointing=true", {"gradient_checkpointing": True}))
    if not cfg.cache_latents or (not cfg.cache_text_embeddings and not getattr(cfg, "train_text_encoder", False)):
        steps.append(("cache_latents=true and cache_text_embeddings=true",
                      {"cache_latents": True, "cache_text_embeddings": True}))
    if cfg.task == "diffusion-lora" and cfg.quantize_base == "none" and can_quantize:
        steps.append(("quantize_base='nf4'", {"quantize_base": "nf4"}))
    if cfg.task == "diffusion-full" and cfg.optimizer in ("adamw", "prodigy"):
        steps.append(("optimizer='adamw8bit'", {"optimizer": "adamw8bit"}) if can_quantize
                     else ("optimizer='adafactor'", {"optimizer": "adafactor"}))
    batch, accumulation = cfg.batch_size, cfg.gradient_accumulation
    while batch > 1:  # keep the effective batch: what batch loses, accumulation gains
        batch, accumulation = max(1, batch // 2), accumulation * 2
        steps.append((f"batch_size={batch} with gradient_accumulation={accumulation}",
                      {"batch_size": batch, "gradient_accumulation": accumulation}))
    return steps


def decide(cfg: DiffusionConfig, model_path: str, available: int, can_quantize: bool = False,
           ) -> tuple[DiffusionConfig, str]:
    """Compare the estimate with `available` bytes. Fits: (cfg, ""). Otherwise, by cfg.memory_preflight:
    'adjust' returns the config with the fewest changes (in _changes order) that fits, and a message saying what
    changed; 'refuse' (and 'adjust' when nothing fits) raises PreflightError naming the change to make."""
    estimate = estimate_memory(cfg, model_path)
    if estimate.total <= available or cfg.memory_preflight == "off":
        return cfg, ""
    need = (f"estimated peak GPU memory {estimate.describe()} exceeds the {available / GIB:.1f} GiB free")
    candidate, applied = cfg, []
    for label, update in _changes(cfg, can_quantize):
        candidate = type(cfg).model_validate({**candidate.model_dump(), **update})
        applied.append(label)
        fitted = estimate_memory(candidate, model_path)
        if fitted.total <= available:
            change = ", ".join(applied)
            if cfg.memory_preflight == "adjust":
                return candidate, f"{need}; adjusted: {change} (estimate {fitted.total / GIB:.1f} GiB)"
            raise PreflightError(f"{need}; set {change} (estimate {fitted.total / GIB:.1f} GiB), or "
                                 "memory_preflight='adjust' to apply it")
    tried = f" even with {', '.join(applied)}" if applied else ""
    raise PreflightError(f"{need}{tried}; lower resolution (now {cfg.resolution}) or lora_rank, or use a GPU with "
                         "more memory")


def preflight(cfg: DiffusionConfig, model_path: str, device: torch.device,
              log_fn: Callable[[str], None] | None = None) -> DiffusionConfig:
    """Before weights load: on CUDA with memory_preflight 'refuse' or 'adjust', compare the estimate with the free
    memory of `device` (decide()); returns cfg, or a changed cfg that fits ('adjust'). On CPU or 'off': cfg as is.
    A model whose configs cannot be read (an unknown layout, no network for a hub id) is let through with a
    warning: the preflight must never be the reason a run that would fit cannot start."""
    if device.type != "cuda" or cfg.memory_preflight == "off":
        return cfg
    say = log_fn or log.warning
    free, _ = torch.cuda.mem_get_info(device)
    can_quantize = importlib.util.find_spec("bitsandbytes") is not None
    try:
        new_cfg, message = decide(cfg, model_path, free, can_quantize)
    except PreflightError:
        raise
    except Exception as err:  # noqa: BLE001 - reading configs failed; training itself will say more
        say(f"memory preflight skipped: cannot read the model configs ({type(err).__name__}: {err})")
        return cfg
    if message:
        say(message)
    return new_cfg
