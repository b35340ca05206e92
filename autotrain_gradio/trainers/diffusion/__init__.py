"""Diffusion trainer: Flux / SDXL / SD1.5, LoRA or full fine-tune. `train(cfg, ctx)` is what the harness calls."""

from __future__ import annotations

from autotrain_gradio.trainers.diffusion.loop import train

__all__ = ["train"]
