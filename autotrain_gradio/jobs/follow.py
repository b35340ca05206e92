"""Following jobs from a terminal until they end: `train monitor`, `pipeline run --monitor`, `batch`.

Each round first calls `supervise`, so a monitor never waits for ever on a dead worker or a vanished trainer."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from autotrain_gradio.events import RunState
from autotrain_gradio.jobs.api import JobError
from autotrain_gradio.jobs.runs import job_tailer, poll_events
from autotrain_gradio.jobs.scheduler import supervise
from autotrain_gradio.jobs.store import Job, JobStore
from autotrain_gradio.monitor import ICONS, RESULT_CODES, batch_line, follow, progress_line
from autotrain_gradio.notebook import follower_for


def _check(store: JobStore, workspace: str | Path, job: Job) -> Job:
    """The job as it stands, after making sure it can progress (see `supervise`)."""
    supervise(workspace, store)
    return store.get(job.id)  # type: ignore[return-value]


def _launched(job: Job) -> bool:
    """Its trainer was started (so its events_offset is this run's), locally or on a remote backend."""
    return job.status != "queued" and (job.pid is not None or job.remote_id is not None)


def _result(job: Job, state: RunState) -> str:
    message = f"{ICONS.get(job.status, '')} {job.name}: {job.status}"
    if job.error:
        return message + f": {job.error}"
    if state.outputs:
        return message + " -> " + ", ".join(f"{k}: {v}" for k, v in state.outputs.items())
    return message


def _open(workspace: str | Path, job_ids: list[int]):
    store = JobStore(workspace)
    jobs = [store.get(i) for i in job_ids]
    missing = [i for i, j in zip(job_ids, jobs, strict=True) if j is None]
    if missing:
        store.close()
        raise JobError(f"no job with id {missing[0]}; `autotrain train list` shows them")
    return store, jobs


def monitor_job(workspace: str | Path, job_id: int, stream: TextIO = sys.stdout, interval: float = 1.0) -> int:
    """Follow one job until it ends; returns 0 completed, 1 failed, 143 cancelled (the trainer's own codes)."""
    store, (job,) = _open(workspace, [job_id])
    state, tailer = RunState(), None

    def render() -> tuple[str, bool]:
        nonlocal job, tailer
        job = _check(store, workspace, job)
        queue = store.queued()
        if not _launched(job):  # never launched (yet): its output folder may hold an earlier run's events
            position = next((i + 1 for i, q in enumerate(queue) if q.id == job.id), 0)
            return f"{ICONS['queued']} {job.name}: queued ({position} of {len(queue)})", job.done
        tailer = tailer or job_tailer(job)  # only once launched: events_offset is set at launch
        state.update(poll_events(tailer))
        return progress_line(state, queue=len(queue)), job.done, state, len(queue)

    try:
        follow(render, stream, interval, follower_for(stream))
    finally:
        store.close()
    follower_for(stream).note(_result(job, state))
    return RESULT_CODES.get(job.status, 1)


def monitor_batch(workspace: str | Path, job_ids: list[int], stream: TextIO = sys.stdout,
                  interval: float = 1.0) -> int:
    """Follow a batch of jobs with `batch_line` until all have ended, noting each result as it comes.
    Returns 0 if every job completed, else 1."""
    store, jobs = _open(workspace, job_ids)
    states: dict[int, RunState] = {j.id: RunState() for j in jobs}
    tailers: dict = {}
    noted: set[int] = set()
    follower = follower_for(stream)
    try:
        while True:
            jobs = [_check(store, workspace, j) for j in jobs]
            for job in jobs:
                if _launched(job):
                    tailer = tailers.setdefault(job.id, job_tailer(job))
                    states[job.id].update(poll_events(tailer))
                if job.done and job.id not in noted:
                    noted.add(job.id)
                    follower.note(_result(job, states[job.id]))
            done = sum(j.done for j in jobs)
            if done == len(jobs):
                break
            ours = {j.id for j in jobs}
            queue = [q.name for q in store.queued() if q.id in ours]
            current = next((j for j in jobs if j.status == "running"), None)
            if current is None:
                follower.show(f"{ICONS['queued']} waiting: Queue: {len(queue)}"
                              + (f" (next: {queue[0]})" if queue else "")
                              + f" | Progress: {done}/{len(jobs)} ({done / len(jobs) * 100:.1f}%)")
            else:
                follower.show(batch_line(current.name, states[current.id], queue, done, len(jobs)),
                              states[current.id], len(queue))
            time.sleep(interval)
    finally:
        store.close()
    return 0 if all(j.status == "completed" for j in jobs) else 1
