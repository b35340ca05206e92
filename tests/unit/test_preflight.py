"""The memory preflight: parameter counts from configs on the meta device, estimates that move the right way with
each setting, and the refuse / adjust decision against an injected number of free bytes."""

from __future__ import annotations

import json

import pytest
import torch

from autotrain_gradio.tasks.diffusion.config import DiffusionFullConfig, DiffusionLoraConfig
from autotrain_gradio.tasks.diffusion.preflight import (
    GIB,
    PreflightError,
    _component_stats,
    decide,
    estimate_memory,
    preflight,
)
from autotrain_gradio.tiny import resolve_model


@pytest.fixture(scope="module")
def flux_configs(tmp_path_factory):
    """FLUX.1-dev's component configs (no weights): what a hub download of the configs alone gives."""
    root = tmp_path_factory.mktemp("flux-configs")
    configs = {
        "transformer": {"_class_name": "FluxTransformer2DModel", "attention_head_dim": 128, "guidance_embeds": True,
                        "in_channels": 64, "joint_attention_dim": 4096, "num_attention_heads": 24,
                        "num_layers": 19, "num_single_layers": 38, "patch_size": 1, "pooled_projection_dim": 768,
                        "axes_dims_rope": [16, 56, 56]},
        "vae": {"_class_name": "AutoencoderKL", "block_out_channels": [128, 256, 512, 512],
                "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
                "latent_channels": 16, "layers_per_block": 2, "norm_num_groups": 32, "use_quant_conv": False,
                "use_post_quant_conv": False},
        "text_encoder": {"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "hidden_size": 768,
                         "intermediate_size": 3072, "num_attention_heads": 12, "num_hidden_layers": 12,
                         "vocab_size": 49408, "max_position_embeddings": 77},
        "text_encoder_2": {"architectures": ["T5EncoderModel"], "model_type": "t5", "d_model": 4096, "d_ff": 10240,
                           "d_kv": 64, "num_heads": 64, "num_layers": 24, "vocab_size": 32128,
                           "feed_forward_proj": "gated-gelu"},
    }
    for folder, config in configs.items():
        (root / folder).mkdir()
        (root / folder / "config.json").write_text(json.dumps(config))
    return str(root)


def _lora(**kw) -> DiffusionLoraConfig:
    return DiffusionLoraConfig(**{"model_type": "flux", "resolution": 1024, "mixed_precision": "bf16", **kw})


def test_counts_match_the_real_models():
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    path = resolve_model("tiny:sd15")
    for folder, cls in (("unet", UNet2DConditionModel), ("text_encoder", CLIPTextModel)):
        loaded = cls.from_pretrained(path, subfolder=folder)
        assert _component_stats(path, folder)[0] == sum(p.numel() for p in loaded.parameters())


def test_flux_full_size_figures(flux_configs):
    params = _component_stats(flux_configs, "transformer")[0]
    assert 11.8e9 < params < 12.0e9  # FLUX.1 is an 11.9 B parameter transformer
    estimate = estimate_memory(_lora(), flux_configs)
    assert 20 * GIB < estimate.base_weights < 24 * GIB  # bf16
    assert 24 * GIB < estimate.total < 34 * GIB  # community figure for bf16 Flux LoRA at 1024 px: ~28-30 GB


def test_estimate_moves_with_each_setting(flux_configs):
    total = {}
    for label, cfg in {
        "base": _lora(),
        "512px": _lora(resolution=512),
        "batch4": _lora(batch_size=4),
        "no_ckpt": _lora(gradient_checkpointing=False),
        "nf4": _lora(quantize_base="nf4"),
        "float8": _lora(quantize_base="float8"),
        "rank128": _lora(lora_rank=128),
        "uncached": _lora(cache_latents=False, cache_text_embeddings=False),
        "full": DiffusionFullConfig(model_type="flux", resolution=1024, mixed_precision="bf16"),
        "full_8bit": DiffusionFullConfig(model_type="flux", resolution=1024, mixed_precision="bf16",
                                         optimizer="adamw8bit"),
    }.items():
        total[label] = estimate_memory(cfg, flux_configs).total
    assert total["512px"] < total["base"] < total["batch4"]
    assert total["base"] < total["no_ckpt"]
    assert total["nf4"] < total["float8"] < total["base"]
    assert total["base"] < total["rank128"]
    assert total["base"] < total["uncached"]
    assert total["base"] < total["full_8bit"] < total["full"]


@pytest.mark.parametrize("family", ["sdxl", "sd15"])
def test_unet_estimates_move_with_resolution_batch_and_checkpointing(family):
    path = resolve_model(f"tiny:{family}")

    def acts(**kw) -> int:
        settings = {"model_type": family, "resolution": 64, **kw}
        return estimate_memory(DiffusionLoraConfig(**settings), path).activations

    assert acts() < acts(resolution=128) and acts() < acts(batch_size=2)
    assert acts() < acts(gradient_checkpointing=False)


def test_decide_fits_refuses_and_adjusts(flux_configs):
    cfg = _lora(gradient_checkpointing=False, batch_size=2, memory_preflight="refuse")
    need = estimate_memory(cfg, flux_configs).total
    assert decide(cfg, flux_configs, need) == (cfg, "")

    budget = 40 * GIB  # fits once checkpointing is on
    with pytest.raises(PreflightError) as err:
        decide(cfg, flux_configs, budget)
    assert "gradient_checkpointing=true" in str(err.value) and "exceeds the 40.0 GiB free" in str(err.value)
    assert "memory_preflight='adjust'" in str(err.value)

    adjusted, message = decide(cfg.model_copy(update={"memory_preflight": "adjust"}), flux_configs, budget)
    assert adjusted.gradient_checkpointing and adjusted.batch_size == 2
    assert "adjusted: gradient_checkpointing=true" in message
    assert estimate_memory(adjusted, flux_configs).total <= budget


def test_adjust_quantizes_then_lowers_batch(flux_configs):
    cfg = _lora(gradient_checkpointing=False, batch_size=4, memory_preflight="adjust")
    adjusted, message = decide(cfg, flux_configs, 16 * GIB, can_quantize=True)
    assert adjusted.quantize_base == "nf4" and adjusted.gradient_checkpointing
    assert adjusted.batch_size * adjusted.gradient_accumulation == 4  # the effective batch is kept
    assert "quantize_base='nf4'" in message
    # without bitsandbytes, nothing fits in 16 GiB: the error names what is left to lower
    with pytest.raises(PreflightError, match="lower resolution"):
        decide(cfg, flux_configs, 16 * GIB, can_quantize=False)


def test_preflight_on_cpu_is_a_no_op(flux_configs):
    cfg = _lora(gradient_checkpointing=False, memory_preflight="refuse")
    assert preflight(cfg, flux_configs, torch.device("cpu")) is cfg
