"""The memory preflight: parameter counts from configs on the meta device, estimates that move the right way with
each setting, and the refuse / adjust decision against an injected number of free bytes."""

from __future__ import annotations

import pytest
import torch

from autotrain_gradio.tasks.diffusion.config import DiffusionFullConfig, DiffusionLoraConfig
from autotrain_gradio.tasks.diffusion.preflight import (
    GIB,
    PreflightError,
    component_stats,
    decide,
    estimate_memory,
    preflight,
)
from autotrain_gradio.tasks.tiny import resolve_model

FLUX, SDXL, SD15 = ("black-forest-labs/FLUX.1-dev", "stabilityai/stable-diffusion-xl-base-1.0",
                    "stable-diffusion-v1-5/stable-diffusion-v1-5")


@pytest.fixture(scope="module")
def flux_configs():
    """FLUX.1-dev's public component configs, shipped with the package: no download, no network."""
    return FLUX


def _lora(**kw) -> DiffusionLoraConfig:
    return DiffusionLoraConfig(**{"model_type": "flux", "resolution": 1024, "mixed_precision": "bf16", **kw})


def test_counts_match_the_real_models():
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    path = resolve_model("tiny:sd15")
    for folder, cls in (("unet", UNet2DConditionModel), ("text_encoder", CLIPTextModel)):
        loaded = cls.from_pretrained(path, subfolder=folder)
        assert component_stats(path, folder).params == sum(p.numel() for p in loaded.parameters())


def test_flux_full_size_figures(flux_configs):
    params = component_stats(flux_configs, "transformer").params
    assert 11.8e9 < params < 12.0e9  # FLUX.1 is an 11.9 B parameter transformer
    estimate = estimate_memory(_lora(), flux_configs)
    assert 20 * GIB < estimate.base_weights < 24 * GIB  # bf16
    assert 24 * GIB < estimate.training < 34 * GIB  # community figure for bf16 Flux LoRA at 1024 px: ~28-30 GB


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
    cfg = _lora(gradient_checkpointing=False, batch_size=2, memory_preflight="refuse", text_encoder_device="gpu")
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
    # without bitsandbytes, the bf16 base fits 16 GiB only with blocks swapped to the CPU
    adjusted, message = decide(cfg, flux_configs, 16 * GIB, can_quantize=False)
    assert adjusted.quantize_base == "none" and adjusted.blocks_to_swap > 0 and "blocks_to_swap=" in message
    # and in 4 GiB nothing fits: the error names what is left to lower
    with pytest.raises(PreflightError, match="lower resolution"):
        decide(cfg, flux_configs, 4 * GIB, can_quantize=False)


def test_preflight_on_cpu_is_a_no_op(flux_configs):
    cfg = _lora(gradient_checkpointing=False, memory_preflight="refuse")
    assert preflight(cfg, flux_configs, torch.device("cpu")) is cfg


# --- the shipped public configs and the corrections calibrated against published figures ------------------


def test_shipped_configs_give_the_published_parameter_counts():
    counts = {(m, f): component_stats(m, f).params for m, folders in
              {FLUX: ("transformer", "vae", "text_encoder", "text_encoder_2"),
               SDXL: ("unet", "vae", "text_encoder", "text_encoder_2"), SD15: ("unet", "text_encoder")}.items()
              for f in folders}
    assert counts[FLUX, "transformer"] == 11_901_408_320
    assert counts[FLUX, "text_encoder_2"] == 4_762_310_656  # T5-XXL encoder, its embedding tied (9.5 GB in bf16)
    assert counts[SDXL, "unet"] == 2_567_463_684 and counts[SD15, "unet"] == 859_520_964
    assert counts[SDXL, "text_encoder_2"] == 694_659_840 and counts[FLUX, "text_encoder"] == 123_060_480
    assert 83e6 < counts[FLUX, "vae"] < 84e6


def test_nf4_quantizes_linear_weights_only_at_0_5625_bytes():
    flux, sdxl, sd15 = (component_stats(m, f) for m, f in ((FLUX, "transformer"), (SDXL, "unet"), (SD15, "unet")))
    assert flux.linear / flux.params > 0.99  # the share nn.Linear weights have: Flux nearly all,
    assert 0.80 < sdxl.linear / sdxl.params < 0.92 and 0.25 < sd15.linear / sd15.params < 0.40  # the UNets less
    for path, family, stats in ((FLUX, "flux", flux), (SD15, "sd15", sd15)):
        extra = {} if family == "flux" else {"max_sequence_length": 512}
        cfg = DiffusionLoraConfig(model_type=family, mixed_precision="bf16", quantize_base="nf4", **extra)
        assert estimate_memory(cfg, path).base_weights == int(stats.linear * 0.5625 + (stats.params - stats.linear) * 2)


def test_sampling_phase_counts_the_pipeline_text_encoders(flux_configs):
    on_gpu = estimate_memory(_lora(text_encoder_device="gpu"), flux_configs)
    # rendering samples with T5-XXL + VAE loaded next to the bf16 model: ~35 GiB, not the training step's ~28
    assert on_gpu.sampling > on_gpu.training + 8 * GIB and on_gpu.total > 32 * GIB
    streamed = estimate_memory(_lora(text_encoder_device="offload"), flux_configs)
    assert streamed.sampling < on_gpu.sampling - 7 * GIB and streamed.total < 32 * GIB  # a 32 GB card trains it


def test_text_encoder_device_moves_the_caching_peak(flux_configs):
    caching = {d: estimate_memory(_lora(text_encoder_device=d), flux_configs).caching
               for d in ("gpu", "offload", "cpu")}
    assert caching["gpu"] > 10 * GIB  # T5-XXL + CLIP in bf16 and the VAE
    assert caching["cpu"] < caching["offload"] < 3 * GIB


def test_auto_text_encoder_device_resolves_by_free_memory(flux_configs):
    cfg = _lora(quantize_base="nf4", resolution=512, memory_preflight="refuse")
    assert decide(cfg, flux_configs, 80 * GIB)[0].text_encoder_device == "gpu"
    fitted, message = decide(cfg, flux_configs, 12 * GIB)
    assert fitted.text_encoder_device == "offload" and message == ""


def test_blocks_to_swap_frees_the_swapped_blocks(flux_configs):
    base = {n: estimate_memory(_lora(blocks_to_swap=n), flux_configs).base_weights for n in (0, 2, 16, 35)}
    single = component_stats(FLUX, "transformer").single[0] * 2  # bytes of a single-stream block in bf16
    # 2 = one double- and two single-stream blocks, of which two (the double and a single) may be on the GPU at once
    assert base[0] - base[2] == single
    assert base[0] > base[2] > base[16] > base[35]
    assert base[35] < 5 * GIB  # 17 double and 36 single blocks in CPU memory


def test_full_fine_tune_refused_gets_full_fine_tune_advice(flux_configs):
    cfg = DiffusionFullConfig(model_type="flux", resolution=1024, mixed_precision="bf16", optimizer="adafactor")
    with pytest.raises(PreflightError) as err:
        decide(cfg, flux_configs, 80 * GIB)
    message = str(err.value)
    assert "full fine-tune of this model needs about" in message and "train a LoRA" in message
    assert "lora_rank" not in message


@pytest.mark.parametrize("tier", [24, 16, 12, 8])
def test_tier_profiles_fit_their_cards(tier):
    """Each FluxLORA-<N>GB profile fits, as it is, in what an N GB card has free (N GiB less ~0.5 for the CUDA
    context); the 8 GB one is an NF4 LoRA at 512 px."""
    from autotrain_gradio.profiles import get_profile

    cfg = get_profile(f"FluxLORA-{tier}GB").build()
    free = tier * GIB - GIB // 2
    assert decide(cfg, cfg.base_model, free, can_quantize=True) == (cfg, "")
    assert estimate_memory(cfg, cfg.base_model).total > free - 4 * GIB  # and uses the card: not a tier too low
    if tier == 8:
        assert (cfg.quantize_base, cfg.resolution) == ("nf4", 512)
