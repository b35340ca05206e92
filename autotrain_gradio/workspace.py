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
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name on the Hugging Face Hub
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


def is_hub_id(value: str | Path) -> bool:
    """Whether `value` names a Hub repo (owner/name) rather than something on this machine: the one rule every
    dataset box, base model, file policy and model card asks. A relative path that exists here is a path."""
    text = str(value)
    return bool(HUB_ID.match(text)) and not Path(text).expanduser().exists()


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


# What a zip may unpack to, checked before the first byte is written (a 1 MB zip of 1 GB of zeros is refused).
ZIP_MAX_BYTES = 50 * 1024**3
ZIP_MAX_FILES = 200_000
ZIP_MAX_RATIO = 50  # uncompressed / compressed, per member and overall: images barely compress, tables ~5-20x


def extract_zip(archive: Path, dest: Path, *, allowed_suffixes: tuple[str, ...] | None = None,
                max_bytes: int = ZIP_MAX_BYTES, max_files: int = ZIP_MAX_FILES,
                max_ratio: float = ZIP_MAX_RATIO) -> Path:
    """Unzip without trusting member names (absolute paths and '..' are refused, macOS litter is skipped) after
    checking, before anything is written: the unpacked size against `max_bytes` and free space, the file count, the
    compression ratio, and (with `allowed_suffixes`) that every member is a kind of file the caller keeps. A failed
    extraction removes what it wrote. Returns the dataset folder: the zip's single top-level folder when it has one
    (so class sub-folders keep working), else dest. Raises ValueError with what is wrong."""
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
        _check_members(archive, [m for m, _ in members], allowed_suffixes, max_bytes, max_files, max_ratio)
        need, free = sum(m.file_size for m, _ in members), free_bytes(dest)
        if need > free:
            raise ValueError(f"unpacking {archive.name} needs {need / 1024**3:.1f} GB, {free / 1024**3:.1f} GB "
                             f"free in {dest}; free some space or unpack it elsewhere and pass the folder")
        written: list[Path] = []
        try:
            for member, parts in members:
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                written.append(target)
                with zf.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)  # zipfile stops at the declared size and checks the CRC
        except (zipfile.BadZipFile, OSError) as err:
            for path in written:
                path.unlink(missing_ok=True)
            raise ValueError(f"{archive.name}: could not unpack ({err}); nothing was kept") from None
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
    entries = [p for p in dest.iterdir() if not p.name.startswith(".")]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def _check_members(archive: Path, members: list[zipfile.ZipInfo], allowed_suffixes: tuple[str, ...] | None,
                   max_bytes: int, max_files: int, max_ratio: float) -> None:
    if len(members) > max_files:
        raise ValueError(f"{archive.name} holds {len(members)} files; the limit is {max_files}")
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise ValueError(f"{archive.name} unpacks to {total / 1024**3:.2f} GB; the limit is "
                         f"{max_bytes / 1024**3:.2f} GB")
    packed = sum(m.compress_size for m in members)
    bombs = [m.filename for m in members if m.file_size > 1024**2 and m.file_size > max_ratio * max(1, m.compress_size)]
    if bombs or (total > 1024**2 and total > max_ratio * max(1, packed)):
        raise ValueError(f"{archive.name} unpacks to {total / 1024**2:.0f} MB from {packed / 1024**2:.1f} MB, more "
                         f"than {max_ratio:.0f}x compression ({', '.join(bombs[:3]) or 'overall'}); refusing a "
                         "likely zip bomb")
    if allowed_suffixes is not None:
        odd = [m.filename for m in members if Path(m.filename).suffix.lower() not in allowed_suffixes]
        if odd:
            more = f" and {len(odd) - 5} more" if len(odd) > 5 else ""
            raise ValueError(f"{archive.name} holds files that are not images, captions or tables: "
                             f"{', '.join(odd[:5])}{more}; remove them and upload again")
