"""Phase 3: profile + overrides -> output/<name>/config.toml, sample_prompts.txt and the run folders.

`build_config` is pure (it runs before anything is written, so a bad `--set` costs nothing); `write_run_folder`
writes. Precedence: model defaults < profile < config file < --set / UI fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autotrain_gradio.config import RunConfig, save_config
from autotrain_gradio.profiles import Profile
from autotrain_gradio.workspace import RunPaths


def build_config(profile: Profile, paths: RunPaths, *layers: dict[str, Any]) -> RunConfig:
    """The run's validated config; a task that fills run-dependent settings (diffusion: the trigger word from the
    run name) does it in its config's `for_run(name)`."""
    run = {"name": paths.name, "data_dir": str(paths.input_dir), "output_dir": str(paths.output_dir)}
    cfg = profile.build(*layers, run)
    for_run = getattr(cfg, "for_run", None)
    return for_run(paths.name) if for_run is not None else cfg


def write_run_folder(cfg: RunConfig, paths: RunPaths) -> Path:
    """config.toml, sample_prompts.txt (tasks with sample prompts) and model/ log/ samples/ in output/<name>."""
    for folder in (paths.model_dir, paths.log_dir, paths.samples_dir):
        folder.mkdir(parents=True, exist_ok=True)
    if (prompts := getattr(cfg, "sample_prompts", None)) is not None:
        paths.sample_prompts.write_text("".join(p + "\n" for p in prompts), encoding="utf-8")
    return save_config(cfg, paths.config)
