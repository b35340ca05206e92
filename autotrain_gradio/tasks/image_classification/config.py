"""Image classification settings (the transformers Trainer on class folders). No torch."""

from __future__ import annotations

from typing import Literal

from autotrain_gradio.config import CommonConfig
from autotrain_gradio.config import setting as _f


class ImageClassificationConfig(CommonConfig):
    """transformers Trainer on a folder of class sub-folders."""

    task: Literal["image-classification"] = "image-classification"
    valid_split: float = _f(0.2, "Validation split", "Fraction held out when no valid/ folder exists.",
                            ge=0.0, lt=0.9)
    eval_every_epoch: bool = _f(True, "Evaluate each epoch", "Run evaluation and write an eval event each epoch.")
    early_stopping_patience: int = _f(0, "Early stopping", "Stop after N evaluations without improvement "
                                      "(0: off).", ge=0)
