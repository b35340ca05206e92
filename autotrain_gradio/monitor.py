"""Progress lines for terminals, built only from events.jsonl and the job store (nothing parses tqdm).

Single run:  `[============================--] 93.5% (1870/2000) | ETA: 00:05:23 | Loss: 0.0234 | Queue: 0`
Batch:       `🟢 dataset_character: [==============------] 70.0% (350/500) | ETA: 00:10:15 | Loss: 0.0156 |
              Queue: 2 (next: dataset_style) | Progress: 2/5 (40.0%)`
On a terminal the line is redrawn in place; piped into a file, a line is written only when it changes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from autotrain_gradio.events import RunState

# `train monitor` exits with the job's result, the same codes the trainer itself uses.
RESULT_CODES = {"completed": 0, "failed": 1, "cancelled": 143}
ICONS = {"queued": "⏳", "pending": "⏳", "running": "🟢", "completed": "✅", "failed": "❌", "cancelled": "⏹"}


def format_eta(seconds: float | None) -> str:
    """HH:MM:SS, or --:--:-- while unknown."""
    if seconds is None or seconds < 0:
        return "--:--:--"
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def format_loss(loss: float | None) -> str:
    if loss is None:
        return "-"
    return f"{loss:.4f}" if abs(loss) >= 1e-3 or loss == 0 else f"{loss:.2e}"


def _bar(state: RunState, width: int) -> str:
    fraction = 1.0 if state.status == "completed" else state.fraction
    filled = int(fraction * width)
    return f"[{'=' * filled}{'-' * (width - filled)}] {fraction * 100:.1f}% ({state.step}/{state.total})"


def _eta(state: RunState) -> str:
    # After the end nothing is left; before the first measured steps the ETA is unknown, not zero.
    return format_eta(0 if state.status in ("completed", "failed", "cancelled") else state.eta_s)


def progress_line(state: RunState, queue: int = 0, width: int = 30) -> str:
    """The single-run line: bar, percent, steps, ETA, loss and how many jobs wait behind it. Before the first step
    it also says what the trainer is doing (loading, caching), so a long start never looks stuck."""
    line = f"{_bar(state, width)} | ETA: {_eta(state)} | Loss: {format_loss(state.loss)} | Queue: {queue}"
    return f"{line} | {state.note}" if state.note and not state.step and state.status != "completed" else line


def batch_line(name: str, state: RunState, queue_names: list[str], done: int, total: int, width: int = 20) -> str:
    """The batch line: status icon and name, the current run's progress, what waits next, and how many of the
    batch's runs have finished."""
    queue = f"Queue: {len(queue_names)}" + (f" (next: {queue_names[0]})" if queue_names else "")
    overall = f"Progress: {done}/{total} ({done / total * 100 if total else 0.0:.1f}%)"
    return (f"{ICONS.get(state.status, '🟢')} {name}: {_bar(state, width)} | ETA: {_eta(state)} | "
            f"Loss: {format_loss(state.loss)} | {queue} | {overall}")


class Follower:
    """Writes a changing status line: in place (\\r + erase) on a terminal, one line per change when piped."""

    def __init__(self, stream: TextIO = sys.stdout):
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.last: str | None = None
        self.open = False  # a TTY line without its newline yet

    def show(self, line: str) -> None:
        if line == self.last:
            return
        self.last = line
        if self.tty:
            self.stream.write(f"\r{line}\x1b[K")
            self.open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A message on its own line, below the status line."""
        if self.open:
            self.stream.write("\n")
            self.open = False
        self.last = None
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.open:
            self.stream.write("\n")
            self.stream.flush()
            self.open = False


def follow(render: Callable[[], tuple[str, bool]], stream: TextIO = sys.stdout, interval: float = 1.0) -> str:
    """Call `render()` -> (line, done) every `interval` seconds and show the line until done. Returns the last."""
    follower = Follower(stream)
    while True:
        line, done = render()
        follower.show(line)
        if done:
            follower.close()
            return line
        time.sleep(interval)


def _check(store, workspace: str | Path, job):
    """The job as it stands, after making sure it can progress: with no worker alive, a queued job gets a new
    worker and a running job whose trainer is gone is settled here, so no monitor waits for ever on a dead run."""
    from autotrain_gradio.jobs.launch import pid_alive
    from autotrain_gradio.jobs.scheduler import ensure_worker, settle, worker_pid

    job = store.get(job.id)
    waiting = job.status == "queued" or (job.status == "running" and job.pid is None)
    dead = job.status == "running" and job.pid is not None and not pid_alive(job.pid, job.pid_start)
    if (waiting or dead) and worker_pid(workspace) is None:
        if dead:
            return settle(store, job)
        ensure_worker(workspace)
    return job


def _result(job, state: RunState) -> str:
    message = f"{ICONS.get(job.status, '')} {job.name}: {job.status}"
    if job.error:
        return message + f": {job.error}"
    if state.outputs:
        return message + " -> " + ", ".join(f"{k}: {v}" for k, v in state.outputs.items())
    return message


def _open(workspace: str | Path, job_ids: list[int]):
    from autotrain_gradio.jobs.scheduler import JobError
    from autotrain_gradio.jobs.store import JobStore

    store = JobStore(workspace)
    jobs = [store.get(i) for i in job_ids]
    missing = [i for i, j in zip(job_ids, jobs, strict=True) if j is None]
    if missing:
        store.close()
        raise JobError(f"no job with id {missing[0]}; `autotrain train list` shows them")
    return store, jobs


def monitor_job(workspace: str | Path, job_id: int, stream: TextIO = sys.stdout, interval: float = 1.0) -> int:
    """Follow one job until it ends; returns 0 completed, 1 failed, 143 cancelled (the trainer's own codes)."""
    from autotrain_gradio.jobs.launch import poll_events
    from autotrain_gradio.jobs.scheduler import job_tailer

    store, (job,) = _open(workspace, [job_id])
    state, tailer = RunState(), None

    def render() -> tuple[str, bool]:
        nonlocal job, tailer
        job = _check(store, workspace, job)
        queue = store.queued()
        if job.pid is None:  # never launched (yet): its output folder may hold an earlier run's events
            position = next((i + 1 for i, q in enumerate(queue) if q.id == job.id), 0)
            return f"{ICONS['queued']} {job.name}: queued ({position} of {len(queue)})", job.done
        tailer = tailer or job_tailer(job)  # only once launched: events_offset is set at launch
        state.update(poll_events(tailer))
        return progress_line(state, queue=len(queue)), job.done

    try:
        follow(render, stream, interval)
    finally:
        store.close()
    Follower(stream).note(_result(job, state))
    return RESULT_CODES.get(job.status, 1)


def monitor_batch(workspace: str | Path, job_ids: list[int], stream: TextIO = sys.stdout,
                  interval: float = 1.0) -> int:
    """Follow a batch of jobs with `batch_line` until all have ended, noting each result as it comes.
    Returns 0 if every job completed, else 1."""
    from autotrain_gradio.jobs.launch import poll_events
    from autotrain_gradio.jobs.scheduler import job_tailer

    store, jobs = _open(workspace, job_ids)
    states: dict[int, RunState] = {j.id: RunState() for j in jobs}
    tailers: dict = {}
    noted: set[int] = set()
    follower = Follower(stream)
    try:
        while True:
            jobs = [_check(store, workspace, j) for j in jobs]
            for job in jobs:
                if job.pid is not None and job.status != "queued":
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
                follower.show(batch_line(current.name, states[current.id], queue, done, len(jobs)))
            time.sleep(interval)
    finally:
        store.close()
    return 0 if all(j.status == "completed" for j in jobs) else 1
