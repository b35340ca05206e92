"""The workspace folder layout, dataset-name rules and disk checks. Imports nothing of ours."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_NAME = 64
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
ARCHIVE_AND_TABLE_SUFFIXES = (".zip", ".csv", ".tsv", ".json", ".jsonl", ".parquet")


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
    p = Path(path)
    base = p.stem if p.suffix.lower() in ARCHIVE_AND_TABLE_SUFFIXES else (p.resolve().name or "dataset")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-") or "dataset"
    return name[:MAX_NAME]


def free_bytes(path: Path) -> int:
    probe = path
    while not probe.exists():
        probe = probe.parent
    return shutil.disk_usage(probe).free


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def extract_zip(archive: Path, dest: Path) -> Path:
    """Unzip without trusting member names (absolute paths and '..' are refused, macOS litter is skipped) after
    checking the unpacked size against free space. Returns the dataset folder: the zip's single top-level folder
    when it has one (so class sub-folders keep working), else dest. Raises ValueError with what is wrong."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(f"{archive} is not a readable zip archive ({err}); re-create it or unpack it "
                         "yourself") from None
    with zf:
        members = []
        for member in zf.infolist():
            parts = Path(member.filename).parts
            if member.is_dir() or not parts or parts[0] == "__MACOSX" or parts[-1].startswith("."):
                continue
            if Path(member.filename).is_absolute() or ".." in parts:
                raise ValueError(f"{archive.name}: refusing the unsafe member path {member.filename!r}")
            members.append((member, parts))
        need, free = sum(m.file_size for m, _ in members), free_bytes(dest)
        if need > free:
            raise ValueError(f"unpacking {archive.name} needs {need / 1024**3:.1f} GB, {free / 1024**3:.1f} GB "
                             f"free in {dest}; free some space or unpack it elsewhere and pass the folder")
        for member, parts in members:
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    entries = [p for p in dest.iterdir() if not p.name.startswith(".")]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest
