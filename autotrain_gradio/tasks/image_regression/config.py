"""Image regression settings. Column mapping uses AutoTrain's keys (`image_column`, `target_column`). No torch."""

from __future__ import annotations

from typing import Literal

from autotrain_gradio.config import TrainerConfig, setting


class ImageRegressionConfig(TrainerConfig):
    """A one-output regression head on an image model, trained with MSE (AutoTrain's `image-regression`)."""

    task: Literal["image-regression"] = "image-regression"
    image_column: str = setting("file_name", "Image column", "Metadata column with each image's file name, "
                                "relative to the metadata file (imagefolder's file_name).", min_length=1)
    target_column: str = setting("target", "Target column", "Metadata column with the number to predict.",
                                 min_length=1)
