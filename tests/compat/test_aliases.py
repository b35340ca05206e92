"""AutoTrain Advanced's parameter names are aliases of our config fields: every face (config dicts, profiles' layers,
`--set`, request options) takes both, AutoTrain's values are read as ours, and what cannot apply is refused."""

from __future__ import annotations

import pytest

from autotrain_gradio.config import ConfigError
from autotrain_gradio.pipeline.request import make_request
from autotrain_gradio.profiles import get_profile
from autotrain_gradio.tasks import config_from_dict

# The parameters of AutoTrain 0.8.36's params classes that are not column names or request options, with a value
# each; every one must be taken by the task's config (facts read from its trainers/*/params.py).
TRAINER_PARAMS = {"model": "tiny:bert", "project_name": "p", "lr": 2e-5, "epochs": 3, "batch_size": 4,
                  "warmup_ratio": 0.1, "gradient_accumulation": 1, "optimizer": "adamw_torch", "scheduler": "linear",
                  "weight_decay": 0.0, "max_grad_norm": 1.0, "seed": 42, "logging_steps": -1,
                  "auto_find_batch_size": False, "mixed_precision": "fp16", "save_total_limit": 1,
                  "push_to_hub": False, "eval_strategy": "epoch", "username": "someone", "log": "none",
                  "early_stopping_patience": 5, "early_stopping_threshold": 0.01}
LLM_PARAMS = {**{k: v for k, v in TRAINER_PARAMS.items() if not k.startswith("early")},
              "add_eos_token": True, "block_size": 1024, "model_max_length": 2048, "padding": "right",
              "trainer": "dpo", "use_flash_attention_2": False, "disable_gradient_checkpointing": True,
              "chat_template": "chatml", "quantization": "int4", "target_modules": "all-linear",
              "merge_adapter": False, "peft": True, "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
              "model_ref": "tiny:llm", "dpo_beta": 0.1, "max_prompt_length": 128, "unsloth": False,
              "distributed_backend": "ddp", "token": None}
TASK_PARAMS = {
    "text-classification": {**TRAINER_PARAMS, "max_seq_length": 128},
    "text-regression": {**TRAINER_PARAMS, "max_seq_length": 128},
    "token-classification": {**TRAINER_PARAMS, "max_seq_length": 128},
    "extractive-qa": {**TRAINER_PARAMS, "max_seq_length": 128, "max_doc_stride": 32},
    "image-classification": TRAINER_PARAMS,
    "image-regression": TRAINER_PARAMS,
    "object-detection": {**TRAINER_PARAMS, "image_square_size": 600},
    "sentence-transformers": {**TRAINER_PARAMS, "max_seq_length": 128, "trainer": "pair"},
    "seq2seq": {**TRAINER_PARAMS, "max_seq_length": 128, "max_target_length": 128, "peft": True,
                "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"},
    "llm": LLM_PARAMS,
    "vlm": {k: v for k, v in LLM_PARAMS.items() if k not in (
        "add_eos_token", "block_size", "model_max_length", "padding", "use_flash_attention_2", "chat_template",
        "model_ref", "dpo_beta", "max_prompt_length", "unsloth", "distributed_backend", "merge_adapter")}
    | {"trainer": "vqa"},
}


@pytest.mark.parametrize("task", sorted(TASK_PARAMS))
def test_every_autotrain_parameter_is_taken(task):
    params = TASK_PARAMS[task]
    cfg = config_from_dict({"task": task, **params})
    assert cfg.learning_rate == 2e-5 and cfg.lr_scheduler == "linear" and cfg.optimizer == "adamw"
    assert cfg.name == "p" and cfg.keep_checkpoints == 1 and cfg.log_every == 1 and cfg.hub_repo_id == "someone/p"
    if task == "llm":
        assert cfg.padding_side == "right" and cfg.gradient_checkpointing is False and cfg.model_ref == "tiny:llm"


def test_autotrain_defaults_for_early_stopping():
    cfg = config_from_dict({"task": "text-classification"})
    assert (cfg.early_stopping_patience, cfg.early_stopping_threshold) == (5, 0.01)


def test_an_alias_in_a_later_layer_beats_the_profile_and_ours_beats_theirs():
    profile = get_profile("TinyTextClassification")
    assert profile.build({"lr": 0.5}).learning_rate == 0.5
    assert profile.build({"lr": 0.5}, {"learning_rate": 0.25}).learning_rate == 0.25
    assert profile.build({"learning_rate": 0.25}, {"lr": 0.5}).learning_rate == 0.5


def test_values_spelled_as_autotrain_spells_them():
    cfg = config_from_dict({"task": "llm", "mixed_precision": "none", "optimizer": "paged_adamw_8bit",
                            "eval_strategy": "no"})
    assert (cfg.mixed_precision, cfg.optimizer, cfg.eval_every_epoch) == ("no", "adamw8bit", False)
    with pytest.raises(ConfigError, match="eval_strategy=steps: evaluation here runs once per epoch"):
        config_from_dict({"task": "llm", "eval_strategy": "steps"})


@pytest.mark.parametrize(("key", "value", "message"), [
    ("unsloth", True, "unsloth=true: Unsloth's patched kernels are not used here"),
    ("token", "hf_secret", "token: a token is never stored in a training config; export HF_TOKEN"),
])
def test_what_cannot_apply_is_refused_in_one_line(key, value, message):
    with pytest.raises(ConfigError, match=message) as err:
        config_from_dict({"task": "llm", key: value})
    assert "hf_secret" not in str(err.value)


def test_request_level_names_among_the_settings_become_request_options():
    req = make_request(data_path="data.csv", profile="TinyTextClassification",
                       overrides=["project_name=mine", "valid_split=validation", "train_split=tr", "lr=1e-3"])
    assert (req.dataset_path, req.dataset_name, req.valid_split, req.train_split) == ("data.csv", "mine",
                                                                                      "validation", "tr")
    assert req.overrides == {"lr": 1e-3}
    # A number is our hold-out fraction and stays a training setting.
    assert make_request(dataset_path="d.csv", overrides=["valid_split=0.1"]).overrides == {"valid_split": 0.1}
