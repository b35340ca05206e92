"""The job operations every face calls: submit, cancel, resume, run_now.

A submission carries its submitter's secrets (its own HF_TOKEN unless `secrets` says otherwise) to the worker's
memory (jobs/secrets.py), never to a file, and names its backend: `local` (default), `ray` (the request's
`ray_address` or RAY_ADDRESS) or `hf-jobs`. `max_concurrent`, when given, sets the backend queue's limit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from autotrain_gradio.gpus import visible_gpus
from autotrain_gradio.jobs.backends import BackendError, remote_backend
from autotrain_gradio.jobs.pids import pid_alive, signal_group
from autotrain_gradio.jobs.runs import settle
from autotrain_gradio.jobs.scheduler import LOCAL_SECRETS, ensure_worker, supervise, worker_pid
from autotrain_gradio.jobs.secrets import hand_over, own_secrets, wake
from autotrain_gradio.jobs.store import BACKENDS, Job, JobStore
from autotrain_gradio.tasks import load_config
from autotrain_gradio.workspace import workspace_root


class JobError(RuntimeError):
    """A job operation that cannot be done (unknown id, wrong state); the message says why."""


def _get(store: JobStore, job_id: int) -> Job:
    job = store.get(job_id)
    if job is None:
        raise JobError(f"no job with id {job_id}; `autotrain train list` shows them")
    return job


def _pass_secrets(workspace: Path, secrets: dict[str, str], start_worker: bool, timeout: float = 20.0) -> str | None:
    """Hand `secrets` to the worker (starting one if needed) and return their handle; None when there are none."""
    if not secrets:
        return None
    secrets_id = uuid.uuid4().hex
    if not start_worker:  # the caller runs `run_worker` in this process
        LOCAL_SECRETS[secrets_id] = dict(secrets)
        return secrets_id
    deadline = time.monotonic() + timeout
    next_start = 0.0
    while not hand_over(workspace, secrets_id, secrets):
        if time.monotonic() > deadline:
            raise JobError(f"no worker took the job's token within {timeout:g} s; see {workspace}/logs/worker.log")
        if time.monotonic() >= next_start:  # a new worker needs a moment to start listening: don't pile them up
            ensure_worker(workspace)
            next_start = time.monotonic() + 5.0
        time.sleep(0.1)
    return secrets_id


def backend_options(backend: str, *, ray_address: str | None = None, **extra: Any) -> dict[str, Any]:
    """Check that the backend can be used from here and return the options stored with the job. Raises JobError
    with the install command or the address that does not answer."""
    if backend not in BACKENDS:
        raise JobError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    options = {k: v for k, v in extra.items() if v is not None}
    if backend == "ray":
        options["ray_address"] = ray_address or os.environ.get("RAY_ADDRESS") or None
    if backend != "local":
        try:
            remote_backend(backend, options)
        except BackendError as err:
            raise JobError(str(err)) from None
    return options


def submit(workspace: str | Path, *, name: str, profile: str, config_path: str | Path,
           gpu_ids: list[int] | None = None, max_concurrent: int | None = None, start_worker: bool = True,
           kill_grace: float = 30.0, backend: str = "local", options: dict[str, Any] | None = None,
           secrets: dict[str, str] | None = None, owner: str = "") -> Job:
    """Queue a training run of `config_path` and make sure a worker will run it. Returns the queued job.
    `secrets` (default: this process's HF_TOKEN and friends) go to this job's trainer only; `owner` is who
    submitted it (in a shared app, the only user who may see and act on it)."""
    workspace = workspace_root(workspace)
    cfg = load_config(config_path)
    if not cfg.output_dir:
        raise JobError(f"{config_path}: output_dir is empty; the job would have nowhere to write")
    options = backend_options(backend, **(options or {}))
    if backend == "ray" and gpu_ids:
        options.setdefault("num_gpus", len(gpu_ids))
    secrets_id = _pass_secrets(workspace, own_secrets() if secrets is None else secrets, start_worker)
    store = JobStore(workspace)
    try:
        job = store.add(name=name, profile=profile, config_path=Path(config_path).resolve(),
                        output_dir=Path(cfg.output_dir).resolve(), gpu_ids=gpu_ids if backend == "local" else None,
                        num_gpus=getattr(cfg, "num_processes", 1), max_concurrent=max_concurrent,
                        kill_grace=kill_grace, backend=backend, options=options, secrets_id=secrets_id,
                        owner=owner)
    finally:
        store.close()
    if start_worker:
        ensure_worker(workspace)
        wake(workspace)  # a warm worker launches it now, not at its next look
    return job


def run_now(workspace: str | Path, *, name: str, profile: str, config_path: str | Path,
            gpu_ids: list[int] | None = None, resume: bool = False, monitor: bool = True,
            stream: TextIO = sys.stdout) -> tuple[Job, int]:
    """The foreground path (`--immediate`), recorded in the store like any job: `train list` shows it,
    `train cancel` stops it, a worker counts it against max-concurrent and leaves its GPUs alone. The trainer
    runs with this process's environment (the caller is its submitter)."""
    from autotrain_gradio.jobs.launch import run_foreground

    store = JobStore(workspace_root(workspace))
    cfg = load_config(config_path)
    processes = getattr(cfg, "num_processes", 1)
    if gpu_ids is None:  # num_processes processes on the first GPUs no running job holds (none on a CPU machine)
        busy = {g for job in store.list("running") for g in job.assigned_gpus}
        gpu_ids = [g for g in visible_gpus() if g not in busy][:processes] or None
    gpus = gpu_ids or []
    added: list[Job] = []

    def record(proc: subprocess.Popen, offset: int) -> None:
        # The row is born running with the trainer's pid, so no worker can launch it and a cancel signals the
        # trainer (never this process).
        job = store.add(name=name, profile=profile, config_path=config_path, output_dir=cfg.output_dir,
                        gpu_ids=gpu_ids, num_gpus=len(gpus) or processes, resume=resume, running_pid=proc.pid)
        store.update(job.id, events_offset=offset, assigned_gpus=gpus)
        added.append(job)

    try:
        code = run_foreground(config_path, gpu_ids=gpu_ids, resume=resume, monitor=monitor, stream=stream,
                              on_spawn=record)
        return settle(store, store.get(added[0].id), code), code  # type: ignore[arg-type]
    finally:
        store.close()


def cancel(workspace: str | Path, job_id: int, *, wait: bool = True, grace: float | None = None) -> Job:
    """Cancel a job. Queued: marked cancelled. Running: SIGTERM to its process group, or the backend's stop (the
    trainer writes a checkpoint and ends cancelled); with `wait`, block until it ends, SIGKILL after `grace`
    seconds (default: the job's kill_grace). Returns the job as it stands afterwards."""
    workspace = workspace_root(workspace)
    store = JobStore(workspace)
    try:
        job = _get(store, job_id)
        if job.status == "queued" and store.update(job.id, where_status="queued", status="cancelled",
                                                   finished=time.time(), error="cancelled before it started"):
            return _get(store, job_id)
        job = _get(store, job_id)
        if job.status != "running":
            return job
        grace = job.kill_grace if grace is None else grace
        store.update(job.id, cancel_requested=time.time(), kill_grace=grace)
        if job.in_process:  # its own process polls the flag (a signal would stop the notebook or the app)
            return _wait_in_process(store, job_id, grace) if wait else _get(store, job_id)
        if job.backend != "local":
            if job.remote_id:
                try:
                    remote_backend(job.backend, job.options, own_secrets()).stop(job.remote_id)
                except (BackendError, RuntimeError, OSError) as err:
                    raise JobError(f"job {job.id}: {job.backend} did not take the stop: {err}") from None
        elif job.pid and pid_alive(job.pid, job.pid_start):
            signal_group(job.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace + (10 if job.backend != "local" else 0)
        gone_since: float | None = None
        while wait:
            job = _get(store, job_id)
            if job.done:
                break
            supervise(workspace, store)
            if job.backend == "local" and job.pid and not pid_alive(job.pid, job.pid_start):
                # The worker records the exit code too; give it a moment before settling from the events alone.
                gone_since = gone_since or time.monotonic()
                if worker_pid(workspace) is None or time.monotonic() - gone_since > 3:
                    job = settle(store, job)
                    break
            if time.monotonic() > deadline:
                if job.backend != "local":
                    break  # the backend kills it after the grace period; the worker records the end
                if job.pid and pid_alive(job.pid, job.pid_start):
                    signal_group(job.pid, signal.SIGKILL)
            time.sleep(0.1)
        return _get(store, job_id)
    finally:
        store.close()


def _wait_in_process(store: JobStore, job_id: int, grace: float) -> Job:
    """Wait up to `grace` seconds for an in-process run to stop at its checkpoint (nothing can be killed)."""
    deadline = time.monotonic() + grace
    while not (job := _get(store, job_id)).done and time.monotonic() < deadline:
        if not pid_alive(job.pid, job.pid_start):  # the notebook or app itself is gone
            return settle(store, job)
        time.sleep(0.1)
    return job


def resume(workspace: str | Path, job_id: int, *, start_worker: bool = True,
           secrets: dict[str, str] | None = None) -> Job:
    """Queue a cancelled or failed job again; its trainer gets --resume and continues from the last checkpoint.
    It runs with the resumer's secrets (default: this process's HF_TOKEN)."""
    workspace = workspace_root(workspace)
    store = JobStore(workspace)
    try:
        job = _get(store, job_id)
        if job.status == "completed":
            raise JobError(f"job {job_id} {job.name} is completed: nothing to resume (its model is in "
                           f"{Path(job.output_dir) / 'model'})")
        if job.status not in ("cancelled", "failed"):
            raise JobError(f"job {job_id} is {job.status}; only cancelled or failed jobs can be resumed")
        secrets_id = _pass_secrets(workspace, own_secrets() if secrets is None else secrets, start_worker)
        if not store.requeue(job.id, resume=True, secrets_id=secrets_id):
            raise JobError(f"job {job_id} is {_get(store, job_id).status}; only cancelled or failed jobs can be "
                           "resumed")
        job = _get(store, job_id)
    finally:
        store.close()
    if start_worker:
        ensure_worker(workspace)
        wake(workspace)  # a warm worker launches it now, not at its next look
    return job
