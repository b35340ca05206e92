"""Extractive-QA data in SQuAD's format: a context, a question and `{"text": [...], "answer_start": [...]}` per row
(a JSON object, or its text in a CSV cell). The same `load` validates the user's file and feeds the trainer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autotrain_gradio.tasks.extractive_qa.config import ExtractiveQAConfig
from autotrain_gradio.tasks.formats import (
    DataError,
    Table,
    TableData,
    check_no_missing,
    read_table,
    require_column,
    split_rows,
    structured_column,
)

EXAMPLE = '{"text": ["Paris"], "answer_start": [27]}'


@dataclass
class QARow:
    context: str
    question: str
    answers: list[str]  # every accepted answer text (the first one trains; all of them score)
    starts: list[int]  # their character offsets into the context


@dataclass
class ExtractiveQAData:
    table: TableData
    train: list[QARow]
    valid: list[QARow]

    def summary(self) -> str:
        return f"{len(self.train)} training / {len(self.valid)} validation questions"


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def _rows(table: Table, cfg: ExtractiveQAConfig) -> list[QARow]:
    for key, column in (("text_column", cfg.text_column), ("question_column", cfg.question_column),
                        ("answer_column", cfg.answer_column)):
        require_column(table, key, column)
    check_no_missing(table, "text_column", cfg.text_column, "context")
    check_no_missing(table, "question_column", cfg.question_column, "question")
    answers = structured_column(table, "answer_column", cfg.answer_column, dict, EXAMPLE)
    rows = []
    for i, (row, answer) in enumerate(zip(table.rows, answers, strict=True), 1):
        where = f"{table.source}: row {i} of column '{cfg.answer_column}' (answer_column)"
        if "text" not in answer or "answer_start" not in answer:
            raise DataError(f"{where} lacks 'text' or 'answer_start' (got {sorted(answer)}); write e.g. {EXAMPLE}")
        texts, starts = _as_list(answer["text"]), _as_list(answer["answer_start"])
        if not texts or len(texts) != len(starts):
            raise DataError(f"{where} has {len(texts)} answer texts and {len(starts)} answer_start values; give "
                            "one start per answer, at least one answer")
        context = str(row[cfg.text_column])
        for text, start in zip(texts, starts, strict=True):
            if not isinstance(start, int) or isinstance(start, bool) or not str(text).strip():
                raise DataError(f"{where}: answer {text!r} at {start!r} needs a non-empty text and an integer "
                                "answer_start")
            found = context[start:start + len(str(text))]
            if found != str(text):
                raise DataError(f"{table.source}: row {i}: answer_start {start} does not point at the answer text "
                                f"{str(text)!r} in column '{cfg.text_column}' (found {found!r} there); answer_start "
                                "is the 0-based character offset of the answer in the context")
        rows.append(QARow(context, str(row[cfg.question_column]), [str(t) for t in texts], [int(s) for s in starts]))
    return rows


def load(source: str | Path, cfg: ExtractiveQAConfig, train_split: str = "train",
         valid_split: str | None = None) -> ExtractiveQAData:
    """Read and check the table; raises DataError (one line) for a missing column, an empty context or question, an
    answer cell that is not SQuAD's object, or an answer_start that does not point at its text."""
    data = read_table(source, train_split, valid_split)
    train = _rows(data.train, cfg)
    if data.valid is not None:
        valid = _rows(data.valid, cfg)
    else:
        train, valid = split_rows(train, cfg.valid_split, cfg.seed)
    return ExtractiveQAData(data, train, valid)
