"""The cache phase of a diffusion run: the VAE and text encoders encode every image and caption once, on rank 0,
into the on-disk cache (data.Cache), and are then dropped so their memory is free for training; what the loop must
still run itself (uncached latents or captions, trained text encoders) stays loaded. Forward calls are counted by
hooks, so the run can show that a cached epoch never runs an encoder.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field

import torch

from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.diffusion import models, offload
from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.tasks.diffusion.data import Cache, Item, captions_to_encode, pixels


def text_encoder_placement(cfg: DiffusionConfig, train_te: bool, cached_text: bool) -> str:
    """Where frozen text encoders run (the preflight resolved 'auto' on a GPU); the loop's own encoding needs them
    on the device, or streamed to it."""
    placement = {"auto": "gpu"}.get(cfg.text_encoder_device, cfg.text_encoder_device)
    if train_te:
        return "gpu"
    if placement == "cpu" and not cached_text:
        return "offload"
    return placement


@dataclass
class Encoders:
    """The VAE and the text encoders (with their tokenizers), loaded when first needed; `calls` counts their forward
    calls by name (vae, text_encoder_0, ...)."""

    cfg: DiffusionConfig
    model_path: str
    device: torch.device
    text_dtype: torch.dtype
    train_te: bool
    placement: str
    vae: torch.nn.Module | None = None
    tokenizers: list | None = None
    encoders: list | None = None
    calls: dict[str, int] = field(default_factory=dict)

    def load(self, need_vae: bool, need_text: bool) -> None:
        if need_vae and self.vae is None:
            self.vae = models.load_vae(self.model_path).to(self.device).requires_grad_(False)
            models.count_forward_calls({"vae": self.vae.encoder}, self.calls)
        if need_text and self.encoders is None:
            self.tokenizers, encoders = models.load_text_encoders(self.cfg, self.model_path, self.text_dtype)
            self.encoders = [e.requires_grad_(self.train_te) for e in encoders]
            offload.place_text_encoders(self.encoders, self.placement, self.device)
            models.count_forward_calls({f"text_encoder_{i}": e for i, e in enumerate(self.encoders)}, self.calls)

    def keep_only(self, vae: bool, text: bool) -> None:
        """Drop what the loop will not run and free its memory, then load what it will."""
        if not vae:
            self.vae = None
        if not text:
            self.tokenizers = self.encoders = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.load(vae, text)

    def encode_prompts(self, captions: list[str]) -> dict[str, torch.Tensor]:
        return models.encode_prompts(self.cfg.model_type, self.tokenizers, self.encoders, captions,
                                     self.cfg.max_sequence_length)

    def inputs(self, batch: dict, frozen_dtype: torch.dtype) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(fp32 latents, text conditioning) of a batch: from the cache, or encoded here (with gradients into the
        text encoders when they are trained)."""
        with torch.set_grad_enabled(self.train_te):
            if "latents" in batch:
                latents = batch["latents"].to(self.device)
            else:  # encode_images leaves autocast: the SDXL VAE overflows in fp16
                with torch.no_grad():
                    latents = models.encode_images(self.vae, batch["pixels"])
            if "prompt_embeds" in batch:
                cond = {k: batch[k].to(self.device, frozen_dtype) for k in batch if k.endswith("prompt_embeds")}
            else:
                cond = self.encode_prompts(batch["caption"])
        return latents.float(), cond

    def since(self, before: dict[str, int]) -> dict[str, int]:
        """{"vae_calls", "text_encoder_calls"} counted since the `before` snapshot of `calls`."""
        delta = {k: v - before.get(k, 0) for k, v in self.calls.items()}
        return {"vae_calls": delta.get("vae", 0),
                "text_encoder_calls": sum(v for k, v in delta.items() if k != "vae")}


def fill_cache(ctx: RunContext, items: list[Item], cache: Cache, encoders: Encoders, cached_latents: bool,
               cached_text: bool) -> None:
    """Rank 0: encode what the cache lacks (images for latents, captions for text embeddings)."""
    cfg = encoders.cfg
    todo_latents = [it for it in items if cached_latents and not cache.latent_path(it).is_file()]
    todo_text = [c for c in captions_to_encode(items, cfg.caption_dropout)
                 if cached_text and not cache.text_path(c).is_file()]
    if todo_latents or todo_text:
        ctx.log(f"loading the VAE / text encoders to cache {len(todo_latents)} images and {len(todo_text)} "
                "captions (once; later runs reuse the cache)")
    encoders.load(bool(todo_latents), bool(todo_text))
    with torch.no_grad():
        shown = time.monotonic()
        for i, item in enumerate(todo_latents, 1):
            cache.write(cache.latent_path(item), {"latents": models.encode_images(encoders.vae, pixels(item)[None])[0]})
            if time.monotonic() - shown > 5:  # a monitor shows this while no step exists yet
                ctx.log(f"caching latents {i}/{len(todo_latents)}")
                shown = time.monotonic()
        for caption in todo_text:
            out = encoders.encode_prompts([caption])
            cache.write(cache.text_path(caption), {k: v[0] for k, v in out.items()})
    ctx.log(f"cache ready: {len(todo_latents)} latents and {len(todo_text)} captions encoded, "
            f"{len(items) - len(todo_latents) if cached_latents else 0} latents reused")
