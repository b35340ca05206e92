"""AutoTrain's YAML schema as a request: `${VAR}` substitution, every task name, one line for a key we do not
implement, the backend names, the token kept out of the request."""

from __future__ import annotations

import pytest

from autotrain_gradio.compat.tasks import TASK_NAMES, resolve_task
from autotrain_gradio.compat.yaml_config import from_autotrain, read_yaml
from autotrain_gradio.config import ConfigError
from autotrain_gradio.tasks import TASKS

BASE = {"task": "text_classification", "base_model": "tiny:bert", "project_name": "p", "log": "none",
        "backend": "local", "data": {"path": "data.csv", "train_split": "train", "valid_split": None,
                                     "column_mapping": {"text_column": "review"}}, "params": {"lr": 2e-5}}


def test_every_autotrain_task_name_maps_to_one_of_ours():
    for name in (*TASK_NAMES, "st:pair_class", "sentence-transformers:triplet", "vlm:captioning"):
        task, preset = resolve_task(name)
        assert task in TASKS, name
    assert resolve_task("llm-orpo") == ("llm", {"trainer": "orpo"})
    assert resolve_task("st:pair") == ("sentence-transformers", {"trainer": "pair"})
    assert resolve_task("tabular_regression") == ("tabular", {"tabular_task": "regression"})
    with pytest.raises(ConfigError, match="task 'text_generation' is not one AutoTrain has"):
        resolve_task("text_generation")


def test_env_substitution_and_the_token_kept_apart(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text("task: llm-sft\nbase_model: ${MODEL}\nproject_name: run-${WHO}\nbackend: local\nlog: none\n"
                    "data: {path: d.csv, train_split: train, valid_split: null, chat_template: null,\n"
                    "       column_mapping: {text_column: text}}\nparams: {lr: 3e-5}\n"
                    "hub:\n  username: ${HF_USERNAME}\n  token: ${HF_TOKEN}\n  push_to_hub: false\n")
    data = read_yaml(path, env={"MODEL": "tiny:llm", "WHO": "me", "HF_TOKEN": "hf_secret"})
    assert data["base_model"] == "tiny:llm" and data["project_name"] == "run-me"
    assert data["hub"]["username"] is None  # an unset variable: as AutoTrain reads it
    run = from_autotrain(data, path)
    assert run.token == "hf_secret" and "hf_secret" not in run.request.model_dump_json()
    assert run.request.config["trainer"] == "sft" and run.request.config["chat_template"] == "none"
    assert run.request.dataset_name == "run-me" and run.request.profile == "LLM-SFT"


@pytest.mark.parametrize(("change", "message"), [
    ({"deploy": True}, "key 'deploy' is not implemented here; remove it"),
    ({"data": {**BASE["data"], "shuffle": True}}, "key 'data.shuffle' is not implemented here"),
    ({"params": {"lr": 1e-3, "warmup_steps_ratio": 1}}, "key 'params.warmup_steps_ratio' is not implemented here"),
    ({"backend": "ep-us-east-1-aws-t4"}, "backend ep-us-east-1-aws-t4: AutoTrain's ep backend does not exist here"),
    ({"params": {"unsloth": True}}, "unsloth=true: Unsloth's patched kernels are not used here"),
])
def test_what_is_not_implemented_is_one_line(change, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        run = from_autotrain({**BASE, **change}, tmp_path / "c.yml")
        from autotrain_gradio.profiles import get_profile

        get_profile(run.request.profile).build(run.request.config)


def test_a_spaces_backend_is_a_hugging_face_job(tmp_path):
    run = from_autotrain({**BASE, "backend": "spaces-a10g-largex4"}, tmp_path / "c.yml")
    assert (run.request.backend, run.request.hf_flavor) == ("hf-jobs", "a10g-largex4")
    assert "runs as a Hugging Face Job on a10g-largex4" in run.notes[0]
