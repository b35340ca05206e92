"""Tabular training: one scikit-learn Pipeline (a ColumnTransformer with imputers, encoders and the scaler, then the
model) whose hyperparameters Optuna tunes with AutoTrain's search spaces and metric per task type.

Each finished trial is a `step` event (step = trials done, total = num_trials, loss = the objective) and each new best
an `eval` event, so the monitor, the loss plot, the ETA and the metrics panel work unchanged. The study lives in
Optuna's own SQLite storage in the run folder (output/<name>/study.db): a stop request ends the study after the
running trial (XGBoost: at its next boosting round) and keeps the best model so far; `--resume` continues the same
study up to num_trials, never running a finished trial again. No torch.
"""

from __future__ import annotations

import importlib
import json
import math
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import optuna
from optuna.trial import TrialState
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, OrdinalEncoder

from autotrain_gradio.config import config_digest
from autotrain_gradio.tasks.common import RunContext, StepClock, push_to_hub
from autotrain_gradio.tasks.tabular import parallel
from autotrain_gradio.tasks.tabular.config import TabularConfig
from autotrain_gradio.tasks.tabular.data import Schema, TabularData, frame, label_of, load
from autotrain_gradio.tasks.tabular.metrics import OBJECTIVE, objective, score
from autotrain_gradio.tasks.tabular.models import MODELS, cat, rng

SCALERS = {"standard": "StandardScaler", "minmax": "MinMaxScaler", "robust": "RobustScaler", "normal": "Normalizer"}
STUDY_NAME = "autotrain"


def _resolve(dotted: str) -> Any:
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


# --- preprocessing --------------------------------------------------------------------------------------------------

def preprocessor(cfg: TabularConfig, schema: Schema) -> ColumnTransformer:
    """Numbers: imputer then scaler; categories: imputer then ordinal codes (trees) or one-hot (the rest)."""
    from sklearn import preprocessing

    numeric: list[tuple[str, Any]] = []
    if cfg.numerical_imputer != "none":
        numeric.append(("imputer", SimpleImputer(strategy=cfg.numerical_imputer, keep_empty_features=True)))
    if cfg.numeric_scaler != "none":
        numeric.append(("scaler", getattr(preprocessing, SCALERS[cfg.numeric_scaler])()))
    categorical: list[tuple[str, Any]] = []
    if cfg.categorical_imputer != "none":
        categorical.append(("imputer", SimpleImputer(strategy=cfg.categorical_imputer, keep_empty_features=True)))
    categorical.append(("encoder", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                                  encoded_missing_value=-2) if MODELS[cfg.model].trees
                        else OneHotEncoder(handle_unknown="ignore", sparse_output=False)))
    parts = []
    if schema.numerical:
        parts.append(("numeric", Pipeline(numeric) if numeric else "passthrough", schema.numerical))
    if schema.categorical:
        parts.append(("categorical", Pipeline(categorical), schema.categorical))
    return ColumnTransformer(parts, remainder="drop")


def encode_targets(rows: list[dict[str, Any]], schema: Schema, encoders: dict[str, LabelEncoder]) -> np.ndarray:
    """Class ids (classification) or floats (regression); one column per target, flattened for a single one."""
    if encoders:
        y = np.column_stack([encoders[t].transform([label_of(r[t]) for r in rows]) for t in schema.target_columns])
    else:
        y = np.array([[float(r[t]) for t in schema.target_columns] for r in rows])
    return y.ravel() if y.shape[1] == 1 else y


# --- one trial ------------------------------------------------------------------------------------------------------

def suggest(trial: optuna.Trial, cfg: TabularConfig, schema: Schema, n_train: int) -> dict[str, Any]:
    """The model's parameters for this trial: AutoTrain's space, plus the fixed ones (seed, cores, eval metric)."""
    spec = MODELS[cfg.model]
    classify = cfg.is_classification
    space = {**spec.space, **(spec.classify if classify else spec.regress)}
    if cfg.model == "knn":  # more neighbours than training rows is an error, not a worse model
        space["n_neighbors"] = rng(1, min(25, n_train))
    if cfg.model == "logistic_regression":  # liblinear is binary-only (multi-label fits one binary model per label)
        space["solver"] = cat("saga") if schema.sub_task == "multi_class_classification" else cat("liblinear", "saga")
    params: dict[str, Any] = {}
    for name, value in space.items():
        kind = value[0] if isinstance(value, tuple) else None
        if kind == "float":
            params[name] = trial.suggest_float(name, value[1], value[2], log=value[3])
        elif kind == "int":
            params[name] = trial.suggest_int(name, value[1], value[2])
        elif kind == "cat":
            params[name] = trial.suggest_categorical(name, list(value[1]))
        else:
            params[name] = value
    if spec.seeded:
        params["random_state"] = cfg.seed
    if spec.parallel:
        params["n_jobs"] = cfg.n_jobs
    if cfg.model == "xgboost":  # early stopping on the validation rows watches the objective itself
        params["eval_metric"] = OBJECTIVE[schema.sub_task]
    return params


def estimator(cfg: TabularConfig, schema: Schema, params: dict[str, Any]) -> Any:
    """The model; several targets go through scikit-learn's MultiOutput wrappers (XGBoost takes them natively)."""
    spec = MODELS[cfg.model]
    model = _resolve(spec.classifier if cfg.is_classification else spec.regressor)(**params)
    if len(schema.target_columns) > 1 and cfg.model != "xgboost":
        from sklearn.multioutput import MultiOutputClassifier, MultiOutputRegressor

        model = (MultiOutputClassifier if cfg.is_classification else MultiOutputRegressor)(model)
    return model


def predictions(model: Any, x: np.ndarray, schema: Schema, proba: bool) -> np.ndarray:
    """What the metrics take: class probabilities (one-hot of the predicted class for models without them),
    positive-class probabilities per label, or the predicted numbers."""
    if schema.sub_task.endswith("regression"):
        return np.asarray(model.predict(x), dtype=float)
    if schema.sub_task == "multi_label_classification":
        if not proba:
            return np.asarray(model.predict(x), dtype=float)
        p = model.predict_proba(x)
        return np.column_stack([q[:, 1] for q in p]) if isinstance(p, list) else np.asarray(p)
    if proba:
        return np.asarray(model.predict_proba(x))
    k = len(schema.labels[schema.target_columns[0]])
    return np.eye(k)[np.asarray(model.predict(x), dtype=int)]


# --- the study ------------------------------------------------------------------------------------------------------

def open_study(cfg: TabularConfig, ctx: RunContext) -> tuple[optuna.Study, optuna.Study, int]:
    """(the study trials run in, the study in output/<name>/study.db, trials done). Trials run in memory and each
    finished one is written to the SQLite study at once (run on the RDB storage, a trial commits a dozen times and
    the sampler re-reads every trial for each parameter: ~30% of the CPU of 10 trials on 1,000 rows). A fresh run
    starts a new study; --resume loads the finished trials into the new in-memory one, so the sampler continues from
    them. A trial cut short by a stop or a kill never reaches the file: it is not counted and runs again."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = Path(cfg.output_dir) / "study.db"
    if not ctx.resume:
        for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            path.unlink(missing_ok=True)
    saved = optuna.create_study(storage=sqlite_storage(db, new=not db.exists()), study_name=STUDY_NAME,
                                direction="minimize", load_if_exists=True)
    previous = saved.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    # A new seed per process: the resumed sampler must not replay the first process's random draws.
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=cfg.seed + len(previous)))
    study.add_trials(previous)
    return study, saved, sum(1 for t in previous if counted(t))


def sqlite_storage(db: Path, new: bool) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage on SQLite, in WAL mode with synchronous=NORMAL: a commit does not wait for the disk, and
    a killed process still loses nothing (only a power cut could lose the last commit). The schema-version check
    (alembic, about a second) runs only on a study file an earlier process wrote."""
    import sqlite3

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(str(db), timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return optuna.storages.RDBStorage(f"sqlite:///{db}", engine_kwargs={"creator": connect},
                                      skip_compatibility_check=new)


def counted(trial: optuna.trial.FrozenTrial) -> bool:
    """Trials that count towards num_trials: completed ones and ones that failed with an error of their own."""
    return trial.state == TrialState.COMPLETE or (trial.state == TrialState.FAIL and "error" in trial.user_attrs)


class StoppedWithinTrial(Exception):
    """A stop request seen by a library callback mid-trial: the trial fails in memory without an error of ours, is
    never written to the study file, and --resume runs a fresh one in its place."""


def stop_callback(ctx: RunContext) -> Any:
    """An XGBoost callback that ends a trial at the next boosting round once a stop is requested."""
    from xgboost.callback import TrainingCallback

    class StopOnRequest(TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if ctx.stop_requested:
                raise StoppedWithinTrial
            return False

    return StopOnRequest()


def _dump(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    joblib.dump(obj, tmp)
    tmp.replace(path)


def train(cfg: TabularConfig, ctx: RunContext) -> dict[str, Any]:
    """Tune and save a tabular model; returns {"model": folder, "metrics": best trial's metrics, "trials": n}.
    Stopped by a signal before num_trials, it keeps the best model so far and returns {"checkpoint": study file}
    (the harness marks the run cancelled; --resume finishes the study)."""
    data: TabularData = load(cfg.data_dir, cfg)
    schema = data.schema
    ctx.log(data.summary())
    warnings.filterwarnings("ignore", module="sklearn")  # convergence chatter from sampled hyperparameters

    # --- data: preprocessing does not depend on the trial, so it is fitted once -------------------------------
    encoders = {t: LabelEncoder().fit(schema.labels[t]) for t in schema.target_columns} if schema.labels else {}
    x_train, x_valid = frame(data.train, schema), frame(data.valid, schema)
    y_train, y_valid = encode_targets(data.train, schema, encoders), encode_targets(data.valid, schema, encoders)
    prep = preprocessor(cfg, schema).fit(x_train)
    xt, xv = prep.transform(x_train), prep.transform(x_valid)
    model_dir = ctx.paths.model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    _dump(encoders, model_dir / "target_encoders.joblib")
    (model_dir / "config.json").write_text(json.dumps({"task": cfg.tabular_task, "model": cfg.model,
                                                       **schema.to_dict()}, indent=2), encoding="utf-8")

    # --- the study ------------------------------------------------------------------------------------------
    study, saved, done = open_study(cfg, ctx)
    metric = OBJECTIVE[schema.sub_task]
    ctx.extra["step"] = done
    ctx.events.start(total_steps=cfg.num_trials, step=done, config_digest=config_digest(cfg))
    clock = StepClock(cfg.num_trials)
    clock.tick(done)
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best: dict[str, Any] = {"value": study.best_value if finished else math.inf, "number": -1, "model": None}

    def run_trial(trial: optuna.Trial) -> float:
        params = suggest(trial, cfg, schema, len(data.train))
        trial.set_user_attr("params", {k: v for k, v in params.items() if k != "n_jobs"})
        model = estimator(cfg, schema, params)
        try:
            if cfg.model == "xgboost":  # boosting rounds check for a stop request (and leave no trace in the model)
                model.set_params(callbacks=[stop_callback(ctx)])
                model.fit(xt, y_train, eval_set=[(xv, y_valid)], verbose=False)
                model.set_params(callbacks=None)
            else:
                model.fit(xt, y_train)
            p = predictions(model, xv, schema, MODELS[cfg.model].proba)
            value = objective(schema.sub_task, y_valid, p)
            if math.isnan(value):
                raise ValueError(f"{metric} is NaN (the model predicts NaN or infinity)")
        except ValueError as err:  # a sampled combination the library refuses: recorded, counted, reported
            trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:500])
            raise
        if value < best["value"]:  # a new best: its full metrics (eval event, eval_results.json) and its model
            trial.set_user_attr("metrics", score(schema.sub_task, y_valid, p))
            best.update(value=value, number=trial.number, model=model)
        return value

    def save_best(number: int, path: Path) -> bool:
        """This process's best trial's model (preprocessing + estimator) to `path`, if `number` is that trial."""
        if number != best["number"] or best["model"] is None:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        _dump(Pipeline([("preprocess", prep), ("model", best["model"])]), path)
        best["model"] = None  # written: the next new best replaces it
        return True

    def report(trial: optuna.trial.FrozenTrial, keep_model: Callable[[optuna.trial.FrozenTrial], bool]) -> None:
        """A counted trial's events; `keep_model(trial)` makes it model.joblib when it is the new best."""
        nonlocal done
        done += 1
        ctx.extra["step"] = done
        it_s, eta_s = clock.tick(done)
        if trial.state == TrialState.COMPLETE:  # trials have no epochs and no learning rate of their own
            ctx.events.step(step=done, total=cfg.num_trials, epoch=0.0, loss=trial.value, lr=None, it_s=it_s,
                            eta_s=eta_s, trial=trial.number)
            if keep_model(trial):
                ctx.events.eval(step=done, epoch=0.0, metrics=trial.user_attrs["metrics"], trial=trial.number)
        else:  # no loss to plot: a warning, and the next step event's count includes it
            ctx.log(f"trial {trial.number} failed: {trial.user_attrs.get('error', trial.state.name)}", "warning")

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if counted(trial):
            saved.add_trial(trial)  # on disk before anything reports it
            report(trial, lambda t: save_best(t.number, model_dir / "model.joblib"))
        if ctx.stop_requested:
            ctx.log(f"stop requested: the study stops after trial {trial.number}, keeping the best model")
            study.stop()

    def keep_if_best(trial: optuna.trial.FrozenTrial) -> bool:  # parallel: the best of every worker's trials
        if trial.value >= best["seen"]:
            return False
        best["seen"] = trial.value
        parallel.keep_trial_model(model_dir, trial.number)
        return True

    if cfg.parallel_trials > 1 and done < cfg.num_trials and not ctx.stop_requested:
        best["seen"] = best["value"]
        db = Path(cfg.output_dir) / "study.db"
        parallel.optimize(cfg, ctx, saved, db, lambda: sqlite_storage(db, new=False), STUDY_NAME, run_trial,
                          lambda n: save_best(n, model_dir / "trials" / f"{n}.joblib"), counted,
                          lambda trial: report(trial, keep_if_best))
        study = saved
        if ctx.stop_requested:
            ctx.log("stop requested: the workers finished no new trial (a running one runs again on --resume); "
                    "keeping the best model")
    elif done < cfg.num_trials and not ctx.stop_requested:
        try:
            study.optimize(run_trial, n_trials=cfg.num_trials - done, timeout=cfg.time_limit or None,
                           callbacks=[after_trial], catch=(ValueError,), gc_after_trial=False)
        except StoppedWithinTrial:
            ctx.log("stop requested: the running trial was interrupted (it is not counted and runs again on "
                    "--resume); keeping the best model")
    # Optuna's timeout ends optimize() quietly: say so, with the count, so 8 of 20 trials is never a surprise.
    timed_out = "" if ctx.stop_requested or done >= cfg.num_trials else (
        f"the study stopped at its time limit of {cfg.time_limit} s after {done} of {cfg.num_trials} trials "
        "(time_limit); raise time_limit to run them all")
    if timed_out:
        ctx.log(timed_out, "warning")

    # --- outputs: the best trial's model is already model.joblib ------------------------------------------------
    trials = study.get_trials(deepcopy=False)
    best = study.best_trial if any(t.state == TrialState.COMPLETE for t in trials) else None
    stopped_short = ctx.stop_requested and done < cfg.num_trials
    if best is None and not stopped_short:
        errors = [t.user_attrs["error"] for t in trials if "error" in t.user_attrs]
        raise RuntimeError(f"no trial of {cfg.model} finished ({len(trials)} tried); last error: "
                           f"{errors[-1] if errors else 'none recorded'}")
    if best is not None:  # also when stopped: the best model so far is usable, and says how it was found
        metrics = {"trial": best.number, **best.user_attrs["metrics"]}
        (model_dir / "eval_results.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        (model_dir / "best_params.json").write_text(json.dumps(best.user_attrs["params"], indent=2),
                                                    encoding="utf-8")
        saved.trials_dataframe().to_csv(model_dir / "trials.csv", index=False)
        write_model_card(model_dir / "README.md", cfg, schema, best.user_attrs["params"], metrics, done)
        ctx.log(f"best trial {best.number} of {done}: {metric}={best.value:.6f}; model saved to {model_dir}")
    if stopped_short:  # the study file is the checkpoint: the run is cancelled, --resume finishes the study
        db = Path(cfg.output_dir) / "study.db"
        ctx.events.checkpoint(step=done, path=db)
        return {"checkpoint": str(db)}
    shutil.rmtree(model_dir / "trials", ignore_errors=True)  # parallel workers' best models: model.joblib is kept
    outputs: dict[str, Any] = {"model": str(model_dir), "metrics": metrics, "trials": done,
                               **({"stopped": timed_out} if timed_out else {})}
    if cfg.push_to_hub and ctx.is_main:
        outputs["hub"] = push_to_hub(cfg, model_dir)
    return outputs


def write_model_card(path: Path, cfg: TabularConfig, schema: Schema, params: dict[str, Any],
                     metrics: dict[str, Any], trials: int) -> None:
    """README.md: front matter the Hub reads, the task, the best trial's metrics and parameters, how to use it."""
    kind = "classification" if cfg.is_classification else "regression"
    lines = ["---", "library_name: sklearn", "tags:", "- autotrain", "- autotrain-gradio", "- tabular",
             f"- tabular-{kind}", "---", "", f"# {cfg.name}", "",
             f"A {cfg.model} model for tabular {schema.sub_task.replace('_', ' ')} of "
             f"{', '.join(schema.target_columns)}, tuned by Optuna over {trials} trials "
             "(trained with autotrain-gradio).", "", "## Validation metrics (best trial)", ""]
    lines += [f"- {k}: {v}" for k, v in metrics.items()]
    lines += ["", "## Best parameters", ""] + [f"- {k}: {v}" for k, v in params.items()]
    lines += ["", "## Usage", "", "```python", "import json", "", "import joblib", "import pandas as pd", "",
              "model = joblib.load('model.joblib')  # preprocessing + model: a scikit-learn Pipeline",
              "encoders = joblib.load('target_encoders.joblib')  # class ids -> labels (classification)",
              "features = json.load(open('config.json'))['features']",
              "predictions = model.predict(pd.read_csv('data.csv')[features])", "```", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
