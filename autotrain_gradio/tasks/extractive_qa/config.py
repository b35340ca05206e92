"""Extractive QA settings. Column mapping uses AutoTrain's keys (`text_column` for the context, `question_column`,
`answer_column`); `max_seq_length` and `max_doc_stride` as AutoTrain names them. No torch."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from autotrain_gradio.config import TrainerConfig, setting


class ExtractiveQAConfig(TrainerConfig):
    """A span-prediction head on a text encoder (AutoTrain's `extractive-qa`)."""

    task: Literal["extractive-qa"] = "extractive-qa"
    text_column: str = setting("context", "Context column", "Table column with the passage the answer is in.",
                               min_length=1)
    question_column: str = setting("question", "Question column", "Table column with the question.", min_length=1)
    answer_column: str = setting("answers", "Answer column", 'Table column with {"text": [...], "answer_start": '
                                 "[...]} (SQuAD's format; answer_start is a character offset into the context).",
                                 min_length=1)
    max_seq_length: int = setting(384, "Max length", "Tokens per window (question + a piece of the context); a "
                                  "longer context is split into overlapping windows.", ge=32, le=8192)
    max_doc_stride: int = setting(128, "Doc stride", "Tokens two consecutive windows of a long context share.",
                                  ge=0, le=4096)
    max_answer_length: int = setting(30, "Max answer length", "Longest answer span (tokens) the post-processing "
                                     "considers.", ge=1, le=1024)

    @model_validator(mode="after")
    def _stride_fits(self) -> ExtractiveQAConfig:
        if self.max_doc_stride >= self.max_seq_length // 2:
            raise ValueError(f"max_doc_stride ({self.max_doc_stride}) must be less than half of max_seq_length "
                             f"({self.max_seq_length}): windows would overlap more than they advance; lower "
                             "max_doc_stride or raise max_seq_length")
        return self
