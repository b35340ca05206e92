"""A tiny YOLOS detector built in code (`tiny:yolos`): a plain ViT with detection tokens, so it needs neither timm
nor torchvision, and YOLOS' PIL image processor; laid out like hustvl/yolos-small so the Auto classes load it."""

from __future__ import annotations

from pathlib import Path

from autotrain_gradio.tasks.tiny import seeded


def build_yolos(path: Path) -> None:
    """32 px, patch 8, hidden 32, 2 layers, 2 heads, 2 detection tokens (a toy image holds one or two objects; real
    YOLOS has 100), 2 labels (the trainer resizes the head to the data's categories)."""
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessorPil

    with seeded(0):
        config = YolosConfig(image_size=[32, 32], patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                             num_attention_heads=2, intermediate_size=64, num_detection_tokens=2,
                             use_mid_position_embeddings=False, num_labels=2)
        YolosForObjectDetection(config).save_pretrained(path)
    YolosImageProcessorPil(size={"height": 32, "width": 32}, do_pad=False).save_pretrained(path)
