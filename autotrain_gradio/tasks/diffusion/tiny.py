"""Tiny Flux / SDXL / SD1.5 pipelines built in code (`tiny:flux`, `tiny:sdxl`, `tiny:sd15`): seeded, saved with
save_pretrained so the trainer loads them through the same from_pretrained path as real models."""

from __future__ import annotations

from pathlib import Path

from autotrain_gradio.tasks.tiny import seeded

# --- builders: each writes a complete from_pretrained-loadable folder into `path` ---------------------------
# Sizes are the smallest that keep every real code path (2x2 latent packing, two text encoders, cross-attention,
# SDXL's text_time embedding): a 32 px image is a 16x16x4 latent (VAE downsamples 2x, not 8x, to stay tiny).

_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
_WORDS = ("a", "photo", "of", "red", "green", "blue", "yellow", "white", "black", "cat", "dog", "sks", "style")


def _clip_tokenizer():
    """A real CLIP BPE tokenizer over single characters (plus a few whole words), so any lowercase prompt encodes."""
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    pieces = list(_LETTERS) + [c + "</w>" for c in _LETTERS] + [w + "</w>" for w in _WORDS if len(w) > 1]
    merges: list[tuple[str, str]] = []
    for word in _WORDS:  # merge chains that build each listed word left to right, e.g. r e -> re, re d</w> -> red</w>
        prefix = word[0]
        for i, ch in enumerate(word[1:], start=1):
            right = ch + ("</w>" if i == len(word) - 1 else "")
            merged = prefix + right
            if (prefix, right) not in merges:
                merges.append((prefix, right))
            if merged not in pieces:
                pieces.append(merged)
            prefix = merged
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def _t5_tokenizer():
    """A real T5 (unigram) tokenizer: whole words score higher than the single characters it falls back to."""
    from transformers import T5TokenizerFast

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [("\u2581" + w, -1.0) for w in _WORDS]
    vocab += [(c, -5.0) for c in _LETTERS] + [("\u2581" + c, -4.0) for c in _LETTERS]
    return T5TokenizerFast(vocab=vocab, extra_ids=0, model_max_length=512)


def _clip_config(hidden: int = 32, projection: int = 32, vocab_size: int = 200):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=37, num_hidden_layers=2,
                          num_attention_heads=4, max_position_embeddings=77, projection_dim=projection,
                          bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_act="gelu")


def _vae(latent_channels: int = 4, **extra):
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=latent_channels, block_out_channels=(8, 16),
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         layers_per_block=1, norm_num_groups=8, sample_size=32, **extra)


def build_flux(path: Path) -> None:
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5Config, T5EncoderModel

    with seeded():
        tokenizer, tokenizer_2 = _clip_tokenizer(), _t5_tokenizer()
        transformer = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=2, num_single_layers=1,
                                             attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                             pooled_projection_dim=32, guidance_embeds=True, axes_dims_rope=(4, 6, 6))
        text_encoder = CLIPTextModel(_clip_config(vocab_size=len(tokenizer)))
        text_encoder_2 = T5EncoderModel(T5Config(vocab_size=len(tokenizer_2), d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                                 num_heads=4, relative_attention_num_buckets=8, pad_token_id=0,
                                                 eos_token_id=1, decoder_start_token_id=0))
        vae = _vae(shift_factor=0.0609, scaling_factor=1.5035, use_quant_conv=False, use_post_quant_conv=False)
        scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                                    max_shift=1.15, base_image_seq_len=64, max_image_seq_len=1024)
        pipe = FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                            text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, transformer=transformer)
        pipe.save_pretrained(path)


def _unet(cross_attention_dim: int, **extra):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(16, 32), norm_num_groups=8,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
                                cross_attention_dim=cross_attention_dim, **extra)


def build_sdxl(path: Path) -> None:
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    with seeded():
        tokenizer = _clip_tokenizer()
        # SDXL conditions on both encoders' penultimate states concatenated (32 + 32) plus the second one's pooled
        # projection and six size/crop numbers, each embedded in 8 dims: 32 + 6 * 8 = 80.
        unet = _unet(64, use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=8,
                     transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80)
        text_encoder = CLIPTextModel(_clip_config(vocab_size=len(tokenizer)))
        text_encoder_2 = CLIPTextModelWithProjection(_clip_config(vocab_size=len(tokenizer)))
        scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                           timestep_spacing="leading", steps_offset=1, prediction_type="epsilon")
        StableDiffusionXLPipeline(vae=_vae(scaling_factor=0.13025), text_encoder=text_encoder,
                                  text_encoder_2=text_encoder_2, tokenizer=tokenizer, tokenizer_2=_clip_tokenizer(),
                                  unet=unet, scheduler=scheduler).save_pretrained(path)


def build_sd15(path: Path) -> None:
    from diffusers import PNDMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextModel

    with seeded():
        tokenizer = _clip_tokenizer()
        scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  skip_prk_steps=True, steps_offset=1, prediction_type="epsilon")
        StableDiffusionPipeline(vae=_vae(scaling_factor=0.18215), text_encoder=CLIPTextModel(_clip_config(
                                    vocab_size=len(tokenizer))), tokenizer=tokenizer, unet=_unet(32),
                                scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                requires_safety_checker=False).save_pretrained(path)
