"""Tabular data: a table with an optional id column, one or more target columns and feature columns. The same
`load` validates the user's file (phase 1, read-only) and feeds the trainer (from the prepared copy); `frame` turns
rows into the feature DataFrame for training and for `predict`, so all three read values the same way. No torch and
no scikit-learn here (the extras are only looked up, so a missing one is a validate-time error)."""

from __future__ import annotations

import importlib.util
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
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
from autotrain_gradio.tasks.tabular.config import TabularConfig
from autotrain_gradio.tasks.tabular.models import MODELS

EXTRAS = {"sklearn": "scikit-learn", "optuna": "optuna", "joblib": "joblib"}
INSTALL = 'pip install -e ".[tabular]"'


@dataclass
class Schema:
    """What a fitted model needs to read new rows; saved beside the model as config.json."""

    sub_task: str  # binary / multi_class / multi_label _classification, single_column / multi_column _regression
    target_columns: list[str]
    numerical: list[str]
    categorical: list[str]
    id_column: str = ""
    labels: dict[str, list[str]] = field(default_factory=dict)  # classification: target -> sorted class names

    @property
    def features(self) -> list[str]:
        return self.numerical + self.categorical

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "features": self.features}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class TabularData:
    table: TableData
    schema: Schema
    train: list[dict[str, Any]]
    valid: list[dict[str, Any]]

    def summary(self) -> str:
        s = self.schema
        text = (f"{len(self.train)} training / {len(self.valid)} validation rows, {len(s.features)} features "
                f"({len(s.numerical)} numeric, {len(s.categorical)} categorical), {s.sub_task.replace('_', ' ')}")
        if len(s.target_columns) == 1 and s.labels:
            target = s.target_columns[0]
            counts = Counter(label_of(r[target]) for r in self.train + self.valid)
            text += ": " + ", ".join(f"{name} ({counts[name]})" for name in s.labels[target])
        return text


def label_of(value: Any) -> str:
    """A class label as text: 1, 1.0 and "1" from different file formats are the same class."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def number(value: Any) -> float | None:
    """A cell as a finite float, None when missing; raises ValueError when it is not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    result = float(value)
    if math.isnan(result) or math.isinf(result):
        raise ValueError(value)
    return result


def _is_numeric(values: list[Any]) -> bool:
    try:
        for value in values:
            number(value)
    except (TypeError, ValueError):
        return False
    return True


def check_extras(model: str) -> None:
    """The tabular extra is installed (looked up, not imported: validate stays light)."""
    needed = {**EXTRAS, **({"xgboost": "xgboost-cpu"} if model == "xgboost" else {})}
    missing = [pkg for module, pkg in needed.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise DataError(f"tabular training needs {', '.join(missing)} (not installed): {INSTALL}")


def _schema(cfg: TabularConfig, table: Table, tables: list[Table]) -> Schema:
    columns = [c for c in table.columns if c != cfg.id_column and c not in cfg.target_columns]
    for key in ("categorical_columns", "numerical_columns"):
        for column in getattr(cfg, key):
            require_column(table, key, column)
    rows = [r for t in tables for r in t.rows]
    numerical, categorical = [], []
    for column in columns:
        values = [r.get(column) for r in rows]
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            raise DataError(f"{table.source}: column '{column}' is entirely empty; fill it in or delete the column")
        if column in cfg.numerical_columns:
            bad = [i for i, v in enumerate(values, 1) if not _is_numeric([v])]
            if bad:
                raise DataError(f"{table.source}: column '{column}' is in numerical_columns but has "
                                f"{len(bad)} non-numeric value{'s' if len(bad) > 1 else ''} at {rows_text(bad)} (e.g. "
                                f"{values[bad[0] - 1]!r}); fix them or leave it out of numerical_columns")
            numerical.append(column)
        elif column not in cfg.categorical_columns and _is_numeric(values):
            numerical.append(column)
        else:
            categorical.append(column)
    if not numerical and not categorical:
        raise DataError(f"{table.source}: no feature columns besides the id and target columns "
                        f"({', '.join(table.columns)}); add the columns to learn from")
    targets = cfg.target_columns
    if not cfg.is_classification:
        sub_task = "single_column_regression" if len(targets) == 1 else "multi_column_regression"
        return Schema(sub_task, targets, numerical, categorical, cfg.id_column)
    labels = {t: sorted({label_of(r[t]) for r in table.rows}) for t in targets}
    if cfg.tabular_task == "multi_label_classification":
        sub_task = "multi_label_classification"
        if wide := [t for t in targets if len(labels[t]) > 2]:
            raise DataError(f"{table.source}: multi_label_classification needs two values per target column (e.g. "
                            f"0/1); '{wide[0]}' has {len(labels[wide[0]])}: {', '.join(labels[wide[0]][:5])}")
    else:
        sub_task = "binary_classification" if len(labels[targets[0]]) == 2 else "multi_class_classification"
    return Schema(sub_task, targets, numerical, categorical, cfg.id_column, labels)


def _check_missing_numbers(cfg: TabularConfig, schema: Schema, tables: list[Table]) -> None:
    if cfg.numerical_imputer != "none" or MODELS[cfg.model].handles_nan:
        return
    for table in tables:
        for column in schema.numerical:
            holes = [i for i, v in enumerate(table.column(column), 1) if number(v) is None]
            if holes:
                raise DataError(f"{table.source}: column '{column}' has {len(holes)} missing value"
                                f"{'s' if len(holes) > 1 else ''} at {rows_text(holes)} and model {cfg.model} "
                                "cannot take them with numerical_imputer=none; set numerical_imputer=median (or use "
                                "xgboost or a tree model)")


def load(source: str | Path, cfg: TabularConfig, train_split: str = "train",
         valid_split: str | None = None) -> TabularData:
    """Read and check the table; raises DataError (one line) for a missing extra or column, an empty target, a target
    with a single value, a non-numeric regression target, an id that is not unique, an entirely empty column, or
    validation labels the training rows never show."""
    check_extras(cfg.model)
    data = read_table(source, train_split, valid_split)
    tables = [t for t in (data.train, data.valid) if t is not None]
    for table in tables:
        if cfg.id_column:
            require_column(table, "id_column", cfg.id_column)
            check_no_missing(table, "id_column", cfg.id_column, "id")
            seen: dict[str, int] = {}
            for i, value in enumerate(table.column(cfg.id_column), 1):
                if (first := seen.setdefault(label_of(value), i)) != i:
                    raise DataError(f"{table.source}: id column '{cfg.id_column}' is not unique: {value!r} is in "
                                    f"rows {first} and {i}; make the ids unique or map no id_column")
        for target in cfg.target_columns:
            require_column(table, "target_columns", target)
            check_no_missing(table, "target_columns", target, "target")
            if not cfg.is_classification:
                check_numeric(table, "target_columns", target)
    for target in cfg.target_columns:
        values = {label_of(v) for v in data.train.column(target)}
        if len(values) < 2:
            raise DataError(f"{data.train.source}: target column '{target}' has a single value ({values.pop()!r}) in "
                            "every row; there is nothing to learn: add rows with other values or map another column")
    schema = _schema(cfg, data.train, tables)
    _check_missing_numbers(cfg, schema, tables)
    if data.valid is not None:
        for target, known in schema.labels.items():
            unseen = sorted({label_of(v) for v in data.valid.column(target)} - set(known))
            if unseen:
                raise DataError(f"{data.valid.source}: labels {', '.join(map(repr, unseen[:5]))} in '{target}' "
                                "never occur in the training rows; add training rows for them")
        train, valid = data.train.rows, data.valid.rows
    else:
        target = cfg.target_columns[0]
        single = schema.sub_task in ("binary_classification", "multi_class_classification")
        stratify = (lambda r: label_of(r[target])) if single else None
        train, valid = split_rows(data.train.rows, cfg.valid_split, cfg.seed, stratify=stratify)
    if not valid:
        raise DataError(f"{data.train.source}: no validation rows to score trials on; set valid_split > 0 (e.g. 0.2) "
                        "or add a valid file beside train")
    return TabularData(data, schema, train, valid)


def frame(rows: list[dict[str, Any]], schema: Schema) -> Any:
    """The feature DataFrame: numeric columns as floats (NaN for missing), categorical ones as text (NaN for
    missing). Raises DataError naming the row when a numeric column holds text (new data at predict time)."""
    import numpy as np
    import pandas as pd

    columns: dict[str, list[Any]] = {}
    for column in schema.numerical:
        values = []
        for i, row in enumerate(rows, 1):
            try:
                value = number(row.get(column))
            except (TypeError, ValueError):
                raise DataError(f"row {i}: column '{column}' must be a number, got {row.get(column)!r}") from None
            values.append(np.nan if value is None else value)
        columns[column] = values
    for column in schema.categorical:
        columns[column] = [np.nan if row.get(column) is None or str(row.get(column)).strip() == ""
                           else label_of(row.get(column)) for row in rows]
    result = pd.DataFrame(columns, columns=schema.features)
    result[schema.numerical] = result[schema.numerical].astype(float)
    result[schema.categorical] = result[schema.categorical].astype(object)
    return result
