"""Image classification settings (the transformers Trainer on class folders). No torch."""

from __future__ import annotations

from typing import Literal

from autotrain_gradio.config import TrainerConfig


class ImageClassificationConfig(TrainerConfig):
    """transformers Trainer on a folder of class sub-folders."""

    task: Literal["image-classification"] = "image-classification"
