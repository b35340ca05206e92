"""Image classification: the transformers Trainer on a class-per-folder dataset, reporting through events.

`train` checks the data folder before torch and transformers load (about ten seconds on a CPU), so a folder with
one class or no images fails at once; `fit.fit` then does the training.
"""

from __future__ import annotations

from typing import Any

from autotrain_gradio.config import ImageClassificationConfig
from autotrain_gradio.trainers.common import RunContext
from autotrain_gradio.trainers.image_classification.data import load_folder


def train(cfg: ImageClassificationConfig, ctx: RunContext) -> dict[str, Any]:
    """Train, evaluate and save an image classifier; returns {"model": path, "metrics": {...}}, or
    {"checkpoint": path} when stopped early by a signal."""
    data = load_folder(cfg.data_dir, cfg.valid_split, cfg.seed)
    if cfg.early_stopping_patience and not data.valid:
        raise ValueError("early_stopping_patience needs validation images: set valid_split > 0 or add a valid/ "
                         "folder")
    ctx.log(f"{len(data.train)} training / {len(data.valid)} validation images, {len(data.labels)} classes: "
            f"{', '.join(data.labels)}")

    from autotrain_gradio.trainers.image_classification.fit import fit

    return fit(cfg, ctx, data)
