"""Sentence-transformers settings: AutoTrain's `trainer` choice and column keys (`sentence1_column`,
`sentence2_column`, `sentence3_column`, `target_column`). No torch."""

from __future__ import annotations

from typing import Literal

from autotrain_gradio.config import TrainerConfig, setting

Trainer = Literal["pair", "pair_class", "pair_score", "triplet", "qa"]


class SentenceTransformersConfig(TrainerConfig):
    """An embedding model fine-tuned with SentenceTransformerTrainer (AutoTrain's `sentence-transformers`)."""

    task: Literal["sentence-transformers"] = "sentence-transformers"
    trainer: Trainer = setting("pair_score", "Trainer", "pair: (anchor, positive); pair_class: (premise, hypothesis, "
                               "label); pair_score: (sentence1, sentence2, score 0-1); triplet: (anchor, positive, "
                               "negative); qa: (query, answer).")
    sentence1_column: str = setting("sentence1", "Sentence 1 column", "Anchor / premise / query column.",
                                    min_length=1)
    sentence2_column: str = setting("sentence2", "Sentence 2 column", "Positive / hypothesis / answer column.",
                                    min_length=1)
    sentence3_column: str = setting("sentence3", "Sentence 3 column", "Negative column (triplet only).",
                                    min_length=1)
    target_column: str = setting("target", "Target column", "Label (pair_class) or similarity score (pair_score).",
                                 min_length=1)
    max_seq_length: int = setting(128, "Max length", "Tokens per sentence; longer ones are truncated.", ge=8, le=8192)
