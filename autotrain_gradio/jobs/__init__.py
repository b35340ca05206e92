"""Jobs: the persistent queue (store.py), the background worker (scheduler.py) and the trainer launcher
(launch.py). `submit` queues a run and makes sure a worker drains the queue; `run_foreground` runs one now."""

from autotrain_gradio.jobs.launch import run_foreground, trainer_command
from autotrain_gradio.jobs.scheduler import (
    JobError,
    Worker,
    cancel,
    ensure_worker,
    job_state,
    resume,
    run_now,
    run_worker,
    settle,
    submit,
    worker_pid,
)
from autotrain_gradio.jobs.store import FINAL, STATUSES, Job, JobStore

__all__ = [
    "FINAL", "STATUSES", "Job", "JobError", "JobStore", "Worker", "cancel", "ensure_worker", "job_state", "resume",
    "run_foreground", "run_now", "run_worker", "settle", "submit", "trainer_command", "worker_pid",
]
