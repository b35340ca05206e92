"""Text regression on the shared Trainer path: the table's (text, number) rows -> the base model's tokenizer ->
a one-output regression head (MSE loss) -> `hf_trainer.fit`."""

from __future__ import annotations

from functools import partial
from typing import Any

from transformers import AutoModelForSequenceClassification, AutoTokenizer

from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.hf_data import TextDataset
from autotrain_gradio.tasks.hf_trainer import ModelCard, fit, head_kwargs
from autotrain_gradio.tasks.metrics import regression_metrics
from autotrain_gradio.tasks.text_regression.config import TextRegressionConfig
from autotrain_gradio.tasks.text_regression.data import load
from autotrain_gradio.tasks.tiny import resolve_model

USAGE = """
from transformers import pipeline

score = pipeline("text-classification", model="path/to/model", function_to_apply="none")
print(score("I loved this film"))  # [{'label': 'target', 'score': <the predicted number>}]
"""


def train(cfg: TextRegressionConfig, ctx: RunContext) -> dict[str, Any]:
    """Train, evaluate and save a text regressor; returns {"model": path, "metrics": {...}}, or
    {"checkpoint": path} when stopped early by a signal."""
    data = load(cfg.data_dir, cfg)  # the prepared copy: input/<name>/train.* (+ valid.*)
    ctx.log(data.summary())
    source = resolve_model(cfg.base_model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    card = ModelCard("text-classification", data.summary().capitalize() + ".", USAGE)
    load_model = partial(AutoModelForSequenceClassification.from_pretrained, **head_kwargs(None))
    return fit(cfg, ctx, load_model=load_model, model_source=source,
               train_dataset=TextDataset(data.train, tokenizer, cfg.max_seq_length),
               eval_dataset=TextDataset(data.valid, tokenizer, cfg.max_seq_length),
               processing_class=tokenizer, compute_metrics=regression_metrics, card=card)
