"""Seq2seq data: a table with an input text column and a target text column. The same `load` validates the user's
file and feeds the trainer; it also refuses int8 quantization where no GPU is visible, before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autotrain_gradio.gpus import quantization_error
from autotrain_gradio.tasks.formats import (
    DataError,
    TableData,
    check_no_missing,
    read_table,
    require_column,
    split_rows,
)
from autotrain_gradio.tasks.seq2seq.config import Seq2SeqConfig

Pair = tuple[str, str]  # (input text, target text)


@dataclass
class Seq2SeqData:
    table: TableData
    train: list[Pair]
    valid: list[Pair]

    def summary(self) -> str:
        return f"{len(self.train)} training / {len(self.valid)} validation pairs"


def load(source: str | Path, cfg: Seq2SeqConfig, train_split: str = "train",
         valid_split: str | None = None) -> Seq2SeqData:
    """Read and check the table; raises DataError (one line) for a missing column or an empty input or target."""
    if problem := quantization_error(cfg.quantization):  # int8 loading is bitsandbytes' CUDA kernel
        raise DataError(problem)
    data = read_table(source, train_split, valid_split)
    for table in (t for t in (data.train, data.valid) if t is not None):
        require_column(table, "text_column", cfg.text_column)
        require_column(table, "target_column", cfg.target_column)
        check_no_missing(table, "text_column", cfg.text_column, "text")
        check_no_missing(table, "target_column", cfg.target_column, "target")

    def pairs(table) -> list[Pair]:
        return [(str(r[cfg.text_column]), str(r[cfg.target_column])) for r in table.rows]

    if data.valid is not None:
        train, valid = pairs(data.train), pairs(data.valid)
    else:
        train, valid = split_rows(pairs(data.train), cfg.valid_split, cfg.seed)
    return Seq2SeqData(data, train, valid)
