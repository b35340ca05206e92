"""The typed config: round trip through TOML, overrides, precise errors."""

import pytest

from autotrain_gradio.config import CommonConfig, ConfigError, RunConfig, config_digest, save_config
from autotrain_gradio.tasks import MODELS, config_from_dict, load_config, parse_override
from autotrain_gradio.tasks.diffusion.config import DiffusionLoraConfig
from autotrain_gradio.tasks.image_classification.config import ImageClassificationConfig


@pytest.mark.parametrize("task", sorted(MODELS))
def test_toml_round_trip_is_exact(tmp_path, task):
    optimised = {"learning_rate": 3e-5} if "learning_rate" in MODELS[task].model_fields else {}
    cfg = config_from_dict({"task": task, "name": "x", "base_model": "tiny:flux", "seed": 7, **optimised})
    path = save_config(cfg, tmp_path / "config.toml")
    again = load_config(path)
    assert again == cfg
    assert type(again) is type(cfg)
    assert config_digest(again) == config_digest(cfg)


@pytest.mark.parametrize("task", ["tabular", "captioning"])
def test_tasks_without_optimizer_steps_have_no_optimiser_fields(task, capsys):
    from autotrain_gradio.cli import main

    assert not issubclass(MODELS[task], CommonConfig) and issubclass(MODELS[task], RunConfig)
    assert main(["profiles", "--keys", task]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert {"seed", "push_to_hub", "log_to"} <= listed
    assert not listed & {"epochs", "learning_rate", "optimizer", "lr_scheduler", "warmup_ratio", "max_grad_norm",
                         "checkpoint_every", "keep_checkpoints", "gradient_accumulation"}
    with pytest.raises(ConfigError, match=f"unknown setting 'learning_rate' for task {task}"):
        config_from_dict({"task": task, "learning_rate": 1e-3})


def test_lists_and_nested_values_survive(tmp_path):
    cfg = DiffusionLoraConfig(sample_prompts=["a 'quoted' \"prompt\"", "ünïcode"], lora_target_modules=["to_q"],
                              export_formats=["kohya"])
    assert load_config(save_config(cfg, tmp_path / "c.toml")) == cfg


def test_every_field_has_title_and_description():
    for model in MODELS.values():
        for key, field in model.model_fields.items():
            if key != "task":
                assert field.title and field.description, key


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"unknown setting 'learning_rat' for task diffusion-lora "
                                          r"\(did you mean 'learning_rate'\?\)"):
        config_from_dict({"task": "diffusion-lora", "learning_rat": 1e-4})


def test_out_of_range_value_names_key_and_bound():
    with pytest.raises(ConfigError, match=r"setting 'lora_rank': Input should be greater than or equal to 1 "
                                          r"\(got 0\)"):
        config_from_dict({"task": "diffusion-lora", "lora_rank": 0})


def test_wrong_type_and_unknown_task():
    with pytest.raises(ConfigError, match="setting 'batch_size'"):
        config_from_dict({"task": "image-classification", "batch_size": "many"})
    with pytest.raises(ConfigError, match="unknown task 'dreambooth'"):
        config_from_dict({"task": "dreambooth"})


def test_parse_override_reads_toml_values():
    assert parse_override("learning_rate=2e-4") == ("learning_rate", 2e-4)
    assert parse_override("cache_latents = false") == ("cache_latents", False)
    assert parse_override('sample_prompts=["a", "b"]') == ("sample_prompts", ["a", "b"])
    assert parse_override("trigger_word=ohwx person") == ("trigger_word", "ohwx person")
    assert parse_override("trigger_word=123") == ("trigger_word", "123")  # a text setting stays text
    with pytest.raises(ConfigError, match="--set expects key=value"):
        parse_override("learning_rate")


def test_defaults_match_autotrain_image_classification():
    cfg = ImageClassificationConfig()
    assert cfg.valid_split == 0.2


def test_assignment_is_validated():
    cfg = DiffusionLoraConfig()
    with pytest.raises(ValueError):
        cfg.resolution = 33  # not a multiple of 8
