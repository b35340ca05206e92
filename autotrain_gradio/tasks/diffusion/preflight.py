"""Memory preflight: before any weight loads, estimate the peak GPU memory of a run from parameter counts and the
settings, and refuse (naming the setting to change) or adjust the config to fit the free memory.

Parameter counts come from building each component from its config on the meta device (no weights read). The
public configs of the models the profiles name (FLUX.1-dev, SDXL base, SD1.5) ship in `model_configs/`, so the
estimate works before any download and without network; any other model is read from its own folder or hub id,
and a hub id that cannot be reached falls back to its family's shipped configs.

A run has three phases and the peak is the largest: caching (VAE + text encoders encode the data, before the
denoiser loads), training (denoiser, trained parameters with gradients and optimizer state, activations), and
sampling (the trained denoiser plus the VAE and text encoders of the sampling pipeline). Activation figures are rules
of thumb: for a Flux block ~25 stored values per token and hidden unit (17 for a GPT block, Korthikanti et al.
2022, with SDPA removing the attention-matrix term; plus the qk-normed and rotated copies of q and k, and the
AdaLN-modulated copies of the two normed inputs), for a UNet ~10 per pixel and channel of each ResNet; with gradient
checkpointing a block keeps only its input, plus one block recomputed during backward. `bench/preflight_vs_published.py`
prints the estimate beside published measurements (all within +-15%).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.tasks.diffusion.families import family
from autotrain_gradio.tasks.optim import OPTIMIZERS

log = logging.getLogger(__name__)

GIB = 1024**3
OVERHEAD = int(0.5 * GIB)  # cuBLAS / cuDNN workspaces, lazily loaded kernels, allocator slack not tied to a tensor
FRAGMENTATION = 1.10
# Bytes per weight of a quantized nn.Linear (nothing else is quantized). nf4: 4 bits + one fp32 absmax per 64
# weights, without double quantization (which the loader does not enable); float8: 1 byte (+ a per-row scale).
QUANT_BYTES = {"nf4": 0.5625, "float8": 1.0}

MODEL_CONFIGS = Path(__file__).resolve().parent / "model_configs"
# Hub ids whose public configs ship with the package, and each family's fallback.
SHIPPED = {"black-forest-labs/FLUX.1-dev": "FLUX.1-dev",
           "stabilityai/stable-diffusion-xl-base-1.0": "stable-diffusion-xl-base-1.0",
           "stable-diffusion-v1-5/stable-diffusion-v1-5": "stable-diffusion-v1-5",
           "runwayml/stable-diffusion-v1-5": "stable-diffusion-v1-5"}


class PreflightError(RuntimeError):
    """The run would not fit in GPU memory; the message names the estimate and the setting to change."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated GPU bytes of a run: each phase with fragmentation, `total` = the largest phase + overhead."""

    base_weights: int  # the denoiser's weights on the GPU (frozen and maybe quantized, or fp32 when trained)
    trainable: int  # trained parameters' gradients and optimizer state (+ fp32 LoRA weights)
    encoders: int  # VAE / text encoders kept during training (not cached, or trained)
    activations: int  # stored for backward, at cfg.batch_size and cfg.resolution
    caching: int  # phase peak: VAE + text encoders while the cache is filled
    training: int  # phase peak: the training step
    sampling: int  # phase peak: rendering samples next to the trained model
    overhead: int
    total: int

    def describe(self) -> str:
        parts = ", ".join(f"{k.replace('_', ' ')} {getattr(self, k) / GIB:.1f}" for k in
                          ("training", "caching", "sampling", "base_weights", "trainable", "activations"))
        return f"{self.total / GIB:.1f} GiB ({parts})"


# --- parameter counts from configs on the meta device ---------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """Sizes of one pipeline component, in parameters. `layer` / `single`: the largest repeated layer (a text
    encoder layer, a Flux double-stream block) and a Flux single-stream block, each as (params, linear weights)."""

    params: int
    linear: int  # weights of nn.Linear modules: what nf4 / float8 quantize
    lora_per_rank: int  # LoRA parameters per unit rank on the targets
    config: dict
    layer: tuple[int, int] = (0, 0)
    layers: tuple[int, int] = (0, 0)  # all repeated layers together
    single: tuple[int, int] = (0, 0)


def _sizes(module: torch.nn.Module) -> tuple[int, int]:
    params = sum(p.numel() for p in module.parameters())
    linear = sum(m.weight.numel() for m in module.modules() if isinstance(m, torch.nn.Linear))
    return params, linear


@lru_cache(maxsize=32)
def component_stats(model_path: str, folder: str, targets: tuple[str, ...] = ()) -> Stats:
    """Sizes of one component of model_path (a folder or hub id: only its config is read; the shipped copy for
    a hub id in SHIPPED)."""
    from autotrain_gradio.tasks.diffusion.offload import encoder_layers

    if model_path in SHIPPED:
        model_path = str(MODEL_CONFIGS / SHIPPED[model_path])

    with torch.device("meta"):  # not accelerate's init_empty_weights, which unties tied embeddings (T5)
        if folder in ("transformer", "unet", "vae"):
            import diffusers

            cls = {"transformer": diffusers.FluxTransformer2DModel, "unet": diffusers.UNet2DConditionModel,
                   "vae": diffusers.AutoencoderKL}[folder]
            config = cls.load_config(model_path, subfolder=folder)
            model = cls.from_config(config)
        else:
            import transformers

            config = transformers.AutoConfig.from_pretrained(model_path, subfolder=folder)
            arch = (getattr(config, "architectures", None) or ["AutoModel"])[0]
            cls = getattr(transformers, arch, transformers.AutoModel)
            model = cls.from_config(config) if cls is transformers.AutoModel else cls(config)
            config = config.to_dict()
    params, linear = _sizes(model)
    per_rank = 0
    for name, module in model.named_modules():
        if any(name == t or name.endswith("." + t) for t in targets):  # peft's suffix match
            if isinstance(module, torch.nn.Linear):
                per_rank += module.in_features + module.out_features
            elif isinstance(module, torch.nn.Conv2d):
                per_rank += module.in_channels * module.kernel_size[0] * module.kernel_size[1] + module.out_channels
    layer = layers = single = (0, 0)
    if folder == "transformer":
        layer, single = _sizes(model.transformer_blocks[0]), _sizes(model.single_transformer_blocks[0])
    elif folder.startswith("text_encoder"):
        repeated = [_sizes(m) for m in encoder_layers(model)]
        layer = max(repeated)
        layers = (sum(p for p, _ in repeated), sum(w for _, w in repeated))
    return Stats(params, linear, per_rank, dict(config), layer, layers, single)


def config_root(model_path: str, model_type: str) -> str:
    """Where to read model_path's configs: the shipped copy for a known hub id; the path itself if its configs
    can be read; else (a hub id with no network) the family's shipped configs, which its fine-tunes share."""
    try:
        component_stats(model_path, family(model_type).denoiser_folder)
        return model_path
    except (OSError, ValueError) as err:
        if Path(model_path).expanduser().exists():
            raise
        log.info("memory preflight: configs of %s unreadable (%s); using the %s configs", model_path, err,
                 family(model_type).shipped_configs)
        return str(MODEL_CONFIGS / family(model_type).shipped_configs)


def _lora_targets(cfg: DiffusionConfig) -> tuple[str, ...]:
    """What the trainer will adapt: the config's modules, else the family defaults."""
    return tuple(getattr(cfg, "lora_target_modules", None) or family(cfg.model_type).lora_targets)


def _weight_bytes(sizes: tuple[int, int], quant: str, frozen_bytes: int) -> float:
    """Bytes of (params, linear weights) when linear weights are quantized with `quant` (or not: 'none')."""
    params, linear = sizes
    if quant in QUANT_BYTES:
        return linear * QUANT_BYTES[quant] + (params - linear) * frozen_bytes
    return params * frozen_bytes


# --- activations ------------------------------------------------------------------------------------------


def _flux_activations(cfg: DiffusionConfig, config: dict, vae_scale: int, act_bytes: int) -> tuple[int, int]:
    """(stored for backward, one block's forward working set)."""
    tokens = (cfg.resolution // (vae_scale * config.get("patch_size", 1) * 2)) ** 2 + cfg.max_sequence_length
    width = config["num_attention_heads"] * config["attention_head_dim"]
    blocks = config["num_layers"] + config["num_single_layers"]
    per_block = 25 * tokens * width * cfg.batch_size * act_bytes
    if cfg.gradient_checkpointing:
        return blocks * tokens * width * cfg.batch_size * act_bytes + per_block, per_block
    return blocks * per_block, per_block


def _unet_activations(cfg: DiffusionConfig, config: dict, vae_scale: int, act_bytes: int) -> tuple[int, int]:
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
    return (stored + largest) * act_bytes, largest * act_bytes


# --- the estimate -----------------------------------------------------------------------------------------


def _text_encoders_on_gpu(encoders: list[Stats], placement: str, frozen_bytes: int) -> float:
    """GPU bytes of the frozen text encoders: all of them ('gpu'); what is not a layer plus two layers in flight
    ('offload'); nothing ('cpu')."""
    if placement == "cpu":
        return 0
    if placement == "offload":
        return sum((e.params - e.layers[0] + 2 * e.layer[0]) * frozen_bytes for e in encoders)
    return sum(e.params * frozen_bytes for e in encoders)


def estimate_memory(cfg: DiffusionConfig, model_path: str) -> MemoryEstimate:
    """Peak GPU bytes of training cfg on model_path (a local folder or hub id: only configs are read)."""
    root = config_root(model_path, cfg.model_type)
    lora = cfg.task == "diffusion-lora"
    low_precision = cfg.mixed_precision in ("bf16", "fp16")
    frozen_bytes = act_bytes = 2 if low_precision else 4
    targets = _lora_targets(cfg) if lora else ()
    den = component_stats(root, family(cfg.model_type).denoiser_folder, targets)
    vae = component_stats(root, "vae")
    vae_scale = 2 ** (len(vae.config["block_out_channels"]) - 1)
    text = [component_stats(root, f) for f in family(cfg.model_type).text_encoder_folders]
    text_params = sum(e.params for e in text)
    optimizer = OPTIMIZERS[cfg.optimizer].state_bytes
    train_te = getattr(cfg, "train_text_encoder", False)
    placement = "gpu" if train_te or cfg.text_encoder_device == "auto" else cfg.text_encoder_device

    if lora:
        quant = cfg.quantize_base
        base = _weight_bytes((den.params, den.linear), quant, frozen_bytes)
        if cfg.blocks_to_swap:  # swapped blocks live in CPU memory; two of them at most are on the GPU
            n_double = min(cfg.blocks_to_swap // 2, den.config["num_layers"])
            n_single = min(2 * (cfg.blocks_to_swap - cfg.blocks_to_swap // 2), den.config["num_single_layers"])
            double, single = (_weight_bytes(b, quant, frozen_bytes) for b in (den.layer, den.single))
            in_flight = sorted([double] * n_double + [single] * n_single)[-2:]
            base += -n_double * double - n_single * single + sum(in_flight)
        lora_params = den.lora_per_rank * cfg.lora_rank
        trainable = lora_params * (4 + 4 + optimizer)  # fp32 weights, fp32 grads, optimizer state
        resident = lora_params * (4 + optimizer)  # between steps: the gradients are freed
    else:
        base = den.params * 4  # trained weights stay fp32; autocast runs the matmuls in low precision
        trainable = den.params * (4 + optimizer)
        resident = den.params * optimizer
    vae_bytes = vae.params * 4
    encoders = 0 if cfg.cache_latents else vae_bytes
    if train_te:
        encoders += text_params * (4 + 4 + optimizer)
    elif not cfg.cache_text_embeddings:  # the loop encodes: on the GPU, or streamed ('cpu' streams too)
        encoders += _text_encoders_on_gpu(text, "offload" if placement == "cpu" else placement, frozen_bytes)
    if family(cfg.model_type).denoiser_folder == "transformer":  # a DiT (Flux) or a UNet
        activations, working_set = _flux_activations(cfg, den.config, vae_scale, act_bytes)
    else:
        activations, working_set = _unet_activations(cfg, den.config, vae_scale, act_bytes)
    # The VAE's no-grad passes peak at its largest feature map (input and output of a conv), fp32.
    vae_activations = 2 * 4 * max(c * (cfg.resolution // 2**i) ** 2
                                  for i, c in enumerate(vae.config["block_out_channels"]))

    caching = (vae_bytes + vae_activations + _text_encoders_on_gpu(text, placement, frozen_bytes)) * FRAGMENTATION
    training = (base + trainable + encoders + activations) * FRAGMENTATION
    # Sampling: the model as trained (gradients freed), the pipeline's VAE and text encoders in the frozen dtype
    # (streamed unless they run on the GPU), one forward's working set and the VAE decode.
    sample_te = "gpu" if placement == "gpu" else "offload"
    sampling = (base + resident + vae.params * frozen_bytes + _text_encoders_on_gpu(text, sample_te, frozen_bytes)
                + working_set + vae_activations) * FRAGMENTATION
    total = int(max(caching, training, sampling) + OVERHEAD)
    return MemoryEstimate(int(base), int(trainable), int(encoders), int(activations), int(caching), int(training),
                          int(sampling), OVERHEAD, total)


# --- deciding -----------------------------------------------------------------------------------------------

SWAP_STEPS = (8, 16, 24, 35)


def _changes(cfg: DiffusionConfig, can_quantize: bool) -> list[tuple[str, dict[str, Any]]]:
    """Setting changes that lower memory without changing what is learned much, cheapest first (each step keeps
    the ones before it)."""
    steps: list[tuple[str, dict[str, Any]]] = []
    lora, train_te = cfg.task == "diffusion-lora", getattr(cfg, "train_text_encoder", False)
    if not cfg.gradient_checkpointing:
        steps.append(("gradient_checkpointing=true", {"gradient_checkpointing": True}))
    if not cfg.cache_latents or (not cfg.cache_text_embeddings and not train_te):
        steps.append(("cache_latents=true and cache_text_embeddings=true",
                      {"cache_latents": True, "cache_text_embeddings": True}))
    if cfg.text_encoder_device in ("gpu", "auto") and not train_te:
        steps.append(("text_encoder_device='offload'", {"text_encoder_device": "offload"}))
    if lora and cfg.quantize_base == "none" and can_quantize:
        steps.append(("quantize_base='nf4'", {"quantize_base": "nf4"}))
    if not lora and OPTIMIZERS[cfg.optimizer].state_bytes >= 8:  # full AdamW-size state (adamw*, prodigy)
        steps.append(("optimizer='adamw8bit'", {"optimizer": "adamw8bit"}) if can_quantize
                     else ("optimizer='adafactor'", {"optimizer": "adafactor"}))
    batch, accumulation = cfg.batch_size, cfg.gradient_accumulation
    while batch > 1:  # keep the effective batch: what batch loses, accumulation gains
        batch, accumulation = max(1, batch // 2), accumulation * 2
        steps.append((f"batch_size={batch} with gradient_accumulation={accumulation}",
                      {"batch_size": batch, "gradient_accumulation": accumulation}))
    if lora and family(cfg.model_type).swappable_blocks and cfg.quantize_base != "float8":
        steps += [(f"blocks_to_swap={n}", {"blocks_to_swap": n}) for n in SWAP_STEPS if n > cfg.blocks_to_swap]
    return steps


def _cumulative_labels(applied: list[str]) -> str:
    """The applied changes, with only the last blocks_to_swap (each swap step replaces the one before)."""
    swaps = [a for a in applied if a.startswith("blocks_to_swap")]
    return ", ".join([a for a in applied if not a.startswith("blocks_to_swap")] + swaps[-1:])


def resolve_text_encoder_device(cfg: DiffusionConfig, model_path: str, available: int) -> DiffusionConfig:
    """text_encoder_device='auto': the GPU when the run fits with the text encoders there, else 'offload'."""
    if cfg.text_encoder_device != "auto":
        return cfg
    on_gpu = cfg.model_copy(update={"text_encoder_device": "gpu"})
    if estimate_memory(on_gpu, model_path).total <= available:
        return on_gpu
    return cfg.model_copy(update={"text_encoder_device": "offload"})


def decide(cfg: DiffusionConfig, model_path: str, available: int, can_quantize: bool = False,
           ) -> tuple[DiffusionConfig, str]:
    """Compare the estimate with `available` bytes ('auto' text_encoder_device resolved first). Fits: (cfg, "").
    Otherwise, by cfg.memory_preflight: 'adjust' returns the config with the fewest changes (in _changes order)
    that fits, and a message saying what changed; 'refuse' (and 'adjust' when nothing fits) raises
    PreflightError naming the change to make."""
    cfg = resolve_text_encoder_device(cfg, model_path, available)
    estimate = estimate_memory(cfg, model_path)
    if estimate.total <= available or cfg.memory_preflight == "off":
        return cfg, ""
    need = f"estimated peak GPU memory {estimate.describe()} exceeds the {available / GIB:.1f} GiB free"
    candidate, applied = cfg, []
    for label, update in _changes(cfg, can_quantize):
        candidate = type(cfg).model_validate({**candidate.model_dump(), **update})
        applied.append(label)
        fitted = estimate_memory(candidate, model_path)
        if fitted.total <= available:
            change = _cumulative_labels(applied)
            if cfg.memory_preflight == "adjust":
                return candidate, f"{need}; adjusted: {change} (estimate {fitted.total / GIB:.1f} GiB)"
            raise PreflightError(f"{need}; set {change} (estimate {fitted.total / GIB:.1f} GiB), or "
                                 "memory_preflight='adjust' to apply it")
    tried = f" even with {_cumulative_labels(applied)}" if applied else ""
    least = estimate_memory(candidate, model_path).total / GIB
    if cfg.task == "diffusion-full":
        raise PreflightError(f"{need}{tried}: a full fine-tune of this model needs about {least:.0f} GiB; use a GPU "
                             "with that much free memory, or train a LoRA (task 'diffusion-lora', e.g. the "
                             "FluxLORA-* or SDXL-LoRA profiles)")
    raise PreflightError(f"{need}{tried}; lower resolution (now {cfg.resolution}) or lora_rank, or use a GPU with "
                         "more memory")


def preflight(cfg: DiffusionConfig, model_path: str, device: torch.device,
              log_fn: Callable[[str], None] | None = None, free: int | None = None) -> DiffusionConfig:
    """Before weights load: on CUDA with memory_preflight 'refuse' or 'adjust', compare the estimate with the free
    memory of `device` (decide()), or `free` bytes when given (the trainer passes the least over its ranks, so all
    decide alike); returns cfg, or a changed cfg that fits ('adjust'). On CPU or 'off': cfg as is.
    A model whose configs cannot be read (an unknown layout, no network for a hub id) is let through with a
    warning: the preflight must never be the reason a run that would fit cannot start."""
    if device.type != "cuda" or cfg.memory_preflight == "off":
        return cfg
    say = log_fn or log.warning
    free = torch.cuda.mem_get_info(device)[0] if free is None else free  # several ranks: their least free
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
