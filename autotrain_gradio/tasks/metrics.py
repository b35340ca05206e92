"""Evaluation metrics shared by the tasks, as `compute_metrics` functions for the transformers Trainer
(scikit-learn's implementations, AutoTrain's names). numpy and scikit-learn only: no torch."""

from __future__ import annotations

from typing import Any

import numpy as np


def _sklearn_metrics() -> Any:
    try:
        from sklearn import metrics
    except ImportError:
        raise ImportError("evaluation needs scikit-learn: pip install scikit-learn") from None
    return metrics


def classification_metrics(pred: Any) -> dict[str, float]:
    """accuracy and macro-averaged F1, precision and recall (over the classes in labels or predictions) from
    logits of shape (n, classes)."""
    m = _sklearn_metrics()
    labels = np.asarray(pred.label_ids)
    preds = np.asarray(pred.predictions).argmax(-1)
    return {
        "accuracy": float(m.accuracy_score(labels, preds)),
        "f1_macro": float(m.f1_score(labels, preds, average="macro", zero_division=0)),
        "precision_macro": float(m.precision_score(labels, preds, average="macro", zero_division=0)),
        "recall_macro": float(m.recall_score(labels, preds, average="macro", zero_division=0)),
    }


def regression_metrics(pred: Any) -> dict[str, float]:
    """mse, mae, r2 and explained variance of one predicted value per row."""
    m = _sklearn_metrics()
    labels = np.asarray(pred.label_ids, dtype=np.float64).reshape(-1)
    preds = np.asarray(pred.predictions, dtype=np.float64).reshape(-1)
    return {
        "mse": float(m.mean_squared_error(labels, preds)),
        "mae": float(m.mean_absolute_error(labels, preds)),
        "r2": float(m.r2_score(labels, preds)),
        "explained_variance": float(m.explained_variance_score(labels, preds)),
    }
