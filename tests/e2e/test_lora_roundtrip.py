"""A LoRA written by export.save_lora loads back into a fresh tiny pipeline in both key formats (diffusers/peft and
kohya/ComfyUI, the latter through diffusers' own kohya detection), changes its output, and both formats give the
same output as the live adapter. Sampling renders deterministic PNGs with the adapter active."""

from __future__ import annotations

import diffusers
import numpy as np
import pytest
import torch
from peft import LoraConfig
from PIL import Image

from autotrain_gradio.tasks.diffusion.config import DiffusionLoraConfig
from autotrain_gradio.tasks.diffusion.export import read_metadata, save_lora
from autotrain_gradio.tasks.diffusion.sampling import render_samples
from autotrain_gradio.tasks.tiny import resolve_model

PIPELINES = {"flux": diffusers.FluxPipeline, "sdxl": diffusers.StableDiffusionXLPipeline,
             "sd15": diffusers.StableDiffusionPipeline}
# Flux: every layer kind of the double and single blocks except the single blocks' q/k/v/mlp. BFL fuses those
# into `linear1`, and diffusers' kohya converter splits linear1 at Flux's real widths (3072/12288) only, so a tiny
# model cannot load it; tests/unit/test_export.py checks that layer against the converter at full size.
TARGETS = {
    "flux": r"transformer_blocks\.\d+\.(attn\.(to_[qkv]|to_out\.0|add_[qkv]_proj|to_add_out)|ff(_context)?\.net\."
            r"(0\.proj|2)|norm1(_context)?\.linear)|single_transformer_blocks\.\d+\.(proj_out|norm\.linear)",
    "sdxl": ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"],
    "sd15": ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"],
}


def _render(pipe, family: str) -> torch.Tensor:
    extra = {"max_sequence_length": 16} if family == "flux" else {}
    generator = torch.Generator().manual_seed(0)
    return pipe("a red cat", num_inference_steps=2, height=32, width=32, generator=generator, output_type="latent",
                **extra).images


def _fresh(family: str):
    pipe = PIPELINES[family].from_pretrained(resolve_model(f"tiny:{family}"))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _add_trained_lora(denoiser: torch.nn.Module, family: str) -> None:
    """A peft adapter as the trainer adds it, with lora_B made non-zero (as after training)."""
    denoiser.add_adapter(LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS[family], init_lora_weights="gaussian"))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in denoiser.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)


@pytest.mark.parametrize("family", ["flux", "sdxl", "sd15"])
def test_both_formats_load_and_match(family, tmp_path):
    torch.manual_seed(0)
    pipe = _fresh(family)
    plain = _render(pipe, family)
    denoiser = pipe.transformer if family == "flux" else pipe.unet
    _add_trained_lora(denoiser, family)
    live = _render(pipe, family)
    assert not torch.allclose(live, plain, atol=1e-4), "the perturbed LoRA should change the output"

    cfg = DiffusionLoraConfig(name="rt", base_model=f"tiny:{family}", model_type=family, lora_rank=4, lora_alpha=8,
                              trigger_word="sks")
    files = save_lora(cfg, denoiser, tmp_path, step=12)
    assert set(files) == {"diffusers", "kohya", "card"}

    from_diffusers = _fresh(family)
    from_diffusers.load_lora_weights(str(tmp_path))  # finds pytorch_lora_weights.safetensors
    from_kohya = _fresh(family)
    from_kohya.load_lora_weights(files["kohya"])  # kohya keys, auto-detected by diffusers
    out_diffusers, out_kohya = _render(from_diffusers, family), _render(from_kohya, family)

    assert not torch.allclose(out_kohya, plain, atol=1e-4)
    torch.testing.assert_close(out_diffusers, live, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out_kohya, out_diffusers, atol=1e-5, rtol=1e-4)

    for fmt in ("diffusers", "kohya"):
        meta = read_metadata(files[fmt])
        assert meta["base_model"] == f"tiny:{family}" and meta["model_type"] == family
        assert meta["lora_rank"] == "4" and meta["lora_alpha"] == "8.0" and meta["steps"] == "12"
        assert meta["trigger_word"] == "sks" and len(meta["config_digest"]) == 16
    assert "lora_adapter_metadata" in read_metadata(files["diffusers"])  # diffusers' own entry is kept
    card = (tmp_path / "README.md").read_text()
    assert "sks" in card and "load_lora_weights" in card and f"tiny:{family}" in card


def test_kohya_key_names(tmp_path):
    """The names ComfyUI's loader maps: BFL names for Flux, lora_unet_<diffusers path> for the UNets."""
    from safetensors.torch import load_file

    names = {}
    for family in ("flux", "sd15"):
        denoiser = _fresh(family).transformer if family == "flux" else _fresh(family).unet
        _add_trained_lora(denoiser, family)
        cfg = DiffusionLoraConfig(name=f"k{family}", base_model=f"tiny:{family}", model_type=family, lora_rank=4,
                                  export_formats=["kohya"])
        files = save_lora(cfg, denoiser, tmp_path / family, step=1)
        assert set(files) == {"kohya", "card"}
        names[family] = set(load_file(files["kohya"]))
    flux = names["flux"]
    assert "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight" in flux
    assert "lora_unet_double_blocks_1_txt_attn_qkv.lora_up.weight" in flux
    assert "lora_unet_single_blocks_0_linear2.alpha" in flux
    assert all(k.startswith("lora_unet_") and k.endswith((".lora_down.weight", ".lora_up.weight", ".alpha"))
               for k in flux)
    sd15 = names["sd15"]
    assert "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight" in sd15
    assert all(k.startswith("lora_unet_") for k in sd15)


def test_render_samples_deterministic_with_adapter(tmp_path):
    path = resolve_model("tiny:sd15")
    unet = diffusers.UNet2DConditionModel.from_pretrained(path, subfolder="unet")
    unet.train()
    cfg = DiffusionLoraConfig(name="s", base_model="tiny:sd15", model_type="sd15", resolution=32, sample_steps=2,
                              sample_seed=7, trigger_word="sks")
    device = torch.device("cpu")
    first = render_samples(cfg, path, unet, ["a {trigger} cat", "a red dog"], 3, tmp_path, device)
    assert [p.name for p in first] == ["step-000003-0.png", "step-000003-1.png"]
    assert unet.training, "train mode must be restored"
    again = render_samples(cfg, path, unet, ["a {trigger} cat"], 4, tmp_path, device)
    images = [np.asarray(Image.open(p)) for p in first + again]
    assert images[0].shape == (32, 32, 3)
    assert np.array_equal(images[0], images[2]), "same prompt and seed give the same image"
    assert not np.array_equal(images[0], images[1])

    _add_trained_lora(unet, "sd15")
    with_lora = render_samples(cfg, path, unet, ["a {trigger} cat"], 5, tmp_path, device)
    assert not np.array_equal(np.asarray(Image.open(with_lora[0])), images[0]), "the adapter must be active"
