"""Try a text classifier (or regressor: the same head with one output): text in, label scores / a value out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autotrain_gradio.tasks.hf_predict import load, scores


def predict(cfg: Any, model_dir: Path, text: str) -> dict[str, float]:
    """{label: probability} for a text (or {"value": v} for text regression)."""
    model, tokenizer = load(model_dir, "AutoModelForSequenceClassification", "AutoTokenizer")
    return scores(model, dict(tokenizer(text, truncation=True, return_tensors="pt")))
