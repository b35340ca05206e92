"""Text-classification data: a table with a text column and a label column. The same `load` validates the user's
file (phase 1, read-only) and feeds the trainer (from the prepared copy), so the two never disagree."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from autotrain_gradio.tasks.formats import (
    DataError,
    TableData,
    check_no_missing,
    read_table,
    require_column,
    split_rows,
)
from autotrain_gradio.tasks.text_classification.config import TextClassificationConfig

Row = tuple[str, int]  # (text, label id)


@dataclass
class TextClassificationData:
    table: TableData
    labels: list[str]
    train: list[Row]
    valid: list[Row]

    def summary(self) -> str:
        counts = Counter(self.labels[y] for _, y in self.train + self.valid)
        classes = ", ".join(f"{name} ({counts[name]})" for name in self.labels)
        return (f"{len(self.train)} training / {len(self.valid)} validation rows, {len(self.labels)} classes: "
                f"{classes}")


def load(source: str | Path, cfg: TextClassificationConfig, train_split: str = "train",
         valid_split: str | None = None) -> TextClassificationData:
    """Read and check the table; raises DataError (one line) for a missing column, empty text or label, a single
    class, or validation labels the training rows never show."""
    data = read_table(source, train_split, valid_split)
    tables = [t for t in (data.train, data.valid) if t is not None]
    for table in tables:
        require_column(table, "text_column", cfg.text_column)
        require_column(table, "target_column", cfg.target_column)
        check_no_missing(table, "text_column", cfg.text_column, "text")
        check_no_missing(table, "target_column", cfg.target_column, "label")
    labels = sorted({str(v).strip() for v in data.train.column(cfg.target_column)})
    if len(labels) < 2:
        raise DataError(f"{data.train.source}: column '{cfg.target_column}' has a single class ({labels[0]!r}); a "
                        "classifier needs at least 2 classes: add rows of another class or map another column")
    ids = {name: i for i, name in enumerate(labels)}

    def rows(table) -> list[Row]:
        return [(str(r[cfg.text_column]), ids[str(r[cfg.target_column]).strip()]) for r in table.rows]

    if data.valid is not None:
        unseen = sorted({str(v).strip() for v in data.valid.column(cfg.target_column)} - set(labels))
        if unseen:
            raise DataError(f"{data.valid.source}: labels {', '.join(map(repr, unseen[:5]))} in "
                            f"'{cfg.target_column}' never occur in the training rows; add training rows for them")
        train, valid = rows(data.train), rows(data.valid)
    else:
        train, valid = split_rows(rows(data.train), cfg.valid_split, cfg.seed, stratify=lambda r: r[1])
    return TextClassificationData(data, labels, train, valid)
