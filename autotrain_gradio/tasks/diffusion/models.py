"""Loading the model families (their facts: `families.py`) and encoding with them: images to latents, captions to
embeddings. The training objective is `loss.py`.

Everything loads with `from_pretrained(folder, subfolder=...)` from a hub id or a local folder, `tiny:<kind>`
resolved by the caller; the tiny test models take exactly this path.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from autotrain_gradio.tasks.diffusion import emulation
from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.tasks.diffusion.families import family
from autotrain_gradio.workspace import is_hub_id


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
    import diffusers

    row = family(cfg.model_type)
    cls = getattr(diffusers, row.denoiser)
    kwargs = {"quantization_config": quant} if quant is not None else {}
    if cfg.quantize_base == "nf4" and not torch.cuda.is_available():  # tests only (emulation.enabled())
        with emulation.bitsandbytes_on_cpu() as on_cpu:
            model = _load(cls, path, row.denoiser_folder, torch_dtype=dtype, **kwargs, **on_cpu)
        return emulation.nf4_as_on_gpu(model)
    return _load(cls, path, row.denoiser_folder, torch_dtype=dtype, **kwargs)


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
    import transformers

    row = family(cfg.model_type)
    tokenizers = [_load(transformers.AutoTokenizer, path, folder) for folder in row.tokenizer_folders]
    encoders = [_load(getattr(transformers, name), path, folder, dtype=dtype)
                for name, folder in zip(row.text_encoders, row.text_encoder_folders, strict=True)]
    return tokenizers, encoders


def load_noise_scheduler(cfg: DiffusionConfig, path: str):
    """The training noise schedule. UNets train on DDPM with the shipped config, so the prediction type
    (epsilon or v_prediction) and betas come from the model, whatever sampler it ships with."""
    import diffusers

    return _load(getattr(diffusers, family(cfg.model_type).noise_scheduler), path, "scheduler")


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
    conditioning = family(model_type).conditioning
    if conditioning == "clip_pooled_t5":
        clip, t5 = encoders
        pooled = clip(_ids(tokenizers[0], captions, tokenizers[0].model_max_length, device)).pooler_output
        embeds = t5(_ids(tokenizers[1], captions, max_sequence_length, device))[0]
        return {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}
    if conditioning == "two_clip_penultimate":
        states, pooled = [], None
        for tokenizer, encoder in zip(tokenizers, encoders, strict=True):
            out = encoder(_ids(tokenizer, captions, tokenizer.model_max_length, device), output_hidden_states=True)
            states.append(out.hidden_states[-2])  # SDXL conditions on the penultimate layer of both encoders
            pooled = getattr(out, "text_embeds", None)  # the projected pooled output of the second encoder
        return {"prompt_embeds": torch.cat(states, dim=-1), "pooled_prompt_embeds": pooled}
    return {"prompt_embeds": encoders[0](_ids(tokenizers[0], captions, tokenizers[0].model_max_length, device))[0]}
