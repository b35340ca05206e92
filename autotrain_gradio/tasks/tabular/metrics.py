"""AutoTrain's tabular validation metrics, one table per task type, and the objective Optuna minimizes for each.
Inputs: true class ids / numbers `y`, and `p` as `train.predictions` makes it (class probabilities, positive-class
probabilities per label, or predicted numbers). scikit-learn's implementations; no torch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn import metrics as skm

# The objective (minimized) per task type; XGBoost's early stopping watches the same metric.
OBJECTIVE = {"binary_classification": "logloss", "multi_class_classification": "mlogloss",
             "multi_label_classification": "logloss", "single_column_regression": "rmse",
             "multi_column_regression": "rmse"}

Metric = Callable[[np.ndarray, np.ndarray], float | None]


def _binary() -> dict[str, Metric]:
    def hard(p):
        return p[:, 1] >= 0.5

    return {
        "logloss": lambda y, p: skm.log_loss(y, p, labels=[0, 1]),
        "accuracy": lambda y, p: skm.accuracy_score(y, hard(p)),
        "f1": lambda y, p: skm.f1_score(y, hard(p), zero_division=0),
        "precision": lambda y, p: skm.precision_score(y, hard(p), zero_division=0),
        "recall": lambda y, p: skm.recall_score(y, hard(p), zero_division=0),
        "auc": lambda y, p: skm.roc_auc_score(y, p[:, 1]) if len(np.unique(y)) == 2 else None,
    }


def _multi_class() -> dict[str, Metric]:
    table: dict[str, Metric] = {
        "mlogloss": lambda y, p: skm.log_loss(y, p, labels=list(range(p.shape[1]))),
        "accuracy": lambda y, p: skm.accuracy_score(y, p.argmax(axis=1)),
    }
    for avg in ("macro", "micro", "weighted"):
        table[f"f1_{avg}"] = lambda y, p, a=avg: skm.f1_score(y, p.argmax(axis=1), average=a, zero_division=0)
    table["precision_macro"] = lambda y, p: skm.precision_score(y, p.argmax(axis=1), average="macro",
                                                                zero_division=0)
    table["recall_macro"] = lambda y, p: skm.recall_score(y, p.argmax(axis=1), average="macro", zero_division=0)
    return table


def _multi_label() -> dict[str, Metric]:
    return {
        "logloss": lambda y, p: np.mean([skm.log_loss(y[:, j], p[:, j], labels=[0, 1]) for j in range(y.shape[1])]),
        "accuracy": lambda y, p: skm.accuracy_score(y, (p >= 0.5).astype(int)),
        "f1_micro": lambda y, p: skm.f1_score(y, (p >= 0.5).astype(int), average="micro", zero_division=0),
        "f1_macro": lambda y, p: skm.f1_score(y, (p >= 0.5).astype(int), average="macro", zero_division=0),
    }


def _regression() -> dict[str, Metric]:
    return {
        "rmse": lambda y, p: np.sqrt(skm.mean_squared_error(y, p)),
        "mse": lambda y, p: skm.mean_squared_error(y, p),
        "mae": lambda y, p: skm.mean_absolute_error(y, p),
        "r2": lambda y, p: skm.r2_score(y, p),
        "rmsle": lambda y, p: np.sqrt(skm.mean_squared_log_error(y, np.clip(p, 0, None))) if np.all(y >= 0)
        else None,
    }


METRICS: dict[str, Callable[[], dict[str, Metric]]] = {
    "binary_classification": _binary, "multi_class_classification": _multi_class,
    "multi_label_classification": _multi_label, "single_column_regression": _regression,
    "multi_column_regression": _regression,
}


def objective(sub_task: str, y: np.ndarray, p: np.ndarray) -> float:
    """The value Optuna minimizes (computed alone: most trials need nothing more)."""
    return float(METRICS[sub_task]()[OBJECTIVE[sub_task]](y, p))


def score(sub_task: str, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Every metric of the task type (those that apply to this data), rounded for events and eval_results.json."""
    values = {name: fn(y, p) for name, fn in METRICS[sub_task]().items()}
    return {name: round(float(v), 6) for name, v in values.items() if v is not None}
