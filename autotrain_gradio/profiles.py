"""Profiles: TOML files that name a task, a base model, defaults and sample prompts.

Search order (a later folder wins on a name clash, so a user can shadow a shipped profile):
  1. the shipped profiles: package data in `autotrain_gradio/profiles/`, so an installed wheel carries them
  2. the user profile folder: $AUTOTRAIN_PROFILES (or the older $AUTOTRAIN_PROFILES_DIR), else
     ~/.config/autotrain-gradio/profiles
  3. `<workspace>/profiles`
A TOML dropped into any of them appears everywhere a profile can be chosen. Imports nothing of ours but config.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotrain_gradio.config import ConfigError, RunConfig, merge, read_toml
from autotrain_gradio.tasks import TASKS, canonical, config_from_dict

SHIPPED_DIR = Path(__file__).resolve().parent / "profiles"  # package data (pyproject: package-data)
PROFILE_KEYS = {"extends", "description", "task", "min_images", "estimated_output_gb", "sample_prompts", "config"}


class ProfileError(ValueError):
    """A profile is unknown or malformed; the message says which file and what to fix."""


@dataclass
class Profile:
    name: str
    path: Path
    task: str
    description: str = ""
    min_images: int = 1
    estimated_output_gb: float = 1.0
    sample_prompts: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    def build(self, *layers: dict[str, Any]) -> RunConfig:
        """Model defaults < profile < each later layer; validated into the task's config model."""
        base = {"task": self.task, **({"sample_prompts": self.sample_prompts} if self.sample_prompts else {})}
        layers = tuple(canonical(self.task, layer) for layer in (self.config, *layers))  # AutoTrain's names too
        return config_from_dict(merge(base, *layers))


def user_dir() -> Path:
    env = os.environ.get("AUTOTRAIN_PROFILES") or os.environ.get("AUTOTRAIN_PROFILES_DIR")
    return Path(env).expanduser() if env else Path.home() / ".config" / "autotrain-gradio" / "profiles"


def search_dirs(workspace: Path | None = None) -> list[Path]:
    dirs = [SHIPPED_DIR, user_dir()]
    if workspace is not None:
        dirs.append(Path(workspace) / "profiles")
    return dirs


def load_profile_file(path: Path) -> Profile:
    """Parse and validate one profile file (its config must validate for its task)."""
    try:
        data = read_toml(path, "profile", PROFILE_KEYS)
    except ConfigError as err:
        raise ProfileError(str(err)) from None
    if "extends" in data:
        data = _extended(path, data)
    task = data.get("task")
    if task not in TASKS:
        raise ProfileError(f"profile {path}: task must be one of {', '.join(TASKS)}, got {task!r}")
    try:
        return _profile(path, data, task)
    except ProfileError:
        raise
    except (TypeError, ValueError) as err:  # e.g. min_images = "many"
        raise ProfileError(f"profile {path}: {err}") from None


def _extended(path: Path, data: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """`extends = "Name"`: that profile's keys and [config] under this file's (found beside this file, shipped, or
    in the user folder; never this file itself)."""
    name = str(data.pop("extends"))
    found = next((p for folder in (path.parent, SHIPPED_DIR, user_dir()) if (p := folder / f"{name}.toml").is_file()
                  and p.resolve() != path.resolve()), None)
    if found is None or depth > 8:
        raise ProfileError(f"profile {path}: extends {name!r}, which is not a profile (or extends too deep)")
    try:
        base = read_toml(found, "profile", PROFILE_KEYS)
    except ConfigError as err:
        raise ProfileError(str(err)) from None
    if "extends" in base:
        base = _extended(found, base, depth + 1)
    return {**base, **data, "config": {**base.get("config", {}), **data.get("config", {})}}


def _profile(path: Path, data: dict[str, Any], task: str) -> Profile:
    profile = Profile(
        name=path.stem, path=path, task=task, description=data.get("description", ""),
        min_images=int(data.get("min_images", 1)), estimated_output_gb=float(data.get("estimated_output_gb", 1.0)),
        sample_prompts=list(data.get("sample_prompts", [])), config=dict(data.get("config", {})),
    )
    try:
        profile.build()
    except ConfigError as err:
        raise ProfileError(f"profile {path}: {err}") from None
    return profile


def list_profiles(workspace: Path | None = None, strict: bool = False) -> dict[str, Profile]:
    """Every profile found, by name. A broken user profile is skipped with a warning unless strict."""
    found: dict[str, Profile] = {}
    for folder in search_dirs(workspace):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                found[path.stem] = load_profile_file(path)
            except ProfileError as err:
                if strict:
                    raise
                print(f"warning: skipping {err}", file=sys.stderr)
    return found


def get_profile(name: str, workspace: Path | None = None) -> Profile:
    """A profile by name (case-insensitive), or by the path of its .toml file (how the app passes a user's own)."""
    if name.endswith(".toml") and Path(name).is_file():
        return load_profile_file(Path(name))
    profiles = list_profiles(workspace)
    if name in profiles:
        return profiles[name]
    lowered = {k.lower(): k for k in profiles}
    if name.lower() in lowered:
        return profiles[lowered[name.lower()]]
    raise ProfileError(f"unknown profile {name!r}; valid profiles: {', '.join(sorted(profiles))}")
