"""AutoTrain's per-task commands (`autotrain llm|text-classification|... --train ...`) with AutoTrain's flag names,
generated from our task configs: each plans exactly the config its AutoTrain YAML twin plans, and one trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from autotrain_gradio.cli import build_parser, main
from autotrain_gradio.compat.tasks import resolve_task
from autotrain_gradio.config import tomllib
from autotrain_gradio.tasks import TASKS
from tests.compat.autotrain_data import make_data, tiny_model

CONFIGS = Path(__file__).parent / "configs"
# One config per family: the per-task command spelling the same thing must plan the same config.
TWINS = ["text_classification/local_dataset.yml", "text_regression/local_dataset.yml",
         "token_classification/local_dataset.yml", "extractive_question_answering/local_dataset.yml",
         "seq2seq/local.yml", "sentence_transformers/triplet.yml", "image_classification/local.yml",
         "image_scoring/local.yml", "object_detection/local.yml", "llm_finetuning/gpt2_sft.yml",
         "llm_finetuning/llama3-70b-orpo-v1.yml"]


def _plan(argv: list[str], capsys) -> dict:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, out + err
    return tomllib.loads(out.split(" ---\n", 1)[1])


def _flags(config: dict) -> list[str]:
    """The YAML's content as AutoTrain's per-task command line."""
    task, preset = resolve_task(config["task"])
    data = config["data"]
    argv = [task, "--train", "--model", config["base_model"], "--project-name", config["project_name"],
            "--data-path", data["path"], "--log", config["log"], "--train-split", data["train_split"],
            "--username", config["hub"]["username"]]
    if data.get("valid_split"):
        argv += ["--valid-split", data["valid_split"]]
    if data.get("chat_template"):
        argv += ["--chat-template", data["chat_template"]]
    for key, value in {**preset, **data["column_mapping"], **config["params"]}.items():
        if value is None:
            continue
        argv += [f"--{key}"] if value is True else [f"--{key.replace('_', '-')}", str(value)]
    return argv + (["--push-to-hub"] if config["hub"]["push_to_hub"] else [])


def test_one_command_per_autotrain_task_generated_from_our_tasks():
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"llm", "text-classification", "text-regression", "token-classification", "extractive-qa", "seq2seq",
            "sentence-transformers", "image-classification", "image-regression", "object-detection", "vlm",
            "tabular"} <= set(commands)
    # Every setting of the task is a flag, under our name and AutoTrain's.
    llm = commands["llm"].format_help()
    for flag in ("--lr", "--learning-rate", "--scheduler", "--padding", "--disable-gradient-checkpointing",
                 "--model-ref", "--save_total_limit", "--chat-template", *(f"--{k.replace('_', '-')}" for k in
                                                                          TASKS["llm"].config.model_fields
                                                                          if k not in ("task", "data_dir",
                                                                                       "output_dir"))):
        assert flag in llm, flag


@pytest.mark.parametrize("name", TWINS)
def test_the_command_plans_what_its_yaml_twin_plans(name, tmp_path, monkeypatch, capsys):
    path = CONFIGS / name
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    task, _ = resolve_task(config["task"])
    monkeypatch.setenv("AT_MODEL", tiny_model(task))
    monkeypatch.setenv("AT_DATA", str(make_data(config, tmp_path / "data")))
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    monkeypatch.setenv("HF_USERNAME", "tester")
    ws = ["--workspace", str(tmp_path / "ws")]
    from_yaml = _plan([*ws, "pipeline", "run", "--config", str(path), "--dry-run"], capsys)
    config["base_model"], config["data"]["path"] = tiny_model(task), str(tmp_path / "data")
    config["hub"]["username"] = "tester"
    assert _plan([*ws, *_flags(config), "--dry-run"], capsys) == from_yaml


def test_tabular_takes_autotrain_task_and_target_columns(tmp_path, capsys):
    (tmp_path / "train.csv").write_text("id,a,b,y\n" + "".join(f"{i},{i},{i % 3},{i % 2}\n" for i in range(20)))
    planned = _plan(["--workspace", str(tmp_path / "ws"), "tabular", "--train", "--data-path",
                     str(tmp_path / "train.csv"), "--project-name", "tab", "--task", "regression", "--model",
                     "random_forest", "--id-column", "id", "--target-columns", "y", "--num-trials", "2",
                     "--dry-run"], capsys)
    assert (planned["tabular_task"], planned["model"], planned["target_columns"]) == ("regression",
                                                                                     "random_forest", ["y"])


def test_without_train_it_says_so(capsys):
    assert main(["text-classification", "--model", "tiny:bert"]) == 2
    assert "add --train" in capsys.readouterr().err


def test_text_classification_command_trains(tmp_path, monkeypatch, capsys):
    (tmp_path / "data").mkdir()
    rows = "".join(f"{'good' if i % 2 else 'bad'} film {i},{'pos' if i % 2 else 'neg'}\n" for i in range(16))
    (tmp_path / "data" / "train.csv").write_text("review,sentiment\n" + rows)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    ws = tmp_path / "ws"
    code = main(["--workspace", str(ws), "text-classification", "--train", "--model", "tiny:bert", "--data-path",
                 str(tmp_path / "data"), "--project-name", "reviews", "--text-column", "review", "--target-column",
                 "sentiment", "--lr", "1e-3", "--scheduler", "linear", "--max-steps", "2", "--max-seq-length", "32",
                 "--logging-steps", "-1", "--save-total-limit", "1"])
    out, err = capsys.readouterr()
    assert code == 0, out[-3000:] + err[-3000:]
    run = ws / "output" / "reviews"
    end = [json.loads(line) for line in (run / "log" / "events.jsonl").read_text().splitlines()][-1]
    assert end["status"] == "completed" and (run / "model" / "config.json").is_file()
    labels = json.loads((run / "model" / "config.json").read_text())["id2label"]
    assert sorted(labels.values()) == ["neg", "pos"]
