"""Tabular training end to end on learnable toy tables with numbers, categories and missing values: classification
and regression through `autotrain pipeline run ... --immediate` (the metric clearly beats the majority class / the
mean), multi-label and multi-column targets, and SIGTERM mid-study then --resume ending with exactly the trials
asked for, none run twice. Trials are Optuna trials: one step event each."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import joblib
import optuna
import pytest
from sklearn.pipeline import Pipeline

from autotrain_gradio.config import save_config
from autotrain_gradio.events import EventTailer, EventWriter, read_events, run_state
from autotrain_gradio.tasks.common import RunContext
from autotrain_gradio.tasks.tabular.config import TabularConfig
from autotrain_gradio.tasks.tabular.predict import predict
from autotrain_gradio.tasks.tabular.train import train
from autotrain_gradio.workspace import run_paths
from tests.toy_tables import toy_rows, write_csv

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _cli(tmp_path: Path, data: Path, profile: str, mapping: str, *sets: str) -> tuple[Path, str]:
    ws = tmp_path / "ws"
    args = [sys.executable, "-m", "autotrain_gradio.cli", "--workspace", str(ws), "pipeline", "run", "--dataset-path",
            str(data), "--profile", profile, "--column-mapping", mapping, "--immediate", "--set", "n_jobs=1"]
    for item in sets:
        args += ["--set", item]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, env=ENV)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return ws / "output" / data.stem, proc.stdout


def _new_rows(tmp_path: Path, targets: list[str]) -> tuple[Path, list[dict[str, str]]]:
    rows = toy_rows(40, seed=7)  # rows the model never saw
    return write_csv(tmp_path / "new.csv", rows, targets), rows


def test_cli_classification_beats_the_majority_class_and_predicts_a_csv(tmp_path):
    data = write_csv(tmp_path / "loans.csv", toy_rows(120), ["label"])
    out, stdout = _cli(tmp_path, data, "TabularClassification", "id_column=id,target_columns=label", "num_trials=3")
    state = run_state(out / "log" / "events.jsonl")
    assert (state.status, state.step, state.total, len(state.losses)) == ("completed", 3, 3, 3)
    assert "100.0% (3/3)" in stdout  # the progress line counts trials
    best = min(loss for _, loss in state.losses)
    assert state.metrics["logloss"] == best  # the metrics panel shows the best trial
    model = out / "model"
    metrics = json.loads((model / "eval_results.json").read_text())
    assert metrics["logloss"] == best and metrics["accuracy"] >= 0.8 and metrics["auc"] >= 0.9  # majority: ~0.55
    assert isinstance(joblib.load(model / "model.joblib"), Pipeline)
    assert set(json.loads((model / "best_params.json").read_text())) >= {"learning_rate", "max_depth"}
    assert len((model / "trials.csv").read_text().strip().splitlines()) == 4
    assert "tabular-classification" in (model / "README.md").read_text()
    csv, rows = _new_rows(tmp_path, ["label"])
    # The app's "try it" box calls predict on the light side: in a fresh interpreter, without loading torch.
    code = ("import json, sys; from autotrain_gradio.tasks.tabular.predict import predict; "
            f"rows = predict({str(model)!r}, {str(csv)!r}); "
            "print(json.dumps([rows, sorted(m for m in sys.modules if m.split('.')[0] == 'torch')]))")
    light = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=ENV)
    assert light.returncode == 0, light.stderr[-2000:]
    predicted, torch_modules = json.loads(light.stdout.strip().splitlines()[-1])
    assert torch_modules == []
    assert predicted == predict(model, csv)
    assert [p["id"] for p in predicted] == [r["id"] for r in rows]
    hits = sum(p["label"] == r["label"] for p, r in zip(predicted, rows, strict=True))
    assert hits >= 0.75 * len(rows)
    assert all(abs(p["p(no)"] + p["p(yes)"] - 1) < 1e-5 for p in predicted)


def test_cli_regression_beats_the_mean(tmp_path):
    data = write_csv(tmp_path / "prices.csv", toy_rows(120), ["y"])
    out, _ = _cli(tmp_path, data, "TabularRegression", "id_column=id,target_columns=y", "num_trials=2")
    state = run_state(out / "log" / "events.jsonl")
    assert (state.status, state.step, state.total) == ("completed", 2, 2)
    metrics = json.loads((out / "model" / "eval_results.json").read_text())
    assert metrics["r2"] > 0.6 and state.metrics["rmse"] == metrics["rmse"]  # predicting the mean gives r2 ~ 0
    csv, rows = _new_rows(tmp_path, ["y"])
    predicted = predict(out / "model", csv)
    errors = [abs(p["y"] - float(r["y"])) for p, r in zip(predicted, rows, strict=True)]
    spread = [abs(float(r["y"]) - sum(float(q["y"]) for q in rows) / len(rows)) for r in rows]
    assert sum(errors) < 0.6 * sum(spread)


def _in_process(tmp_path: Path, targets: list[str], **settings) -> tuple[dict, Path]:
    """The trainer function itself with a real context (the subprocess harness is covered above)."""
    write_csv(tmp_path / "input" / "t" / "train.csv", toy_rows(120), targets)
    cfg = TabularConfig(name="t", data_dir=str(tmp_path / "input" / "t"), output_dir=str(tmp_path / "output" / "t"),
                        id_column="id", target_columns=targets, n_jobs=1, **settings)
    paths = run_paths(cfg.output_dir)
    writer = EventWriter(paths.events)
    try:
        outputs = train(cfg, RunContext(cfg=cfg, paths=paths, events=writer))
    finally:
        writer.close()
    return outputs, paths.model_dir


def test_multi_label_classification(tmp_path):
    outputs, model = _in_process(tmp_path, ["flag_a", "flag_b"], tabular_task="multi_label_classification",
                                 model="logistic_regression", num_trials=4)
    assert outputs["trials"] == 4 and outputs["metrics"]["f1_macro"] >= 0.8  # both labels follow x1 / the colour
    csv, rows = _new_rows(tmp_path, ["flag_a", "flag_b"])
    predicted = predict(model, csv)
    assert {p["flag_b"] for p in predicted} == {"0", "1"}
    assert sum(p["flag_b"] == r["flag_b"] for p, r in zip(predicted, rows, strict=True)) >= 0.75 * len(rows)


def test_multi_column_regression_with_xgboost(tmp_path):
    outputs, model = _in_process(tmp_path, ["y", "z"], tabular_task="multi_column_regression", num_trials=1)
    assert outputs["metrics"]["r2"] > 0.5
    predicted = predict(model, _new_rows(tmp_path, ["y", "z"])[0])
    assert all(isinstance(p["y"], float) and isinstance(p["z"], float) for p in predicted)


@pytest.mark.slow  # two trainer processes
def test_sigterm_mid_study_then_resume_ends_with_the_trials_asked_for_none_repeated(tmp_path):
    total = 3
    # 2000 rows: an XGBoost trial takes long enough that the signal lands while trials remain, however busy the box
    write_csv(tmp_path / "input" / "t" / "train.csv", toy_rows(2000), ["label"])
    cfg = TabularConfig(name="t", data_dir=str(tmp_path / "input" / "t"), output_dir=str(tmp_path / "output" / "t"),
                        target_columns=["label"], id_column="id", num_trials=total, n_jobs=1)
    config = save_config(cfg, Path(cfg.output_dir) / "config.toml")
    command = [sys.executable, "-m", "autotrain_gradio.train", "--config", str(config)]
    proc = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tailer, deadline = EventTailer(Path(cfg.output_dir) / "log" / "events.jsonl"), time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(e["type"] == "step" for e in tailer.poll()):
            break
        time.sleep(0.02)
    time.sleep(0.2)  # into trial 2 (if it is already over, the stop lands between trials: both are checked below)
    proc.send_signal(signal.SIGTERM)  # XGBoost's next boosting round ends the trial, uncounted
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr[-2000:]
    events = read_events(Path(cfg.output_dir) / "log" / "events.jsonl")
    assert events[-1]["status"] == "cancelled"
    stopped = events[-1]["step"]
    assert 1 <= stopped < total
    assert (Path(cfg.output_dir) / "model" / "model.joblib").is_file()  # the best so far is kept
    assert json.loads((Path(cfg.output_dir) / "model" / "eval_results.json").read_text())["trial"] < stopped
    checkpoint = [e for e in events if e["type"] == "checkpoint"]  # the study file is what resume continues
    assert checkpoint and checkpoint[-1]["path"] == str(Path(cfg.output_dir) / "study.db")

    resumed = subprocess.run([*command, "--resume"], env=ENV, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    state = run_state(Path(cfg.output_dir) / "log" / "events.jsonl")
    assert state.status == "completed" and state.step == total
    steps = [e["step"] for e in read_events(Path(cfg.output_dir) / "log" / "events.jsonl") if e["type"] == "step"]
    assert steps == list(range(1, total + 1))  # each trial counted once, the resumed run continuing the count
    study = optuna.load_study(study_name="autotrain", storage=f"sqlite:///{cfg.output_dir}/study.db")
    assert [t.number for t in study.trials] == list(range(total))  # a trial cut short never reached the file
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert len({json.dumps(t.params, sort_keys=True) for t in study.trials}) == total  # no draw replayed
    assert json.loads((Path(cfg.output_dir) / "model" / "eval_results.json").read_text())["trial"] == \
        study.best_trial.number


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
