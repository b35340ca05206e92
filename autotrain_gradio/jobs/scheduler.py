"""The background worker that drains the queue, and the job operations built on it (submit, cancel, resume).

One worker per workspace, guaranteed by `fcntl.flock` on `<workspace>/.worker.lock`: the first submission
starts it (detached, its own session) when nobody holds the lock; it launches queued jobs FIFO within
max-concurrent and the free GPUs, records how each ends, and exits once the queue is empty and nothing runs.
Trainers live in their own sessions, so killing the worker kills no training: a restarted worker re-attaches to
live trainers and marks the vanished ones failed. A job's result comes from its `end` event, falling back to the
exit code, then to "the process disappeared".

Entry point: `python -m autotrain_gradio.jobs --workspace W`. `run_worker(W)` is the same loop in
the calling process (a notebook that wants to block until the queue is empty).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import TextIO

from autotrain_gradio.events import END_STATUSES, EventTailer, RunState
from autotrain_gradio.jobs.launch import (
    file_size,
    pid_alive,
    pid_start_time,
    poll_events,
    signal_group,
    spawn,
    visible_gpus,
)
from autotrain_gradio.jobs.store import Job, JobStore
from autotrain_gradio.tasks import load_config
from autotrain_gradio.workspace import logs_dir, workspace_root

LOCK_NAME = ".worker.lock"
_spawned: list[subprocess.Popen] = []  # workers this process started; polled so they don't linger as zombies


class JobError(RuntimeError):
    """A job operation that cannot be done (unknown id, wrong state); the message says why."""


# --- reading a job's run --------------------------------------------------------------------------------------


def job_tailer(job: Job) -> EventTailer:
    """A tailer over this job's events only: what earlier runs of the same name wrote is skipped."""
    tailer = EventTailer(job.events_path)
    size = file_size(job.events_path)
    tailer.offset = job.events_offset if job.events_offset <= size else 0  # the file was replaced: read it all
    return tailer


def job_state(job: Job) -> RunState:
    """The RunState folded from this job's events."""
    return RunState().update(poll_events(job_tailer(job)))


def _last_log_line(job: Job) -> str:
    try:
        with open(job.log_path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 4096))
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def settle(store: JobStore, job: Job, exit_code: int | None = None) -> Job:
    """Record the end of a job whose process is gone: the end event decides, else the exit code, else it
    disappeared. Safe to race: only the first caller's result is stored."""
    state = job_state(job)
    if state.status in END_STATUSES:
        status, error = state.status, state.error
    elif job.cancel_requested:
        killed = exit_code == -signal.SIGKILL
        status, error = "cancelled", f"killed after the {job.kill_grace:g} s grace period, before a checkpoint" \
            if killed else ""
    elif exit_code == 0:
        status, error = "completed", ""
    elif exit_code in (143, -signal.SIGTERM):
        status, error = "cancelled", "stopped by SIGTERM"
    elif exit_code is not None:
        status = "failed"
        error = f"trainer exited with code {exit_code}: {_last_log_line(job) or 'no output'} (see {job.log_path})"
    else:
        status, error = "failed", f"trainer process disappeared (pid {job.pid})"
    store.finish(job.id, status, error=error, exit_code=exit_code, last_step=state.step, total_steps=state.total)
    return store.get(job.id)  # type: ignore[return-value]


# --- the worker lock ------------------------------------------------------------------------------------------


def _lock(workspace: Path, wait: float = 0.0):
    """The open, flocked lock file, or None if another process holds it (after trying for `wait` seconds)."""
    workspace.mkdir(parents=True, exist_ok=True)
    fh = open(workspace / LOCK_NAME, "a+")  # noqa: SIM115 - held for the worker's life
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.close()
                return None
            time.sleep(0.05)


def worker_pid(workspace: str | Path) -> int | None:
    """The pid of the live worker of this workspace, or None."""
    workspace = Path(workspace)
    fh = _lock(workspace)
    if fh is not None:
        fh.close()
        return None
    try:
        return int((workspace / LOCK_NAME).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def ensure_worker(workspace: str | Path) -> int | None:
    """Start a detached worker unless one holds the lock. Returns the new worker's pid, or None."""
    workspace = Path(workspace)
    for proc in list(_spawned):
        if proc.poll() is not None:
            _spawned.remove(proc)
    fh = _lock(workspace)
    if fh is None:
        return None
    fh.close()  # the worker takes it; if another submitter also starts one, the loser exits at once
    logs_dir(workspace).mkdir(parents=True, exist_ok=True)
    with open(logs_dir(workspace) / "worker.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autotrain_gradio.jobs", "--workspace", str(workspace)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    _spawned.append(proc)
    return proc.pid


# --- the worker -----------------------------------------------------------------------------------------------


class Worker:
    """Drains the queue of one workspace. Call `run()`; it returns when the queue is empty and nothing runs."""

    def __init__(self, workspace: str | Path, *, poll: float = 0.5, idle_grace: float = 2.0):
        self.workspace = Path(workspace)
        self.poll, self.idle_grace = poll, idle_grace
        self.store = JobStore(self.workspace)
        gpus = visible_gpus()
        self.gpus: list[int] | None = gpus or None  # None: no GPUs, every job runs on the CPU
        self.children: dict[int, subprocess.Popen] = {}  # job id -> trainer we started
        self.attached: dict[int, Job] = {}  # job id -> trainer a previous worker started, still alive
        self.tailers: dict[int, EventTailer] = {}
        self.progress: dict[int, tuple[int, int]] = {}

    def log(self, message: str) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} worker {os.getpid()}: {message}", flush=True)

    def recover(self) -> None:
        """Re-attach to live trainers of 'running' rows; settle the dead; requeue claims that never launched."""
        for job in self.store.list("running"):
            if job.pid is None:
                # Claimed by a worker that died before spawning: nobody runs it. Back in line, same place.
                self.store.update(job.id, where_status="running", status="queued", started=None)
                self.log(f"job {job.id} was claimed but never launched: queued again")
            elif pid_alive(job.pid, job.pid_start):
                self.attached[job.id] = job
                self.tailers[job.id] = job_tailer(job)
                self.log(f"re-attached to job {job.id} (pid {job.pid})")
            else:
                done = settle(self.store, job)
                self.log(f"job {job.id} (pid {job.pid}) is gone: {done.status} {done.error}")

    def launch(self, job: Job) -> None:
        try:
            offset = file_size(job.events_path)
            proc = spawn(job.config_path, job.log_path, gpu_ids=job.assigned_gpus or None, resume=job.resume)
        except OSError as err:
            self.store.finish(job.id, "failed", error=f"could not start the trainer: {err}")
            self.log(f"job {job.id} failed to start: {err}")
            return
        self.children[job.id] = proc  # watched from here on, whatever happens below
        self.store.update(job.id, pid=proc.pid, pid_start=pid_start_time(proc.pid), events_offset=offset)
        job = self.store.get(job.id)  # type: ignore[assignment]
        self.tailers[job.id] = job_tailer(job)
        if job.cancel_requested:  # cancelled between the claim and now
            signal_group(proc.pid, signal.SIGTERM)
        self.log(f"started job {job.id} {job.name} pid {proc.pid} gpus {job.assigned_gpus or 'cpu'}"
                 f"{' (resume)' if job.resume else ''}")

    def reap(self) -> None:
        """Settle every job whose trainer has exited; SIGKILL cancelled ones past their grace period."""
        for job_id, proc in list(self.children.items()):
            code = proc.poll()
            if code is not None:
                self._settled(settle(self.store, self.store.get(job_id), code))  # type: ignore[arg-type]
                del self.children[job_id]
        for job_id, job in list(self.attached.items()):
            if not pid_alive(job.pid, job.pid_start):
                self._settled(settle(self.store, self.store.get(job_id)))  # type: ignore[arg-type]
                del self.attached[job_id]
        now = time.time()
        for job in self.store.list("running"):
            if (job.cancel_requested and job.pid and now - job.cancel_requested > job.kill_grace
                    and pid_alive(job.pid, job.pid_start)):  # never a reused pid's group
                signal_group(job.pid, signal.SIGKILL)

    def _settled(self, job: Job) -> None:
        self.tailers.pop(job.id, None)
        self.progress.pop(job.id, None)
        self.log(f"job {job.id} {job.name}: {job.status}{': ' + job.error if job.error else ''}")

    def track(self) -> None:
        """Copy each running job's step and total from its events into the store (for `train list`)."""
        for job_id, tailer in self.tailers.items():
            events = poll_events(tailer)
            if not events:
                continue
            step, total = self.progress.get(job_id, (0, 0))
            state = RunState(step=step, total=total).update(events)
            if (state.step, state.total) != (step, total):
                self.progress[job_id] = (state.step, state.total)
                self.store.update(job_id, last_step=state.step, total_steps=state.total)

    def tick(self) -> bool:
        """One round: reap, track, launch what may start. True while anything runs or waits."""
        self.reap()
        self.track()
        while (job := self.store.claim(self.gpus)) is not None:
            self.launch(job)
        return bool(self.children or self.attached or self.store.queued())

    def run(self) -> None:
        idle_since: float | None = None
        while True:
            try:
                busy = self.tick()
            except Exception:  # noqa: BLE001 - a bad row or file must not strand the whole queue
                self.log("error in the scheduling loop:\n" + traceback.format_exc())
                busy = True
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= self.idle_grace:
                return
            time.sleep(self.poll)


def run_worker(workspace: str | Path, *, poll: float = 0.5, idle_grace: float = 2.0) -> int:
    """Hold the worker lock and drain the queue in this process. Returns 0, or 1 if another worker is running."""
    workspace = workspace_root(workspace)
    lock = _lock(workspace, wait=1.0)  # a submitter may be probing the lock this very moment
    if lock is None:
        return 1
    while True:
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        worker = Worker(workspace, poll=poll, idle_grace=idle_grace)
        worker.log("started")
        worker.recover()
        worker.run()
        # Release first, then look: a job submitted after the release finds the lock free and starts a worker;
        # one submitted before it saw the lock held and started none, so we see it here and take it on.
        lock.close()
        queued = worker.store.queued()
        worker.store.close()
        if not queued:
            worker.log("queue empty, exiting")
            return 0
        lock = _lock(workspace, wait=1.0)  # a monitor's liveness probe holds it for microseconds at most
        if lock is None:  # someone else started a worker meanwhile
            return 0


# --- job operations -------------------------------------------------------------------------------------------


def submit(workspace: str | Path, *, name: str, profile: str, config_path: str | Path,
           gpu_ids: list[int] | None = None, max_concurrent: int = 1, start_worker: bool = True,
           kill_grace: float = 30.0, owner: str = "") -> Job:
    """Queue a training run of `config_path` and make sure a worker will run it. Returns the queued job.
    `owner` is who submitted it (in a shared app, the only user who may see and act on it)."""
    workspace = workspace_root(workspace)
    cfg = load_config(config_path)
    if not cfg.output_dir:
        raise JobError(f"{config_path}: output_dir is empty; the job would have nowhere to write")
    store = JobStore(workspace)
    try:
        job = store.add(name=name, profile=profile, config_path=Path(config_path).resolve(),
                        output_dir=Path(cfg.output_dir).resolve(), gpu_ids=gpu_ids,
                        num_gpus=getattr(cfg, "num_processes", 1), max_concurrent=max_concurrent,
                        kill_grace=kill_grace, owner=owner)
    finally:
        store.close()
    if start_worker:
        ensure_worker(workspace)
    return job


def _get(store: JobStore, job_id: int) -> Job:
    job = store.get(job_id)
    if job is None:
        raise JobError(f"no job with id {job_id}; `autotrain train list` shows them")
    return job


def run_now(workspace: str | Path, *, name: str, profile: str, config_path: str | Path,
            gpu_ids: list[int] | None = None, resume: bool = False, monitor: bool = True,
            stream: TextIO = sys.stdout) -> tuple[Job, int]:
    """The foreground path (`--immediate`), recorded in the store like any job: `train list` shows it,
    `train cancel` stops it, a worker counts it against max-concurrent and leaves its GPUs alone."""
    from autotrain_gradio.jobs.launch import run_foreground

    store = JobStore(workspace_root(workspace))
    cfg = load_config(config_path)
    if gpu_ids is None:  # one process on the first GPU no running job holds (none on a CPU machine)
        busy = {g for job in store.list("running") for g in job.assigned_gpus}
        gpu_ids = [g for g in visible_gpus() if g not in busy][:1] or None
    gpus = gpu_ids or []
    added: list[Job] = []

    def record(proc: subprocess.Popen, offset: int) -> None:
        # The row is born running with the trainer's pid, so no worker can launch it and a cancel signals the
        # trainer (never this process).
        job = store.add(name=name, profile=profile, config_path=config_path, output_dir=cfg.output_dir,
                        gpu_ids=gpu_ids, num_gpus=max(1, len(gpus)), resume=resume, running_pid=proc.pid)
        store.update(job.id, events_offset=offset, assigned_gpus=gpus)
        added.append(job)

    try:
        code = run_foreground(config_path, gpu_ids=gpu_ids, resume=resume, monitor=monitor, stream=stream,
                              on_spawn=record)
        return settle(store, store.get(added[0].id), code), code  # type: ignore[arg-type]
    finally:
        store.close()


def cancel(workspace: str | Path, job_id: int, *, wait: bool = True, grace: float | None = None) -> Job:
    """Cancel a job. Queued: marked cancelled. Running: SIGTERM to its process group (the trainer writes a
    checkpoint and ends cancelled); with `wait`, block until it ends, SIGKILL after `grace` seconds (default:
    the job's kill_grace). Returns the job as it stands afterwards."""
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
        if job.pid and pid_alive(job.pid, job.pid_start):
            signal_group(job.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        gone_since: float | None = None
        while wait:
            job = _get(store, job_id)
            if job.done:
                break
            if job.pid and not pid_alive(job.pid, job.pid_start):
                # The worker records the exit code too; give it a moment before settling from the events alone.
                gone_since = gone_since or time.monotonic()
                if worker_pid(workspace) is None or time.monotonic() - gone_since > 3:
                    job = settle(store, job)
                    break
            if time.monotonic() > deadline and job.pid and pid_alive(job.pid, job.pid_start):
                signal_group(job.pid, signal.SIGKILL)
            time.sleep(0.1)
        return _get(store, job_id)
    finally:
        store.close()


def resume(workspace: str | Path, job_id: int, *, start_worker: bool = True) -> Job:
    """Queue a cancelled or failed job again; its trainer gets --resume and continues from the last checkpoint."""
    workspace = workspace_root(workspace)
    store = JobStore(workspace)
    try:
        job = _get(store, job_id)
        if not store.requeue(job.id, resume=True):
            raise JobError(f"job {job_id} is {job.status}; only cancelled or failed jobs can be resumed")
        job = _get(store, job_id)
    finally:
        store.close()
    if start_worker:
        ensure_worker(workspace)
    return job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autotrain_gradio.jobs",
                                     description="Drain the job queue of a workspace, then exit.")
    parser.add_argument("--workspace", default=None, help="workspace root (default: AUTOTRAIN_WORKSPACE or ./)")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between checks")
    parser.add_argument("--idle-grace", type=float, default=2.0, help="seconds to linger with an empty queue")
    args = parser.parse_args(argv)
    return run_worker(args.workspace, poll=args.poll, idle_grace=args.idle_grace)
