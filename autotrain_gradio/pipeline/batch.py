"""Many datasets through the same five phases: every folder is validated and reported on its own; valid ones go
on, invalid ones are listed, and the exit code says 'partial' when only some made it."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from autotrain_gradio.config import ConfigError
from autotrain_gradio.pipeline.request import RunRequest, make_request
from autotrain_gradio.pipeline.run import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    PipelineResult,
    keyword_request,
    run_pipeline,
)
from autotrain_gradio.workspace import ARCHIVE_AND_TABLE_SUFFIXES, IMAGE_EXTENSIONS, workspace_root


@dataclass
class BatchResult:
    results: list[PipelineResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    exit_code: int = EXIT_OK

    def __bool__(self) -> bool:
        """True only when every dataset made it (`if run_batch_pipeline(...):`)."""
        return self.exit_code == EXIT_OK

    @property
    def succeeded(self) -> list[PipelineResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[PipelineResult]:
        return [r for r in self.results if not r.ok]


def discover_datasets(datasets_dir: str | Path) -> list[Path]:
    """Every non-hidden sub-folder that holds files (images, class sub-folders, train/valid tables) and every table
    file, sorted by name."""
    root = Path(datasets_dir).expanduser()
    found = []
    for sub in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if sub.is_file():
            if sub.suffix.lower() in ARCHIVE_AND_TABLE_SUFFIXES:
                found.append(sub)
            continue
        files = [f for f in sub.rglob("*") if f.is_file() and not f.name.startswith(".")]
        if files:
            found.append(sub)
    return found


def run_batch_pipeline(request: RunRequest | str | None = None, *, stream: TextIO | None = None, quiet: bool = False,
                       **options: Any) -> BatchResult:
    """Run (or with mode='prepare', prepare) every dataset of `datasets_dir` / `dataset_paths`. Takes a RunRequest,
    or the profile name and RunRequest's fields as keywords (as before RunRequest)."""
    batch = BatchResult()
    stream = None if quiet else (stream or sys.stdout)
    try:
        if isinstance(request, RunRequest):
            req = make_request(**{**request.model_dump(), **options}) if options else request
        else:
            req = keyword_request(options, profile=request)
    except ConfigError as err:
        batch.errors.append(str(err))
        req = None
    if req is not None and req.datasets_dir:
        root = Path(req.datasets_dir).expanduser()
        if not root.is_dir():
            batch.errors.append(f"--datasets-dir {root} is not a folder; pass the folder that holds one "
                                "sub-folder per dataset")
            paths = []
        else:
            paths = discover_datasets(root)
            if not paths:
                batch.errors.append(f"no dataset folders found in {root}: expected sub-folders with images "
                                    f"({', '.join(IMAGE_EXTENSIONS)}) or table files")
    elif req is not None:
        paths = [Path(p).expanduser() for p in req.dataset_paths]
        if not paths:
            batch.errors.append("no datasets given: pass --datasets-dir or --dataset-paths \"a,b\"")
    if batch.errors:
        batch.exit_code = EXIT_BAD_INPUT
        for error in batch.errors:
            print(f"❌ {error}", file=stream or sys.stderr)
        return batch

    for i, path in enumerate(paths, 1):
        if stream is not None:
            print(f"\n=== [{i}/{len(paths)}] {path}", file=stream, flush=True)
        # Monitoring waits until every job is queued, so the queue order and 'next' are known.
        try:
            one = req.model_copy(update={"dataset_path": str(path), "datasets_dir": "", "dataset_paths": [],
                                         "monitor": False, "dataset_name": ""})
            result = run_pipeline(one, stream=stream, quiet=stream is None)
        except Exception as err:  # noqa: BLE001 - one dataset's failure (a copy error, say) must not end the batch
            result = PipelineResult(str(path), req.profile, exit_code=EXIT_FAILED,
                                    errors=[f"{type(err).__name__}: {err}"])
            if stream is not None:
                print(f"❌ {path}: {result.errors[0]}", file=stream, flush=True)
        batch.results.append(result)

    jobs = [r.job_id for r in batch.results if r.job_id is not None]
    if req.monitor and jobs:
        from autotrain_gradio.jobs import JobStore
        from autotrain_gradio.jobs.follow import monitor_batch

        root = workspace_root(req.workspace or None)
        monitor_batch(root, jobs, stream or sys.stdout)
        store = JobStore(root)
        for r in batch.results:
            job = store.get(r.job_id) if r.job_id is not None else None
            if job is not None and job.status != "completed":
                r.exit_code = EXIT_FAILED
                r.errors.append(f"job {job.id} {job.status}" + (f": {job.error}" if job.error else ""))
        store.close()
    ok = len(batch.succeeded)
    if ok == len(batch.results):
        batch.exit_code = EXIT_OK
    elif ok:
        batch.exit_code = EXIT_PARTIAL
    else:  # nothing made it: 2 when every dataset was refused as bad input, else 1 (training failed)
        rejected = all(r.exit_code == EXIT_BAD_INPUT for r in batch.results)
        batch.exit_code = EXIT_BAD_INPUT if rejected else EXIT_FAILED
    if stream is not None:
        print(f"\nBatch: {ok}/{len(batch.results)} datasets ok", file=stream)
        for r in batch.failed:
            print(f"  ❌ {r.dataset_path}: {r.errors[0] if r.errors else f'exit code {r.exit_code}'}", file=stream)
    return batch
