"""The light side never loads torch: the app, the CLI, the pipeline, the job queue and every task's declarations
(config.py, data.py) import in a fresh interpreter without it. And the task list is the one source of tasks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autotrain_gradio.config import ConfigError
from autotrain_gradio.tasks import TASKS, config_from_dict, get_task


def test_light_modules_and_every_task_declaration_import_without_torch():
    modules = ["autotrain_gradio.cli", "autotrain_gradio.cli_train", "autotrain_gradio.pipeline",
               "autotrain_gradio.jobs", "autotrain_gradio.ui.app", "autotrain_gradio.monitor",
               "autotrain_gradio.tasks.formats"]
    for task in TASKS.values():
        modules.append(task.config.__module__)
        if task.data:
            modules.append(task.data.partition(":")[0])
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'diffusers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_an_unknown_task_is_an_error_never_a_fallback():
    with pytest.raises(ConfigError, match="unknown task 'text-generation'; choose one of: diffusion-lora"):
        get_task("text-generation")
    with pytest.raises(ConfigError, match="unknown task 'text-generation'"):
        config_from_dict({"task": "text-generation"})


@pytest.mark.parametrize(("settings", "message"), [
    ({"task": "diffusion-full", "model_type": "flux", "train_text_encoder": True},
     "train_text_encoder is for sdxl / sd15; a Flux full fine-tune trains the transformer only"),
    ({"task": "diffusion-full", "model_type": "sdxl", "quantize_base": "nf4"},
     "quantize_base='nf4' needs a frozen base (LoRA); a full fine-tune trains every weight"),
    ({"task": "diffusion-lora", "model_type": "sdxl", "guidance_scale": 3.5, "timestep_sampling": "shift"},
     "timestep_sampling, guidance_scale only apply to model_type='flux' (this is sdxl): remove them"),
    ({"task": "diffusion-lora", "model_type": "flux", "noise_offset": 0.05},
     "noise_offset is for sdxl / sd15 (noise prediction); Flux trains by flow matching"),
    ({"task": "diffusion-lora", "model_type": "sdxl", "blocks_to_swap": 8},
     "blocks_to_swap only applies to model_type='flux' (this is sdxl): remove it"),
    ({"task": "diffusion-full", "model_type": "flux", "blocks_to_swap": 8},
     "blocks_to_swap streams frozen weights (LoRA); a full fine-tune trains every weight"),
    ({"task": "diffusion-lora", "model_type": "flux", "blocks_to_swap": 8, "quantize_base": "float8"},
     "blocks_to_swap streams bf16 or nf4 weights, not float8 ones"),
])
def test_cross_field_rules_are_config_errors(settings, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_from_dict(settings)
