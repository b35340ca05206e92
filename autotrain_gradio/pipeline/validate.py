"""Phase 1: validate a dataset against a profile, read-only.

The task's own reader (tables: `tasks/formats.py`; image folders: `tasks/images.py`) checks the data; this phase adds
what every run shares: the name, the size, existing outputs and disk space. Every problem becomes one line that names
the file or value and says what to do. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotrain_gradio.profiles import Profile
from autotrain_gradio.tasks.formats import DataError
from autotrain_gradio.tasks.images import ImageData
from autotrain_gradio.tasks.table_guard import collected_notes
from autotrain_gradio.workspace import RunPaths, free_bytes

GB = 1024**3
MANIFEST = ".autotrain-manifest.json"  # marks an input copy the app wrote


@dataclass
class ValidationReport:
    """What phase 1 found. `errors` empty means the dataset can be prepared."""

    dataset_path: Path
    name: str
    profile: str
    task: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dataset_bytes: int = 0
    needed_bytes: int = 0
    free_bytes: int = 0
    data: Any = None  # what the task's reader returned (samples, labels, the files to copy)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return self.data.summary()


def data_size(data: Any) -> tuple[int, str, str]:
    """(how many, of what, a note for the copy plan) of any reader's result: images, or table rows."""
    if isinstance(data, ImageData):
        return data.count, data.unit, data.note
    table = data.table
    return len(table.train) + len(table.valid or []), "rows", f" ({', '.join(sorted(table.files)) or 'train'} split)"


def _check_existing(paths: RunPaths, force: bool, skip_copy: bool, report: ValidationReport) -> None:
    """--force replaces only what the app wrote: an input copy with our manifest, an output with our config.toml."""
    out, inp = paths.output_dir, paths.input_dir
    if out.exists() and not force:
        report.errors.append(f"{out} already exists from an earlier run; pass --force to replace it "
                             "or choose another --dataset-name")
    elif out.exists() and any(out.iterdir()) and not (out / "config.toml").exists():
        report.errors.append(f"{out} exists but was not written by autotrain (no config.toml); --force will not "
                             "delete it: move it away or choose another --dataset-name")
    if inp.exists() and not (force or skip_copy):
        report.errors.append(f"{inp} already exists; pass --skip-copy to reuse it or --force to replace it")
    elif inp.exists() and force and not skip_copy and not (inp / MANIFEST).exists():
        report.errors.append(f"{inp} exists but was not written by autotrain (no {MANIFEST}); --force will not "
                             "delete it: move it away or choose another --dataset-name")


def _check_disk(dataset_bytes: int, paths: RunPaths, profile: Profile, skip_copy: bool,
                report: ValidationReport) -> None:
    report.dataset_bytes = dataset_bytes
    copy_bytes = 0 if (skip_copy and paths.input_dir.exists()) else report.dataset_bytes
    report.needed_bytes = copy_bytes + int(profile.estimated_output_gb * GB)
    report.free_bytes = free_bytes(paths.root)
    if report.needed_bytes > report.free_bytes:
        report.errors.append(
            f"not enough disk space in {paths.root}: need ~{report.needed_bytes / GB:.1f} GB (dataset copy + "
            f"{profile.estimated_output_gb:g} GB for {profile.name} outputs), {report.free_bytes / GB:.1f} GB free; "
            "free some space or pass --workspace on a larger disk")


def validate_data(source: str, profile: Profile, load: Any, cfg: Any, name: str, paths: RunPaths,
                  min_items: int = 1, force: bool = False, skip_copy: bool = False, train_split: str = "train",
                  valid_split: str | None = None) -> ValidationReport:
    """Phase 1: the task's own reader checks the data (tables: columns, labels, numbers; images: layout, classes,
    every image decoded) with the run's settings; then size, existing outputs and disk space. Read-only."""
    report = ValidationReport(Path(source).expanduser(), name, profile.name, profile.task)
    try:
        with collected_notes() as notes:  # what the shared table checks noticed but accept
            report.data = load(source, cfg, train_split, valid_split)
    except DataError as err:
        report.errors.append(str(err))
        return report
    report.warnings.extend([*notes, *getattr(report.data, "warnings", [])])  # what the reader noticed but accepts
    count, unit, _ = data_size(report.data)
    if count < min_items:
        report.errors.append(f"{report.dataset_path} has {count} {unit}, fewer than --min-images {min_items}; add "
                             f"{unit} or lower --min-images")
    elif count < profile.min_images:
        report.warnings.append(f"profile {profile.name} works best with at least {profile.min_images} {unit}; "
                               f"found {count}")
    _check_existing(paths, force, skip_copy, report)
    files = [src for src, _ in getattr(report.data, "assets", None) or []] or list(report.data.table.files.values())
    _check_disk(sum(f.stat().st_size for f in files), paths, profile, skip_copy, report)
    return report
