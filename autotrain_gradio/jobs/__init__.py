"""Jobs: the persistent queue (store.py), the background worker and `supervise` (scheduler.py), the job
operations (api.py: submit, cancel, resume, run_now), the local trainer launcher (launch.py), the remote
backends (backends/: ray, hf-jobs), following jobs from a terminal (follow.py), a run's events and end
(runs.py), processes (pids.py) and per-job secrets (secrets.py)."""

from autotrain_gradio.events import STATUSES
from autotrain_gradio.jobs.api import JobError, backend_options, cancel, resume, run_now, submit
from autotrain_gradio.jobs.launch import run_foreground, trainer_command
from autotrain_gradio.jobs.runs import job_state, job_tailer, settle
from autotrain_gradio.jobs.scheduler import Worker, ensure_worker, run_worker, supervise, worker_pid
from autotrain_gradio.jobs.store import BACKENDS, FINAL, Job, JobStore

__all__ = [
    "BACKENDS", "FINAL", "STATUSES", "Job", "JobError", "JobStore", "Worker", "backend_options", "cancel",
    "ensure_worker", "job_state", "job_tailer", "resume", "run_foreground", "run_now", "run_worker", "settle",
    "submit", "supervise", "trainer_command", "worker_pid",
]
