"""Text classification settings. Column mapping uses AutoTrain's keys (`text_column`, `target_column`). No torch."""

from __future__ import annotations

from typing import Literal

from autotrain_gradio.config import TrainerConfig, setting


class TextClassificationConfig(TrainerConfig):
    """A sequence-classification head on a text encoder (AutoTrain's `text-classification`)."""

    task: Literal["text-classification"] = "text-classification"
    text_column: str = setting("text", "Text column", "Table column with the input text.", min_length=1)
    target_column: str = setting("target", "Label column", "Table column with the class label.", min_length=1)
    max_seq_length: int = setting(128, "Max length", "Tokens per text; longer texts are truncated.", ge=8, le=8192)
