"""The workspace folder layout, dataset-name rules and disk checks. Imports nothing of ours."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_NAME = 64
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def workspace_root(path: str | Path | None = None) -> Path:
    """--workspace, else AUTOTRAIN_WORKSPACE, else the current folder."""
    return Path(path or os.environ.get("AUTOTRAIN_WORKSPACE") or ".").expanduser().resolve()


@dataclass(frozen=True)
class RunPaths:
    """Where one run's files live: input/<name>/ and output/<name>/{model,log,samples,checkpoints}."""

    root: Path
    name: str

    @property
    def input_dir(self) -> Path:
        return self.root / "input" / self.name

    @property
    def output_dir(self) -> Path:
        return self.root / "output" / self.name

    @property
    def config(self) -> Path:
        return self.output_dir / "config.toml"

    @property
    def sample_prompts(self) -> Path:
        return self.output_dir / "sample_prompts.txt"

    @property
    def model_dir(self) -> Path:
        return self.output_dir / "model"

    @property
    def log_dir(self) -> Path:
        return self.output_dir / "log"

    @property
    def events(self) -> Path:
        return self.log_dir / "events.jsonl"

    @property
    def samples_dir(self) -> Path:
        return self.output_dir / "samples"

    @property
    def checkpoints_dir(self) -> Path:
        return self.output_dir / "checkpoints"


def run_paths(output_dir: str | Path) -> RunPaths:
    """RunPaths from an output folder (what the trainer knows from its config)."""
    out = Path(output_dir).resolve()
    return RunPaths(out.parent.parent, out.name)


def logs_dir(root: Path) -> Path:
    return root / "logs"


def jobs_db(root: Path) -> Path:
    return root / "jobs.db"


def check_name(name: str) -> str | None:
    """None when the dataset name is usable, else what is wrong and what to do."""
    if not name:
        return "dataset name is empty; pass --dataset-name"
    if len(name) > MAX_NAME:
        return f"dataset name {name!r} is {len(name)} characters; use at most {MAX_NAME}"
    if ".." in name or "/" in name or "\\" in name:
        return f"dataset name {name!r} may not contain '..', '/' or '\\'; use letters, digits, '.', '_' or '-'"
    if " " in name:
        return f"dataset name {name!r} contains spaces; use '_' instead, e.g. {name.replace(' ', '_')!r}"
    if not NAME_RE.match(name):
        return f"dataset name {name!r} has characters other than letters, digits, '.', '_' and '-'"
    return None


def suggest_name(path: str | Path) -> str:
    """A valid name from a folder name: spaces and odd characters become '_', cut to 64."""
    base = Path(path).resolve().name or "dataset"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-") or "dataset"
    return name[:MAX_NAME]


def free_bytes(path: Path) -> int:
    probe = path
    while not probe.exists():
        probe = probe.parent
    return shutil.disk_usage(probe).free


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
