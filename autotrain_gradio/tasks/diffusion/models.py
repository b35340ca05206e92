"""Loading the three model families and the two things done with them: encoding (images to latents, captions to
embeddings) and the training objective (Flux flow matching; SDXL / SD1.5 epsilon or v-prediction).

Everything loads with `from_pretrained(folder, subfolder=...)` from a hub id or a local folder, `tiny:<kind>`
resolved by the caller; the tiny test models take exactly this path.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

from autotrain_gradio.tasks.diffusion import emulation
from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.workspace import is_hub_id

DENOISER_FOLDER = {"flux": "transformer", "sdxl": "unet", "sd15": "unet"}

# What LoRA adapts when lora_target_modules is empty: attention and feed-forward projections of the Flux
# double-stream blocks (the single-stream blocks share to_q/k/v), attention projections of the UNets; the same
# defaults diffusers' DreamBooth LoRA scripts use.
LORA_TARGETS = {
    "flux": ["to_k", "to_q", "to_v", "to_out.0", "add_k_proj", "add_q_proj", "add_v_proj", "to_add_out",
             "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj", "ff_context.net.2"],
    "sdxl": ["to_k", "to_q", "to_v", "to_out.0"],
    "sd15": ["to_k", "to_q", "to_v", "to_out.0"],
}


def check_model_path(path: str) -> None:
    """Fail at once, naming the folder, when base_model is a local path that does not exist (rather than after
    a hub lookup that cannot succeed). A hub id looks like 'org/name' (`workspace.is_hub_id`)."""
    if not is_hub_id(path) and not Path(path).expanduser().is_dir():
        raise FileNotFoundError(f"base model folder not found: {path} (give a local model folder or a hub id "
                                "like 'org/name')")


def _load(cls, path: str, subfolder: str, **kwargs):
    try:
        return cls.from_pretrained(path, subfolder=subfolder, **kwargs)
    except (OSError, ValueError) as err:
        raise OSError(f"cannot load {subfolder} of base model {path!r}: {err}") from err


def quantization_config(cfg: DiffusionConfig, dtype: torch.dtype):
    """The diffusers quantization config for the frozen base, or None. Called before anything loads, so a
    setting that cannot work (no GPU, a missing package, a full fine-tune) fails at once, with what to do."""
    if cfg.quantize_base == "none":
        return None
    if cfg.task != "diffusion-lora":
        raise ValueError("quantize_base applies to LoRA training only (a full fine-tune trains every weight); "
                         "set quantize_base='none'")
    if not torch.cuda.is_available() and not emulation.enabled():
        raise RuntimeError(f"quantize_base={cfg.quantize_base!r} needs a CUDA GPU; set quantize_base='none' on CPU")
    if cfg.quantize_base == "nf4":
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ImportError("quantize_base='nf4' needs bitsandbytes: pip install 'autotrain-gradio[quant]'")
        from diffusers import BitsAndBytesConfig

        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)
    if importlib.util.find_spec("torchao") is None:
        raise ImportError("quantize_base='float8' needs torchao: pip install 'autotrain-gradio[quant]'")
    from diffusers import TorchAoConfig
    from torchao.quantization import Float8WeightOnlyConfig

    return TorchAoConfig(Float8WeightOnlyConfig())


def load_denoiser(cfg: DiffusionConfig, path: str, dtype: torch.dtype, quant=None) -> torch.nn.Module:
    """The Flux transformer or the UNet, in `dtype`; quantized with `quant` (from quantization_config) if given."""
    from diffusers import FluxTransformer2DModel, UNet2DConditionModel

    cls = FluxTransformer2DModel if cfg.model_type == "flux" else UNet2DConditionModel
    kwargs = {"quantization_config": quant} if quant is not None else {}
    if cfg.quantize_base == "nf4" and not torch.cuda.is_available():  # tests only (emulation.enabled())
        with emulation.bitsandbytes_on_cpu() as on_cpu:
            model = _load(cls, path, DENOISER_FOLDER[cfg.model_type], torch_dtype=dtype, **kwargs, **on_cpu)
        return emulation.nf4_as_on_gpu(model)
    return _load(cls, path, DENOISER_FOLDER[cfg.model_type], torch_dtype=dtype, **kwargs)


def load_vae(path: str, dtype: torch.dtype = torch.float32):
    from diffusers import AutoencoderKL

    return _load(AutoencoderKL, path, "vae", torch_dtype=dtype)


def vae_scale_factor(path: str) -> int:
    """How many pixels one latent cell covers, from the VAE config alone (no weights read)."""
    from diffusers import AutoencoderKL

    try:
        config = AutoencoderKL.load_config(path, subfolder="vae")
    except (OSError, ValueError) as err:
        raise OSError(f"cannot read the VAE config of base model {path!r}: {err}") from err
    return 2 ** (len(config["block_out_channels"]) - 1)


def load_text_encoders(cfg: DiffusionConfig, path: str, dtype: torch.dtype) -> tuple[list, list[torch.nn.Module]]:
    """(tokenizers, text encoders) of the family: Flux CLIP + T5, SDXL CLIP + CLIP-with-projection, SD1.5 CLIP."""
    from transformers import AutoTokenizer, CLIPTextModel, CLIPTextModelWithProjection, T5EncoderModel

    second = {"flux": T5EncoderModel, "sdxl": CLIPTextModelWithProjection}.get(cfg.model_type)
    tokenizers = [_load(AutoTokenizer, path, "tokenizer")]
    encoders = [_load(CLIPTextModel, path, "text_encoder", dtype=dtype)]
    if second is not None:
        tokenizers.append(_load(AutoTokenizer, path, "tokenizer_2"))
        encoders.append(_load(second, path, "text_encoder_2", dtype=dtype))
    return tokenizers, encoders


def load_noise_scheduler(cfg: DiffusionConfig, path: str):
    """The training noise schedule. UNets train on DDPM with the shipped config, so the prediction type
    (epsilon or v_prediction) and betas come from the model, whatever sampler it ships with."""
    from diffusers import DDPMScheduler, FlowMatchEulerDiscreteScheduler

    cls = FlowMatchEulerDiscreteScheduler if cfg.model_type == "flux" else DDPMScheduler
    return _load(cls, path, "scheduler")


def count_forward_calls(modules: dict[str, torch.nn.Module], counts: dict[str, int]) -> None:
    """Count every forward call of each module into counts[name] (a hook, so calls from anywhere count)."""
    for name, module in modules.items():
        counts.setdefault(name, 0)

        def hook(mod, args, output, name=name):
            counts[name] += 1

        module.register_forward_hook(hook)


# --- encoding --------------------------------------------------------------------------------------------


def encode_images(vae, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels in [-1, 1] to the latents the denoiser sees: the distribution's mean (deterministic, so a cache
    and a resumed run agree), shifted and scaled as the VAE config says. Always in the VAE's own dtype, also when
    called inside the training step's autocast (the SDXL VAE overflows in fp16), so uncached latents are the
    cached ones."""
    with torch.autocast(vae.device.type, enabled=False):
        latents = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode()
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return (latents - shift) * vae.config.scaling_factor


def _ids(tokenizer, captions: list[str], length: int, device) -> torch.Tensor:
    return tokenizer(captions, padding="max_length", max_length=length, truncation=True,
                     return_tensors="pt").input_ids.to(device)


def encode_prompts(model_type: str, tokenizers: list, encoders: list, captions: list[str],
                   max_sequence_length: int) -> dict[str, torch.Tensor]:
    """Captions to what the denoiser is conditioned on: `prompt_embeds` and (Flux, SDXL) `pooled_prompt_embeds`,
    exactly as the family's diffusers pipeline computes them."""
    device = next(encoders[0].parameters()).device  # encoders may be DDP-wrapped (no .device)
    if model_type == "flux":
        clip, t5 = encoders
        pooled = clip(_ids(tokenizers[0], captions, tokenizers[0].model_max_length, device)).pooler_output
        embeds = t5(_ids(tokenizers[1], captions, max_sequence_length, device))[0]
        return {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}
    if model_type == "sdxl":
        states, pooled = [], None
        for tokenizer, encoder in zip(tokenizers, encoders, strict=True):
            out = encoder(_ids(tokenizer, captions, tokenizer.model_max_length, device), output_hidden_states=True)
            states.append(out.hidden_states[-2])  # SDXL conditions on the penultimate layer of both encoders
            pooled = getattr(out, "text_embeds", None)  # the projected pooled output of the second encoder
        return {"prompt_embeds": torch.cat(states, dim=-1), "pooled_prompt_embeds": pooled}
    return {"prompt_embeds": encoders[0](_ids(tokenizers[0], captions, tokenizers[0].model_max_length, device))[0]}


# --- the objective ---------------------------------------------------------------------------------------


def flux_sigmas(cfg: DiffusionConfig, n: int, generator: torch.Generator, device) -> torch.Tensor:
    """Flow-matching times in (0, 1): 1 is pure noise. sigmoid = sigmoid(scale * N(0,1)) (favours the middle);
    logit_normal = sigmoid(N(0,1)); uniform; shift = sigmoid then shifted toward noise by discrete_flow_shift,
    as Flux recipes for high resolutions do."""
    normal = torch.randn(n, generator=generator, device=device)
    if cfg.timestep_sampling == "uniform":
        return torch.rand(n, generator=generator, device=device)
    if cfg.timestep_sampling == "logit_normal":
        return torch.sigmoid(normal)
    t = torch.sigmoid(cfg.sigmoid_scale * normal)
    if cfg.timestep_sampling == "shift":
        s = cfg.discrete_flow_shift
        t = t * s / (1 + (s - 1) * t)
    return t


def flux_loss(denoiser, cfg: DiffusionConfig, latents: torch.Tensor, cond: dict[str, torch.Tensor],
              generator: torch.Generator, guidance_embeds: bool) -> torch.Tensor:
    """Rectified flow: x_t = (1 - t) x0 + t noise, predict the velocity noise - x0 on 2x2-packed latents."""
    from diffusers import FluxPipeline

    b, c, h, w = latents.shape
    device, dtype = latents.device, cond["prompt_embeds"].dtype
    noise = torch.randn(latents.shape, generator=generator, device=device, dtype=latents.dtype)
    t = flux_sigmas(cfg, b, generator, device)
    noisy = (1 - t.view(b, 1, 1, 1)) * latents + t.view(b, 1, 1, 1) * noise
    guidance = torch.full((b,), cfg.guidance_scale, device=device) if guidance_embeds else None
    pred = denoiser(
        hidden_states=FluxPipeline._pack_latents(noisy, b, c, h, w).to(dtype),
        timestep=t.to(dtype),  # the transformer multiplies by 1000 itself
        guidance=guidance,
        pooled_projections=cond["pooled_prompt_embeds"],
        encoder_hidden_states=cond["prompt_embeds"],
        txt_ids=torch.zeros(cond["prompt_embeds"].shape[1], 3, device=device, dtype=dtype),
        img_ids=FluxPipeline._prepare_latent_image_ids(b, h // 2, w // 2, device, dtype),
        return_dict=False,
    )[0]
    target = FluxPipeline._pack_latents(noise - latents, b, c, h, w)
    return F.mse_loss(pred.float(), target.float())


def unet_loss(denoiser, cfg: DiffusionConfig, scheduler, latents: torch.Tensor, cond: dict[str, torch.Tensor],
              generator: torch.Generator, batch: dict) -> torch.Tensor:
    """DDPM: noise a latent to a random timestep, predict epsilon or v as the scheduler config says. SDXL also
    gets the pooled text embedding and the (original size, crop, target size) micro-conditioning."""
    b, c = latents.shape[:2]
    device = latents.device
    noise = torch.randn(latents.shape, generator=generator, device=device, dtype=latents.dtype)
    if cfg.noise_offset:  # shifts the mean per channel so very dark / bright images become learnable
        noise = noise + cfg.noise_offset * torch.randn((b, c, 1, 1), generator=generator, device=device)
    steps = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=generator, device=device)
    noisy = scheduler.add_noise(latents, noise, steps)
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        target = noise
    elif kind == "v_prediction":
        target = scheduler.get_velocity(latents, noise, steps)
    else:
        raise ValueError(f"prediction type {kind!r} is not supported for training (epsilon or v_prediction)")
    extra = {}
    if cfg.model_type == "sdxl":
        time_ids = [list(o) + list(cr) + list(t) for o, cr, t in
                    zip(batch["original_size"], batch["crop"], batch["target_size"], strict=True)]
        extra["added_cond_kwargs"] = {"text_embeds": cond["pooled_prompt_embeds"],
                                      "time_ids": torch.tensor(time_ids, device=device, dtype=noisy.dtype)}
    dtype = cond["prompt_embeds"].dtype
    pred = denoiser(noisy.to(dtype), steps, encoder_hidden_states=cond["prompt_embeds"], return_dict=False,
                    **extra)[0]
    return F.mse_loss(pred.float(), target.float())
