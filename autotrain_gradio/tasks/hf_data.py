"""Map-style datasets for the Trainer tasks, shared by every task that feeds images or texts to a transformers
model: rows stay plain (path or text, label) pairs and are decoded / tokenized lazily, so big tables and folders
fit in memory. The model's own processor / tokenizer does the work (no torchvision); this module imports no torch.
A label is an int (classification) or a float (regression): the Trainer's collators make the tensor type from it."""

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
    """(text, label) pairs as {"input_ids", "attention_mask", "labels"}, truncated to max_length; padding per
    batch is the collator's (the Trainer pads with the tokenizer it is given)."""

    def __init__(self, rows: list[tuple[str, Label]], tokenizer: Any, max_length: int):
        self.rows, self.tokenizer, self.max_length = rows, tokenizer, max_length

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        text, label = self.rows[index]
        encoded = self.tokenizer(text, truncation=True, max_length=self.max_length)
        return {**encoded, "labels": label}
