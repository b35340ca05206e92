"""Text regression settings. Column mapping uses AutoTrain's keys (`text_column`, `target_column`). No torch."""

from __future__ import annotations

from typing import Literal

from autotrain_gradio.config import TrainerConfig, setting


class TextRegressionConfig(TrainerConfig):
    """A one-output regression head on a text encoder, trained with MSE (AutoTrain's `text-regression`)."""

    task: Literal["text-regression"] = "text-regression"
    text_column: str = setting("text", "Text column", "Table column with the input text.", min_length=1)
    target_column: str = setting("target", "Target column", "Table column with the number to predict.",
                                 min_length=1)
    max_seq_length: int = setting(128, "Max length", "Tokens per text; longer texts are truncated.", ge=8, le=8192)
