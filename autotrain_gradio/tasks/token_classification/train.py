"""Token classification on the shared Trainer path: words -> sub-word tokens with the label on each word's first
token (the rest ignored, -100), a token-classification head sized to the tags, seqeval's entity metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
from transformers import AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification

from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.hf_trainer import ModelCard, fit, head_kwargs
from autotrain_gradio.tasks.tiny import resolve_model
from autotrain_gradio.tasks.token_classification.config import TokenClassificationConfig
from autotrain_gradio.tasks.token_classification.data import Row, load

IGNORE = -100  # the loss and the metrics skip these positions


class WordDataset:
    """(words, tag ids) rows as {"input_ids", "attention_mask", "labels"}: each word's first sub-word token carries
    its tag, the others and the special tokens IGNORE. Tokenized once, in one batched call of the fast tokenizer
    (word_ids needs a fast one), so a training step only collates."""

    def __init__(self, rows: list[Row], tokenizer: Any, max_length: int):
        self.items: list[dict[str, Any]] = []
        if not rows:
            return
        encoded = tokenizer([words for words, _ in rows], is_split_into_words=True, truncation=True,
                            max_length=max_length)
        for i, (_, tags) in enumerate(rows):
            labels, previous = [], None
            for word in encoded.word_ids(i):
                labels.append(IGNORE if word is None or word == previous else tags[word])
                previous = word
            self.items.append({**{k: v[i] for k, v in encoded.items()}, "labels": labels})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.items[index]


def entity_metrics(names: list[str]):
    """compute_metrics: seqeval's precision, recall and F1 over entities, and token accuracy, on the labelled
    (first sub-word) positions."""
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    def compute(pred: Any) -> dict[str, float]:
        predictions = np.asarray(pred.predictions).argmax(-1)
        truth, guess = [], []
        for p_row, l_row in zip(predictions, np.asarray(pred.label_ids), strict=True):
            keep = l_row != IGNORE
            truth.append([names[i] for i in l_row[keep]])
            guess.append([names[i] for i in p_row[keep]])
        return {"precision": float(precision_score(truth, guess, zero_division=0)),
                "recall": float(recall_score(truth, guess, zero_division=0)),
                "f1": float(f1_score(truth, guess, zero_division=0)),
                "accuracy": float(accuracy_score(truth, guess))}

    return compute


def train(cfg: TokenClassificationConfig, ctx: RunContext) -> dict[str, Any]:
    """Train a tagger on the prepared table; returns fit's outputs."""
    data = load(cfg.data_dir, cfg)
    ctx.log(data.summary())
    source = resolve_model(cfg.base_model)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if not tokenizer.is_fast:
        raise ValueError(f"{cfg.base_model} has no fast tokenizer; token classification needs one to align tags "
                         "with sub-words (pick a model with a tokenizer.json)")

    def load_model(path: str):
        return AutoModelForTokenClassification.from_pretrained(path, **head_kwargs(data.labels))

    usage = """from transformers import pipeline

tag = pipeline("token-classification", model="path/to/model", aggregation_strategy="simple")
print(tag("John lives in Paris"))"""
    card = ModelCard("token-classification", f"Trained on {len(data.train)} rows ({len(data.valid)} held out); "
                     f"tags: {', '.join(data.labels)}.", usage)
    return fit(cfg, ctx, load_model=load_model, model_source=source,
               train_dataset=WordDataset(data.train, tokenizer, cfg.max_seq_length),
               eval_dataset=WordDataset(data.valid, tokenizer, cfg.max_seq_length), card=card,
               compute_metrics=entity_metrics(data.labels), processing_class=tokenizer,
               data_collator=DataCollatorForTokenClassification(tokenizer))
