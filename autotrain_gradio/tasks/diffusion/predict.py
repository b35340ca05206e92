"""Try a trained LoRA: the same prompt and seed rendered by the base model without and with the run's LoRA, side by
side. Torch side; the app imports it only when someone presses Generate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.tasks.diffusion.families import family
from autotrain_gradio.tasks.diffusion.sampling import expand_prompt

_cache: dict[str, Any] = {}  # the last pipeline loaded: {"key": (base, model_dir, mtime), "pipe": ...}


def _pipeline(cfg: DiffusionConfig, model_dir: Path) -> Any:
    """The base pipeline with the run's LoRA loaded as adapter 'run' (kept loaded until another run is tried)."""
    import diffusers
    import torch

    from autotrain_gradio.tasks.tiny import resolve_model

    weights = model_dir / "pytorch_lora_weights.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} not found: the run has not exported its LoRA yet")
    key = (cfg.base_model, str(model_dir), weights.stat().st_mtime)
    if _cache.get("key") != key:
        _cache.clear()
        cuda = torch.cuda.is_available()
        dtype = torch.bfloat16 if cuda and cfg.mixed_precision == "bf16" else torch.float32
        row = family(cfg.model_type)
        pipe = getattr(diffusers, row.pipeline).from_pretrained(resolve_model(cfg.base_model), dtype=dtype,
                                                                **row.pipeline_kwargs)
        pipe.load_lora_weights(str(model_dir), adapter_name="run")
        pipe.to("cuda" if cuda else "cpu")
        pipe.set_progress_bar_config(disable=True)
        _cache.update(key=key, pipe=pipe)
    return _cache["pipe"]


def predict(cfg: DiffusionConfig, model_dir: Path, prompt: str, seed: int = 0, steps: int | None = None,
            strength: float = 1.0, should_stop: Callable[[], str | None] | None = None) -> dict[str, Any]:
    """{"without": image, "with": image, "prompt": the prompt as rendered}: one seed, with the LoRA off and on at
    `strength` (the trigger word fills `{trigger}`). `should_stop` is asked after every step; a reason it gives
    interrupts the pipeline and comes back as {"stopped": reason}."""
    import torch

    stopped: list[str] = []

    def check(pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
        if should_stop is not None and (why := should_stop()):
            stopped.append(why)
            pipe._interrupt = True  # diffusers' pipelines end their loop on this flag
        return kwargs

    pipe = _pipeline(cfg, Path(model_dir))
    text = expand_prompt(prompt or "a photo of {trigger}", cfg.trigger_word)
    extra = family(cfg.model_type).call_kwargs(cfg.max_sequence_length)
    images = {}
    for label, scale in (("without", 0.0), ("with", float(strength))):
        if scale == 0.0:
            pipe.disable_lora()
        else:
            pipe.enable_lora()
            pipe.set_adapters(["run"], [scale])
        generator = torch.Generator("cpu").manual_seed(int(seed))
        with torch.no_grad():
            images[label] = pipe(text, num_inference_steps=int(steps or cfg.sample_steps), height=cfg.resolution,
                                 width=cfg.resolution, generator=generator, callback_on_step_end=check,
                                 **extra).images[0]
        if stopped:
            break
    pipe.enable_lora()
    return {**images, "prompt": text, **({"stopped": stopped[0]} if stopped else {})}
