"""Token-classification data: a table whose rows hold a list of words and a list of tags of the same length (JSON /
JSONL / Parquet lists, or their text in a CSV cell). The same `load` validates the user's file and feeds the
trainer, so the two never disagree."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from autotrain_gradio.tasks.formats import (
    DataError,
    Table,
    TableData,
    read_table,
    require_column,
    rows_text,
    split_rows,
    structured_column,
)
from autotrain_gradio.tasks.token_classification.config import TokenClassificationConfig

Row = tuple[list[str], list[int]]  # (words, one label id per word)


@dataclass
class TokenClassificationData:
    table: TableData
    labels: list[str]
    train: list[Row]
    valid: list[Row]

    def summary(self) -> str:
        counts = Counter(self.labels[t] for _, tags in self.train + self.valid for t in tags)
        tags = ", ".join(f"{name} ({counts[name]})" for name in self.labels)
        return f"{len(self.train)} training / {len(self.valid)} validation rows, {len(self.labels)} tags: {tags}"


def _pairs(table: Table, cfg: TokenClassificationConfig) -> list[tuple[list[str], list[str]]]:
    """(words, tags) per row, as text; a cell that is not a list, an empty row or a length mismatch is refused."""
    require_column(table, "tokens_column", cfg.tokens_column)
    require_column(table, "tags_column", cfg.tags_column)
    tokens = structured_column(table, "tokens_column", cfg.tokens_column, list, '["John", "lives", "in", "Paris"]')
    tags = structured_column(table, "tags_column", cfg.tags_column, list, '["B-PER", "O", "O", "B-LOC"]')
    empty = [i for i, words in enumerate(tokens, 1) if not words]
    if empty:
        raise DataError(f"{table.source}: {rows_text(empty)} of column '{cfg.tokens_column}' (tokens_column) "
                        "hold no words; drop those rows")
    for i, (words, labels) in enumerate(zip(tokens, tags, strict=True), 1):
        if len(words) != len(labels):
            raise DataError(f"{table.source}: row {i} has {len(words)} tokens in '{cfg.tokens_column}' but "
                            f"{len(labels)} tags in '{cfg.tags_column}'; give exactly one tag per token")
        if any(t is None or isinstance(t, list | dict) for t in labels):
            raise DataError(f"{table.source}: row {i} of column '{cfg.tags_column}' (tags_column) has a tag that is "
                            f"empty or not a label ({labels!r}); write one string or integer label per token")
    return [([str(w) for w in words], [str(t).strip() for t in labels]) for words, labels in zip(tokens, tags,
                                                                                                  strict=True)]


def _label_order(names: set[str]) -> list[str]:
    """Integer tags in numeric order (a Hub dataset's class ids), string tags sorted."""
    if all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def load(source: str | Path, cfg: TokenClassificationConfig, train_split: str = "train",
         valid_split: str | None = None) -> TokenClassificationData:
    """Read and check the table; raises DataError (one line) for a missing column, a cell that is not a list, an
    empty row, tokens and tags of different lengths, a single tag, or validation tags the training rows never show."""
    data = read_table(source, train_split, valid_split)
    train_pairs = _pairs(data.train, cfg)
    labels = _label_order({t for _, tags in train_pairs for t in tags})
    if len(labels) < 2:
        raise DataError(f"{data.train.source}: column '{cfg.tags_column}' has a single tag ({labels[0]!r}); a "
                        "tagger needs at least 2 tags")
    ids = {name: i for i, name in enumerate(labels)}

    def rows(pairs: list[tuple[list[str], list[str]]]) -> list[Row]:
        return [(words, [ids[t] for t in tags]) for words, tags in pairs]

    if data.valid is not None:
        valid_pairs = _pairs(data.valid, cfg)
        unseen = sorted({t for _, tags in valid_pairs for t in tags} - set(labels))
        if unseen:
            raise DataError(f"{data.valid.source}: tags {', '.join(map(repr, unseen[:5]))} in '{cfg.tags_column}' "
                            "never occur in the training rows; add training rows with them")
        train, valid = rows(train_pairs), rows(valid_pairs)
    else:
        train, valid = split_rows(rows(train_pairs), cfg.valid_split, cfg.seed)
    return TokenClassificationData(data, labels, train, valid)
