"""Try an image classifier (or regressor: the same head with one output): an image in, top classes / a value out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autotrain_gradio.tasks.hf_predict import load, scores


def predict(cfg: Any, model_dir: Path, image: Any) -> dict[str, float]:
    """{label: probability} for a PIL image (or {"value": v} for image regression)."""
    model, processor = load(model_dir, "AutoModelForImageClassification", "AutoImageProcessor")
    return scores(model, dict(processor(images=image.convert("RGB"), return_tensors="pt")))
