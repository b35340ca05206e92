"""Try a token classifier: text in, the words with their predicted tags (for gr.HighlightedText) out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autotrain_gradio.tasks.hf_predict import load


def predict(cfg: Any, model_dir: Path, text: str) -> list[tuple[str, str | None]]:
    """[(word, tag or None for 'O'), ...] over the whitespace-separated words of `text` (each word gets the tag of
    its first sub-token, as training labels them)."""
    import torch

    model, tokenizer = load(model_dir, "AutoModelForTokenClassification", "AutoTokenizer")
    words = text.split()
    if not words:
        return []
    enc = tokenizer(words, is_split_into_words=True, truncation=True, return_tensors="pt")
    with torch.inference_mode():
        ids = model(**{k: v.to(model.device) for k, v in enc.items()}).logits[0].argmax(-1).tolist()
    tags: dict[int, str] = {}
    for position, word in enumerate(enc.word_ids()):
        if word is not None and word not in tags:
            tags[word] = model.config.id2label.get(ids[position], str(ids[position]))
    out: list[tuple[str, str | None]] = []
    for i, word in enumerate(words):
        tag = tags.get(i, "O")
        out.append((word + " ", None if tag == "O" else tag.removeprefix("B-").removeprefix("I-")))
    return out
