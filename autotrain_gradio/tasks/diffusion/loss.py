"""The training objective of each family (`families.py` says which): Flux's rectified flow on 2x2-packed latents,
the UNets' DDPM noise (epsilon) or v-prediction. One call, `training_loss`, for the loop."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.tasks.diffusion.families import family


def training_loss(denoiser, cfg: DiffusionConfig, scheduler, latents: torch.Tensor, cond: dict[str, torch.Tensor],
                  generator: torch.Generator, batch: dict, guidance_embeds: bool) -> torch.Tensor:
    """The loss of one micro-batch for cfg.model_type's objective."""
    if family(cfg.model_type).objective == "flow_matching":
        return flux_loss(denoiser, cfg, latents, cond, generator, guidance_embeds)
    return unet_loss(denoiser, cfg, scheduler, latents, cond, generator, batch)


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
    if family(cfg.model_type).micro_conditioning:
        time_ids = [list(o) + list(cr) + list(t) for o, cr, t in
                    zip(batch["original_size"], batch["crop"], batch["target_size"], strict=True)]
        extra["added_cond_kwargs"] = {"text_embeds": cond["pooled_prompt_embeds"],
                                      "time_ids": torch.tensor(time_ids, device=device, dtype=noisy.dtype)}
    dtype = cond["prompt_embeds"].dtype
    pred = denoiser(noisy.to(dtype), steps, encoder_hidden_states=cond["prompt_embeds"], return_dict=False,
                    **extra)[0]
    return F.mse_loss(pred.float(), target.float())
