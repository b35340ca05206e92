"""The diffusion model families: one row each, and every diffusion module reads its facts here (loading, encoding,
the loss, sampling, export, the memory preflight, the config's checks). No torch: classes are named, and the torch
side looks them up in diffusers / transformers when it loads them.

What a row does not hold: a model's latent channels and VAE scaling / shift factors, which are read from its own
VAE config (`vae/config.json`), so a fine-tune or the tiny test models that differ from the published ones are read
right. For the record, the published ones: Flux 16 channels, scaling 0.3611, shift 0.1159; SDXL 4, 0.13025; SD1.5 4,
0.18215.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# Attention projections of the UNets: what diffusers' DreamBooth LoRA scripts adapt by default.
_UNET_ATTENTION = ("to_k", "to_q", "to_v", "to_out.0")


@dataclass(frozen=True)
class Family:
    """What the code needs to know about one architecture."""

    name: str
    pipeline: str  # the diffusers pipeline class: sampling, Try it, the LoRA file writer
    denoiser: str  # the diffusers model class trained, and its folder in the pipeline
    denoiser_folder: str
    noise_scheduler: str  # the training noise schedule (its config comes from the model's scheduler/ folder)
    text_encoders: tuple[str, ...]  # transformers classes of text_encoder, text_encoder_2, ...
    objective: Literal["flow_matching", "ddpm"]  # the loss: rectified flow on packed latents, or noise / v
    # How captions become embeddings, as the family's pipeline computes them: CLIP pooled + T5 sequence (Flux), the
    # penultimate layers of two CLIPs + the second's projected pooled output (SDXL), one CLIP's last layer (SD1.5).
    conditioning: Literal["clip_pooled_t5", "two_clip_penultimate", "clip"]
    lora_targets: tuple[str, ...]  # what LoRA adapts when lora_target_modules is empty
    kohya_version: str  # kohya's `ss_base_model_version`, which ComfyUI/A1111 front-ends show
    kohya_layout: Literal["bfl", "diffusers"]  # kohya key names: BFL/sd-scripts names, or diffusers' converter's
    shipped_configs: str  # folder under model_configs/: the preflight's configs when the model's are unreachable
    latent_packing: int = 1  # latents are packed in N x N patches: image sides are multiples of N latent cells
    micro_conditioning: bool = False  # SDXL's (original size, crop, target size) time ids
    trains_text_encoder: bool = True  # a full fine-tune may train its text encoders
    swappable_blocks: bool = False  # blocks_to_swap streams its transformer blocks from CPU memory
    pipeline_kwargs: dict[str, Any] = field(default_factory=dict)  # from_pretrained extras for its pipeline

    def call_kwargs(self, max_sequence_length: int) -> dict[str, Any]:
        """Extra arguments of a call of its pipeline: the T5 prompt length where a T5 encodes the prompt."""
        return {"max_sequence_length": max_sequence_length} if self.conditioning == "clip_pooled_t5" else {}

    @property
    def text_encoder_folders(self) -> tuple[str, ...]:
        return tuple("text_encoder" if i == 0 else f"text_encoder_{i + 1}" for i in range(len(self.text_encoders)))

    @property
    def tokenizer_folders(self) -> tuple[str, ...]:
        return tuple("tokenizer" if i == 0 else f"tokenizer_{i + 1}" for i in range(len(self.text_encoders)))


FAMILIES: dict[str, Family] = {
    "flux": Family(
        name="flux", pipeline="FluxPipeline", denoiser="FluxTransformer2DModel", denoiser_folder="transformer",
        noise_scheduler="FlowMatchEulerDiscreteScheduler", text_encoders=("CLIPTextModel", "T5EncoderModel"),
        objective="flow_matching", conditioning="clip_pooled_t5",
        # Attention and feed-forward projections of the double-stream blocks (the single-stream blocks share
        # to_q/k/v), as diffusers' Flux DreamBooth LoRA script.
        lora_targets=("to_k", "to_q", "to_v", "to_out.0", "add_k_proj", "add_q_proj", "add_v_proj", "to_add_out",
                      "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj", "ff_context.net.2"),
        kohya_version="flux1", kohya_layout="bfl", shipped_configs="FLUX.1-dev",
        latent_packing=2, trains_text_encoder=False, swappable_blocks=True),
    "sdxl": Family(
        name="sdxl", pipeline="StableDiffusionXLPipeline", denoiser="UNet2DConditionModel", denoiser_folder="unet",
        noise_scheduler="DDPMScheduler", text_encoders=("CLIPTextModel", "CLIPTextModelWithProjection"),
        objective="ddpm", conditioning="two_clip_penultimate", lora_targets=_UNET_ATTENTION,
        kohya_version="sdxl_base_v1-0", kohya_layout="diffusers", shipped_configs="stable-diffusion-xl-base-1.0",
        micro_conditioning=True),
    "sd15": Family(
        name="sd15", pipeline="StableDiffusionPipeline", denoiser="UNet2DConditionModel", denoiser_folder="unet",
        noise_scheduler="DDPMScheduler", text_encoders=("CLIPTextModel",), objective="ddpm", conditioning="clip",
        lora_targets=_UNET_ATTENTION, kohya_version="sd_v1", kohya_layout="diffusers",
        shipped_configs="stable-diffusion-v1-5",
        pipeline_kwargs={"safety_checker": None, "requires_safety_checker": False}),
}

# Settings only a flow-matching family reads (the others refuse them when changed from the default).
FLOW_MATCHING_ONLY = ("timestep_sampling", "sigmoid_scale", "discrete_flow_shift", "guidance_scale",
                      "max_sequence_length")


def family(model_type: str) -> Family:
    """The row of `model_type` (the config's Literal keeps it one of FAMILIES)."""
    return FAMILIES[model_type]
