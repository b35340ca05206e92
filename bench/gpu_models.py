"""Full-size models with random weights, built from the public configs the package ships (no download, no network):
what speed and memory depend on, without the weights. Used by bench/gpu_profiles.py.

A family's folder is a complete `from_pretrained` folder, so the trainer loads it exactly as it loads a real model:
the component configs come from `tasks/diffusion/model_configs/<model>` or `tasks/llm/model_configs/<model>` (or,
for `--smoke`, from the tiny model's own folder), the weights are built on the device in the storage dtype (random,
as each class initialises them) and saved; tokenizers, scheduler and model_index.json come from the tiny model of
the same family (built offline; their vocabularies are smaller than the model's, which changes no tensor shape).
"""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import torch

from autotrain_gradio.tasks.diffusion.preflight import MODEL_CONFIGS as DIFFUSION_CONFIGS
from autotrain_gradio.tasks.llm.preflight import MODEL_CONFIGS as LLM_CONFIGS
from autotrain_gradio.tasks.tiny import resolve_model

# family -> (its tiny model, the shipped configs of the full-size model the profiles name)
FAMILIES = {
    "flux": ("tiny:flux", DIFFUSION_CONFIGS / "FLUX.1-dev"),
    "sdxl": ("tiny:sdxl", DIFFUSION_CONFIGS / "stable-diffusion-xl-base-1.0"),
    "sd15": ("tiny:sd15", DIFFUSION_CONFIGS / "stable-diffusion-v1-5"),
    "llm": ("tiny:llm", LLM_CONFIGS / "Qwen2.5-0.5B-Instruct"),
}
WEIGHTS = (".safetensors", ".bin")
# FLUX.1-dev's published scheduler settings (the tiny pipeline shortens the sequence lengths of its shift).
FLUX_SCHEDULER = {"base_image_seq_len": 256, "max_image_seq_len": 4096}


def _build(cls, config_source: Path, subfolder: str | None, device: str, dtype: torch.dtype):
    """One component with random weights, built on `device` in `dtype` (never a CPU copy of a GPU model)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            if hasattr(cls, "load_config"):  # diffusers
                return cls.from_config(cls.load_config(config_source, subfolder=subfolder))
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(config_source / (subfolder or ""))
            return cls.from_config(config) if cls.__name__.startswith("Auto") else cls(config)
    finally:
        torch.set_default_dtype(previous)


def materialise(family: str, scratch: Path, *, smoke: bool, device: str, dtype: torch.dtype,
                say=print) -> Path:
    """scratch/<family>: the family's model with random weights (built once; a finished folder is reused)."""
    tiny_id, shipped = FAMILIES[family]
    tiny = Path(resolve_model(tiny_id))
    configs = tiny if smoke else shipped
    target = scratch / family
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(tiny, target, ignore=lambda _d, names: [n for n in names if n.endswith(WEIGHTS)
                                                           or n in (".complete", ".lock")])
    if family == "llm":
        from transformers import AutoModelForCausalLM

        parts = {None: AutoModelForCausalLM}
    else:
        index = json.loads((tiny / "model_index.json").read_text())
        parts = {}
        for sub, spec in index.items():
            has_weights = (configs / sub / "config.json").is_file()  # not a tokenizer or the scheduler
            if isinstance(spec, list) and spec[0] in ("diffusers", "transformers") and has_weights:
                parts[sub] = getattr(importlib.import_module(spec[0]), spec[1])
        if family == "flux" and not smoke:
            path = target / "scheduler" / "scheduler_config.json"
            path.write_text(json.dumps({**json.loads(path.read_text()), **FLUX_SCHEDULER}, indent=2))
    for sub, cls in parts.items():
        say(f"  building {family}/{sub or 'model'} ({cls.__name__}) from {configs.name} on {device} in {dtype}")
        model = _build(cls, configs, sub, device, dtype)
        model.save_pretrained(target / sub if sub else target)
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    (target / ".complete").write_text("")
    return target
