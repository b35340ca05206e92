"""`autotrain tools convert_to_kohya` (AutoTrain's tool): a diffusers-format LoRA file written without the kohya
export becomes the kohya/ComfyUI file, which loads back into a fresh tiny pipeline (diffusers' kohya detection) and
renders what the live adapter renders, as the exporter's own round trip checks its file."""

from __future__ import annotations

import pytest
import torch

from autotrain_gradio.cli import main
from autotrain_gradio.tasks.diffusion.config import DiffusionLoraConfig
from autotrain_gradio.tasks.diffusion.export import read_metadata, save_lora
from tests.e2e.test_lora_roundtrip import _add_trained_lora, _fresh, _render


@pytest.mark.parametrize("family", ["flux", "sdxl"])
def test_convert_to_kohya_loads_back_and_matches(family, tmp_path, capsys):
    torch.manual_seed(0)
    pipe = _fresh(family)
    denoiser = pipe.transformer if family == "flux" else pipe.unet
    _add_trained_lora(denoiser, family)
    live = _render(pipe, family)
    cfg = DiffusionLoraConfig(name="conv", base_model=f"tiny:{family}", model_type=family, lora_rank=4,
                              lora_alpha=8, export_formats=["diffusers"])
    files = save_lora(cfg, denoiser, tmp_path / "model", step=3)
    assert set(files) == {"diffusers", "card"}  # no kohya file yet

    out = tmp_path / "comfy" / "conv.safetensors"
    assert main(["tools", "convert_to_kohya", "--input_path", str(tmp_path / "model"), "--output_path",
                 str(out)]) == 0
    assert f"written to {out}" in capsys.readouterr().out
    fresh = _fresh(family)
    fresh.load_lora_weights(str(out))  # kohya keys, auto-detected by diffusers
    torch.testing.assert_close(_render(fresh, family), live, atol=1e-5, rtol=1e-4)
    assert read_metadata(out)["lora_rank"] == "4" and read_metadata(out)["model_type"] == family


def test_convert_to_kohya_refuses_what_is_not_a_diffusers_lora(tmp_path, capsys):
    assert main(["tools", "convert_to_kohya", "--input_path", str(tmp_path)]) == 2
    assert "no such LoRA file; give a pytorch_lora_weights.safetensors or its folder" in capsys.readouterr().err
