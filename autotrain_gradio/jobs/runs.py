"""Reading a job's run and recording how it ended.

A job's result comes from its trainer's `end` event (and its time is the job's finish time), falling back to the
exit code, then to "trainer process disappeared". Remote backends whose trainer cannot write into this workspace
send its events back as tagged lines in its log (`EVENT_TAG` + JSON, printed by the trainer when
AUTOTRAIN_EVENT_LINES=1); `relay_events` turns those lines back into `events.jsonl`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from autotrain_gradio.events import END_STATUSES, EVENT_TAG, EXIT_CANCELLED, EventTailer, RunState
from autotrain_gradio.jobs.store import Job, JobStore


def file_size(path: Path) -> int:
    """Size of a regular file; 0 when it is missing or not a file."""
    return path.stat().st_size if path.is_file() else 0


def poll_events(tailer: EventTailer) -> list[dict]:
    """New events, or none when the events file cannot be read (a watcher must not die of a broken run)."""
    try:
        return tailer.poll()
    except OSError:
        return []


def job_tailer(job: Job) -> EventTailer:
    """A tailer over this job's events only: what earlier runs of the same name wrote is skipped."""
    tailer = EventTailer(job.events_path)
    size = file_size(job.events_path)
    tailer.offset = job.events_offset if job.events_offset <= size else 0  # the file was replaced: read it all
    return tailer


def job_state(job: Job) -> RunState:
    """The RunState folded from this job's events."""
    return RunState().update(poll_events(job_tailer(job)))


def last_log_line(job: Job) -> str:
    """The last non-empty line of the trainer's output (its error, usually), or ''."""
    try:
        with open(job.log_path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 4096))
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    lines = [ln for ln in lines if untag(ln) is None]
    return lines[-1] if lines else ""


def killed_by(number: int, job: Job) -> str:
    """What a trainer's end by a signal says: the signal by number and name, and the out-of-memory killer when the
    kernel's log names this process."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    text = f"trainer killed by signal {number} ({name})"
    if number == signal.SIGKILL and job.pid is not None and oom_killed(job.pid):
        return (f"{text}: the kernel's out-of-memory killer stopped it (the machine ran out of RAM); lower "
                "batch_size or the model size, then resume")
    if number == signal.SIGKILL:
        return f"{text}: something outside the app ended it (kill -9, or the out-of-memory killer); see {job.log_path}"
    return f"{text}; see {job.log_path}"


def oom_killed(pid: int) -> bool:
    """True when the kernel's log says its out-of-memory killer killed this pid (False where it cannot be read)."""
    try:
        log = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return re.search(rf"(Out of memory|Memory cgroup out of memory): Killed process {pid}\b", log) is not None


def disk_full(path: Path, margin: int = 1 << 20) -> bool:
    """True when the filesystem holding path has less than `margin` bytes free."""
    try:
        return shutil.disk_usage(path).free < margin
    except OSError:
        return False


def settle(store: JobStore, job: Job, exit_code: int | None = None, *, gone: str = "",
           disk_was_full: bool = False) -> Job:
    """Record the end of a job whose trainer is gone: the end event decides (its time is the finish time), else
    the exit code, else it disappeared (`gone` overrides that message, e.g. a remote backend's own words).
    `disk_was_full`: the caller saw the run's disk full when the trainer ended (space may be back by now).
    Safe to race: only the first caller's result is stored."""
    state = job_state(job)
    finished = None
    if state.status in END_STATUSES:
        status, error, finished = state.status, state.error, state.last_t
    elif job.cancel_requested:
        killed = exit_code == -signal.SIGKILL
        status, error = "cancelled", f"killed after the {job.kill_grace:g} s grace period, before a checkpoint" \
            if killed else ""
    elif exit_code == 0:
        status, error = "completed", ""
    elif exit_code in (EXIT_CANCELLED, -signal.SIGTERM):
        status, error = "cancelled", "stopped by SIGTERM"
    elif exit_code is not None and exit_code < 0:  # killed by a signal: that is the news, not the log's last line
        status, error = "failed", killed_by(-exit_code, job)
    elif exit_code is not None:
        status = "failed"
        if disk_was_full or disk_full(Path(job.output_dir)):  # its own error could not be written anywhere
            error = (f"trainer exited with code {exit_code}: the disk holding {job.output_dir} is full (no space "
                     "left on device); free some space, then `autotrain train resume`")
        else:
            error = f"trainer exited with code {exit_code}: {last_log_line(job) or 'no output'} (see {job.log_path})"
    else:
        status, error = "failed", gone or f"trainer process disappeared (pid {job.pid})"
    store.finish(job.id, status, error=error, exit_code=exit_code, last_step=state.step, total_steps=state.total,
                 finished=finished)
    return store.get(job.id)  # type: ignore[return-value]


# What Ray puts before a line its worker processes print (a Ray Train worker's: "(RayTrainWorker pid=12) ", coloured)
RAY_PREFIX = re.compile(r"^(?:\x1b\[\d+m)?\([^()\n]*\)(?:\x1b\[0m)? ")


def untag(line: str) -> str | None:
    """The event JSON of a tagged line (the trainer's own, or a Ray worker's behind Ray's prefix), else None."""
    line = RAY_PREFIX.sub("", line, count=1) if not line.startswith(EVENT_TAG) else line
    return line[len(EVENT_TAG):] if line.startswith(EVENT_TAG) else None


def relay_events(log_text: str, events_path: Path, already: int) -> int:
    """Append to events_path the tagged event lines of log_text after the first `already` ones; returns how many
    tagged lines log_text holds (the next call's `already`). A torn last line waits for the next call."""
    tagged = [t for t in map(untag, log_text.splitlines(keepends=True)) if t is not None]
    if tagged and not tagged[-1].endswith("\n"):
        tagged.pop()
    new = []
    for line in tagged[already:]:
        try:
            new.append(json.dumps(json.loads(line)) + "\n")
        except json.JSONDecodeError:
            new.append(json.dumps({"type": "log", "level": "warning", "message": "unreadable relayed event"}) + "\n")
    if new:
        events_path.parent.mkdir(parents=True, exist_ok=True)
        with open(events_path, "a", encoding="utf-8") as fh:
            fh.writelines(new)
    return len(tagged)
