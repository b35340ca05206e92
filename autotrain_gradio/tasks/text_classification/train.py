"""Text classification on the shared Trainer path: the table's (text, label) rows -> the base model's tokenizer
-> a fresh sequence-classification head sized to the classes -> `hf_trainer.fit`."""

from __future__ import annotations

from functools import partial
from typing import Any

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.hf_data import TextDataset
from autotrain_gradio.tasks.hf_trainer import ModelCard, fit, head_kwargs
from autotrain_gradio.tasks.metrics import classification_metrics
from autotrain_gradio.tasks.text_classification.config import TextClassificationConfig
from autotrain_gradio.tasks.text_classification.data import load
from autotrain_gradio.tasks.tiny import resolve_model

USAGE = """
from transformers import pipeline

classify = pipeline("text-classification", model="path/to/model")
print(classify("I loved this film"))
"""


def train(cfg: TextClassificationConfig, ctx: RunContext) -> dict[str, Any]:
    """Train, evaluate and save a text classifier; returns {"model": path, "metrics": {...}}, or
    {"checkpoint": path} when stopped early by a signal."""
    data = load(cfg.data_dir, cfg)  # the prepared copy: input/<name>/train.* (+ valid.*)
    ctx.log(data.summary())
    source = resolve_model(cfg.base_model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    card = ModelCard("text-classification", f"Trained on {len(data.train)} training and {len(data.valid)} "
                     f"validation rows.\n\nClasses ({len(data.labels)}): {', '.join(data.labels)}", USAGE)
    load_model = partial(AutoModelForSequenceClassification.from_pretrained, **head_kwargs(data.labels))
    return fit(cfg, ctx, load_model=load_model, model_source=source,
               train_dataset=TextDataset(data.train, tokenizer, cfg.max_seq_length),
               eval_dataset=TextDataset(data.valid, tokenizer, cfg.max_seq_length),
               processing_class=tokenizer, compute_metrics=classification_metrics, card=card)
