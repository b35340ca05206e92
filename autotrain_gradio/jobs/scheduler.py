"""The background worker that drains the queue, and `supervise`, which every reader of the queue calls.

One worker per workspace, guaranteed by `fcntl.flock` on `<workspace>/.worker.lock`: the first submission
starts it (detached, its own session) when nobody holds the lock; it launches queued jobs FIFO within each
backend queue's max-concurrent and the free GPUs, records how each ends, and exits once nothing waits or runs.
Trainers live in their own sessions, so killing the worker kills no training: `supervise` (run by `train list`,
`train monitor`, the app) starts a new worker when jobs wait or run without one, and the new worker re-attaches
to live trainers, settles the vanished ones (from their `end` event, else "trainer process disappeared"), and
finds a trainer a crashed worker had started but not yet recorded by the launch key in its environment, so no
job is launched twice. The worker's own failed writes (a full disk) do not kill it.

Entry point: `python -m autotrain_gradio.jobs --workspace W`. `run_worker(W)` is the same loop in
the calling process (a notebook that wants to block until the queue is empty).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
import uuid
from pathlib import Path

from autotrain_gradio.events import ACTIVE_STATUSES, EventTailer, RunState
from autotrain_gradio.gpus import visible_gpus
from autotrain_gradio.jobs.backends import BackendError, remote_backend
from autotrain_gradio.jobs.launch import spawn
from autotrain_gradio.jobs.pids import find_launched, pid_alive, pid_start_time, signal_group
from autotrain_gradio.jobs.runs import (
    disk_full,
    file_size,
    job_state,
    job_tailer,
    poll_events,
    relay_events,
    settle,
)
from autotrain_gradio.jobs.secrets import LOST, SecretInbox
from autotrain_gradio.jobs.store import BACKENDS, Job, JobStore
from autotrain_gradio.workspace import logs_dir, workspace_root

__all__ = ["Worker", "ensure_worker", "job_state", "job_tailer", "run_worker", "settle", "supervise", "worker_pid"]

LOCK_NAME = ".worker.lock"
REMOTE_POLL = {"ray": 1.0, "hf-jobs": 10.0}  # seconds between status/log calls to a remote backend
# A reserve the worker keeps on the workspace's disk and frees when the disk fills up, so the job store can still
# record how the jobs ended (SQLite needs a few pages to write).
BALLAST_NAME, BALLAST = ".worker.reserve", 2 << 20
WARM_WORKER_S = 900.0  # the app starts its worker with itself; it waits this long for a job before it exits
IDLE_POLL_S = 5.0  # an idle worker's look at the store (a submission wakes it at once anyway)
_spawned: list[subprocess.Popen] = []  # workers this process started; polled so they don't linger as zombies
# Secrets of jobs submitted from this process with start_worker=False, for a worker run in this same process.
LOCAL_SECRETS: dict[str, dict[str, str]] = {}


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


def ensure_worker(workspace: str | Path, idle_grace: float | None = None) -> int | None:
    """Start a detached worker unless one holds the lock. Returns the new worker's pid, or None. `idle_grace`: how
    long it stays warm with nothing to do (default 2 s; the app keeps its worker warm for WARM_WORKER_S)."""
    workspace = Path(workspace)
    for proc in list(_spawned):
        if proc.poll() is not None:
            _spawned.remove(proc)
    fh = _lock(workspace)
    if fh is None:
        return None
    fh.close()  # the worker takes it; if another submitter also starts one, the loser exits at once
    logs_dir(workspace).mkdir(parents=True, exist_ok=True)
    try:
        log = open(logs_dir(workspace) / "worker.log", "ab")  # noqa: SIM115 - closed below
    except OSError:
        log = open(os.devnull, "wb")  # noqa: SIM115 - a full or read-only disk must not stop the queue
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autotrain_gradio.jobs", "--workspace", str(workspace)]
            + ([] if idle_grace is None else ["--idle-grace", str(idle_grace)]),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    _spawned.append(proc)
    return proc.pid


def stop_idle_worker(workspace: str | Path, pid: int) -> None:
    """SIGTERM the worker `pid` (one this process started) if it still holds the workspace's lock and no job waits or
    runs: an app that closes takes its warm worker with it. A worker with work carries on."""
    workspace = Path(workspace)
    if not workspace.is_dir() or worker_pid(workspace) != pid:
        return
    store = JobStore(workspace)
    try:
        idle = not store.list(ACTIVE_STATUSES)
    finally:
        store.close()
    if idle:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def supervise(workspace: str | Path, store: JobStore | None = None) -> None:
    """Make sure the queue can progress; every command and app call that reads the queue calls this first.
    With no live worker: settle running local jobs whose trainer is gone, and start a worker if anything still
    waits or runs (it re-attaches to live trainers, launches the queue and follows remote jobs)."""
    workspace = workspace_root(workspace)
    if worker_pid(workspace) is not None:
        return
    own = store is None
    store = store or JobStore(workspace)
    try:
        for job in store.list("running"):
            if job.backend == "local" and job.pid is not None and not pid_alive(job.pid, job.pid_start):
                settle(store, job)
        if store.list(ACTIVE_STATUSES):
            ensure_worker(workspace)
    finally:
        if own:
            store.close()


# --- the worker -----------------------------------------------------------------------------------------------


class Worker:
    """Drains the queue of one workspace. Call `run()`; it returns when the queue is empty and nothing runs."""

    def __init__(self, workspace: str | Path, *, poll: float = 0.5, idle_grace: float = 2.0,
                 inbox: SecretInbox | None = None):
        self.workspace = Path(workspace)
        self.poll, self.idle_grace = poll, idle_grace
        self.store = JobStore(self.workspace)
        self.inbox = inbox
        gpus = visible_gpus()
        self.gpus: list[int] | None = gpus or None  # None: no GPUs, every job runs on the CPU
        self.children: dict[int, subprocess.Popen] = {}  # job id -> trainer we started
        self.attached: dict[int, Job] = {}  # job id -> trainer a previous worker started, still alive
        self.tailers: dict[int, EventTailer] = {}
        self.progress: dict[int, tuple[int, int]] = {}
        self.remote_secrets: dict[int, dict[str, str]] = {}  # a remote job's token, to follow it with
        self.relayed: dict[int, int] = {}  # tagged event lines already copied into events.jsonl
        self.log_sizes: dict[int, int] = {}
        self.next_poll: dict[int, float] = {}
        self.clients: dict[tuple, object] = {}
        self.full_seen: set[int] = set()  # jobs whose trainer ended while their disk was full
        self.ballast = self.workspace / BALLAST_NAME
        self.make_ballast()

    def log(self, message: str) -> None:
        """A line in worker.log; a full or broken disk loses the line, never the worker."""
        with contextlib.suppress(OSError, ValueError):
            print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} worker {os.getpid()}: {message}", flush=True)

    def secrets_for(self, job: Job) -> dict[str, str] | None:
        """The job's own secrets ({} if it had none: never the worker's); None if they were lost."""
        if not job.secrets_id:
            return {}
        if self.inbox is not None:
            found = self.inbox.pop(job.secrets_id)
            if found is not None:
                return found
        return LOCAL_SECRETS.pop(job.secrets_id, None)

    def recover(self) -> None:
        """Re-attach to live trainers of 'running' rows; settle the dead; requeue claims that never launched."""
        for job in self.store.list("running"):
            if job.backend != "local":
                self.recover_remote(job)
            elif job.pid is None:
                pid = find_launched(job.launch_key) if job.launch_key else None
                if pid is not None:  # launched by a worker that died before it recorded the pid
                    self.store.update(job.id, pid=pid, pid_start=pid_start_time(pid))
                    self.attached[job.id] = self.store.get(job.id)  # type: ignore[assignment]
                    self.tailers[job.id] = job_tailer(self.attached[job.id])
                    self.log(f"found the trainer of job {job.id} (pid {pid}) by its launch key: re-attached")
                else:  # claimed by a worker that died before spawning: nobody runs it. Back in line, same place.
                    self.store.update(job.id, where_status="running", status="queued", started=None,
                                      launch_key=None)
                    self.log(f"job {job.id} was claimed but never launched: queued again")
            elif pid_alive(job.pid, job.pid_start):
                self.attached[job.id] = job
                self.tailers[job.id] = job_tailer(job)
                self.log(f"re-attached to job {job.id} (pid {job.pid})")
            else:
                done = settle(self.store, job)
                self.log(f"job {job.id} (pid {job.pid}) is gone: {done.status} {done.error}")

    def recover_remote(self, job: Job) -> None:
        if job.remote_id is None:
            if job.backend == "ray":  # never reached submit_job: nothing runs
                self.store.update(job.id, where_status="running", status="queued", started=None, launch_key=None)
                self.log(f"job {job.id} was claimed but never submitted to Ray: queued again")
                return
            self.store.finish(job.id, "failed", error="the worker stopped while submitting it to HF Jobs; check "
                              "https://huggingface.co/settings/jobs and resume it if it is not there")
            return
        try:
            status = self.backend(job).status(job.remote_id)[0]
        except (BackendError, RuntimeError, OSError) as err:
            self.log(f"job {job.id}: cannot reach {job.backend} yet: {err}")
            self.tailers[job.id] = job_tailer(job)
            return
        if status is None:  # the id was recorded, then the worker died before Ray accepted the submission
            self.store.update(job.id, where_status="running", status="queued", started=None, launch_key=None,
                              remote_id=None)
            self.log(f"job {job.id} never reached {job.backend}: queued again")
        else:
            self.tailers[job.id] = job_tailer(job)
            self.log(f"re-attached to job {job.id} on {job.backend} ({job.remote_id})")

    def backend(self, job: Job):
        """The remote backend's client for this job, made once per cluster / token."""
        secrets = self.remote_secrets.get(job.id) or {}
        key = (job.backend, json.dumps(job.options, sort_keys=True), secrets.get("HF_TOKEN"))
        if key not in self.clients:
            self.clients[key] = remote_backend(job.backend, job.options, secrets)
        return self.clients[key]

    def launch(self, job: Job) -> None:
        secrets = self.secrets_for(job)
        if secrets is None:
            self.store.finish(job.id, "failed", error=LOST.format(id=job.id))
            self.log(f"job {job.id} failed: its secrets were lost")
            return
        offset = file_size(job.events_path)
        self.store.update(job.id, events_offset=offset)
        if job.backend != "local":
            self.launch_remote(self.store.get(job.id), secrets)  # type: ignore[arg-type]
            return
        try:
            proc = spawn(job.config_path, job.log_path, gpu_ids=job.assigned_gpus or None, resume=job.resume,
                         secrets=secrets, launch_key=job.launch_key, jobs_at_once=job.max_concurrent,
                         num_processes=job.num_gpus)
        except OSError as err:
            self.store.finish(job.id, "failed", error=f"could not start the trainer: {err}")
            self.log(f"job {job.id} failed to start: {err}")
            return
        self.children[job.id] = proc  # watched from here on, whatever happens below
        self.store.update(job.id, pid=proc.pid, pid_start=pid_start_time(proc.pid))
        job = self.store.get(job.id)  # type: ignore[assignment]
        self.tailers[job.id] = job_tailer(job)
        if job.cancel_requested:  # cancelled between the claim and now
            signal_group(proc.pid, signal.SIGTERM)
        self.log(f"started job {job.id} {job.name} pid {proc.pid} gpus {job.assigned_gpus or 'cpu'}"
                 f"{' (resume)' if job.resume else ''}")

    def launch_remote(self, job: Job, secrets: dict[str, str]) -> None:
        submission_id = f"autotrain-{job.id}-{job.launch_key}"
        if job.backend == "ray":  # recorded first: a worker that dies inside submit_job is found again by it
            self.store.update(job.id, remote_id=submission_id)
        self.remote_secrets[job.id] = secrets
        try:
            remote_id = self.backend(job).submit(job, secrets, submission_id)
        except Exception as err:  # noqa: BLE001 - whatever the cluster says, the job fails with it
            self.store.finish(job.id, "failed", error=f"could not submit to {job.backend}: {err}")
            self.log(f"job {job.id} failed to submit: {err}")
            return
        self.store.update(job.id, remote_id=remote_id)
        self.tailers[job.id] = job_tailer(job)
        self.log(f"started job {job.id} {job.name} on {job.backend} as {remote_id}"
                 f"{' (resume)' if job.resume else ''}")

    def reap(self) -> None:
        """Settle every job whose trainer has exited; SIGKILL cancelled ones past their grace period."""
        for job_id, proc in list(self.children.items()):
            code = proc.poll()
            if code is not None:
                job = self.store.get(job_id)
                if disk_full(Path(job.output_dir)):  # type: ignore[union-attr]
                    self.full_seen.add(job_id)  # remembered: freeing the ballast below makes a little room
                self._settled(settle(self.store, job, code, disk_was_full=job_id in self.full_seen))  # type: ignore[arg-type]
                del self.children[job_id]
        for job_id, job in list(self.attached.items()):
            if not pid_alive(job.pid, job.pid_start):
                self._settled(settle(self.store, self.store.get(job_id)))  # type: ignore[arg-type]
                del self.attached[job_id]
        now = time.time()
        for job in self.store.list("running"):
            if job.backend != "local":
                self.follow_remote(job)
            elif (job.cancel_requested and job.pid and not job.in_process  # never a notebook's or app's own process
                    and now - job.cancel_requested > job.kill_grace
                    and pid_alive(job.pid, job.pid_start)):  # never a reused pid's group
                signal_group(job.pid, signal.SIGKILL)

    def follow_remote(self, job: Job) -> None:
        """Mirror a remote job's log into train.log (and its tagged events into events.jsonl); settle it once its
        backend says it ended."""
        if job.remote_id is None or time.monotonic() < self.next_poll.get(job.id, 0.0):
            return
        self.next_poll[job.id] = time.monotonic() + REMOTE_POLL[job.backend]
        try:
            backend = self.backend(job)
            status, code, message = backend.status(job.remote_id)
            if status is not None:
                text = backend.logs(job.remote_id)
                if len(text) != self.log_sizes.get(job.id):
                    self.log_sizes[job.id] = len(text)
                    job.log_path.parent.mkdir(parents=True, exist_ok=True)
                    job.log_path.write_text(text, encoding="utf-8")
                if not job.options.get("shared_fs", True) or job.backend == "hf-jobs":
                    self.relayed[job.id] = relay_events(text, job.events_path, self.relayed.get(job.id, 0))
        except (BackendError, RuntimeError, OSError) as err:
            self.log(f"job {job.id}: {job.backend} did not answer: {err}")
            return
        if status is None:
            self._settled(settle(self.store, job, gone=f"{job.backend} no longer knows {job.remote_id}"))
        elif code is not None:
            # A trainer that never wrote an event did not start: the backend's own message says why.
            started = job_state(job).status != "pending" or code == 0
            self._settled(settle(self.store, job, code if started else None, gone=f"{job.backend}: {message}"))

    def make_ballast(self) -> None:
        """Keep BALLAST bytes in reserve on the workspace's disk, while there is plenty of room."""
        try:
            if not self.ballast.exists() and shutil.disk_usage(self.workspace).free > 4 * BALLAST:
                with open(self.ballast, "wb") as fh:
                    fh.write(b"\0" * BALLAST)
        except OSError:
            with contextlib.suppress(OSError):
                self.ballast.unlink()

    def free_ballast(self) -> bool:
        """Give the reserve back to the disk (so the store can record what happened); False if there was none."""
        try:
            self.ballast.unlink()
        except OSError:
            return False
        self.log("the disk is full: released the worker's reserve to record the jobs' state")
        return True

    def _settled(self, job: Job) -> None:
        for table in (self.tailers, self.progress, self.remote_secrets, self.relayed, self.log_sizes, self.next_poll):
            table.pop(job.id, None)
        self.full_seen.discard(job.id)
        self.log(f"job {job.id} {job.name}: {job.status}{': ' + job.error if job.error else ''}")

    def track(self) -> None:
        """Copy each running job's step and total from its events into the store (for `train list`)."""
        for job_id, tailer in list(self.tailers.items()):
            events = poll_events(tailer)
            if not events:
                continue
            step, total = self.progress.get(job_id, (0, 0))
            state = RunState(step=step, total=total).update(events)
            if (state.step, state.total) != (step, total):
                try:
                    self.store.update(job_id, last_step=state.step, total_steps=state.total)
                except sqlite3.OperationalError as err:
                    if not _disk_is_full(err):
                        raise
                    continue  # progress waits for room; the reserve is kept for recording how jobs end
                self.progress[job_id] = (state.step, state.total)

    def tick(self) -> bool:
        """One round: take hand-overs, reap, track, launch what may start. True while anything runs or waits."""
        received = self.inbox.receive() if self.inbox is not None else 0
        self.reap()
        self.track()
        for backend in BACKENDS:
            while (job := self.store.claim(self.gpus, backend, launch_key=uuid.uuid4().hex[:12])) is not None:
                self.launch(job)
        running = self.store.list("running")
        return bool(received or self.children or self.attached or running or self.store.queued())

    def run(self) -> None:
        idle_since: float | None = None
        while True:
            if not self.workspace.is_dir():  # removed under us (a test's or a notebook's temporary workspace)
                return
            try:
                busy = self.tick()
                self.make_ballast()
            except Exception as err:  # noqa: BLE001 - a bad row, a full disk or a lost cluster must not strand it
                if _disk_is_full(err) and self.free_ballast():
                    continue  # try again at once, with room to write
                self.log("error in the scheduling loop:\n" + traceback.format_exc())
                busy = True
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= self.idle_grace:
                return
            # A submission wakes us at once (it connects to the inbox); idle, we look less often.
            self.wait(self.poll if busy or idle_since is None else min(IDLE_POLL_S, self.idle_grace))

    def wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, or until someone connects to the inbox (a submission's wake-up or hand-over)."""
        if self.inbox is None:
            time.sleep(seconds)
            return
        select.select([self.inbox.sock], [], [], seconds)


def _disk_is_full(err: BaseException) -> bool:
    return getattr(err, "errno", None) == errno.ENOSPC or "disk is full" in str(err)


def _write_pid(lock) -> None:
    with contextlib.suppress(OSError):
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()


def run_worker(workspace: str | Path, *, poll: float = 0.5, idle_grace: float = 2.0) -> int:
    """Hold the worker lock and drain the queue in this process. Returns 0, or 1 if another worker is running."""
    workspace = workspace_root(workspace)
    lock = _lock(workspace, wait=1.0)  # a submitter may be probing the lock this very moment
    if lock is None:
        return 1
    inbox = SecretInbox(workspace)
    try:
        while True:
            _write_pid(lock)
            worker = Worker(workspace, poll=poll, idle_grace=idle_grace, inbox=inbox)
            worker.log("started")
            worker.recover()
            worker.run()
            # Release first, then look: a job submitted after the release finds the lock free and starts a worker;
            # one submitted before it saw the lock held and started none, so we see it here and take it on.
            inbox.close()
            lock.close()
            queued = worker.store.queued()
            worker.store.close()
            if not queued:
                worker.log("queue empty, exiting")
                return 0
            lock = _lock(workspace, wait=1.0)  # a monitor's liveness probe holds it for microseconds at most
            if lock is None:  # someone else started a worker meanwhile
                return 0
            held, inbox = inbox.held, SecretInbox(workspace)
            inbox.held.update(held)
    finally:
        inbox.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autotrain_gradio.jobs",
                                     description="Drain the job queue of a workspace, then exit.")
    parser.add_argument("--workspace", default=None, help="workspace root (default: AUTOTRAIN_WORKSPACE or ./)")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between checks")
    parser.add_argument("--idle-grace", type=float, default=2.0, help="seconds to linger with an empty queue")
    args = parser.parse_args(argv)
    return run_worker(args.workspace, poll=args.poll, idle_grace=args.idle_grace)
