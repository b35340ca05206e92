"""The tabular models, as one table: the scikit-learn / XGBoost class for each task kind, AutoTrain's Optuna search
space, and what the preprocessing must do for it. Plain data (no imports of the ML libraries): the config takes its
model names from here, the data reader its NaN rule, the trainer everything else.

A search-space entry is ("float", low, high, log), ("int", low, high) or ("cat", choices); anything else is a fixed
value. AutoTrain's spaces, with what current libraries refuse taken out: max_features="auto" (removed in
scikit-learn 1.3), and logistic regression's `penalty` (scikit-learn 1.8 spells it l1_ratio).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def flt(low: float, high: float, log: bool = False) -> tuple:
    return ("float", low, high, log)


def rng(low: int, high: int) -> tuple:
    return ("int", low, high)


def cat(*choices: Any) -> tuple:
    return ("cat", choices)


@dataclass(frozen=True)
class ModelSpec:
    """One model family. `classifier` / `regressor`: "module:Class" ("" = not offered for that kind)."""

    classifier: str
    regressor: str
    space: dict[str, Any] = field(default_factory=dict)
    classify: dict[str, Any] = field(default_factory=dict)  # extra space for classification only
    regress: dict[str, Any] = field(default_factory=dict)  # extra space for regression only
    trees: bool = False  # categorical columns as ordinal codes (trees) rather than one-hot
    handles_nan: bool = False  # the model accepts missing numbers itself (no numerical imputer needed)
    seeded: bool = False  # takes random_state
    parallel: bool = False  # takes n_jobs
    proba: bool = True  # classifier has predict_proba (ridge and linear SVM do not: one-hot predictions)


_FOREST = {"n_estimators": rng(10, 10000), "max_depth": rng(2, 15), "max_features": cat("sqrt", "log2", None),
           "min_samples_split": rng(2, 20), "min_samples_leaf": rng(1, 20), "bootstrap": cat(True, False)}

MODELS: dict[str, ModelSpec] = {
    "xgboost": ModelSpec(
        "xgboost:XGBClassifier", "xgboost:XGBRegressor",
        {"learning_rate": flt(1e-2, 0.25, True), "reg_lambda": flt(1e-8, 100.0, True),
         "reg_alpha": flt(1e-8, 100.0, True), "subsample": flt(0.1, 1.0), "colsample_bytree": flt(0.1, 1.0),
         "max_depth": rng(1, 9), "early_stopping_rounds": rng(100, 500),
         "n_estimators": cat(7000, 15000, 20000), "tree_method": "hist"},
        trees=True, handles_nan=True, seeded=True, parallel=True),
    "random_forest": ModelSpec(
        "sklearn.ensemble:RandomForestClassifier", "sklearn.ensemble:RandomForestRegressor", _FOREST,
        {"criterion": cat("gini", "entropy")}, {"criterion": cat("squared_error", "absolute_error", "poisson")},
        trees=True, handles_nan=True, seeded=True, parallel=True),
    "extra_trees": ModelSpec(
        "sklearn.ensemble:ExtraTreesClassifier", "sklearn.ensemble:ExtraTreesRegressor", _FOREST,
        {"criterion": cat("gini", "entropy")}, {"criterion": cat("squared_error", "absolute_error")},
        trees=True, handles_nan=True, seeded=True, parallel=True),
    "gradient_boosting": ModelSpec(
        "sklearn.ensemble:GradientBoostingClassifier", "sklearn.ensemble:GradientBoostingRegressor",
        {"n_estimators": rng(50, 1000), "learning_rate": flt(1e-2, 0.25, True), "max_depth": rng(1, 9),
         "subsample": flt(0.1, 1.0)}, trees=True, seeded=True),
    "adaboost": ModelSpec(
        "sklearn.ensemble:AdaBoostClassifier", "sklearn.ensemble:AdaBoostRegressor",
        {"n_estimators": rng(10, 1000), "learning_rate": flt(1e-2, 2.0, True)}, trees=True, seeded=True),
    "decision_tree": ModelSpec(
        "sklearn.tree:DecisionTreeClassifier", "sklearn.tree:DecisionTreeRegressor",
        {"max_depth": rng(1, 15), "min_samples_split": rng(2, 20), "min_samples_leaf": rng(1, 20),
         "max_features": cat("sqrt", "log2", None), "splitter": cat("best", "random")},
        {"criterion": cat("gini", "entropy")},
        {"criterion": cat("squared_error", "absolute_error", "friedman_mse", "poisson")},
        trees=True, handles_nan=True, seeded=True),
    "logistic_regression": ModelSpec(
        "sklearn.linear_model:LogisticRegression", "",
        {"C": flt(1e-8, 1e3, True), "fit_intercept": cat(True, False), "l1_ratio": cat(0.0, 1.0),
         "max_iter": 1000}),  # solver: liblinear or saga; liblinear is binary-only (see the trainer)
    "ridge": ModelSpec(
        "sklearn.linear_model:RidgeClassifier", "sklearn.linear_model:Ridge",
        {"alpha": flt(1e-8, 1e3, True), "fit_intercept": cat(True, False), "max_iter": rng(1000, 10000)},
        proba=False),
    "lasso": ModelSpec(
        "", "sklearn.linear_model:Lasso",
        {"alpha": flt(1e-8, 1e3, True), "fit_intercept": cat(True, False), "max_iter": rng(1000, 10000)}),
    "linear_regression": ModelSpec("", "sklearn.linear_model:LinearRegression", {"fit_intercept": cat(True, False)}),
    "svm": ModelSpec(
        "sklearn.svm:LinearSVC", "sklearn.svm:LinearSVR",
        {"C": flt(1e-8, 1e3, True), "fit_intercept": cat(True, False), "max_iter": rng(1000, 10000)},
        {"penalty": "l2"},
        {"loss": cat("epsilon_insensitive", "squared_epsilon_insensitive"), "epsilon": flt(1e-8, 1e-1, True)},
        proba=False),
    "knn": ModelSpec(
        "sklearn.neighbors:KNeighborsClassifier", "sklearn.neighbors:KNeighborsRegressor",
        {"n_neighbors": rng(1, 25), "weights": cat("uniform", "distance"),
         "algorithm": cat("ball_tree", "kd_tree", "brute"), "leaf_size": rng(1, 100), "p": cat(1, 2),
         "metric": cat("minkowski", "euclidean", "manhattan")}),
    "naive_bayes": ModelSpec("sklearn.naive_bayes:GaussianNB", "", {"var_smoothing": flt(1e-12, 1e-2, True)}),
}

MODEL_NAMES = tuple(MODELS)
