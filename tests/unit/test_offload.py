"""Block swapping and text-encoder streaming (tasks/diffusion/offload.py) on the tiny Flux, on CPU: between uses a
streamed weight is an empty placeholder (exactly as on a GPU, where its device copy is dropped), so any use of a
weight the schedule failed to load, in forward, backward or a checkpoint recomputation, raises instead of passing."""

from __future__ import annotations

import pytest
import torch

from autotrain_gradio.tasks.diffusion import models, offload
from autotrain_gradio.tasks.diffusion.config import DiffusionLoraConfig
from autotrain_gradio.tasks.diffusion.families import FAMILIES
from autotrain_gradio.tasks.diffusion.loss import flux_loss
from autotrain_gradio.tasks.tiny import resolve_model


@pytest.fixture(autouse=True)
def _one_thread():
    """The tiny models are latency-bound; more threads than the 2 shared cores only thrash."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CFG = DiffusionLoraConfig(model_type="flux", base_model="tiny:flux", resolution=32, max_sequence_length=16)


def _lora_flux(path: str) -> torch.nn.Module:
    from peft import LoraConfig

    torch.manual_seed(0)
    denoiser = models.load_denoiser(CFG, path, torch.float32)
    denoiser.requires_grad_(False)
    denoiser.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=list(FAMILIES["flux"].lora_targets),
                                    init_lora_weights="gaussian"))
    return denoiser


def _train(denoiser: torch.nn.Module, steps: int = 3) -> list[float]:
    g = torch.Generator().manual_seed(1)
    latents = torch.randn(2, 4, 16, 16, generator=g)
    cond = {"prompt_embeds": torch.randn(2, 16, 32, generator=g),
            "pooled_prompt_embeds": torch.randn(2, 32, generator=g)}
    opt = torch.optim.AdamW([p for p in denoiser.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(steps):
        loss = flux_loss(denoiser, CFG, latents, cond, g, True)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("checkpointing", [False, True])
def test_block_swapping_trains_exactly_as_without(checkpointing):
    path = resolve_model("tiny:flux")
    plain = _lora_flux(path)
    swapped = _lora_flux(path)
    swap = offload.LayerStreamer(offload.flux_blocks_to_swap(swapped, 4), torch.device("cpu"), train=True)
    assert len(swap.layers) == 3 and swap.streamed_bytes() > 0  # both double-stream blocks and the single one
    if checkpointing:
        plain.enable_gradient_checkpointing()
        swapped.enable_gradient_checkpointing()
    assert _train(swapped) == _train(plain)
    # between steps the streamed frozen weights are gone (the first block, whose inputs need no gradient, is
    # dropped by the next forward instead); the LoRA weights never moved
    for layer in swap.layers:
        frozen = [p for p in layer.parameters() if not p.requires_grad]
        assert all(p.numel() == 0 for p in frozen) or layer is swap.layers[0]
        assert all(p.numel() > 0 for p in layer.parameters() if p.requires_grad)


def test_a_weight_missing_in_backward_fails_loudly():
    """The placeholder is what makes the test above meaningful: skip the reload before backward and it breaks."""
    swapped = _lora_flux(resolve_model("tiny:flux"))
    swap = offload.LayerStreamer(offload.flux_blocks_to_swap(swapped, 4), torch.device("cpu"), train=True)
    swap.load = lambda layer: None if layer in swap.in_backward else offload.LayerStreamer.load(swap, layer)
    with pytest.raises(RuntimeError, match="size|shape"):
        _train(swapped, steps=1)


def test_kohya_block_count():
    transformer = _lora_flux(resolve_model("tiny:flux"))  # 2 double-stream, 1 single-stream block
    assert offload.flux_blocks_to_swap(transformer, 1) == list(transformer.single_transformer_blocks)
    assert offload.flux_blocks_to_swap(transformer, 2) == ([transformer.transformer_blocks[1]]
                                                           + list(transformer.single_transformer_blocks))


@pytest.mark.parametrize("placement", ["cpu", "offload"])
def test_text_encoders_encode_the_same_wherever_they_run(placement):
    path = resolve_model("tiny:flux")
    captions = ["a photo of red", "a photo of sks dog"]
    tokenizers, encoders = models.load_text_encoders(CFG, path, torch.float32)
    with torch.no_grad():
        reference = models.encode_prompts("flux", tokenizers, encoders, captions, 16)
        streamers = offload.place_text_encoders(encoders, placement, torch.device("cpu"))
        assert len(streamers) == (2 if placement == "offload" else 0)
        if streamers:  # the layers' weights are placeholders until a forward loads them
            assert all(p.numel() == 0 for s in streamers for layer in s.layers for p in layer.parameters())
        again = models.encode_prompts("flux", tokenizers, encoders, captions, 16)
    for key in reference:
        torch.testing.assert_close(again[key], reference[key], rtol=0, atol=0)
