"""What the transformers tasks' `predict.py` share: load a run's exported model once, and turn logits into top
classes with scores (classification) or a value (regression). Torch side; the app imports it lazily."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_cache: dict[str, Any] = {}  # the last model loaded: {"key": (folder, mtime), "model": ..., "processor": ...}


def load(model_dir: str | Path, model_class: str, processor_class: str) -> tuple[Any, Any]:
    """(model, processor) from an exported model folder via the named transformers Auto classes; kept until another
    folder (or a newer export) is asked for."""
    import torch
    import transformers

    folder = Path(model_dir)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} has no exported model yet (no config.json): wait until the run finishes")
    key = (str(folder), (folder / "config.json").stat().st_mtime, model_class)
    if _cache.get("key") != key:
        _cache.clear()
        model = getattr(transformers, model_class).from_pretrained(folder)
        model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
        _cache.update(key=key, model=model, processor=getattr(transformers, processor_class).from_pretrained(folder))
    return _cache["model"], _cache["processor"]


def scores(model: Any, inputs: dict[str, Any], top_k: int = 5) -> dict[str, float]:
    """{label: probability} of the top classes, or {"value": prediction} for a regression head."""
    import torch

    with torch.inference_mode():
        logits = model(**{k: v.to(model.device) for k, v in inputs.items()}).logits[0].float()
    if model.config.problem_type == "regression" or logits.numel() == 1:
        return {"value": round(float(logits[0]), 6)}
    probs = logits.softmax(-1)
    top = probs.topk(min(top_k, probs.numel()))
    labels = model.config.id2label
    return {str(labels.get(int(i), i)): round(float(p), 6) for p, i in zip(top.values, top.indices, strict=True)}
