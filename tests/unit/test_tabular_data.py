"""Tabular settings and data: the config's cross-field rules, how columns are read (numbers, categories, missing
values), and every bad input as one exact line with exit code 2 and the workspace untouched."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from autotrain_gradio.cli import main
from autotrain_gradio.config import ConfigError
from autotrain_gradio.tasks import config_from_dict
from autotrain_gradio.tasks.formats import DataError
from autotrain_gradio.tasks.tabular.config import TabularConfig
from autotrain_gradio.tasks.tabular.data import frame, load
from tests.toy_tables import toy_rows, write_csv
from tests.unit.test_pipeline_bad_input import snapshot


@pytest.mark.parametrize(("settings", "message"), [
    ({"tabular_task": "multi_label_classification", "target_columns": ["a"]},
     "tabular_task=multi_label_classification needs two or more target_columns (got a); map them with "
     "--column-mapping target_columns=a|b"),
    ({"tabular_task": "regression", "target_columns": ["a", "b"]},
     "2 target_columns (a, b) with tabular_task=regression: set tabular_task=multi_column_regression, or map one "
     "target column"),
    ({"model": "lasso"}, "model lasso does not do classification; choose one of: xgboost, random_forest"),
    ({"tabular_task": "regression", "model": "naive_bayes"}, "model naive_bayes does not do regression"),
    ({"id_column": "target"}, "id_column 'target' is also a target column; an id is never predicted"),
    ({"categorical_columns": ["a"], "numerical_columns": ["a"]},
     "columns a are in both categorical_columns and numerical_columns; list each in one"),
])
def test_cross_field_rules(settings, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict({"task": "tabular", **settings})
    assert message in str(err.value)


def test_a_single_target_string_is_a_list():
    assert config_from_dict({"task": "tabular", "target_columns": "label"}).target_columns == ["label"]


def test_columns_are_read_as_numbers_categories_and_missing_values(tmp_path):
    path = write_csv(tmp_path / "train.csv", toy_rows(60), ["label"])
    data = load(path, TabularConfig(id_column="id", target_columns=["label"]))
    s = data.schema
    assert (s.numerical, s.categorical, s.sub_task) == (["x1", "x2"], ["colour"], "binary_classification")
    assert s.labels == {"label": ["no", "yes"]}
    assert (len(data.train), len(data.valid)) == (48, 12)
    assert data.summary().startswith("48 training / 12 validation rows, 3 features (2 numeric, 1 categorical), "
                                     "binary classification: no (")
    x = frame(data.train + data.valid, s)
    assert list(x.columns) == ["x1", "x2", "colour"] and str(x["x1"].dtype) == "float64"
    assert x["x1"].isna().sum() == 6 and x["colour"].isna().sum() == 6  # every 10th row misses each
    forced = load(path, TabularConfig(target_columns=["label"], categorical_columns=["x2"], id_column="id"))
    assert (forced.schema.numerical, forced.schema.categorical) == (["x1"], ["x2", "colour"])


def test_new_rows_with_text_in_a_numeric_column_name_the_row(tmp_path):
    path = write_csv(tmp_path / "train.csv", toy_rows(40), ["y"])
    schema = load(path, TabularConfig(tabular_task="regression", target_columns=["y"], id_column="id")).schema
    with pytest.raises(DataError, match=r"row 2: column 'x2' must be a number, got 'lots'"):
        frame([{"x1": 1, "x2": 2, "colour": "red"}, {"x1": "1", "x2": "lots", "colour": "red"}], schema)


def test_a_missing_extra_names_the_install_command(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "train.csv", toy_rows(20), ["label"])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    with pytest.raises(DataError) as err:
        load(path, TabularConfig(target_columns=["label"]))
    assert str(err.value) == 'tabular training needs optuna (not installed): pip install -e ".[tabular]"'


def _edit(rows, index, **values):
    rows[index] = {**rows[index], **values}
    return rows


BAD = {
    "target column missing": (
        lambda rows: rows, ["label"], "id_column=id,target_columns=lable", [],
        "no column 'lable' for target_columns; its columns are id, x1, x2, colour, label. Map it with "
        "--column-mapping target_columns=<column>"),
    "target with one value": (
        lambda rows: [{**r, "label": "yes"} for r in rows], ["label"], "id_column=id,target_columns=label", [],
        "target column 'label' has a single value ('yes') in every row; there is nothing to learn"),
    "id not unique": (
        lambda rows: _edit(rows, 5, id="r2"), ["label"], "id_column=id,target_columns=label", [],
        "id column 'id' is not unique: 'r2' is in rows 3 and 6; make the ids unique or map no id_column"),
    "entirely empty column": (
        lambda rows: [{**r, "x2": ""} for r in rows], ["label"], "id_column=id,target_columns=label", [],
        "column 'x2' is entirely empty; fill it in or delete the column"),
    "non-numeric regression target": (
        lambda rows: _edit(rows, 4, y="high"), ["y"], "id_column=id,target_columns=y",
        ["--profile", "TabularRegression"],
        "column 'y' (target_columns) must be numeric for regression; 1 non-numeric value at row 5 (e.g. 'high')"),
    "empty target": (
        lambda rows: _edit(rows, 0, label=""), ["label"], "target_columns=label", [],
        "1 empty or null target in column 'label' (target_columns) at row 1; fill them in or drop those rows"),
    "multi-label column with three values": (
        lambda rows: rows, ["flag_a", "kind"], "target_columns=flag_a|kind",
        ["--set", "tabular_task=multi_label_classification"],
        "multi_label_classification needs two values per target column (e.g. 0/1); 'kind' has 3: high, low, mid"),
    "missing numbers for a model that cannot take them": (
        lambda rows: rows, ["label"], "target_columns=label", ["--set", "model=svm", "--set", "numerical_imputer=none"],
        "column 'x1' has 12 missing values at rows 4, 14, 24, 34, 44 ... and model svm cannot take them with "
        "numerical_imputer=none; set numerical_imputer=median"),
    "no validation rows": (
        lambda rows: rows, ["label"], "target_columns=label", ["--set", "valid_split=0"],
        "no validation rows to score trials on; set valid_split > 0 (e.g. 0.2) or add a valid file beside train"),
    "two targets for plain classification": (
        lambda rows: rows, ["flag_a", "flag_b"], "target_columns=flag_a|flag_b", [],
        "2 target_columns (flag_a, flag_b) with tabular_task=classification: set "
        "tabular_task=multi_label_classification"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, case):
    edit, targets, mapping, extra, message = BAD[case]
    data = write_csv(tmp_path / "data" / "train.csv", edit(toy_rows(120)), targets)
    original = data.read_bytes()
    ws = tmp_path / "ws"
    ws.mkdir()
    before = snapshot(ws)
    code = main(["--workspace", str(ws), "pipeline", "run", "--dataset-path", str(data), "--profile",
                 "TabularClassification", "--column-mapping", mapping, *extra])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 2, text
    assert message in text, text
    assert snapshot(ws) == before and data.read_bytes() == original


def test_validation_labels_never_seen_in_training(tmp_path):
    rows = toy_rows(60)
    write_csv(tmp_path / "d" / "train.csv", [r for r in rows if r["label"] == "yes" or r["kind"] != "low"], ["kind"])
    write_csv(tmp_path / "d" / "valid.csv", [{**rows[0], "kind": "extreme"}], ["kind"])
    with pytest.raises(DataError, match=r"valid.csv: labels 'extreme' in 'kind' never occur in the training rows"):
        load(tmp_path / "d", TabularConfig(target_columns=["kind"]))


def test_resume_loads_the_finished_trials_and_a_trial_cut_short_is_not_among_them(tmp_path):
    import optuna

    from autotrain_gradio.events import NullWriter
    from autotrain_gradio.tasks.common import RunContext
    from autotrain_gradio.tasks.tabular.train import open_study
    from autotrain_gradio.workspace import run_paths

    cfg = TabularConfig(name="t", output_dir=str(tmp_path / "output" / "t"), target_columns=["label"])
    Path(cfg.output_dir).mkdir(parents=True)
    ctx = RunContext(cfg=cfg, paths=run_paths(cfg.output_dir), events=NullWriter(), resume=True)
    study, saved, done = open_study(cfg, ctx)
    x = optuna.distributions.FloatDistribution(0, 1)
    saved.add_trial(optuna.trial.create_trial(params={"x": 0.3}, distributions={"x": x}, value=0.5))
    study.ask({"x": x})  # the process is killed in this trial: only the in-memory study knew it
    study, saved, done = open_study(cfg, ctx)
    assert [(t.state.name, t.params) for t in study.trials] == [("COMPLETE", {"x": 0.3})] and done == 1
    study, saved, done = open_study(cfg, RunContext(cfg=cfg, paths=ctx.paths, events=NullWriter(), resume=False))
    assert (len(study.trials), len(saved.trials), done) == (0, 0, 0)  # a new run (no --resume): a new study


def _lowest(space: dict) -> dict:
    """The cheapest point of a search space (fewest trees, first choice), for a FixedTrial."""
    out = {}
    for name, value in space.items():
        if isinstance(value, tuple) and value[0] in ("float", "int"):
            out[name] = value[1]
        elif isinstance(value, tuple) and value[0] == "cat":
            out[name] = value[1][0]
    return out


@pytest.mark.parametrize("task", ["classification", "regression", "multi_label_classification",
                                  "multi_column_regression"])
def test_every_model_fits_its_search_space_with_the_installed_libraries(tmp_path, task):
    """One trial at the cheapest point of each model's space: class names, parameter names and values are ones the
    installed scikit-learn / XGBoost accept, for every task type the model offers."""
    import optuna

    from autotrain_gradio.tasks.tabular.metrics import objective
    from autotrain_gradio.tasks.tabular.models import MODELS
    from autotrain_gradio.tasks.tabular.train import encode_targets, estimator, predictions, preprocessor, suggest

    targets = {"classification": ["label"], "regression": ["y"], "multi_label_classification": ["flag_a", "flag_b"],
               "multi_column_regression": ["y", "z"]}[task]
    path = write_csv(tmp_path / "train.csv", toy_rows(60), targets)
    classify = task.endswith("classification")
    for name, spec in MODELS.items():
        if not (spec.classifier if classify else spec.regressor):
            continue
        cfg = TabularConfig(tabular_task=task, model=name, target_columns=targets, id_column="id", n_jobs=1)
        data = load(path, cfg)
        schema = data.schema
        encoders = {}
        if schema.labels:
            from sklearn.preprocessing import LabelEncoder

            encoders = {t: LabelEncoder().fit(schema.labels[t]) for t in targets}
        prep = preprocessor(cfg, schema).fit(frame(data.train, schema))
        xt, xv = prep.transform(frame(data.train, schema)), prep.transform(frame(data.valid, schema))
        yt, yv = encode_targets(data.train, schema, encoders), encode_targets(data.valid, schema, encoders)
        space = {**spec.space, **(spec.classify if classify else spec.regress)}
        fixed = {**_lowest(space), "solver": "saga"} if name == "logistic_regression" else _lowest(space)
        params = suggest(optuna.trial.FixedTrial(fixed), cfg, schema, len(data.train))
        model = estimator(cfg, schema, {**params, **({"n_estimators": 20} if name == "xgboost" else {})})
        fit = {"eval_set": [(xv, yv)], "verbose": False} if name == "xgboost" else {}
        model.fit(xt, yt, **fit)
        value = objective(schema.sub_task, yv, predictions(model, xv, schema, spec.proba))
        assert value == value and value >= 0, (name, task)  # a number, not NaN


def test_the_python_api_plans_a_tabular_run_and_writes_nothing(tmp_path):
    from autotrain_gradio.pipeline import RunRequest, run_pipeline

    data = write_csv(tmp_path / "houses.csv", toy_rows(120), ["y"])
    request = RunRequest(dataset_path=str(data), profile="TabularRegression", workspace=str(tmp_path / "ws"),
                         column_mapping={"id_column": "id", "target_columns": ["y"]},
                         overrides={"model": "ridge", "num_trials": 5}, dry_run=True)
    result = run_pipeline(request, quiet=True)
    assert result.ok, result.errors
    cfg = result.config
    assert (cfg.task, cfg.tabular_task, cfg.model, cfg.target_columns, cfg.id_column) == \
        ("tabular", "regression", "ridge", ["y"], "id")
    assert result.phases[0].message.startswith("96 training / 24 validation rows, 3 features")
    assert not (tmp_path / "ws" / "output").exists() and not (tmp_path / "ws" / "input").exists()
