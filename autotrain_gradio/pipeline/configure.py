"""Phase 3: profile + overrides -> output/<name>/config.toml, sample_prompts.txt and the run folders.

`build_config` is pure (it runs before anything is written, so a bad `--set` costs nothing); `write_run_folder`
writes. Precedence: model defaults < profile < config file < --set / UI fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autotrain_gradio.config import RunConfig, save_config
from autotrain_gradio.profiles import Profile
from autotrain_gradio.tasks.diffusion.config import DiffusionConfig
from autotrain_gradio.workspace import RunPaths


def build_config(profile: Profile, paths: RunPaths, *layers: dict[str, Any]) -> RunConfig:
    """The run's validated config. Diffusion runs default the trigger word to the dataset name and fill
    `{trigger}` in the sample prompts."""
    run = {"name": paths.name, "data_dir": str(paths.input_dir), "output_dir": str(paths.output_dir)}
    cfg = profile.build(*layers, run)
    if isinstance(cfg, DiffusionConfig):
        trigger = cfg.trigger_word or paths.name
        prompts = [p.replace("{trigger}", trigger) for p in cfg.sample_prompts]
        cfg = cfg.model_copy(update={"trigger_word": trigger, "sample_prompts": prompts})
        type(cfg).model_validate(cfg.model_dump())  # the update bypasses validation: check it once more
    return cfg


def write_run_folder(cfg: RunConfig, paths: RunPaths) -> Path:
    """config.toml, sample_prompts.txt (diffusion) and model/ log/ samples/ in output/<name>."""
    for folder in (paths.model_dir, paths.log_dir, paths.samples_dir):
        folder.mkdir(parents=True, exist_ok=True)
    if isinstance(cfg, DiffusionConfig):
        paths.sample_prompts.write_text("".join(p + "\n" for p in cfg.sample_prompts), encoding="utf-8")
    return save_config(cfg, paths.config)
