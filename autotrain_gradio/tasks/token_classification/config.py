"""Token classification settings. Column mapping uses AutoTrain's keys (`tokens_column`, `tags_column`). No torch."""

from __future__ import annotations

from typing import Literal

from autotrain_gradio.config import TrainerConfig, setting


class TokenClassificationConfig(TrainerConfig):
    """A token-classification head on a text encoder (AutoTrain's `token-classification`)."""

    task: Literal["token-classification"] = "token-classification"
    tokens_column: str = setting("tokens", "Tokens column", "Table column with each row's list of words.",
                                 min_length=1)
    tags_column: str = setting("tags", "Tags column", "Table column with one label per word (a list of the same "
                               "length; strings such as B-PER, or integers).", min_length=1)
    max_seq_length: int = setting(128, "Max length", "Sub-word tokens per row; longer rows are truncated.",
                                  ge=8, le=8192)
