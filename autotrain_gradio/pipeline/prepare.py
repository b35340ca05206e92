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

from autotrain_gradio.pipeline.validate import MANIFEST, ValidationReport
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


def _targets(report: ValidationReport, dest: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for item in report.images:
        folder = dest / item.label if item.label else dest
        pairs.append((item.path, folder / item.path.name))
        if item.caption is not None:
            # named exactly as the trainer looks for it (a.TXT -> a.txt)
            pairs.append((item.caption, folder / (item.path.stem + report.caption_extension)))
    return pairs


def prepare_dataset(report: ValidationReport, paths: RunPaths, skip_copy: bool = False, force: bool = False,
                    dry_run: bool = False) -> PreparedDataset:
    """Copy images (and captions, or class folders) into input/<name>; with dry_run only describe it."""
    dest = paths.input_dir
    reuse = skip_copy and dest.exists()
    table = report.data.table if report.data is not None else None
    count = len(report.images) if table is None else len(table.train) + len(table.valid or [])
    unit = "images" if table is None else "rows"
    if reuse and table is not None:
        plan = [f"reuse {dest} (--skip-copy)"]
    elif reuse:
        count = sum(1 for p in dest.rglob("*") if p.is_file() and p.suffix.lower() != ".txt" and p.name != MANIFEST)
        plan = [f"reuse {dest} ({count} files, --skip-copy)"]
    elif table is not None:
        plan = [f"copy {count} rows ({', '.join(sorted(table.files)) or 'train'} split) from {report.dataset_path} "
                f"to {dest}"]
    else:
        plan = [f"copy {count} images ({report.captioned} captions) from {report.dataset_path} to {dest}"]
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
            if assets:  # what the task reads, at the same relative paths (image tables: metadata + images)
                for src, rel in assets:
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, tmp / rel)
            elif table is not None:
                write_table(table, tmp)
            for src, target in _targets(report, dest):
                target = tmp / target.relative_to(dest)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
            manifest = {"source": str(report.dataset_path.resolve()), "images": count,
                        "captions": report.captioned, "classes": report.classes, "created": time.time()}
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
