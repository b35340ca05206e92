"""Sample images during and after training: the base pipeline loaded from disk around the denoiser being trained
(its LoRA adapter active), one PNG per prompt with a fixed seed so images are comparable from step to step."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.tasks.diffusion.families import family
from autotrain_gradio.tasks.diffusion.offload import place_text_encoders


def sample_path(out_dir: Path, step: int, index: int) -> Path:
    """out_dir/step-000120-0.png: sorted by step, then prompt."""
    return Path(out_dir) / f"step-{step:06d}-{index}.png"


def expand_prompt(prompt: str, trigger_word: str) -> str:
    """`{trigger}` in a sample prompt becomes the run's trigger word (or disappears when there is none)."""
    return " ".join(prompt.replace("{trigger}", trigger_word).split())


def read_prompts(cfg: DiffusionConfig, prompts_file: Path) -> list[str]:
    """sample_prompts.txt (one per line) when present, else the config's; {trigger} filled in."""
    lines = prompts_file.read_text(encoding="utf-8").splitlines() if prompts_file.is_file() else cfg.sample_prompts
    return [expand_prompt(p, cfg.trigger_word).strip(" ,") for p in lines if p.strip()]


@contextmanager
def outputs_in(module: torch.nn.Module, dtype: torch.dtype) -> Iterator[None]:
    """While sampling, cast the denoiser's floating outputs to `dtype`. accelerate's mixed-precision wrapper returns
    them in fp32 (right for a loss), so the pipeline's latents would turn fp32 and the VAE, loaded in the frozen
    dtype, would refuse them at decode ("Input type (float) and bias type (c10::BFloat16) should be the same")."""
    from accelerate.utils import recursively_apply

    had_own, forward = "forward" in module.__dict__, module.forward

    def cast(*args, **kwargs):
        return recursively_apply(lambda t: t.to(dtype), forward(*args, **kwargs),
                                 test_type=lambda t: torch.is_tensor(t) and t.is_floating_point())

    module.forward = cast
    try:
        yield
    finally:
        if had_own:
            module.forward = forward
        else:
            del module.forward


def build_pipeline(cfg: DiffusionConfig, model_path: str, denoiser: torch.nn.Module, device: torch.device,
                   dtype: torch.dtype = torch.float32):
    """The family's diffusers pipeline from model_path with `transformer=`/`unet=` replaced by `denoiser`; the
    parts loaded here (VAE, text encoders) in `dtype`, the frozen dtype of the run."""
    import diffusers

    row = family(cfg.model_type)
    part = row.denoiser_folder
    pipe = getattr(diffusers, row.pipeline).from_pretrained(model_path, dtype=dtype, **{part: denoiser},
                                                            **row.pipeline_kwargs)
    # Only the freshly loaded parts move; the denoiser is already where training keeps it.
    for name, component in pipe.components.items():
        if isinstance(component, torch.nn.Module) and name != part:
            if name.startswith("text_encoder") and cfg.text_encoder_device in ("cpu", "offload"):
                place_text_encoders([component], "offload", device)  # streamed layer by layer, as when caching
            else:
                component.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def render_samples(cfg: DiffusionConfig, model_path: str, denoiser: torch.nn.Module, prompts: list[str], step: int,
                   out_dir: Path, device: torch.device, dtype: torch.dtype = torch.float32) -> list[Path]:
    """Render each prompt (seed cfg.sample_seed + i, cfg.sample_steps steps, cfg.resolution square) with the
    denoiser as it is now, save out_dir/step-XXXXXX-i.png, free the pipeline and return the paths. The rest of
    the pipeline runs in `dtype`, the run's frozen dtype (a full fine-tune too: T5-XXL in fp32 is 19 GB). The
    denoiser's train/eval mode is restored afterwards."""
    if not prompts:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    was_training = denoiser.training
    denoiser.eval()
    pipe = build_pipeline(cfg, model_path, denoiser, device, dtype)
    extra = family(cfg.model_type).call_kwargs(cfg.max_sequence_length)
    paths: list[Path] = []
    try:
        with outputs_in(denoiser, dtype):
            for i, prompt in enumerate(prompts):
                # A CPU generator gives the same starting noise on every device.
                generator = torch.Generator("cpu").manual_seed(cfg.sample_seed + i)
                image = pipe(expand_prompt(prompt, cfg.trigger_word), num_inference_steps=cfg.sample_steps,
                             height=cfg.resolution, width=cfg.resolution, generator=generator, **extra).images[0]
                path = sample_path(out_dir, step, i)
                image.save(path)
                paths.append(path)
    finally:
        del pipe
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        denoiser.train(was_training)
    return paths


def sample_during_run(accelerator: Any, cfg: DiffusionConfig, ctx: Any, model_path: str, denoiser: torch.nn.Module,
                      step: int, dtype: torch.dtype) -> None:
    """Rank 0 renders the run's sample prompts with the denoiser as it is at `step` and reports them; every rank
    then waits at a barrier."""
    prompts = read_prompts(cfg, ctx.paths.sample_prompts)
    if accelerator.is_main_process and prompts:
        model = accelerator.unwrap_model(denoiser)
        model.eval()
        with torch.no_grad():
            paths = render_samples(cfg, model_path, model, prompts, step, ctx.paths.samples_dir, accelerator.device,
                                   dtype)
        model.train()
        ctx.events.sample(step=step, paths=paths, prompts=prompts)
    accelerator.wait_for_everyone()
