"""Text-regression data: a table with a text column and a numeric target column. The same `load` validates the
user's file (phase 1, read-only) and feeds the trainer (from the prepared copy)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

from autotrain_gradio.tasks.formats import (
    TableData,
    check_no_missing,
    check_numeric,
    read_table,
    require_column,
    split_rows,
)
from autotrain_gradio.tasks.text_regression.config import TextRegressionConfig

Row = tuple[str, float]  # (text, target)


@dataclass
class TextRegressionData:
    table: TableData
    train: list[Row]
    valid: list[Row]

    def summary(self) -> str:
        targets = [y for _, y in self.train]
        return (f"{len(self.train)} training / {len(self.valid)} validation rows, target from {min(targets):g} to "
                f"{max(targets):g} (mean {fmean(targets):.4g})")


def load(source: str | Path, cfg: TextRegressionConfig, train_split: str = "train",
         valid_split: str | None = None) -> TextRegressionData:
    """Read and check the table; raises DataError (one line) for a missing column, empty text or target, or a
    target that is not a number."""
    data = read_table(source, train_split, valid_split)
    splits = []
    for table in (data.train, data.valid):
        if table is None:
            continue
        require_column(table, "text_column", cfg.text_column)
        require_column(table, "target_column", cfg.target_column)
        check_no_missing(table, "text_column", cfg.text_column, "text")
        check_no_missing(table, "target_column", cfg.target_column, "target")
        targets = check_numeric(table, "target_column", cfg.target_column)
        splits.append([(str(r[cfg.text_column]), y) for r, y in zip(table.rows, targets, strict=True)])
    train, valid = (splits[0], splits[1]) if len(splits) == 2 else split_rows(splits[0], cfg.valid_split, cfg.seed)
    return TextRegressionData(data, train, valid)
