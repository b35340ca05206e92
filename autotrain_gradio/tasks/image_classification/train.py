"""Image classification on the shared Trainer path: class folders -> the model's own image processor -> a fresh
classification head sized to the classes -> `hf_trainer.fit` (train or resume, evaluate, save, card, push)."""

from __future__ import annotations

from functools import partial
from typing import Any

from transformers import AutoImageProcessor, AutoModelForImageClassification

from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.hf_data import ImageDataset
from autotrain_gradio.tasks.hf_trainer import ModelCard, fit, head_kwargs
from autotrain_gradio.tasks.image_classification.config import ImageClassificationConfig
from autotrain_gradio.tasks.images import load_class_folders
from autotrain_gradio.tasks.metrics import classification_metrics
from autotrain_gradio.tasks.tiny import resolve_model

USAGE = """
from transformers import pipeline

classify = pipeline("image-classification", model="path/to/model")
print(classify("image.jpg"))
"""


def train(cfg: ImageClassificationConfig, ctx: RunContext) -> dict[str, Any]:
    """Train, evaluate and save an image classifier; returns {"model": path, "metrics": {...}}, or
    {"checkpoint": path} when stopped early by a signal."""
    data = load_class_folders(cfg.data_dir, cfg, check=False)  # the reader validate used, on the checked copy
    ctx.log(f"{len(data.train)} training / {len(data.valid)} validation images, {len(data.labels)} classes: "
            f"{', '.join(data.labels)}")
    source = resolve_model(cfg.base_model)
    processor = AutoImageProcessor.from_pretrained(source)
    card = ModelCard("image-classification", f"Trained on {len(data.train)} training and {len(data.valid)} "
                     f"validation images.\n\nClasses ({len(data.labels)}): {', '.join(data.labels)}", USAGE)
    load_model = partial(AutoModelForImageClassification.from_pretrained, **head_kwargs(data.labels))
    return fit(cfg, ctx, load_model=load_model, model_source=source,
               train_dataset=ImageDataset(data.train, processor),
               eval_dataset=ImageDataset(data.valid, processor) if data.valid else None,
               processing_class=processor, compute_metrics=classification_metrics, card=card)
