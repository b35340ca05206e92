"""Object detection settings. Column mapping uses AutoTrain's keys (`image_column`, `objects_column`). No torch."""

from __future__ import annotations

from typing import Literal

from autotrain_gradio.config import TrainerConfig, setting


class ObjectDetectionConfig(TrainerConfig):
    """A detection model fine-tuned with the Trainer (AutoTrain's `object-detection`)."""

    task: Literal["object-detection"] = "object-detection"
    image_column: str = setting("file_name", "Image column", "Metadata column with each image's file name, "
                                "relative to the metadata file (imagefolder's file_name).", min_length=1)
    objects_column: str = setting("objects", "Objects column", 'Metadata column with {"bbox": [[x, y, w, h], ...], '
                                  '"category": [...]} per image (COCO boxes in pixels).', min_length=1)
    image_square_size: int = setting(600, "Image size", "Images are resized to this square (boxes follow).",
                                     ge=32, le=2048)
    sample_images: int = setting(4, "Sample images", "Validation images drawn with their predicted boxes at the "
                                 "end (the Jobs tab shows them).", ge=0, le=32)
