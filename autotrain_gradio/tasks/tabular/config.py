"""Tabular settings (AutoTrain's `tabular`): which task, which model, how many Optuna trials, how to preprocess.
Column mapping uses AutoTrain's keys (`id_column`, `target_columns`, optionally `categorical_columns`,
`numerical_columns`). No torch, no scikit-learn."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator, model_validator

from autotrain_gradio.config import RunConfig, setting
from autotrain_gradio.tasks.tabular.models import MODEL_NAMES, MODELS

TABULAR_TASKS = ("classification", "multi_label_classification", "regression", "multi_column_regression")


class TabularConfig(RunConfig):
    """A scikit-learn Pipeline (imputers, encoders, scaler, model) tuned by Optuna on a table's feature columns."""

    task: Literal["tabular"] = "tabular"
    base_model: str = setting("", "Base model", "Unused: a tabular model is built from scratch (see model).")
    tabular_task: Literal[TABULAR_TASKS] = setting(
        "classification", "Tabular task", "classification (binary or multi-class, one target column), "
        "multi_label_classification (several 0/1 target columns), regression (one numeric target) or "
        "multi_column_regression (several numeric targets).")
    model: Literal[MODEL_NAMES] = setting("xgboost", "Model", f"One of: {', '.join(MODEL_NAMES)}.")
    id_column: str = setting("", "ID column", "A unique row id, not a feature (empty: the table has none).")
    target_columns: list[str] = setting(["target"], "Target column(s)", "What to predict; several for the "
                                        "multi-label / multi-column tasks.", min_length=1)
    categorical_columns: list[str] = setting([], "Categorical columns", "Force these columns to be categories "
                                             "(default: any column that is not all numbers).")
    numerical_columns: list[str] = setting([], "Numerical columns", "Force these columns to be numbers "
                                           "(default: any column whose values all parse as numbers).")
    num_trials: int = setting(10, "Trials", "Optuna trials (each fits one model with sampled hyperparameters).",
                              ge=1, le=10_000)
    parallel_trials: int = setting(1, "Parallel trials", "Trials run at once, each in a process of its own, "
                                   "sharing the study file (exactly num_trials in all; set n_jobs to the cores "
                                   "each may use).", ge=1, le=64)
    time_limit: int = setting(600, "Time limit (s)", "Stop starting new trials after this many seconds "
                              "(0: no limit).", ge=0)
    categorical_imputer: Literal["none", "most_frequent"] = setting(
        "most_frequent", "Categorical imputer", "Fill missing categories ('none': missing is its own category).")
    numerical_imputer: Literal["none", "mean", "median", "most_frequent"] = setting(
        "median", "Numerical imputer", "Fill missing numbers ('none' only for models that accept them: "
        "xgboost and the trees).")
    numeric_scaler: Literal["none", "standard", "minmax", "robust", "normal"] = setting(
        "standard", "Numeric scaler", "Scale numeric columns (scikit-learn's StandardScaler, MinMaxScaler, ...).")
    valid_split: float = setting(0.2, "Validation split", "Fraction held out (seeded, stratified for one "
                                 "classification target) to score trials when the data has no validation file.",
                                 ge=0.0, lt=0.9)
    n_jobs: int = setting(-1, "CPU jobs", "Cores a model may use (-1: all), for models that take n_jobs.", ge=-1)

    @field_validator("target_columns", "categorical_columns", "numerical_columns", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @property
    def is_classification(self) -> bool:
        return self.tabular_task.endswith("classification")

    @model_validator(mode="after")
    def _rules(self) -> TabularConfig:
        many = self.tabular_task.startswith("multi")
        targets = self.target_columns
        if many and len(targets) < 2:
            raise ValueError(f"tabular_task={self.tabular_task} needs two or more target_columns (got "
                             f"{', '.join(targets)}); map them with --column-mapping target_columns=a|b")
        if not many and len(targets) > 1:
            multi = "multi_label_classification" if self.is_classification else "multi_column_regression"
            raise ValueError(f"{len(targets)} target_columns ({', '.join(targets)}) with tabular_task="
                             f"{self.tabular_task}: set tabular_task={multi}, or map one target column")
        if len(set(targets)) < len(targets):
            raise ValueError(f"target_columns names a column twice: {', '.join(targets)}")
        spec = MODELS[self.model]
        if not (spec.classifier if self.is_classification else spec.regressor):
            kind = "classification" if self.is_classification else "regression"
            offered = [m for m, s in MODELS.items() if (s.classifier if self.is_classification else s.regressor)]
            raise ValueError(f"model {self.model} does not do {kind}; choose one of: {', '.join(offered)}")
        if self.id_column and self.id_column in targets:
            raise ValueError(f"id_column '{self.id_column}' is also a target column; an id is never predicted")
        both = sorted(set(self.categorical_columns) & set(self.numerical_columns))
        if both:
            raise ValueError(f"columns {', '.join(both)} are in both categorical_columns and numerical_columns; "
                             "list each in one")
        if clash := sorted(set(self.categorical_columns + self.numerical_columns) & set(targets)):
            raise ValueError(f"target columns {', '.join(clash)} are also listed as feature columns")
        return self
