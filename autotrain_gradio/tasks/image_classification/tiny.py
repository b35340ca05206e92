"""A tiny ViT image classifier built in code (`tiny:vit`)."""

from __future__ import annotations

from pathlib import Path

from autotrain_gradio.tasks.tiny import seeded


def build_vit(path: Path) -> None:
    """A seeded ViTForImageClassification (32 px, patch 8, hidden 32, 2 layers, 2 heads) and its processor,
    laid out like google/vit-base-patch16-224 so AutoModelForImageClassification/AutoImageProcessor load it."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    with seeded():
        config = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64, num_labels=2)
        ViTForImageClassification(config).save_pretrained(path)
    # The PIL backend needs no torchvision; it saves as "ViTImageProcessor", as the hub checkpoints do.
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(path)
