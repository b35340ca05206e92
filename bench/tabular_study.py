"""What our tabular trainer costs over plain Optuna + scikit-learn: the same N XGBoost trials on the same table, run
both ways in one process, alternating. Goal: ours / plain <= 1.10.

Ours is `autotrain_gradio.tasks.tabular.train.train(cfg, ctx)` as the trainer process runs it: reading and checking
the table, the study in Optuna's SQLite storage, a step event per trial, an eval event and a model.joblib per new best,
and the outputs (eval_results.json, best_params.json, trials.csv, card). Plain is what a person would write with the
libraries alone: pandas.read_csv, the same ColumnTransformer, an in-memory study with the same seeded TPE sampler and
the same search space, the best pipeline kept and saved once with joblib. Both sample the same trials (checked: the
best values agree). Wall and CPU seconds are the best of --repeats runs per side.

    python bench/tabular_study.py [--trials 10] [--rows 5000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import tempfile
import time
from pathlib import Path

FEATURES = ["id", "x1", "x2", "colour", "label"]


def make_table(folder: Path, rows: int, seed: int = 0) -> Path:
    """train.csv and valid.csv (80 / 20) of a learnable rule with numbers, a category and missing cells."""
    rng = random.Random(seed)
    records = []
    for i in range(rows):
        x1, x2, colour = rng.uniform(-2, 2), rng.uniform(-2, 2), rng.choice(["red", "green", "blue"])
        noisy = x1 + x2 * 0.3 + (1.5 if colour == "red" else -0.5) + rng.gauss(0, 0.5)
        records.append({"id": f"r{i}", "x1": "" if i % 10 == 3 else f"{x1:.3f}", "x2": f"{x2:.3f}",
                        "colour": "" if i % 10 == 7 else colour, "label": "yes" if noisy > 0 else "no"})
    folder.mkdir(parents=True, exist_ok=True)
    cut = int(rows * 0.8)
    for name, part in (("train.csv", records[:cut]), ("valid.csv", records[cut:])):
        with open(folder / name, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=FEATURES)
            writer.writeheader()
            writer.writerows(part)
    return folder


def plain(data: Path, out: Path, trials: int, seed: int) -> float:
    """The study with the libraries alone; returns the best objective."""
    import joblib
    import optuna
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import log_loss
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import LabelEncoder, OrdinalEncoder, StandardScaler
    from xgboost import XGBClassifier

    train, valid = pd.read_csv(data / "train.csv"), pd.read_csv(data / "valid.csv")
    numeric, categorical = ["x1", "x2"], ["colour"]
    prep = ColumnTransformer([
        ("numeric", Pipeline([("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]), numeric),
        ("categorical", Pipeline([("imputer", SimpleImputer(strategy="most_frequent")),
                                  ("encoder", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                                             encoded_missing_value=-2))]), categorical)])
    encoder = LabelEncoder().fit(train["label"])
    yt, yv = encoder.transform(train["label"]), encoder.transform(valid["label"])
    xt = prep.fit_transform(train[numeric + categorical])
    xv = prep.transform(valid[numeric + categorical])
    models: dict[int, object] = {}

    def objective(trial):
        params = {
            "learning_rate": trial.suggest_float("learning_rate", 1e-2, 0.25, log=True),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-8, 100.0, log=True),
            "reg_alpha": trial.suggest_float("reg_alpha", 1e-8, 100.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.1, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.1, 1.0),
            "max_depth": trial.suggest_int("max_depth", 1, 9),
            "early_stopping_rounds": trial.suggest_int("early_stopping_rounds", 100, 500),
            "n_estimators": trial.suggest_categorical("n_estimators", [7000, 15000, 20000]),
        }
        model = XGBClassifier(**params, tree_method="hist", random_state=seed, n_jobs=1, eval_metric="logloss")
        model.fit(xt, yt, eval_set=[(xv, yv)], verbose=False)
        models[trial.number] = model
        return log_loss(yv, model.predict_proba(xv), labels=[0, 1])

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    joblib.dump(Pipeline([("preprocess", prep), ("model", models[study.best_trial.number])]), out / "model.joblib")
    return study.best_value


def ours(data: Path, out: Path, trials: int, seed: int) -> float:
    """Our trainer function, in process, with its real event writer; returns the best objective."""
    from autotrain_gradio.events import EventWriter
    from autotrain_gradio.tasks.common import RunContext
    from autotrain_gradio.tasks.tabular.config import TabularConfig
    from autotrain_gradio.tasks.tabular.train import train
    from autotrain_gradio.workspace import run_paths

    cfg = TabularConfig(name="bench", data_dir=str(data), output_dir=str(out / "output" / "bench"), id_column="id",
                        target_columns=["label"], num_trials=trials, n_jobs=1, seed=seed)
    paths = run_paths(cfg.output_dir)
    writer = EventWriter(paths.events)
    try:
        result = train(cfg, RunContext(cfg=cfg, paths=paths, events=writer))
    finally:
        writer.close()
    return result["metrics"]["logloss"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    import xgboost  # noqa: F401

    import autotrain_gradio.tasks.tabular.train  # noqa: F401 - imports paid before timing, on both sides

    with tempfile.TemporaryDirectory(prefix="tabular-bench-") as tmp:
        data = make_table(Path(tmp) / "data", args.rows)
        times: dict[str, list[tuple[float, float]]] = {"plain": [], "ours": []}
        best: dict[str, float] = {}
        for r in range(args.repeats):
            for name, run in (("plain", plain), ("ours", ours)):
                out = Path(tmp) / f"{name}-{r}"
                out.mkdir()
                wall, cpu = time.perf_counter(), time.process_time()
                best[name] = run(data, out, args.trials, args.seed)
                times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
                print(f"{name:5s} run {r + 1}: {times[name][-1][0]:7.2f} s wall {times[name][-1][1]:7.2f} s CPU, "
                      f"best logloss {best[name]:.6f}", flush=True)
    same = abs(best["plain"] - best["ours"]) < 1e-5
    wall = {k: min(t[0] for t in v) for k, v in times.items()}
    cpu = {k: min(t[1] for t in v) for k, v in times.items()}
    print(f"\n{args.trials} XGBoost trials on {args.rows} rows, best of {args.repeats}: plain {wall['plain']:.2f} s "
          f"wall / {cpu['plain']:.2f} s CPU, ours {wall['ours']:.2f} s wall / {cpu['ours']:.2f} s CPU")
    print(f"ratio ours/plain: wall {wall['ours'] / wall['plain']:.3f}, CPU {cpu['ours'] / cpu['plain']:.3f} "
          f"(goal <= 1.10); same trials: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
