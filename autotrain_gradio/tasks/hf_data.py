"""Map-style datasets for the Trainer tasks, shared by every task that feeds images or texts to a transformers
model. Images stay paths and are decoded lazily, so big folders fit in memory; texts are tokenized once, up front.
The model's own processor / tokenizer does the work (no torchvision); this module imports no torch. A label is an
int (classification) or a float (regression): the Trainer's collators make the tensor type from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Label = int | float


class ImageDataset:
    """(image file, label) pairs as {"pixel_values", "labels"}; a file that cannot be decoded is named."""

    def __init__(self, samples: list[tuple[Path, Label]], processor: Any):
        self.samples, self.processor = samples, processor

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from PIL import Image

        path, label = self.samples[index]
        try:
            with Image.open(path) as img:
                image = img.convert("RGB")
        except OSError as err:
            raise ValueError(f"cannot decode image {path}: {err}") from err
        pixels = self.processor(image, return_tensors="pt")["pixel_values"][0]
        return {"pixel_values": pixels, "labels": label}


class TextDataset:
    """(text, label) pairs as {"input_ids", "attention_mask", ..., "labels"}, truncated to max_length. Texts are
    tokenized once, up front, in one batched call (tokenizing inside the training loop costs a sixth of a small
    model's step); padding per batch is the collator's (the Trainer pads with the tokenizer it is given)."""

    def __init__(self, rows: list[tuple[str, Label]], tokenizer: Any, max_length: int):
        self.labels = [label for _, label in rows]
        encoded = tokenizer([text for text, _ in rows], truncation=True, max_length=max_length) if rows else {}
        self.columns = {k: list(v) for k, v in encoded.items()}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**{k: v[index] for k, v in self.columns.items()}, "labels": self.labels[index]}
