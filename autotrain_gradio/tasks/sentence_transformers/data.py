"""Sentence-transformers data: the columns each trainer reads, in the order its loss takes them, as plain column
lists. The same `load` validates the user's file and feeds the trainer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autotrain_gradio.tasks.formats import (
    DataError,
    Table,
    TableData,
    check_no_missing,
    check_numeric,
    read_table,
    require_column,
    rows_text,
    split_rows,
)
from autotrain_gradio.tasks.sentence_transformers.config import SentenceTransformersConfig

# trainer -> (our dataset column, the config key that maps it); "label" / "score" are what the losses read.
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "pair": (("anchor", "sentence1_column"), ("positive", "sentence2_column")),
    "qa": (("query", "sentence1_column"), ("answer", "sentence2_column")),
    "triplet": (("anchor", "sentence1_column"), ("positive", "sentence2_column"), ("negative", "sentence3_column")),
    "pair_class": (("premise", "sentence1_column"), ("hypothesis", "sentence2_column"), ("label", "target_column")),
    "pair_score": (("sentence1", "sentence1_column"), ("sentence2", "sentence2_column"), ("score", "target_column")),
}


@dataclass
class SentenceData:
    table: TableData
    trainer: str
    labels: list[str]  # pair_class: the class names (label ids index them); empty otherwise
    train: list[dict[str, Any]]
    valid: list[dict[str, Any]]

    def summary(self) -> str:
        classes = f", {len(self.labels)} classes: {', '.join(self.labels)}" if self.labels else ""
        return f"{self.trainer}: {len(self.train)} training / {len(self.valid)} validation rows{classes}"

    def columns(self, rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
        """Column-oriented, in the loss's order, for datasets.Dataset.from_dict."""
        return {name: [r[name] for r in rows] for name, _ in COLUMNS[self.trainer]}


def _check(table: Table, cfg: SentenceTransformersConfig) -> None:
    for name, key in COLUMNS[cfg.trainer]:
        column = getattr(cfg, key)
        require_column(table, key, column)
        check_no_missing(table, key, column, "label" if name == "label" else "score" if name == "score" else "text")
        if name == "score":
            scores = check_numeric(table, key, column)
            outside = [i for i, s in enumerate(scores, 1) if not 0.0 <= s <= 1.0]
            if outside:
                raise DataError(f"{table.source}: column '{column}' ({key}) holds similarity scores outside 0-1 at "
                                f"{rows_text(outside)} (e.g. {scores[outside[0] - 1]}); rescale them to 0-1")


def load(source: str | Path, cfg: SentenceTransformersConfig, train_split: str = "train",
         valid_split: str | None = None) -> SentenceData:
    """Read and check the table for cfg.trainer; raises DataError (one line) for a missing column, empty text, a
    score that is not a number in 0-1, a single class, or validation labels the training rows never show."""
    data = read_table(source, train_split, valid_split)
    tables = [t for t in (data.train, data.valid) if t is not None]
    for table in tables:
        _check(table, cfg)
    labels: list[str] = []
    if cfg.trainer == "pair_class":
        labels = sorted({str(v).strip() for v in data.train.column(cfg.target_column)})
        if len(labels) < 2:
            raise DataError(f"{data.train.source}: column '{cfg.target_column}' (target_column) has a single class "
                            f"({labels[0]!r}); pair_class needs at least 2 labels (e.g. entailment, contradiction)")
        if data.valid is not None and (unseen := sorted({str(v).strip() for v in data.valid.column(
                cfg.target_column)} - set(labels))):
            raise DataError(f"{data.valid.source}: labels {', '.join(map(repr, unseen[:5]))} in "
                            f"'{cfg.target_column}' never occur in the training rows; add training rows for them")

    def rows(table: Table) -> list[dict[str, Any]]:
        out = []
        for r in table.rows:
            row = {}
            for name, key in COLUMNS[cfg.trainer]:
                value = r[getattr(cfg, key)]
                row[name] = labels.index(str(value).strip()) if name == "label" else float(value) \
                    if name == "score" else str(value)
            out.append(row)
        return out

    if data.valid is not None:
        train, valid = rows(data.train), rows(data.valid)
    else:
        stratify = (lambda r: r["label"]) if labels else None
        train, valid = split_rows(rows(data.train), cfg.valid_split, cfg.seed, stratify=stratify)
    return SentenceData(data, cfg.trainer, labels, train, valid)
