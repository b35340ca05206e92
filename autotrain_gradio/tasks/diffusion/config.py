"""Diffusion settings: Flux / SDXL / SD1.5, LoRA (`diffusion-lora`) and full fine-tune (`diffusion-full`). No torch."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from autotrain_gradio.config import LaunchConfig
from autotrain_gradio.config import setting as _f
from autotrain_gradio.tasks.diffusion.families import FAMILIES, FLOW_MATCHING_ONLY, family


class DiffusionConfig(LaunchConfig):
    """Shared by LoRA and full fine-tuning of Flux, SDXL and SD1.5."""

    model_type: Literal[tuple(FAMILIES)] = _f("flux", "Model family", "Architecture of base_model.")
    resolution: int = _f(1024, "Resolution", "Target area is resolution^2; buckets keep the aspect ratio.",
                         ge=32, le=4096, multiple_of=8)
    bucket_step: int = _f(64, "Bucket step", "Bucket side lengths are multiples of this.", ge=8, le=256,
                          multiple_of=8)
    repeats: int = _f(1, "Repeats", "How often each image is seen per epoch.", ge=1, le=1000)
    trigger_word: str = _f("", "Trigger word", "Prepended to every caption and used in sample prompts.")
    caption_extension: str = _f(".txt", "Caption extension", "Caption file next to each image (starts with a dot).")
    caption_dropout: float = _f(0.0, "Caption dropout", "Probability of training on an empty caption.",
                                ge=0.0, le=1.0)
    cache_latents: bool = _f(True, "Cache latents", "Encode images once to disk; the VAE is freed afterwards.")
    cache_text_embeddings: bool = _f(True, "Cache text embeddings",
                                     "Encode captions once; text encoders are freed (unless trained).")
    gradient_checkpointing: bool = _f(True, "Gradient checkpointing", "Trade compute for activation memory.")
    timestep_sampling: Literal["sigmoid", "uniform", "logit_normal", "shift"] = _f(
        "sigmoid", "Timestep sampling", "Flux: how flow-matching timesteps are drawn.")
    sigmoid_scale: float = _f(1.0, "Sigmoid scale", "Scale of the normal before the sigmoid.", gt=0, le=100)
    discrete_flow_shift: float = _f(3.1582, "Flow shift", "Flux: shift applied to sampled timesteps "
                                    "(used with timestep_sampling='shift').", gt=0, le=100)
    guidance_scale: float = _f(1.0, "Guidance", "Flux-dev guidance embedding value during training.", ge=0,
                                 le=100)
    max_sequence_length: int = _f(512, "T5 tokens", "Flux: T5 prompt length.", ge=8, le=512)
    noise_offset: float = _f(0.0, "Noise offset", "SDXL/SD1.5: offset noise strength.", ge=0.0, le=1.0)
    quantize_base: Literal["none", "nf4", "float8"] = _f(
        "none", "Quantize base", "Load the frozen transformer/UNet in 4-bit (bitsandbytes) or float8 (torchao).")
    text_encoder_device: Literal["auto", "gpu", "cpu", "offload"] = _f(
        "auto", "Text encoder device", "Where the frozen text encoders run while captions and sample prompts are "
        "encoded: 'gpu' (the training device), 'cpu', or 'offload' (weights in CPU memory, each layer streamed to "
        "the GPU for its forward: T5-XXL then needs ~0.5 GiB instead of ~9 GiB); 'auto' lets the memory preflight "
        "choose the GPU when they fit, else offload.")
    blocks_to_swap: int = _f(
        0, "Blocks to swap", "Flux LoRA: keep the frozen weights of N transformer blocks in CPU memory and stream "
        "each to the GPU for its forward and backward (kohya's count: N//2 double-stream and 2*(N - N//2) "
        "single-stream blocks, ~0.6 GiB each in bf16). Saves GPU memory, costs speed.", ge=0, le=35)
    memory_preflight: Literal["refuse", "adjust", "off"] = _f(
        "refuse", "Memory preflight", "Before loading: refuse settings that won't fit the GPU, adjust them, or skip.")
    sample_every: int = _f(0, "Sample every", "Render sample images every N steps (0: only at the end).", ge=0)
    sample_steps: int = _f(20, "Sample steps", "Inference steps per sample image.", ge=1, le=200)
    sample_seed: int = _f(42, "Sample seed", "Fixed seed so samples are comparable across steps.", ge=0,
                      le=2**32 - 1)
    sample_prompts: list[str] = _f([], "Sample prompts", "Prompts rendered as samples; {trigger} is replaced.")
    dataloader_workers: int = _f(0, "Data workers", "DataLoader worker processes.", ge=0, le=64)

    @field_validator("caption_extension")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if not value.startswith(".") or len(value) < 2 or "/" in value or "\\" in value:
            raise ValueError(f"caption_extension must start with a dot, like '.txt' (got {value!r})")
        return value

    @model_validator(mode="after")
    def _family_settings(self) -> DiffusionConfig:
        """Settings of one model family given to another are mistakes, caught before anything loads."""
        fields, row = type(self).model_fields, family(self.model_type)
        flow = row.objective == "flow_matching"
        if flow and self.noise_offset:
            raise ValueError("noise_offset is for sdxl / sd15 (noise prediction); Flux trains by flow matching: "
                             "set noise_offset=0")
        if row.swappable_blocks and self.blocks_to_swap and self.quantize_base == "float8":
            raise ValueError("blocks_to_swap streams bf16 or nf4 weights, not float8 ones: set quantize_base='nf4' "
                             "or 'none', or blocks_to_swap=0")
        foreign = (() if flow else FLOW_MATCHING_ONLY) + (() if row.swappable_blocks else ("blocks_to_swap",))
        changed = [k for k in foreign if getattr(self, k) != fields[k].default]
        if changed:
            many = len(changed) > 1
            takers = " / ".join(f"'{f.name}'" for f in FAMILIES.values() if f.objective == "flow_matching")
            raise ValueError(f"{', '.join(changed)} only appl{'y' if many else 'ies'} to model_type={takers} (this "
                             f"is {self.model_type}): remove {'them' if many else 'it'}")
        return self

    def for_run(self, name: str) -> DiffusionConfig:
        """This config for run `name`: the trigger word defaults to the run name and fills `{trigger}` in the
        sample prompts."""
        trigger = self.trigger_word or name
        cfg = self.model_copy(update={"trigger_word": trigger,
                                      "sample_prompts": [p.replace("{trigger}", trigger) for p in self.sample_prompts]})
        type(cfg).model_validate(cfg.model_dump())  # the update bypasses validation: check it once more
        return cfg



class DiffusionLoraConfig(DiffusionConfig):
    """LoRA on the transformer (Flux) or UNet (SDXL, SD1.5)."""

    task: Literal["diffusion-lora"] = "diffusion-lora"
    lora_rank: int = _f(16, "LoRA rank", "Rank of the update matrices.", ge=1, le=1024)
    lora_alpha: float = _f(16.0, "LoRA alpha", "Scale is alpha / rank.", gt=0, le=65536)
    lora_dropout: float = _f(0.0, "LoRA dropout", "Dropout on the LoRA branch.", ge=0.0, le=0.9)
    lora_target_modules: list[str] = _f([], "Target modules", "Module names to adapt; empty: the model family's "
                                        "attention and feed-forward projections.")
    use_dora: bool = _f(False, "DoRA", "Weight-decomposed LoRA (peft use_dora).")
    export_formats: list[Literal["diffusers", "kohya"]] = _f(
        ["diffusers", "kohya"], "Export formats", "diffusers/peft keys, kohya/ComfyUI keys, or both.")


class DiffusionFullConfig(DiffusionConfig):
    """Full fine-tune of the Flux transformer or the SDXL/SD1.5 UNet."""

    task: Literal["diffusion-full"] = "diffusion-full"
    train_text_encoder: bool = _f(False, "Train text encoder", "SDXL/SD1.5: also train the CLIP text encoders "
                                  "(turns off text-embedding caching).")
    text_encoder_lr: float = _f(0.0, "Text encoder LR", "Learning rate of the text encoders (0: same as the "
                                "model).", ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _full_rules(self) -> DiffusionFullConfig:
        if self.train_text_encoder and not family(self.model_type).trains_text_encoder:
            raise ValueError("train_text_encoder is for sdxl / sd15; a Flux full fine-tune trains the transformer "
                             "only: set train_text_encoder=false")
        if self.quantize_base != "none":
            raise ValueError(f"quantize_base='{self.quantize_base}' needs a frozen base (LoRA); a full fine-tune "
                             "trains every weight: set quantize_base='none' or use a LoRA profile")
        if self.blocks_to_swap:
            raise ValueError("blocks_to_swap streams frozen weights (LoRA); a full fine-tune trains every weight: "
                             "set blocks_to_swap=0 or use a LoRA profile")
        return self
