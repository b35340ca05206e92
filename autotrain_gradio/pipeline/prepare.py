"""Phase 2: copy and structure a validated dataset into <workspace>/input/<name>/.

Originals are only read. The copy is built in a temporary sibling folder and renamed into place, so a failed or
interrupted copy never leaves a half-written dataset; a manifest marks the folder as the app's own.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from autotrain_gradio.pipeline.validate import MANIFEST, ValidationReport, data_size
from autotrain_gradio.tasks.formats import write_table
from autotrain_gradio.workspace import RunPaths


@dataclass
class PreparedDataset:
    name: str
    input_dir: Path
    items: int
    copied: bool
    plan: list[str] = field(default_factory=list)
    unit: str = "images"


def prepare_dataset(report: ValidationReport, paths: RunPaths, skip_copy: bool = False, force: bool = False,
                    dry_run: bool = False) -> PreparedDataset:
    """Copy what the task's reader found (images with captions, class folders, metadata and its images, tables)
    into input/<name> at the places the reader gave; with dry_run only describe it."""
    dest = paths.input_dir
    reuse = skip_copy and dest.exists()
    count, unit, note = data_size(report.data)
    if reuse:
        plan = [f"reuse {dest} (--skip-copy)"]
    else:
        plan = [f"copy {count} {unit}{note} from {report.dataset_path} to {dest}"]
        if dest.exists():
            plan.insert(0, f"replace {dest} (--force)")
    if force and paths.output_dir.exists():
        plan.insert(0, f"replace {paths.output_dir} (--force)")
    if dry_run:
        return PreparedDataset(paths.name, dest, count, False, plan, unit)

    # The new copy is complete before anything old is deleted: a failed copy leaves the earlier run as it was.
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")  # two processes never share one
    if not reuse:
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            assets = getattr(report.data, "assets", None)
            if assets:  # what the task reads, at the places its reader gave
                for src, rel in assets:
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, tmp / rel)
            else:
                write_table(report.data.table, tmp)
            manifest = {"source": str(report.dataset_path.resolve()), unit: count, "created": time.time()}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if force and paths.output_dir.exists():
        shutil.rmtree(paths.output_dir)
    if not reuse:
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    return PreparedDataset(paths.name, dest, count, not reuse, plan, unit)
