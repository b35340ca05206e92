"""Image regression on the shared Trainer path: (image, number) samples -> the model's own image processor -> a
one-output regression head (MSE loss) -> `hf_trainer.fit`."""

from __future__ import annotations

from functools import partial
from typing import Any

from transformers import AutoImageProcessor, AutoModelForImageClassification

from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.hf_data import ImageDataset
from autotrain_gradio.tasks.hf_trainer import ModelCard, fit, head_kwargs
from autotrain_gradio.tasks.image_regression.config import ImageRegressionConfig
from autotrain_gradio.tasks.image_regression.data import load
from autotrain_gradio.tasks.metrics import regression_metrics
from autotrain_gradio.tasks.tiny import resolve_model

USAGE = """
from transformers import pipeline

score = pipeline("image-classification", model="path/to/model", function_to_apply="none")
print(score("image.jpg"))  # [{'label': 'target', 'score': <the predicted number>}]
"""


def train(cfg: ImageRegressionConfig, ctx: RunContext) -> dict[str, Any]:
    """Train, evaluate and save an image regressor; returns {"model": path, "metrics": {...}}, or
    {"checkpoint": path} when stopped early by a signal."""
    data = load(cfg.data_dir, cfg)  # the prepared copy: the same layout as the user's folder
    ctx.log(data.summary())
    source = resolve_model(cfg.base_model)
    processor = AutoImageProcessor.from_pretrained(source)
    card = ModelCard("image-classification", data.summary().capitalize() + ".", USAGE)
    load_model = partial(AutoModelForImageClassification.from_pretrained, **head_kwargs(None))
    return fit(cfg, ctx, load_model=load_model, model_source=source,
               train_dataset=ImageDataset(data.train, processor), eval_dataset=ImageDataset(data.valid, processor),
               processing_class=processor, compute_metrics=regression_metrics, card=card)
