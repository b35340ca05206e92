"""Predictions from a trained tabular model folder (model.joblib, target_encoders.joblib, config.json) for a table
of new rows: what the app's "try it" box and a notebook call. No torch; reads rows with the same `frame` training
used, so a CSV's text cells become the same numbers and categories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autotrain_gradio.tasks.formats import DataError, read_table
from autotrain_gradio.tasks.tabular.data import INSTALL, Schema, frame


def load_model(model_dir: str | Path) -> tuple[Any, dict[str, Any], Schema]:
    """(the fitted Pipeline, target encoders, schema) from a model folder; DataError when it is not one."""
    folder = Path(model_dir).expanduser()
    missing = [n for n in ("model.joblib", "config.json") if not (folder / n).is_file()]
    if missing:
        raise DataError(f"{folder} is not a tabular model folder (no {', '.join(missing)}); pass output/<name>/model "
                        "of a finished tabular run")
    try:
        import joblib
    except ImportError:
        raise DataError(f"loading a tabular model needs joblib and scikit-learn: {INSTALL}") from None
    schema = Schema.from_dict(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    encoders_path = folder / "target_encoders.joblib"
    encoders = joblib.load(encoders_path) if encoders_path.is_file() else {}
    return joblib.load(folder / "model.joblib"), encoders, schema


def predict_rows(model_dir: str | Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One output row per input row: the id (when the model has an id column and the row has it), then each target's
    prediction (the class label, or the number); for one classification target with probabilities, also
    `p(<class>)` per class."""
    model, encoders, schema = load_model(model_dir)
    if not rows:
        return []
    absent = [c for c in schema.features if c not in rows[0]]
    if absent:
        raise DataError(f"the rows lack feature columns the model was trained on: {', '.join(absent)}")
    x = frame(rows, schema)
    raw = model.predict(x)
    raw = raw.reshape(len(rows), -1)
    proba = None
    if encoders and len(schema.target_columns) == 1 and hasattr(model, "predict_proba"):
        proba = model.predict_proba(x)
    out = []
    for i, row in enumerate(rows):
        result: dict[str, Any] = {}
        if schema.id_column and schema.id_column in row:
            result[schema.id_column] = row[schema.id_column]
        for j, target in enumerate(schema.target_columns):
            value = raw[i, j]
            result[target] = (str(encoders[target].inverse_transform([int(value)])[0]) if target in encoders
                              else float(value))
        if proba is not None:
            classes = encoders[schema.target_columns[0]].classes_
            result.update({f"p({c})": round(float(p), 6) for c, p in zip(classes, proba[i], strict=True)})
        out.append(result)
    return out


def predict(model_dir: str | Path, csv_path: str | Path) -> list[dict[str, Any]]:
    """Predictions for every row of a table file (CSV, TSV, JSON, JSONL or Parquet); see `predict_rows`."""
    return predict_rows(model_dir, read_table(csv_path).train.rows)
